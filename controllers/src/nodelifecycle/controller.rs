//! The node lifecycle controller's shell: informers on Nodes, Leases and Pods, the
//! monitor and NoExecute tainting loops, the work queue of NoSchedule passes and
//! bound pods, and the writes (node status, node taints, pod status, Events). Every
//! decision is one of the pure cores' (see the [module](super) documentation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::SharedClock;
use capstan_runtime::controller::{
    Action, ControllerBuilder, ControllerError, Reconciler, SyncCheck, synced_all,
};
use capstan_runtime::errors::{is_conflict, is_not_found};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::informer::{
    EventHandlerFns, Lister, POD_NODE_NAME_INDEX, SharedInformerFactory, pod_node_name_index,
};
use capstan_runtime::status::StatusWriter;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::health::{NodeHealth, observe, ready_condition};
use super::limiter::TimedQueue;
use super::pods::{needs_marking, not_ready_status};
use super::taints::{
    NoExecuteStep, has_taint, no_execute_step, no_execute_taint_for, no_schedule_diff,
    reachable_removals, swap, taints_of,
};
use super::zones::{ZoneState, excluded_from_disruption_checks, handle_disruption, zone_key};
use super::{EVENT_COMPONENT, NODE_LEASE_NAMESPACE, NodeLifecycleConfig};
use crate::replicaset::controller::{SetupError, ensure_index};
use crate::util::queued::QueuedController;
use crate::util::time::add;

/// Its work queue's name (upstream's `node_lifecycle_controller`).
pub const NODE_LIFECYCLE_QUEUE: &str = "node_lifecycle_controller";
/// Upstream `NodeEvictionPeriod`: how often the zone tainters are tried.
pub const NODE_EVICTION_PERIOD: Duration = Duration::from_millis(100);
/// How many nodes a monitor pass handles at once (upstream `nodeUpdateWorkerSize`).
pub const NODE_UPDATE_WORKERS: usize = 8;
/// Attempts of a taint write on conflicts (client-go's `retry.DefaultBackoff` steps).
const TAINT_UPDATE_ATTEMPTS: usize = 5;
/// When a queued node without a `Ready` condition is tried again.
const TAINT_RETRY: Duration = Duration::from_millis(50);

