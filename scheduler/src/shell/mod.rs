//! The I/O shell around the pure core: event handlers feeding the cache and the
//! queue (upstream `eventhandlers.go`), and the scheduling loop (`scheduleOne`):
//! pop → schedule → assume → bind asynchronously, or record the failure
//! (PodScheduled condition, FailedScheduling event, nomination and victims).
//! Informers call the `on_*` handlers; writes go through an [`ApiWriter`].

pub mod informers;
pub mod writer;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use capstan_runtime::events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{Notify, Semaphore};

pub use informers::{
    HandlersSynced, InformerLister, RunOptions, SchedulerError, add_event_handlers, run_scheduler,
    run_scheduler_with,
};
pub use writer::{ApiWriter, KubeWriter, WriteError};

use crate::cache::{Cache, NodeInfo, PodInfo, namespaced_name, pod_key};
use crate::config::{ConfigError, KubeSchedulerConfiguration, UPSTREAM_DEFAULT_SCHEDULER_NAME};
use crate::framework::events::node_update_actions;
use crate::framework::{
    ActionType, ClusterEvent, ClusterLister, CycleState, EventResource, Framework, Status,
    WrittenVersions, pre_bind_failure,
};
use crate::metrics::{self, PendingPodsCollector, SchedulerMetrics};
use crate::queue::{QueueConfig, SchedulingQueue};
use crate::schedule_one::{ERR_NO_NODES_AVAILABLE, GenericScheduler, ScheduleOutcome};

/// Reason of the PodScheduled condition when no node fits.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// Reason of the PodScheduled condition on internal errors.
pub const REASON_SCHEDULER_ERROR: &str = "SchedulerError";

/// API writes (bindings, status patches, deletions) the scheduler has in flight
/// at most by default. Binding stays asynchronous (the scheduling loop never
/// waits for it); beyond this many, writes wait their turn instead of each
/// opening another connection (over HTTP/1.1 every concurrent request needs its
/// own, and a TLS handshake costs more CPU than a binding).
pub const DEFAULT_MAX_WRITES_IN_FLIGHT: usize = 64;

fn scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(UPSTREAM_DEFAULT_SCHEDULER_NAME)
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// The pod as the cache assumes it until the informer confirms the binding: a
/// copy with `spec.nodeName` set to the chosen node (upstream's
/// `assumedPod := pod.DeepCopy()`), without `metadata.managedFields`, which no
/// plugin reads and which is most of what copying a pod served by an API server
/// costs (the informer's version replaces the copy when the binding lands).
fn assumed_pod(pod: &Pod, host: &str) -> Pod {
    let k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        annotations,
        creation_timestamp,
        deletion_grace_period_seconds,
        deletion_timestamp,
        finalizers,
        generate_name,
        generation,
        labels,
        managed_fields: _,
        name,
        namespace,
        owner_references,
        resource_version,
        self_link,
        uid,
    } = &pod.metadata;
    let mut spec = pod.spec.clone();
    if let Some(spec) = spec.as_mut() {
        spec.node_name = Some(host.to_string());
    }
    Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            annotations: annotations.clone(),
            creation_timestamp: creation_timestamp.clone(),
            deletion_grace_period_seconds: *deletion_grace_period_seconds,
            deletion_timestamp: deletion_timestamp.clone(),
            finalizers: finalizers.clone(),
            generate_name: generate_name.clone(),
            generation: *generation,
            labels: labels.clone(),
            managed_fields: None,
            name: name.clone(),
            namespace: namespace.clone(),
            owner_references: owner_references.clone(),
            resource_version: resource_version.clone(),
            self_link: self_link.clone(),
            uid: uid.clone(),
        },
        spec,
        status: pod.status.clone(),
    }
}

/// How often a pod's binding looks again whether its PreBind plugins are satisfied
/// (upstream's `checkBindings` poll interval).
pub const PRE_BIND_POLL: Duration = Duration::from_secs(1);

/// A scheduled pod's node, with the node's info (for Reserve) and its cycle's state.
struct Chosen {
    host: String,
    node: Option<Arc<NodeInfo>>,
    state: CycleState,
}

