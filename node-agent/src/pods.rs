//! The pod worker: drives pods bound to this agent's nodes through their lifecycle with
//! their node's runtime. Both runtimes share the addresses (a pod IP from the node's
//! /24, the node's `hostIP`), the status writes and the kubelet's final delete (grace
//! period 0, UID precondition).
//!
//! - `sim` (see [`crate::sim`] for the conventions): Pending → Running with container
//!   statuses, Ready after the readiness delay, terminal phases for completing pods, and
//!   on deletion containers terminated at once.
//! - `process` (see [`crate::process`]): containers run as local processes; the worker
//!   writes what the runtime reports and deletes the pod once its processes stopped.

use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::Action;
use capstan_runtime::informer::Lister;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::crd::NodeRuntime;
use crate::ipam::PodIpAllocator;
use crate::lifecycle::scaled;
use crate::nodes::{NodeEntry, NodeRegistry};
use crate::process::ProcessRuntime;
use crate::sim::{Outcome, Placement, outcome, pod_status, ready_delay, run_for};

/// The pod informer's index from node name to the pods bound to it.
pub const NODE_NAME_INDEX: &str = "spec.nodeName";

/// Reconciles one pod at a time for the controller runner.
pub struct PodWorker {
    client: Client,
    pods: Lister<Pod>,
    registry: Arc<NodeRegistry>,
    ips: PodIpAllocator,
    process: Arc<ProcessRuntime>,
    time_scale: f64,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn ip_offset(ip: &str) -> Option<u8> {
    ip.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets()[3])
}

impl PodWorker {
    /// A worker over the pod cache, serving the nodes in `registry`; `process` runs the
    /// pods of `process` nodes; the sim runtime's delays are multiplied by `time_scale`.
    pub fn new(
        client: Client,
        pods: Lister<Pod>,
        registry: Arc<NodeRegistry>,
        process: Arc<ProcessRuntime>,
        time_scale: f64,
    ) -> Self {
        PodWorker {
            client,
            pods,
            registry,
            ips: PodIpAllocator::default(),
            process,
            time_scale,
        }
    }