/// Why a queue item or a write failed (the item is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum NodeLifecycleError {
    /// Writing a node's taints failed.
    #[error("updating taints of node {node}: {source}")]
    Taints {
        /// The node.
        node: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing a pod's `Ready=False` failed.
    #[error("marking pod {pod} not ready: {source}")]
    PodStatus {
        /// `namespace/name`.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// What the monitor keeps between passes (upstream's `nodeHealthMap`,
/// `knownNodeSet`, `zoneStates`, `zoneNoExecuteTainter`, `nodesToRetry`).
#[derive(Debug, Default)]
struct State {
    health: HashMap<String, NodeHealth>,
    known: HashSet<String>,
    zone_states: BTreeMap<String, ZoneState>,
    tainters: BTreeMap<String, TimedQueue>,
    retry_pods: HashSet<String>,
}

/// The controller's reads, writes and state; the work queue's reconciler.
pub struct NodeLifecycle {
    client: Client,
    clock: SharedClock,
    config: NodeLifecycleConfig,
    nodes: Lister<Node>,
    leases: Lister<Lease>,
    pods: Lister<Pod>,
    node_status: StatusWriter<Node>,
    pod_status: StatusWriter<Pod>,
    recorder: Option<Recorder>,
    state: Mutex<State>,
}

/// One node's results in a monitor pass: its zone and `Ready` status for the
/// disruption accounting (`None` when excluded or its status write failed).
type ZoneEntry = Option<(String, Option<String>)>;

impl NodeLifecycle {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The tainter of `zone`, created at the healthy rate when first seen (upstream
    /// `addPodEvictorForNewZone`).
    fn tainter<'a>(
        state: &'a mut State,
        zone: &str,
        qps: f64,
        now: Timestamp,
    ) -> &'a mut TimedQueue {
        state
            .tainters
            .entry(zone.to_string())
            .or_insert_with(|| TimedQueue::new(qps, now))
    }

    /// What the `Ready` condition of `node` was at the last pass (for bound pods).
    pub fn remembered_ready(&self, node: &str) -> Option<String> {
        let state = self.state.lock();
        state
            .health
            .get(node)?
            .ready
            .as_ref()
            .map(|c| c.status.clone())
    }

    /// How many nodes wait in the zone tainters (for tests and benches).
    pub fn queued_for_tainting(&self) -> usize {
        self.state
            .lock()
            .tainters
            .values()
            .map(TimedQueue::len)
            .sum()
    }

    /// Writes `node`'s taints with `add` put on and `remove` taken off, on the cached
    /// node first and on fresh reads after conflicts (upstream `AddOrUpdateTaintOnNode`
    /// and `RemoveTaintOffNode` in one patch). The patch carries the resourceVersion:
    /// the taint list is replaced whole, so a concurrent change fails it instead of
    /// being undone. False when the node is gone.
    async fn swap_taints(
        &self,
        name: &str,
        add: &[Taint],
        remove: &[Taint],
    ) -> Result<bool, NodeLifecycleError> {
        let Some(mut node) = self.nodes.get("", name).map(|n| (*n).clone()) else {
            return Ok(false);
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let err = |source| NodeLifecycleError::Taints {
            node: name.to_string(),
            source,
        };
        for attempt in 1..=TAINT_UPDATE_ATTEMPTS {
            let Some(taints) = swap(taints_of(&node), add, remove, self.now()) else {
                return Ok(true);
            };
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": node.resource_version()},
                "spec": {"taints": taints},
            });
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if is_not_found(&e) => return Ok(false),
                Err(e) if is_conflict(&e) && attempt < TAINT_UPDATE_ATTEMPTS => {
                    node = match api.get(name).await {
                        Ok(n) => n,
                        Err(e) if is_not_found(&e) => return Ok(false),
                        Err(e) => return Err(err(e)),
                    };
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(false)
    }

    /// Upstream `markNodeAsReachable`: the NoExecute taints go, the node leaves its
    /// zone's tainter.
    async fn mark_node_as_reachable(&self, node: &Node) -> Result<(), NodeLifecycleError> {
        let removals = reachable_removals();
        if removals.iter().any(|t| has_taint(node, t)) {
            self.swap_taints(&node.name_any(), &[], &removals).await?;
        }
        let mut state = self.state.lock();
        if let Some(q) = state.tainters.get_mut(&zone_key(node)) {
            q.remove(&node.name_any());
        }
        Ok(())
    }

    /// Upstream `processTaintBaseEviction`, for the node's observed `Ready` status.
    async fn process_taint_base_eviction(&self, node: &Node, ready: &str) {
        let name = node.name_any();
        let result = match no_execute_step(node, ready) {
            NoExecuteStep::SwapNow { add, remove } => {
                self.swap_taints(&name, &[add], &[remove]).await.map(|_| ())
            }
            NoExecuteStep::MarkForTainting { requeue } => {
                let now = self.now();
                let mut state = self.state.lock();
                let q = Self::tainter(
                    &mut state,
                    &zone_key(node),
                    self.config.node_eviction_rate,
                    now,
                );
                if requeue {
                    q.remove(&name);
                }
                if q.add(&name, &node.uid().unwrap_or_default(), now) {
                    tracing::debug!(node = %name, ready, "node queued for NoExecute tainting");
                }
                Ok(())
            }
            NoExecuteStep::MarkReachable => self.mark_node_as_reachable(node).await,
        };
        if let Err(e) = result {
            tracing::warn!(node = %name, error = %e, "NoExecute taints; retrying next pass");
        }
    }

    /// Upstream `MarkPodsNotReady`: each pod of `node` with a `Ready` condition not
    /// `False` gets it `False` (and a `NodeNotReady` Event).
    async fn mark_pods_not_ready(
        &self,
        pods: &[Arc<Pod>],
        node: &str,
    ) -> Result<(), NodeLifecycleError> {
        let mut first_err = None;
        for pod in pods.iter().filter(|p| needs_marking(p)) {
            let now = self.now();
            let written = self
                .pod_status
                .write_with(pod, |p| {
                    if let Some(status) = not_ready_status(p, node, now) {
                        p.status = Some(status);
                    }
                })
                .await;
            match written {
                Ok(Some(_)) => {
                    tracing::debug!(pod = %ObjectKey::of(pod.as_ref()), node, "pod marked not ready");
                    if let Some(r) = &self.recorder {
                        r.record_for(
                            pod.as_ref(),
                            EventType::Warning,
                            "NodeNotReady",
                            "Node is not ready",
                            "",
                        );
                    }
                }
                Ok(None) => {}
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    first_err.get_or_insert(NodeLifecycleError::PodStatus {
                        pod: ObjectKey::of(pod.as_ref()).to_string(),
                        source,
                    });
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn pods_of(&self, node: &str) -> Vec<Arc<Pod>> {
        self.pods
            .by_index(POD_NODE_NAME_INDEX, node)
            .unwrap_or_default()
    }

    /// One node of a monitor pass (upstream `monitorNodeHealth`'s loop body).
    async fn monitor_node(&self, node: Arc<Node>) -> ZoneEntry {
        let name = node.name_any();
        let now = self.now();
        let lease = self
            .leases
            .get(NODE_LEASE_NAMESPACE, &name)
            .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let saved = self.state.lock().health.get(&name).cloned();
        let obs = observe(
            &node,
            saved.as_ref(),
            lease,
            now,
            self.config.grace_periods(),
        );
        let mut health = obs.health.clone();
        if let Some(conditions) = &obs.write {
            let written = self
                .node_status
                .write_with(&node, |n| {
                    n.status.get_or_insert_with(Default::default).conditions =
                        Some(conditions.clone());
                })
                .await;
            match written {
                Ok(_) => {
                    tracing::info!(node = %name, "node stopped posting status: conditions Unknown");
                    health = obs.health_after_write(now);
                }
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "marking node Unknown; retrying next pass");
                    self.state.lock().health.insert(name, health);
                    return None;
                }
            }
        }
        self.state.lock().health.insert(name.clone(), health);
        let entry = (!excluded_from_disruption_checks(&node)).then(|| {
            (
                zone_key(&node),
                obs.current_ready.as_ref().map(|c| c.status.clone()),
            )
        });
        let Some(current) = &obs.current_ready else {
            self.state.lock().retry_pods.remove(&name);
            return entry;
        };
        let observed = obs.observed_ready.status.as_str();
        self.process_taint_base_eviction(&node, observed).await;
        let needs_retry = self.state.lock().retry_pods.contains(&name);
        let transitioned = current.status != "True" && observed == "True";
        if transitioned && let Some(r) = &self.recorder {
            r.record_for(
                node.as_ref(),
                EventType::Normal,
                "NodeNotReady",
                &format!("Node {name} status is now: NodeNotReady"),
                "",
            );
        }
        if (transitioned || (needs_retry && observed != "True"))
            && let Err(e) = self.mark_pods_not_ready(&self.pods_of(&name), &name).await
        {
            tracing::warn!(node = %name, error = %e, "marking pods not ready; retrying next pass");
            self.state.lock().retry_pods.insert(name);
            return entry;
        }
        self.state.lock().retry_pods.remove(&name);
        entry
    }

    /// One pass over every node (upstream `monitorNodeHealth`).
    pub async fn monitor_node_health(&self) {
        let nodes = self.nodes.list_all();
        let now = self.now();
        // Upstream `classifyNodes`: nodes new to the controller, and those gone.
        let (added, deleted) = {
            let mut state = self.state.lock();
            let names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
            let deleted: Vec<String> = state.known.difference(&names).cloned().collect();
            let added: Vec<Arc<Node>> = nodes
                .iter()
                .filter(|n| !state.known.contains(&n.name_any()))
                .cloned()
                .collect();
            for name in &deleted {
                state.known.remove(name);
                state.health.remove(name);
                state.retry_pods.remove(name);
                for q in state.tainters.values_mut() {
                    q.remove(name);
                }
            }
            for node in &added {
                state.known.insert(node.name_any());
                Self::tainter(
                    &mut state,
                    &zone_key(node),
                    self.config.node_eviction_rate,
                    now,
                );
            }
            (added, deleted)
        };
        for name in &deleted {
            tracing::info!(node = %name, "controller observed a Node deletion");
        }
        futures::stream::iter(added)
            .for_each_concurrent(NODE_UPDATE_WORKERS, |node| async move {
                if let Some(r) = &self.recorder {
                    r.record_for(
                        node.as_ref(),
                        EventType::Normal,
                        "RegisteredNode",
                        &format!("Registered Node {} in Controller", node.name_any()),
                        "",
                    );
                }
                if let Err(e) = self.mark_node_as_reachable(&node).await {
                    tracing::warn!(node = %node.name_any(), error = %e, "untainting a new node");
                }
            })
            .await;

        let entries: Vec<ZoneEntry> = futures::stream::iter(nodes.iter().cloned())
            .map(|node| self.monitor_node(node))
            .buffer_unordered(NODE_UPDATE_WORKERS)
            .collect()
            .await;
        let mut zone_ready: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for (zone, ready) in entries.into_iter().flatten() {
            zone_ready.entry(zone).or_default().push(ready);
        }
        let zone_ready: BTreeMap<String, Vec<Option<&str>>> = zone_ready
            .iter()
            .map(|(z, r)| (z.clone(), r.iter().map(Option::as_deref).collect()))
            .collect();
        let plan = {
            let mut state = self.state.lock();
            let plan = handle_disruption(
                &mut state.zone_states,
                &zone_ready,
                &self.config.disruption_policy(),
            );
            for (zone, qps) in &plan.limiters {
                Self::tainter(&mut state, zone, self.config.node_eviction_rate, now)
                    .swap_limiter(*qps, now);
            }
            if plan.reset_probe_timestamps {
                tracing::info!("some nodes are Ready: leaving full disruption mode");
                let now = self.now();
                for h in state.health.values_mut() {
                    h.probe_timestamp = now;
                    h.ready_transition_timestamp = now;
                }
            }
            plan
        };
        if plan.mark_all_reachable {
            tracing::info!(
                "every node is not Ready: entering full disruption mode, NoExecute tainting stops"
            );
            futures::stream::iter(nodes)
                .for_each_concurrent(NODE_UPDATE_WORKERS, |node| async move {
                    if let Err(e) = self.mark_node_as_reachable(&node).await {
                        tracing::warn!(node = %node.name_any(), error = %e, "untainting node");
                    }
                })
                .await;
        }
    }

    /// One pass over the zone tainters (upstream `doNoExecuteTaintingPass`).
    pub async fn do_no_execute_tainting_pass(&self) {
        let zones: Vec<String> = self.state.lock().tainters.keys().cloned().collect();
        for zone in zones {
            loop {
                let now = self.now();
                let next = {
                    let mut state = self.state.lock();
                    state.tainters.get_mut(&zone).and_then(|q| q.next_due(now))
                };
                let Some(value) = next else { break };
                let retry_in = match self.nodes.get("", &value.value) {
                    None => None,
                    Some(node) => match ready_condition(&node).map(|c| c.status.clone()) {
                        None => Some(TAINT_RETRY),
                        Some(ready) => match no_execute_taint_for(&ready) {
                            None => None,
                            Some((add, opposite)) => {
                                match self.swap_taints(&value.value, &[add], &[opposite]).await {
                                    Ok(_) => {
                                        tracing::info!(node = %value.value, ready, "node tainted NoExecute");
                                        None
                                    }
                                    Err(e) => {
                                        tracing::warn!(error = %e, "NoExecute taint");
                                        Some(Duration::ZERO)
                                    }
                                }
                            }
                        },
                    },
                };
                let mut state = self.state.lock();
                if let Some(q) = state.tainters.get_mut(&zone) {
                    match retry_in {
                        None => q.done(&value.value),
                        Some(wait) => {
                            q.retry(&value.value, add(now, wait + Duration::from_millis(1)))
                        }
                    }
                }
            }
        }
    }

    /// Upstream `doNoScheduleTaintingPass` for one node.
    async fn do_no_schedule_tainting_pass(&self, name: &str) -> Result<Action, NodeLifecycleError> {
        let Some(node) = self.nodes.get("", name) else {
            return Ok(Action::Done);
        };
        let (add, remove) = no_schedule_diff(&node);
        if add.is_empty() && remove.is_empty() {
            return Ok(Action::Done);
        }
        self.swap_taints(name, &add, &remove).await?;
        Ok(Action::Done)
    }

    /// Upstream `processPod`: a pod just bound to a node that is not Ready is marked
    /// not Ready.
    async fn process_pod(&self, key: &ObjectKey) -> Result<Action, NodeLifecycleError> {
        let Some(pod) = self.pods.get_key(key) else {
            return Ok(Action::Done);
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Ok(Action::Done);
        };
        let Some(ready) = self.remembered_ready(&node) else {
            return Ok(Action::Done);
        };
        if self.nodes.get("", &node).is_none() || ready == "True" {
            return Ok(Action::Done);
        }
        self.mark_pods_not_ready(&[pod], &node).await?;
        Ok(Action::Done)
    }
}

impl Reconciler for NodeLifecycle {
    type Error = NodeLifecycleError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, NodeLifecycleError> {
        match key.namespace() {
            None => self.do_no_schedule_tainting_pass(key.name()).await,
            Some(_) => self.process_pod(&key).await,
        }
    }
}

/// kube-controller-manager's `node-lifecycle-controller`: the work queue and the
/// monitor and tainting loops.
pub struct NodeLifecycleController {
    queued: QueuedController<NodeLifecycle>,
}

impl NodeLifecycleController {
    /// True once the Node, Lease and Pod caches have synced.
    pub fn synced_check(&self) -> SyncCheck {
        self.queued.synced_check()
    }

    /// The controller's state and passes (for tests and benches).
    pub fn lifecycle(&self) -> Arc<NodeLifecycle> {
        self.queued.reconciler().clone()
    }

    /// Runs the work queue, the monitor every `--node-monitor-period` and the
    /// tainters every 100 ms (both once the caches have synced) until `shutdown`.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let core = self.lifecycle();
        let synced = self.synced_check();
        let (stop_tx, stop_rx) = watch::channel(false);
        let monitor = tokio::spawn(every(
            core.config.node_monitor_period,
            synced.clone(),
            stop_rx.clone(),
            {
                let core = core.clone();
                move || {
                    let core = core.clone();
                    async move { core.monitor_node_health().await }
                }
            },
        ));
        let tainting = tokio::spawn(every(NODE_EVICTION_PERIOD, synced, stop_rx, move || {
            let core = core.clone();
            async move { core.do_no_execute_tainting_pass().await }
        }));
        let result = self.queued.run(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = monitor.await;
        let _ = tainting.await;
        result
    }
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs `pass` every `period` once `synced` says so, until `stop` turns true.
async fn every<F, Fut>(
    period: Duration,
    synced: SyncCheck,
    mut stop: watch::Receiver<bool>,
    pass: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    while !synced() {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let mut ticker = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = ticker.tick() => pass().await,
        }
    }
}

/// Builds the controller on `factory`'s Node, Lease and Pod informers, writing
/// through `client`, reading `now` from `clock`; Events are reported from
/// `events_instance` when it is given.
pub fn node_lifecycle_controller(
    factory: &SharedInformerFactory,
    client: Client,
    config: NodeLifecycleConfig,
    clock: SharedClock,
    workers: usize,
    events_instance: Option<&str>,
) -> Result<NodeLifecycleController, SetupError> {
    let nodes = factory.informer::<Node>();
    let leases = factory.informer::<Lease>();
    let pods = factory.informer::<Pod>();
    ensure_index(&pods, POD_NODE_NAME_INDEX, pod_node_name_index)?;
    let synced = synced_all([
        nodes.synced_check(),
        leases.synced_check(),
        pods.synced_check(),
    ]);
    let recorder =
        events_instance.map(|instance| Recorder::new(client.clone(), EVENT_COMPONENT, instance));
    let controller = ControllerBuilder::new(NODE_LIFECYCLE_QUEUE)
        .workers(workers)
        .wait_for(synced.clone())
        .build(NodeLifecycle {
            node_status: StatusWriter::new(client.clone()).with_retries(0),
            pod_status: StatusWriter::new(client.clone()),
            client,
            clock,
            config,
            nodes: nodes.lister(),
            leases: leases.lister(),
            pods: pods.lister(),
            recorder,
            state: Mutex::new(State::default()),
        });
    // Upstream's node handlers (nodeUpdateQueue) and `podUpdated`.
    let (q1, q2, q3, q4) = (
        controller.queue(),
        controller.queue(),
        controller.queue(),
        controller.queue(),
    );
    nodes.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |n: Arc<Node>, _| q1.add(ObjectKey::of(n.as_ref())))
            .on_update(move |_, n: Arc<Node>| q2.add(ObjectKey::of(n.as_ref()))),
    )?;
    let bound = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
    pods.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |p: Arc<Pod>, _| {
                if bound(&p).is_some() {
                    q3.add(ObjectKey::of(p.as_ref()));
                }
            })
            .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                if bound(&new).is_some() && bound(&new) != bound(&old) {
                    q4.add(ObjectKey::of(new.as_ref()));
                }
            }),
    )?;
    Ok(NodeLifecycleController {
        queued: QueuedController::wrap(controller, synced),
    })
}