/// The scheduler: cache, queue, one framework per profile, and the writer.
pub struct Scheduler<W: ApiWriter> {
    cache: Mutex<Cache>,
    queue: Arc<SchedulingQueue>,
    profiles: HashMap<String, Arc<Framework>>,
    algorithm: Mutex<GenericScheduler>,
    rng: Mutex<StdRng>,
    lister: Arc<dyn ClusterLister>,
    writer: Arc<W>,
    recorder: Option<Recorder>,
    profile_recorders: HashMap<String, Recorder>,
    in_flight: AtomicUsize,
    idle: Notify,
    write_slots: Arc<Semaphore>,
}

impl<W: ApiWriter> std::fmt::Debug for Scheduler<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<W: ApiWriter> Scheduler<W> {
    /// Builds the scheduler from a configuration. `recorder` writes Events (none in
    /// unit tests); `seed` seeds the tie-breaking RNG (`None`: from the OS).
    pub fn new(
        config: &KubeSchedulerConfiguration,
        lister: Arc<dyn ClusterLister>,
        writer: W,
        recorder: Option<Recorder>,
        seed: Option<u64>,
    ) -> Result<Self, ConfigError> {
        let mut profiles = HashMap::new();
        let mut events: HashMap<&'static str, Vec<ClusterEvent>> = HashMap::new();
        for p in config.resolve()? {
            let fw = Framework::new(&p, lister.clone())?;
            for (k, v) in fw.events_to_register() {
                events.entry(k).or_default().extend(v.iter().copied());
            }
            profiles.insert(p.scheduler_name.clone(), Arc::new(fw));
        }
        let qcfg = QueueConfig {
            initial_backoff: Duration::from_secs(config.pod_initial_backoff_seconds.max(1) as u64),
            max_backoff: Duration::from_secs(config.pod_max_backoff_seconds.max(1) as u64),
            ..QueueConfig::default()
        };
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Ok(Scheduler {
            cache: Mutex::new(Cache::new(Duration::ZERO)),
            queue: Arc::new(SchedulingQueue::new(qcfg, events)),
            profiles,
            algorithm: Mutex::new(GenericScheduler::new(config.percentage_of_nodes_to_score)),
            rng: Mutex::new(rng),
            lister,
            writer: Arc::new(writer),
            recorder,
            profile_recorders: HashMap::new(),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            write_slots: Arc::new(Semaphore::new(DEFAULT_MAX_WRITES_IN_FLIGHT)),
        })
    }

    /// Limits the API writes in flight at once (at least 1; default
    /// [`DEFAULT_MAX_WRITES_IN_FLIGHT`]).
    pub fn with_max_writes_in_flight(mut self, n: usize) -> Self {
        self.write_slots = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// Turns batching of pods alike on or off (on by default; see
    /// [`crate::batch`]). Decisions are the same either way.
    pub fn with_batching(self, on: bool) -> Self {
        self.algorithm.lock().set_batching(on);
        self
    }

    /// Cycles that reused the per-node results of an earlier pod alike, and
    /// batched cycles that had to compute them afresh.
    pub fn batch_counts(&self) -> (u64, u64) {
        let a = self.algorithm.lock();
        (a.batch_memos().hits(), a.batch_memos().misses())
    }

    /// Gives each profile its own Event recorder, as upstream's per-profile
    /// recorders (`reportingController` = the profile's scheduler name). Pods of
    /// profiles without one use the recorder given to [`Scheduler::new`].
    pub fn with_profile_recorders(mut self, recorders: HashMap<String, Recorder>) -> Self {
        self.profile_recorders = recorders;
        self
    }

    /// The names of the profiles this scheduler serves.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// Registers `scheduler_pending_pods` for this scheduler's queue (the other
    /// metrics register on first use).
    pub fn register_metrics(&self) {
        match PendingPodsCollector::new(&self.queue) {
            Ok(c) => c.register(),
            Err(e) => tracing::error!(error = %e, "building scheduler_pending_pods"),
        }
    }

    /// The scheduling queue (for its `run` loop, metrics and tests).
    pub fn queue(&self) -> &Arc<SchedulingQueue> {
        &self.queue
    }

    /// Runs `f` on the cache (for inspection).
    pub fn with_cache<T>(&self, f: impl FnOnce(&mut Cache) -> T) -> T {
        f(&mut self.cache.lock())
    }

    /// Whether one of the profiles serves this pod's `spec.schedulerName`.
    pub fn responsible_for(&self, pod: &Pod) -> bool {
        self.profiles.contains_key(scheduler_name(pod))
    }

    /// A pod appeared.
    pub fn on_pod_add(&self, pod: impl Into<Arc<Pod>>) {
        let pod: Arc<Pod> = pod.into();
        if assigned(&pod) {
            if !terminal(&pod) {
                self.cache.lock().add_pod(pod);
                self.queue.assigned_pod_added();
            }
        } else if self.responsible_for(&pod)
            && !terminal(&pod)
            && pod.metadata.deletion_timestamp.is_none()
        {
            self.queue.add(pod);
        }
    }

    /// A pod changed.
    pub fn on_pod_update(&self, old: &Pod, new: impl Into<Arc<Pod>>) {
        let new: Arc<Pod> = new.into();
        let key = pod_key(&new);
        if assigned(&new) {
            if terminal(&new) {
                // Finished pods hold no resources.
                self.cache.lock().remove_pod(&key);
                self.queue.assigned_pod_deleted();
            } else if !assigned(old) {
                // Bound (by us or another scheduler): confirmed in the cache.
                self.queue.delete(&key);
                self.cache.lock().add_pod(new);
                self.queue.assigned_pod_added();
            } else {
                self.cache.lock().update_pod(new.clone());
                self.queue.assigned_pod_updated(old, &new);
            }
        } else if self.responsible_for(&new) {
            if terminal(&new) || new.metadata.deletion_timestamp.is_some() {
                self.queue.delete(&key);
            } else {
                self.queue.update(old, new);
            }
        }
    }

    /// A pod was deleted.
    pub fn on_pod_delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        if assigned(pod) || self.cache.lock().pod_node(&key).is_some() {
            self.cache.lock().remove_pod(&key);
            self.queue.assigned_pod_deleted();
        }
        self.queue.delete(&key);
    }

