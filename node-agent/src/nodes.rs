//! Pools into Node objects: the registry of nodes this agent serves, and the sync that
//! creates `<pool>-<i>` for every wanted index, adopts nodes it finds, deletes nodes of
//! removed or scaled-down pools (with their Leases and the pods bound to them) and writes
//! each pool's status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use capstan_runtime::errors::{is_conflict, is_not_found};
use capstan_runtime::informer::Lister;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use parking_lot::RwLock;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::crd::{NodePool, NodePoolStatus, NodeRuntime};
use crate::heartbeat::{HeartbeatConfig, LEASE_NAMESPACE, renew_lease};
use crate::ipam::{NodeSubnet, node_subnet};
use crate::node::{
    NodeOptions, POOL_LABEL, POOL_TAINTS_ANNOTATION, conditions_to_report, desired_node,
    heartbeat_stopped, pool_taints_of, pool_taints_value, reconcile_taints,
};
use crate::pods::NODE_NAME_INDEX;

/// The taint `TaintNodesByCondition` puts on every new node until it is Ready.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// What the agent knows of one node it serves.
#[derive(Clone, Debug)]
pub struct NodeEntry {
    /// The node's pool.
    pub pool: String,
    /// The node's UID (owner of its Lease).
    pub uid: String,
    /// The node's /24: its address and its pods' addresses.
    pub subnet: NodeSubnet,
    /// How its pods run (its pool's `runtime`).
    pub runtime: NodeRuntime,
    /// When the node's conditions last changed (its registration, or its return
    /// after its heartbeats were stopped).
    pub registered: Timestamp,
    /// When its status was last posted.
    pub last_status: Instant,
    /// Whether its heartbeats are stopped (`capstan.dev/heartbeat: stopped`): no
    /// Lease renewal, no node or pod status, no taint or label correction.
    pub stopped: bool,
}

/// The nodes this agent serves, shared by the pool sync, the heartbeat ticker and the
/// pod worker.
#[derive(Debug, Default)]
pub struct NodeRegistry {
    nodes: RwLock<HashMap<String, NodeEntry>>,
}

impl NodeRegistry {
    /// The entry of `node`, if served here.
    pub fn get(&self, node: &str) -> Option<NodeEntry> {
        self.nodes.read().get(node).cloned()
    }

    /// Whether `node` is served here.
    pub fn contains(&self, node: &str) -> bool {
        self.nodes.read().contains_key(node)
    }

    /// All served nodes.
    pub fn snapshot(&self) -> Vec<(String, NodeEntry)> {
        self.nodes
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// How many nodes of `pool` are served.
    pub fn count(&self, pool: &str) -> usize {
        self.nodes
            .read()
            .values()
            .filter(|e| e.pool == pool)
            .count()
    }

    /// How many nodes are served.
    pub fn len(&self) -> usize {
        self.nodes.read().len()
    }

    /// Whether no node is served.
    pub fn is_empty(&self) -> bool {
        self.nodes.read().is_empty()
    }

    fn insert(&self, name: String, entry: NodeEntry) {
        self.nodes.write().insert(name, entry);
    }

    fn remove(&self, name: &str) {
        self.nodes.write().remove(name);
    }

    fn set_runtime(&self, name: &str, runtime: NodeRuntime) {
        if let Some(e) = self.nodes.write().get_mut(name) {
            e.runtime = runtime;
        }
    }

    /// Records whether `name`'s heartbeats are stopped; answers whether they were.
    fn set_stopped(&self, name: &str, stopped: bool) -> bool {
        match self.nodes.write().get_mut(name) {
            Some(e) => std::mem::replace(&mut e.stopped, stopped),
            None => false,
        }
    }

    fn conditions_changed(&self, name: &str, at: Timestamp) {
        if let Some(e) = self.nodes.write().get_mut(name) {
            e.registered = at;
        }
    }

    pub(crate) fn status_posted(&self, name: &str, at: Instant) {
        if let Some(e) = self.nodes.write().get_mut(name) {
            e.last_status = at;
        }
    }
}

/// Patches bringing a node back to its pool's spec.
struct Drift {
    object: Option<serde_json::Value>,
    status: Option<serde_json::Value>,
    /// When the status patch reports changed conditions: their transition time.
    conditions_changed: Option<Timestamp>,
}

/// Called with a node's name once it is served (so its pods can be looked at).
pub type NodeServed = Arc<dyn Fn(&str) + Send + Sync>;

/// The caches the pool sync reads.
pub struct PoolCaches {
    /// All NodePools.
    pub pools: Lister<NodePool>,
    /// Nodes labelled with [`POOL_LABEL`].
    pub nodes: Lister<Node>,
    /// Pods bound to nodes, indexed by [`NODE_NAME_INDEX`].
    pub pods: Lister<Pod>,
}

/// Reconciles all pools into Node objects.
pub struct PoolSync {
    client: Client,
    pools: Lister<NodePool>,
    nodes: Lister<Node>,
    pods: Lister<Pod>,
    registry: Arc<NodeRegistry>,
    options: NodeOptions,
    heartbeat: HeartbeatConfig,
    on_served: NodeServed,
}

impl PoolSync {
    /// A sync over the given caches (`pods` indexed by [`NODE_NAME_INDEX`]), registering served nodes in `registry`.
    pub fn new(
        client: Client,
        PoolCaches { pools, nodes, pods }: PoolCaches,
        registry: Arc<NodeRegistry>,
        options: NodeOptions,
        heartbeat: HeartbeatConfig,
        on_served: NodeServed,
    ) -> Self {
        PoolSync {
            client,
            pools,
            nodes,
            pods,
            registry,
            options,
            heartbeat,
            on_served,
        }
    }

