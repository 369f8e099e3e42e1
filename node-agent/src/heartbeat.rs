//! Heartbeats as the kubelet sends them: a Lease per node in `kube-node-lease`, renewed
//! every 10 s, and node status re-posted at least every 5 minutes. One ticker loop walks
//! all nodes with bounded concurrency, so thousands of nodes cost one task.

use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::errors::{is_already_exists, is_not_found};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::node::healthy_conditions;
use crate::nodes::NodeRegistry;

/// The namespace holding node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Timing of the heartbeats.
#[derive(Clone, Debug)]
pub struct HeartbeatConfig {
    /// How often each node's Lease is renewed (kubelet: 10 s).
    pub lease_renew_interval: Duration,
    /// The Leases' `leaseDurationSeconds` (kubelet: 40).
    pub lease_duration_seconds: i32,
    /// How often node status is re-posted when nothing changed (kubelet: 5 minutes).
    pub status_report_interval: Duration,
    /// How many API calls the ticker has in flight at once.
    pub concurrency: usize,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            lease_renew_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            status_report_interval: Duration::from_secs(300),
            concurrency: 64,
        }
    }
}

/// Renews (or creates) the Lease of `node` (owned by the Node, as the kubelet's is).
pub async fn renew_lease(
    leases: &Api<Lease>,
    node: &str,
    node_uid: &str,
    duration_seconds: i32,
) -> Result<(), kube::Error> {
    let now = MicroTime(Timestamp::now());
    let patch = serde_json::json!({"spec": {"renewTime": now, "holderIdentity": node}});
    match leases
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if is_not_found(&err) => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    namespace: Some(LEASE_NAMESPACE.to_string()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".to_string(),
                        kind: "Node".to_string(),
                        name: node.to_string(),
                        uid: node_uid.to_string(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(duration_seconds),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(err) if is_already_exists(&err) => Ok(()),
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

/// Posts `node`'s conditions with a fresh heartbeat time (status subresource).
pub async fn post_status(
    nodes: &Api<Node>,
    node: &str,
    since: Timestamp,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "status": {"conditions": healthy_conditions(Timestamp::now(), since)}
    });
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// One pass: renew every registered node's Lease, and re-post the status of those whose
/// last post is older than the report interval; nodes whose heartbeats are stopped
/// (`capstan.dev/heartbeat: stopped`) are skipped.
pub async fn beat_once(client: &Client, registry: &NodeRegistry, config: &HeartbeatConfig) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let nodes: Api<Node> = Api::all(client.clone());
    let now = Instant::now();
    let entries = registry
        .snapshot()
        .into_iter()
        .filter(|(_, entry)| !entry.stopped);
    futures::stream::iter(entries)
        .for_each_concurrent(config.concurrency.max(1), |(name, entry)| {
            let (leases, nodes) = (&leases, &nodes);
            async move {
                if let Err(err) =
                    renew_lease(leases, &name, &entry.uid, config.lease_duration_seconds).await
                {
                    tracing::warn!(node = %name, %err, "renewing node lease");
                }
                if now.saturating_duration_since(entry.last_status) >= config.status_report_interval
                {
                    match post_status(nodes, &name, entry.registered).await {
                        Ok(()) => registry.status_posted(&name, Instant::now()),
                        Err(err) => tracing::warn!(node = %name, %err, "posting node status"),
                    }
                }
            }
        })
        .await;
}

/// Runs the heartbeat ticker until `shutdown` is cancelled.
pub async fn run_heartbeats(
    client: Client,
    registry: Arc<NodeRegistry>,
    config: HeartbeatConfig,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.lease_renew_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        beat_once(&client, &registry, &config).await;
    }
}