    /// A node appeared.
    pub fn on_node_add(&self, node: Node) {
        self.cache.lock().add_node(node);
        self.queue
            .on_cluster_event(ClusterEvent::new(EventResource::Node, ActionType::ADD));
    }

    /// A node changed.
    pub fn on_node_update(&self, old: &Node, new: Node) {
        let actions = node_update_actions(old, &new);
        self.cache.lock().update_node(new);
        if actions.0 != 0 {
            self.queue
                .on_cluster_event(ClusterEvent::new(EventResource::Node, actions));
        }
    }

    /// A node was deleted.
    pub fn on_node_delete(&self, name: &str) {
        self.cache.lock().remove_node(name);
        self.queue
            .on_cluster_event(ClusterEvent::new(EventResource::Node, ActionType::DELETE));
    }

    /// A namespace appeared or changed (its labels feed namespace selectors).
    pub fn on_namespace(&self, ns: &k8s_openapi::api::core::v1::Namespace) {
        let name = ns.metadata.name.clone().unwrap_or_default();
        self.cache
            .lock()
            .set_namespace(&name, ns.metadata.labels.clone().unwrap_or_default());
    }

    /// A namespace was deleted.
    pub fn on_namespace_delete(&self, name: &str) {
        self.cache.lock().remove_namespace(name);
    }

    /// A PersistentVolumeClaim, PersistentVolume or StorageClass was added
    /// (`ActionType::ADD`) or updated (`ActionType::UPDATE`): pods waiting on
    /// VolumeBinding may fit now. The objects themselves are read through the lister.
    pub fn on_storage_event(&self, resource: EventResource, action: ActionType) {
        self.queue
            .on_cluster_event(ClusterEvent::new(resource, action));
    }

    fn event(&self, pod: &Pod, type_: EventType, reason: &str, message: &str, action: &str) {
        let recorder = self
            .profile_recorders
            .get(scheduler_name(pod))
            .or(self.recorder.as_ref());
        if let Some(r) = recorder {
            r.record_for(
                pod,
                type_,
                reason,
                &writer::truncate_message(message),
                action,
            );
        }
    }