    /// One full pass over all pools and pool nodes.
    pub async fn sync_all(&self) {
        let node_api: Api<Node> = Api::all(self.client.clone());
        let lease_api: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let existing: HashMap<String, Arc<Node>> = self
            .nodes
            .list_all()
            .into_iter()
            .filter(|n| n.labels().contains_key(POOL_LABEL))
            .map(|n| (n.name_any(), n))
            .collect();
        let pools = self.pools.list_all();
        let mut wanted = HashSet::new();
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let mut messages: BTreeMap<String, String> = BTreeMap::new();
        for pool in &pools {
            let pool_name = pool.name_any();
            if pool.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let count = u32::try_from(pool.spec.nodes).unwrap_or(0);
            for index in 0..count {
                let name = crate::node::node_name(&pool_name, index);
                wanted.insert(name.clone());
                match existing.get(&name) {
                    Some(node) if node.labels().get(POOL_LABEL) == Some(&pool_name) => {
                        match self.registry.get(&name) {
                            None => self.adopt(pool, index, node),
                            Some(e) if e.runtime != pool.spec.runtime => {
                                self.registry.set_runtime(&name, pool.spec.runtime);
                                (self.on_served)(&name);
                            }
                            Some(_) => {}
                        }
                        let stopped = heartbeat_stopped(node);
                        let was_stopped = self.registry.set_stopped(&name, stopped);
                        if stopped {
                            // A kubelet that cannot reach the API server corrects
                            // nothing: the lifecycle controller's conditions and
                            // taints stay as it set them.
                            continue;
                        }
                        if was_stopped {
                            tracing::info!(node = %name, "node heartbeats resumed");
                            // Its pods' statuses are reported again.
                            (self.on_served)(&name);
                        }
                        if let Some(drift) = self.drift(pool, index, node) {
                            updates.push((name, drift));
                        }
                    }
                    Some(_) => {
                        messages.insert(
                            pool_name.clone(),
                            format!("node {name} exists and belongs to another pool"),
                        );
                    }
                    None => creates.push((pool.clone(), index)),
                }
            }
        }
        futures::stream::iter(creates)
            .for_each_concurrent(self.heartbeat.concurrency.max(1), |(pool, index)| {
                let (node_api, lease_api) = (&node_api, &lease_api);
                async move { self.create(node_api, lease_api, &pool, index).await }
            })
            .await;
        futures::stream::iter(updates)
            .for_each_concurrent(self.heartbeat.concurrency.max(1), |(name, drift)| {
                let node_api = &node_api;
                async move { self.correct(node_api, &name, drift).await }
            })
            .await;
        let stale: Vec<String> = existing
            .keys()
            .filter(|n| !wanted.contains(*n))
            .cloned()
            .chain(
                self.registry
                    .snapshot()
                    .into_iter()
                    .map(|(n, _)| n)
                    .filter(|n| !wanted.contains(n) && !existing.contains_key(n)),
            )
            .collect();
        futures::stream::iter(stale)
            .for_each_concurrent(self.heartbeat.concurrency.max(1), |name| {
                let (node_api, lease_api) = (&node_api, &lease_api);
                async move {
                    self.registry.remove(&name);
                    for result in [
                        node_api
                            .delete(&name, &DeleteParams::default())
                            .await
                            .map(|_| ()),
                        lease_api
                            .delete(&name, &DeleteParams::default())
                            .await
                            .map(|_| ()),
                    ] {
                        if let Err(err) = result
                            && !is_not_found(&err)
                        {
                            tracing::warn!(node = %name, %err, "deleting node");
                        }
                    }
                    self.delete_orphaned_pods(&name).await;
                }
            })
            .await;
        for pool in &pools {
            self.write_pool_status(pool, messages.get(&pool.name_any()).cloned())
                .await;
        }
    }