    /// The pod address of `pod` on `node`: the one in its status (re-reserved after a
    /// restart) or a newly allocated one; `None` when the node's range is full.
    fn assign_ip(&self, pod: &Pod, node: &str, entry: &NodeEntry) -> Option<String> {
        let uid = pod.uid().unwrap_or_default();
        if let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()) {
            if let Some(offset) = ip_offset(ip) {
                self.ips.reserve(node, &uid, offset);
            }
            return Some(ip.to_string());
        }
        // Addresses other pods on the node already hold (e.g. before a restart).
        for other in self
            .pods
            .by_index(NODE_NAME_INDEX, node)
            .unwrap_or_default()
        {
            let held = other.status.as_ref().and_then(|s| s.pod_ip.as_deref());
            if let (Some(other_uid), Some(offset)) = (other.uid(), held.and_then(ip_offset))
                && !is_terminal(&other)
            {
                self.ips.reserve(node, &other_uid, offset);
            }
        }
        let offset = self.ips.allocate(node, &uid)?;
        Some(entry.subnet.nth(offset).to_string())
    }

    async fn delete_now(
        &self,
        api: &Api<Pod>,
        key: &ObjectKey,
        uid: &str,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(key.name(), &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// A pod of a `process` node: the runtime syncs its processes; its status is
    /// written and, once its processes stopped on deletion, it is deleted.
    async fn reconcile_process(
        &self,
        key: &ObjectKey,
        pod: &Pod,
        node: &str,
        entry: &NodeEntry,
    ) -> Result<Action, kube::Error> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or("default"));
        let uid = pod.uid().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let pod_ip = if pod.metadata.deletion_timestamp.is_some() || is_terminal(pod) {
            status.pod_ip.clone()
        } else {
            match self.assign_ip(pod, node, entry) {
                Some(ip) => Some(ip),
                None => {
                    tracing::warn!(pod = %key, node = %node, "no pod address left on node");
                    return Ok(Action::requeue_after(Duration::from_secs(10)));
                }
            }
        };
        let at = pod_ip.map(|pod_ip| Placement {
            host_ip: entry.subnet.host_ip().to_string(),
            pod_ip,
            started: status
                .start_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or_else(Timestamp::now),
        });
        let outcome = self.process.sync(pod, at.as_ref()).await;
        if let Some(next) = outcome.status {
            self.patch_status(&api, key, &next).await?;
            self.process.posted(&uid, next);
        }
        if outcome.delete {
            self.delete_now(&api, key, &uid).await?;
            self.process.forget(&uid);
            self.ips.release(&uid);
            return Ok(Action::Done);
        }
        if outcome.finished {
            self.ips.release(&uid);
        }
        Ok(match outcome.requeue {
            Some(delay) => Action::requeue_after(delay.max(Duration::from_millis(10))),
            None => Action::Done,
        })
    }

    /// Brings the pod `key` one step closer to what the kubelet would have made of it.
    pub async fn reconcile(&self, key: ObjectKey) -> Result<Action, kube::Error> {
        let Some(pod) = self.pods.get_key(&key) else {
            // Deleted: whatever of it still runs is stopped.
            self.process.forget_key(&key);
            return Ok(Action::Done);
        };
        let uid = pod.uid().unwrap_or_default();
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Ok(Action::Done);
        };
        let Some(entry) = self.registry.get(&node) else {
            // Its node is no longer served here.
            self.process.forget_key(&key);
            return Ok(Action::Done);
        };
        if entry.runtime == NodeRuntime::Process {
            return self.reconcile_process(&key, &pod, &node, &entry).await;
        }
        if !self.process.is_empty() {
            // The node changed runtime: processes of this pod (if any) stop.
            self.process.forget_key(&key);
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or("default"));
        let now = Timestamp::now();
        let status = pod.status.clone().unwrap_or_default();
        let host_ip = entry.subnet.host_ip().to_string();
        let started = status.start_time.as_ref().map(|t| t.0);
        let placement = |pod_ip: String| Placement {
            host_ip: host_ip.clone(),
            pod_ip,
            started: started.unwrap_or(now),
        };

        if pod.metadata.deletion_timestamp.is_some() {
            if !is_terminal(&pod)
                && let Some(pod_ip) = status.pod_ip.clone()
            {
                let done = pod_status(&pod, &placement(pod_ip), false, Some(0), now);
                self.patch_status(&api, &key, &done).await?;
            }
            self.delete_now(&api, &key, &uid).await?;
            self.ips.release(&uid);
            return Ok(Action::Done);
        }
        if is_terminal(&pod) {
            self.ips.release(&uid);
            return Ok(Action::Done);
        }

        let Some(pod_ip) = self.assign_ip(&pod, &node, &entry) else {
            tracing::warn!(pod = %key, node = %node, "no pod address left on node");
            return Ok(Action::requeue_after(Duration::from_secs(10)));
        };
        let at = placement(pod_ip);
        let after = |d: Duration| {
            at.started + k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or_default()
        };
        let exit_at = match outcome(&pod) {
            Outcome::Exit(code) => {
                let exit_at = after(scaled(run_for(&pod), self.time_scale));
                if exit_at <= now {
                    let done = pod_status(&pod, &at, false, Some(code), now);
                    self.patch_status(&api, &key, &done).await?;
                    self.ips.release(&uid);
                    return Ok(Action::Done);
                }
                Some(exit_at)
            }
            Outcome::Run => None,
        };
        let ready_at = after(scaled(ready_delay(&pod), self.time_scale));
        let ready = ready_at <= now;
        let running = status.phase.as_deref() == Some("Running");
        if !running || ready != is_ready(&pod) {
            let next = pod_status(&pod, &at, ready, None, now);
            self.patch_status(&api, &key, &next).await?;
        }
        let next_change = [(!ready).then_some(ready_at), exit_at]
            .into_iter()
            .flatten()
            .min();
        Ok(match next_change {
            None => Action::Done,
            Some(when) => {
                let wait = Duration::try_from(when.duration_since(now))
                    .unwrap_or(Duration::from_millis(100));
                Action::requeue_after(wait.max(Duration::from_millis(10)))
            }
        })
    }

    async fn patch_status(
        &self,
        api: &Api<Pod>,
        key: &ObjectKey,
        status: &k8s_openapi::api::core::v1::PodStatus,
    ) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"status": status});
        match api
            .patch_status(key.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(err) => Err(err),
        }
    }
}