    fn start_write(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    fn end_write(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Waits until every binding and failure write started so far has finished.
    pub async fn wait_for_writes(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// One scheduling cycle. Returns false once the queue is closed.
    pub async fn schedule_one(self: &Arc<Self>) -> bool {
        let Some(qpi) = self.queue.pop().await else {
            return false;
        };
        let pod_info = qpi.pod_info.clone();
        let key = pod_info.key.clone();
        let pod = pod_info.pod.clone();
        let Some(fwk) = self.profiles.get(scheduler_name(&pod)).cloned() else {
            self.queue.done(&key);
            return true;
        };
        if pod.metadata.deletion_timestamp.is_some() || self.cache.lock().is_assumed(&key) {
            self.queue.done(&key);
            return true;
        }
        let start = tokio::time::Instant::now();
        let observe = |result: &str| {
            if let Some(m) = SchedulerMetrics::global() {
                let profile = fwk.profile_name();
                m.schedule_attempts
                    .with_label_values(&[result, profile])
                    .inc();
                m.scheduling_attempt_duration
                    .with_label_values(&[result, profile])
                    .observe(start.elapsed().as_secs_f64());
            }
        };
        let snapshot = self.cache.lock().snapshot();
        let pdbs = if fwk.preemption_enabled() {
            self.lister.pdbs()
        } else {
            Vec::new()
        };
        let (outcome, state) = {
            let mut algo = self.algorithm.lock();
            let mut rng = self.rng.lock();
            algo.schedule_one_with_state(&fwk, &pod_info, &snapshot, &*self.queue, &pdbs, &mut *rng)
        };
        let chosen = match &outcome {
            ScheduleOutcome::Scheduled(r) => snapshot.get(&r.suggested_host).cloned(),
            _ => None,
        };
        // Release the snapshot before assuming, so the cache updates its node list in place.
        drop(snapshot);
        match outcome {
            ScheduleOutcome::Scheduled(r) => self.assume_and_bind(
                &pod_info,
                Chosen {
                    host: r.suggested_host,
                    node: chosen,
                    state,
                },
                start,
                fwk.clone(),
                qpi.attempts,
                qpi.initial_attempt_timestamp,
            ),
            ScheduleOutcome::Unschedulable {
                error,
                nominated_node,
                victims,
                clear_nominations,
            } => {
                observe(metrics::UNSCHEDULABLE);
                if fwk.preemption_enabled()
                    && let Some(m) = SchedulerMetrics::global()
                {
                    m.preemption_attempts.inc();
                    if nominated_node.is_some() {
                        m.preemption_victims.observe(victims.len() as f64);
                    }
                }
                let plugins = error.diagnosis.unschedulable_plugins.clone();
                if let Some(node) = &nominated_node {
                    self.queue.add_nominated_pod(pod_info.clone(), node);
                }
                for p in &clear_nominations {
                    self.queue.delete_nominated_pod(&pod_key(p));
                }
                self.queue.add_unschedulable(&key, plugins);
                self.spawn_failure_writes(
                    pod,
                    REASON_UNSCHEDULABLE,
                    error.to_string(),
                    nominated_node,
                    victims,
                    clear_nominations,
                    fwk.profile_name().to_string(),
                );
            }
            ScheduleOutcome::NoNodes => {
                observe(metrics::UNSCHEDULABLE);
                self.queue.add_unschedulable(&key, BTreeSet::new());
                self.spawn_failure_writes(
                    pod,
                    REASON_UNSCHEDULABLE,
                    ERR_NO_NODES_AVAILABLE.into(),
                    None,
                    Vec::new(),
                    Vec::new(),
                    String::new(),
                );
            }
            ScheduleOutcome::Error(s) => {
                observe(metrics::ERROR);
                tracing::error!(pod = %namespaced_name(&pod), status = %s, "scheduling error");
                self.queue.add_unschedulable(&key, BTreeSet::new());
                self.spawn_failure_writes(
                    pod,
                    REASON_SCHEDULER_ERROR,
                    s.message(),
                    None,
                    Vec::new(),
                    Vec::new(),
                    String::new(),
                );
            }
        }
        true
    }

    fn assume_and_bind(
        self: &Arc<Self>,
        pod_info: &Arc<PodInfo>,
        chosen: Chosen,
        start: tokio::time::Instant,
        fwk: Arc<Framework>,
        attempts: u32,
        first_attempt: Option<tokio::time::Instant>,
    ) {
        let Chosen {
            host,
            node,
            mut state,
        } = chosen;
        let pod = &pod_info.pod;
        let key = pod_info.key.as_str();
        let assumed = assumed_pod(pod, &host);
        // Only the node name changed: the derived data stays valid.
        let assumed = Arc::new(pod_info.with_pod(Arc::new(assumed)));
        if let Err(e) = self.cache.lock().assume_pod_info(assumed) {
            tracing::error!(pod = %namespaced_name(pod), error = %e, "assuming pod");
            self.queue.add_unschedulable(key, BTreeSet::new());
            return;
        }
        // Reserve (upstream: right after assuming); a failure undoes both.
        if let Some(node) = &node {
            let reserved = fwk.run_reserve(&mut state, pod_info, node);
            if !reserved.is_success() {
                fwk.run_unreserve(&mut state, pod_info, &host);
                let _ = self.cache.lock().forget_pod(key);
                self.queue.assigned_pod_deleted();
                let plugins = reserved.plugin().into_iter().collect();
                self.queue.add_unschedulable(key, plugins);
                self.spawn_failure_writes(
                    pod.clone(),
                    if reserved.is_rejected() {
                        REASON_UNSCHEDULABLE
                    } else {
                        REASON_SCHEDULER_ERROR
                    },
                    reserved.message(),
                    None,
                    Vec::new(),
                    Vec::new(),
                    String::new(),
                );
                return;
            }
        }
        self.queue.delete_nominated_pod(key);
        let this = self.clone();
        let pod_info = pod_info.clone();
        let pod = pod.clone();
        let key = key.to_string();
        self.start_write();
        tokio::spawn(async move {
            // PreBind, then the binding itself; either failing fails the cycle.
            let bound = match this.pre_bind(&fwk, &state, &pod_info, &host).await {
                Ok(()) => {
                    let slot = this.write_slots.clone().acquire_owned().await;
                    let bound = this.writer.bind(&pod, &host).await;
                    drop(slot);
                    bound.map_err(|e| {
                        let not_found = matches!(e, WriteError::NotFound(_));
                        (format!("Binding rejected: {e}"), not_found)
                    })
                }
                Err(status) => Err((status.message(), false)),
            };
            if bound.is_err() {
                fwk.run_unreserve(&mut state, &pod_info, &host);
            }
            let profile = fwk.profile_name();
            match bound {
                Ok(()) => {
                    if let Some(m) = SchedulerMetrics::global() {
                        m.schedule_attempts
                            .with_label_values(&[metrics::SCHEDULED, profile])
                            .inc();
                        m.scheduling_attempt_duration
                            .with_label_values(&[metrics::SCHEDULED, profile])
                            .observe(start.elapsed().as_secs_f64());
                        m.pod_scheduling_attempts.observe(attempts as f64);
                        if let Some(first) = first_attempt {
                            m.pod_scheduling_sli_duration
                                .with_label_values(&[&attempts.to_string()])
                                .observe(first.elapsed().as_secs_f64());
                        }
                    }
                    let _ = this
                        .cache
                        .lock()
                        .finish_binding(&key, tokio::time::Instant::now());
                    this.queue.done(&key);
                    let msg = format!("Successfully assigned {} to {host}", namespaced_name(&pod));
                    this.event(&pod, EventType::Normal, "Scheduled", &msg, "Binding");
                }
                Err((msg, not_found)) => {
                    if let Some(m) = SchedulerMetrics::global() {
                        m.schedule_attempts
                            .with_label_values(&[metrics::ERROR, profile])
                            .inc();
                        m.scheduling_attempt_duration
                            .with_label_values(&[metrics::ERROR, profile])
                            .observe(start.elapsed().as_secs_f64());
                    }
                    tracing::warn!(pod = %namespaced_name(&pod), node = %host, error = %msg, "binding failed");
                    let _ = this.cache.lock().forget_pod(&key);
                    this.queue.add_unschedulable(&key, BTreeSet::new());
                    // The assumed pod's room is free again.
                    this.queue.assigned_pod_deleted();
                    this.event(
                        &pod,
                        EventType::Warning,
                        "FailedScheduling",
                        &msg,
                        "Scheduling",
                    );
                    if !not_found
                        && let Some(patch) = writer::pod_scheduled_failure_patch(
                            &pod,
                            REASON_SCHEDULER_ERROR,
                            &msg,
                            None,
                            Timestamp::now(),
                        )
                        && let Err(e) = this.write_status(&pod, patch).await
                    {
                        tracing::warn!(pod = %namespaced_name(&pod), error = %e, "updating PodScheduled condition");
                    }
                }
            }
            this.end_write();
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_failure_writes(
        self: &Arc<Self>,
        pod: Arc<Pod>,
        reason: &'static str,
        message: String,
        nominated_node: Option<String>,
        victims: Vec<Arc<Pod>>,
        clear_nominations: Vec<Arc<Pod>>,
        profile: String,
    ) {
        let this = self.clone();
        self.start_write();
        tokio::spawn(async move {
            let slot = this.write_slots.clone().acquire_owned().await;
            if let Some(node) = &nominated_node {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                for v in &victims {
                    if let Some(patch) =
                        writer::disruption_target_patch(v, &profile, Timestamp::now())
                        && let Err(e) = this.writer.patch_pod_status(v, patch).await
                    {
                        tracing::warn!(victim = %namespaced_name(v), error = %e, "marking preemption victim");
                    }
                    match this.writer.delete_pod(v).await {
                        Ok(()) | Err(WriteError::NotFound(_)) => {
                            let msg = format!("Preempted by pod {uid} on node {node}");
                            this.event(v, EventType::Normal, "Preempted", &msg, "Preempting");
                        }
                        Err(e) => {
                            tracing::warn!(victim = %namespaced_name(v), error = %e, "deleting preemption victim")
                        }
                    }
                }
                for p in &clear_nominations {
                    if let Some(patch) = writer::clear_nominated_node_patch(p)
                        && let Err(e) = this.writer.patch_pod_status(p, patch).await
                    {
                        tracing::warn!(pod = %namespaced_name(p), error = %e, "clearing nominatedNodeName");
                    }
                }
            }
            this.event(
                &pod,
                EventType::Warning,
                "FailedScheduling",
                &message,
                "Scheduling",
            );
            if let Some(patch) = writer::pod_scheduled_failure_patch(
                &pod,
                reason,
                &message,
                nominated_node.as_deref(),
                Timestamp::now(),
            ) && let Err(e) = this.writer.patch_pod_status(&pod, patch).await
            {
                tracing::warn!(pod = %namespaced_name(&pod), error = %e, "updating PodScheduled condition");
            }
            drop(slot);
            this.end_write();
        });
    }

    /// The PreBind plugins' phase for a pod bound to `host` (upstream's
    /// `RunPreBindPlugins`): their writes, each in a write slot, then a wait, polling
    /// every [`PRE_BIND_POLL`], until they let the pod be bound or their
    /// [`Framework::pre_bind_timeout`] passes.
    async fn pre_bind(
        &self,
        fwk: &Framework,
        state: &CycleState,
        pod: &PodInfo,
        host: &str,
    ) -> Result<(), Status> {
        if !fwk.has_pre_bind() {
            return Ok(());
        }
        let writes = fwk.run_pre_bind(state, pod, host)?;
        let mut written = WrittenVersions::new();
        for (plugin, write) in writes {
            let version = {
                let _slot = self.write_slots.acquire().await;
                self.writer.pre_bind_write(&write).await
            }
            .map_err(|e| {
                pre_bind_failure(plugin, &Status::error(format!("binding volumes: {e}")))
            })?;
            written.insert(write.object(), version);
        }
        let deadline = tokio::time::Instant::now() + fwk.pre_bind_timeout();
        loop {
            let Some(waiting) = fwk.pre_bind_ready(state, pod, host, &written)? else {
                return Ok(());
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(pre_bind_failure(
                    waiting,
                    &Status::error("binding volumes: context deadline exceeded"),
                ));
            }
            tokio::time::sleep(PRE_BIND_POLL.min(deadline - now)).await;
        }
    }

    /// Patches a pod's status in a write slot of its own.
    async fn write_status(&self, pod: &Pod, patch: serde_json::Value) -> Result<(), WriteError> {
        let _slot = self.write_slots.acquire().await;
        self.writer.patch_pod_status(pod, patch).await
    }

    /// Schedules pods until the queue is closed (run the queue's `run` beside it).
    pub async fn run(self: Arc<Self>) {
        while self.schedule_one().await {
            // A cycle whose pod was waiting never suspends: give the other tasks
            // of this worker (bindings, informers, an embedded API server) their
            // turn once the task's cooperative budget is spent.
            tokio::task::consume_budget().await;
        }
    }
}

#[cfg(test)]
mod tests;