    /// Deletes (grace period 0) the pods bound to a node that no longer exists, as
    /// kube-controller-manager's pod GC does for orphaned pods: nothing can run them.
    async fn delete_orphaned_pods(&self, node: &str) {
        let pods = self
            .pods
            .by_index(NODE_NAME_INDEX, node)
            .unwrap_or_default();
        for pod in pods {
            let ns = pod.namespace().unwrap_or_else(|| "default".to_string());
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: pod.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            if let Err(err) = api.delete(&pod.name_any(), &params).await
                && !is_not_found(&err)
                && !is_conflict(&err)
            {
                tracing::warn!(pod = %pod.name_any(), node, %err, "deleting orphaned pod");
            }
        }
    }

    /// What of `node` differs from what its pool now says (labels, taints, capacity,
    /// allocatable), as the patches that bring it back.
    fn drift(&self, pool: &NodePool, index: u32, node: &Node) -> Option<Drift> {
        let (want, _) = desired_node(pool, index, &self.options, Timestamp::now()).ok()?;
        let labels = node.labels();
        let labels_ok = want.labels().iter().all(|(k, v)| labels.get(k) == Some(v));
        let taints = |n: &Node| {
            n.spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default()
        };
        // Only the taints the pool declares (and those it declared before) are the
        // agent's; `kubectl taint`, cordons and the lifecycle controller's stay.
        let (current, wanted) = (taints(node), taints(&want));
        let mut owned = pool_taints_of(node).unwrap_or_default();
        // As the node lifecycle controller's NoSchedule pass does (kept for agents
        // running where no such controller runs): the not-ready NoSchedule taint
        // TaintNodesByCondition puts on a new node goes once the node reports Ready.
        // `unreachable` is never the agent's: the controller takes it off.
        if crate::node::is_ready(node) {
            owned.insert((NOT_READY_TAINT.to_string(), "NoSchedule".to_string()));
        }
        let merged = reconcile_taints(&current, &owned, &wanted);
        let owned_value = pool_taints_value(&wanted);
        let taints_ok = merged == current
            && node.annotations().get(POOL_TAINTS_ANNOTATION) == Some(&owned_value);
        // What the agent owns in the status beside the conditions: resources, and where
        // the kubelet API is (it changes when the agent restarts with another one).
        let resources = |n: &Node| {
            n.status.as_ref().map(|s| {
                (
                    s.capacity.clone(),
                    s.allocatable.clone(),
                    s.addresses.clone(),
                    s.daemon_endpoints.clone(),
                )
            })
        };
        let now = Timestamp::now();
        // Conditions someone else changed (the lifecycle controller's `Unknown`)
        // are reported again, as the kubelet's next status update does.
        let conditions = conditions_to_report(node, now);
        let status_ok = resources(&want) == resources(node) && conditions.is_none();
        if labels_ok && taints_ok && status_ok {
            return None;
        }
        // The taint list is replaced whole: the resourceVersion makes a write racing
        // another client's fail (and the next pass retry) instead of undoing it.
        let object = (!(labels_ok && taints_ok)).then(|| {
            serde_json::json!({
                "metadata": {
                    "labels": want.labels(),
                    "annotations": {POOL_TAINTS_ANNOTATION: owned_value},
                    "resourceVersion": node.resource_version(),
                },
                "spec": {"taints": merged},
            })
        });
        let conditions_changed = conditions.is_some().then_some(now);
        let status = (!status_ok).then(|| {
            let (capacity, allocatable, addresses, endpoints) =
                resources(&want).unwrap_or_default();
            let mut status = serde_json::json!({
                "capacity": capacity,
                "allocatable": allocatable,
                "addresses": addresses,
                "daemonEndpoints": endpoints,
            });
            if let Some(conditions) = conditions {
                status["conditions"] = serde_json::json!(conditions);
            }
            serde_json::json!({ "status": status })
        });
        Some(Drift {
            object,
            status,
            conditions_changed,
        })
    }

    async fn correct(&self, node_api: &Api<Node>, name: &str, drift: Drift) {
        let params = PatchParams::default();
        if let Some(patch) = drift.object
            && let Err(err) = node_api.patch(name, &params, &Patch::Merge(&patch)).await
        {
            tracing::warn!(node = %name, %err, "updating node labels and taints");
        }
        if let Some(patch) = drift.status {
            match node_api
                .patch_status(name, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.registry.status_posted(name, Instant::now());
                    if let Some(at) = drift.conditions_changed {
                        self.registry.conditions_changed(name, at);
                    }
                }
                Err(err) => tracing::warn!(node = %name, %err, "posting node status"),
            }
        }
    }

    fn adopt(&self, pool: &NodePool, index: u32, node: &Node) {
        let Ok(subnet) = node_subnet(&pool.spec.pod_cidr, index) else {
            return;
        };
        let name = node.name_any();
        self.registry.insert(
            name.clone(),
            NodeEntry {
                pool: pool.name_any(),
                uid: node.uid().unwrap_or_default(),
                subnet,
                runtime: pool.spec.runtime,
                registered: node
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .unwrap_or_else(Timestamp::now),
                // Due at once: the ticker re-posts status (with a fresh heartbeat).
                last_status: Instant::now()
                    .checked_sub(self.heartbeat.status_report_interval)
                    .unwrap_or_else(Instant::now),
                stopped: heartbeat_stopped(node),
            },
        );
        (self.on_served)(&name);
    }

    async fn create(
        &self,
        node_api: &Api<Node>,
        lease_api: &Api<Lease>,
        pool: &NodePool,
        index: u32,
    ) {
        let now = Timestamp::now();
        let (node, subnet) = match desired_node(pool, index, &self.options, now) {
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(pool = %pool.name_any(), index, %err, "cannot address node");
                return;
            }
        };
        let name = node.name_any();
        let created = match node_api.create(&PostParams::default(), &node).await {
            Ok(created) => created,
            Err(err) => {
                tracing::warn!(node = %name, %err, "registering node");
                return;
            }
        };
        // The create may drop status (as a status subresource does): post it explicitly.
        let status = serde_json::json!({"status": node.status});
        if let Err(err) = node_api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
        {
            tracing::warn!(node = %name, %err, "posting initial node status");
        }
        let uid = created.uid().unwrap_or_default();
        if let Err(err) = renew_lease(
            lease_api,
            &name,
            &uid,
            self.heartbeat.lease_duration_seconds,
        )
        .await
        {
            tracing::warn!(node = %name, %err, "creating node lease");
        }
        self.registry.insert(
            name.clone(),
            NodeEntry {
                pool: pool.name_any(),
                uid,
                subnet,
                runtime: pool.spec.runtime,
                registered: now,
                last_status: Instant::now(),
                stopped: false,
            },
        );
        (self.on_served)(&name);
    }

    async fn write_pool_status(&self, pool: &NodePool, message: Option<String>) {
        let served = i32::try_from(self.registry.count(&pool.name_any())).unwrap_or(i32::MAX);
        let status = NodePoolStatus {
            nodes: served,
            ready_nodes: served,
            observed_generation: pool.metadata.generation,
            message,
        };
        if pool.status.as_ref() == Some(&status) {
            return;
        }
        let api: Api<NodePool> = Api::all(self.client.clone());
        let patch = serde_json::json!({"status": status});
        if let Err(err) = api
            .patch_status(
                &pool.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            && !is_not_found(&err)
        {
            tracing::warn!(pool = %pool.name_any(), %err, "writing pool status");
        }
    }

    /// Syncs on every notification (pool or node change) and every `resync`, until
    /// `shutdown` is cancelled.
    pub async fn run(
        self,
        notify: Arc<Notify>,
        resync: std::time::Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            self.sync_all().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = notify.notified() => {}
                _ = tokio::time::sleep(resync) => {}
            }
        }
    }
}
