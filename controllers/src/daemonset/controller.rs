//! The DaemonSet controller's shell on capstan-runtime (upstream
//! `DaemonSetsController`): informers for DaemonSets, Pods, Nodes and
//! ControllerRevisions, a `daemonset` work queue fed by their events, and a
//! reconcile doing what upstream's `syncDaemonSet` does with the pure steps of
//! [`super::plan`] and [`super::status`].

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::informer::{
    CONTROLLER_UID_INDEX, DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX,
    SharedInformer, SharedInformerFactory,
};
use capstan_runtime::ownership::{
    ControllerRefManager, Owner, OwnershipError, controller_of, resolve_controller_ref,
};
use capstan_runtime::queue::WorkQueue;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use parking_lot::Mutex;

use super::backoff::{FailedPodsBackoff, backoff_key};
use super::dedup::{Dedup, plan_dedup, relabel_patch, with_relabelled};
use super::eligibility::node_should_run_daemon_pod;
use super::plan::{PodsPlan, SyncInput, plan_pods};
use super::pods::daemon_pod;
use super::status::{plan_status, status_unchanged};
use super::{
    DAEMONSET_CONTROLLER, FAILED_DAEMON_POD_REASON, SELECTING_ALL_REASON,
    SUCCEEDED_DAEMON_POD_REASON,
};
use crate::replicaset::controller::{ORPHAN_POD_INDEX, PodOwnerParts, SetupError};
use crate::util::history::{
    Created, HistoryError, POD_REVISION_LABEL, RevisionControl, daemonset_history_to_delete,
    daemonset_revision, list_controller_revisions, matches_template, max_revision, pod_revisions,
};
use crate::util::pod::is_ready;
use crate::util::pod_control::{PodControl, PodControlError, PodOwner, owners_selecting, pod_key};

/// Errors of one DaemonSet sync; the DaemonSet is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The DaemonSet's selector is not a valid label selector.
    #[error("couldn't convert DaemonSet selector: {0}")]
    Selector(#[source] OwnershipError),
    /// Adopting or releasing pods or revisions failed.
    #[error("claiming: {0}")]
    Claim(#[source] OwnershipError),
    /// Reading, creating, renumbering or deleting ControllerRevisions failed.
    #[error("constructing history: {0}")]
    History(#[from] HistoryError),
    /// A revision's name was taken by other data: the collision count was
    /// raised and the sync is retried with the new name.
    #[error("controller revision {0} collides with one of other data; collisionCount raised")]
    Collision(String),
    /// The rolling update could not be planned (an invalid `maxSurge` or
    /// `maxUnavailable`).
    #[error("rolling update: {0}")]
    RollingUpdate(String),
    /// Creating or deleting pods failed.
    #[error(transparent)]
    Pods(#[from] PodControlError),
    /// Writing the status failed.
    #[error("storing status: {0}")]
    Status(#[source] kube::Error),
    /// Relabelling a pod of a duplicate revision failed.
    #[error("relabelling pod {0} to the kept controller revision: {1}")]
    Relabel(String, #[source] kube::Error),
}

/// What [`DaemonSetReconciler::construct_history`] found.
struct History {
    /// The current revision's hash, which labels the pods made from it.
    hash: String,
    /// The revisions of other templates.
    old: Vec<Arc<ControllerRevision>>,
    /// Pods relabelled from a duplicate revision to the current one, as written.
    relabelled: Vec<Pod>,
}

/// The queue's handle for a reconcile asking for a later sync; set once built.
type QueueCell = Arc<OnceLock<WorkQueue<ObjectKey>>>;

/// The reconciler of DaemonSets (upstream `syncDaemonSet`).
pub struct DaemonSetReconciler {
    client: Client,
    daemonsets: Lister<DaemonSet>,
    pods: Lister<Pod>,
    nodes: Lister<Node>,
    revisions: Lister<ControllerRevision>,
    pod_control: PodControl,
    history: RevisionControl,
    status: StatusWriter<DaemonSet>,
    backoff: Arc<Mutex<FailedPodsBackoff>>,
    recorder: Option<Recorder>,
    clock: SharedClock,
    queue: QueueCell,
}

impl DaemonSetReconciler {
    fn add_after(&self, key: &ObjectKey, delay: Duration) {
        if let Some(q) = self.queue.get() {
            q.add_after(key.clone(), delay);
        }
    }

    fn event(&self, ds: &DaemonSet, type_: EventType, reason: &str, message: &str) {
        if let Some(r) = &self.recorder {
            r.record_for(ds, type_, reason, message, "");
        }
    }

    /// Upstream `getDaemonPods`: the pods the DaemonSet controls, and matching
    /// orphans of its namespace adopted.
    async fn claim_pods(
        &self,
        ds: &DaemonSet,
        selector: capstan_labels::Selector,
    ) -> Result<Vec<Arc<Pod>>, ReconcileError> {
        let uid = ds.metadata.uid.as_deref().unwrap_or_default();
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let mut candidates = self
            .pods
            .by_index(CONTROLLER_UID_INDEX, uid)
            .unwrap_or_default();
        candidates.extend(self.pods.by_index(ORPHAN_POD_INDEX, ns).unwrap_or_default());
        let manager = ControllerRefManager::<Pod>::new(self.client.clone(), ds, selector)
            .map_err(ReconcileError::Claim)?;
        manager
            .claim(candidates, |_| true)
            .await
            .into_result()
            .map_err(ReconcileError::Claim)
    }

    /// Upstream `constructHistory`: the revision storing the current template
    /// (created, or de-duplicated and renumbered to be the newest) and the old
    /// ones.
    async fn construct_history(
        &self,
        ds: &DaemonSet,
        selector: &capstan_labels::Selector,
    ) -> Result<History, ReconcileError> {
        let owner = Owner::of(ds).map_err(ReconcileError::Claim)?;
        let candidates = list_controller_revisions(&self.revisions, &owner, selector);
        let manager = ControllerRefManager::<ControllerRevision>::new(
            self.client.clone(),
            ds,
            selector.clone(),
        )
        .map_err(ReconcileError::Claim)?;
        let histories = manager
            .claim(candidates, |_| true)
            .await
            .into_result()
            .map_err(ReconcileError::Claim)?;
        let template = ds
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let (current, old): (Vec<_>, Vec<_>) = histories
            .into_iter()
            .partition(|r| matches_template(&template, r));
        let next = max_revision(&old) + 1;
        // Upstream reads the pods only to relabel them: only with duplicates.
        let pods = if current.len() > 1 {
            self.claim_pods(ds, selector.clone()).await?
        } else {
            Vec::new()
        };
        let (cur, relabelled) = match plan_dedup(&current, &pods) {
            None => (self.snapshot(ds, next).await?, Vec::new()),
            Some(plan) => {
                let relabelled = self.dedup(ds, &plan).await?;
                let keep = if plan.keep.revision < next {
                    self.history.update_revision(plan.keep, next).await?
                } else {
                    plan.keep.clone()
                };
                (keep, relabelled)
            }
        };
        let hash = cur
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_REVISION_LABEL).cloned())
            .or_else(|| cur.metadata.name.clone())
            .unwrap_or_default();
        Ok(History {
            hash,
            old,
            relabelled,
        })
    }

    /// Upstream `dedupCurHistories`' writes, as [`super::dedup`] planned them:
    /// relabels the duplicates' pods with the kept revision's hash, then deletes
    /// the duplicates. Returns the relabelled pods as the API server returned
    /// them (the cache may not have them yet).
    async fn dedup(&self, ds: &DaemonSet, plan: &Dedup<'_>) -> Result<Vec<Pod>, ReconcileError> {
        if plan.delete.is_empty() {
            return Ok(Vec::new());
        }
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let patch = Patch::Merge(relabel_patch(&plan.hash));
        let mut relabelled = Vec::with_capacity(plan.relabel.len());
        for name in &plan.relabel {
            let pod = api
                .patch(name, &PatchParams::default(), &patch)
                .await
                .map_err(|e| ReconcileError::Relabel(name.clone(), e))?;
            relabelled.push(pod);
        }
        tracing::info!(
            daemonset = %ds.name_any(),
            kept = %plan.keep.name_any(),
            duplicates = ?plan.delete,
            relabelled = plan.relabel.len(),
            "removing duplicate controller revisions"
        );
        self.history.delete_all(ns, &plan.delete).await?;
        Ok(relabelled)
    }

    /// Upstream `snapshot`: creates the revision of the current template; a name
    /// held by other data raises `status.collisionCount` (on a fresh read) and
    /// fails the sync, which retries under the new name.
    async fn snapshot(
        &self,
        ds: &DaemonSet,
        revision: i64,
    ) -> Result<ControllerRevision, ReconcileError> {
        let candidate = daemonset_revision(ds, revision).map_err(ReconcileError::Claim)?;
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        match self.history.create_once(ns, &candidate).await? {
            Created::New(r) | Created::Existing(r) => Ok(r),
            Created::Collision(existing) => {
                let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
                let name = ds.metadata.name.as_deref().unwrap_or_default();
                let mut fresh = api.get(name).await.map_err(HistoryError::Api)?;
                let stored = fresh.status.as_ref().and_then(|s| s.collision_count);
                let cached = ds.status.as_ref().and_then(|s| s.collision_count);
                if stored == cached {
                    let status = fresh.status.get_or_insert_default();
                    status.collision_count = Some(stored.unwrap_or(0) + 1);
                    api.replace_status(name, &PostParams::default(), &fresh)
                        .await
                        .map_err(HistoryError::Api)?;
                }
                Err(ReconcileError::Collision(
                    existing.metadata.name.unwrap_or_default(),
                ))
            }
        }
    }

    /// Performs the pod part of a plan (upstream `syncNodes`): creations in
    /// slow-start batches, then deletions, both under expectations.
    async fn sync_nodes(
        &self,
        ds: &DaemonSet,
        plan: &PodsPlan,
        hash: &str,
    ) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        {
            let uid = ds.metadata.uid.as_deref().unwrap_or_default();
            let mut backoff = self.backoff.lock();
            for f in plan.finished.iter().filter(|f| f.failed) {
                backoff.next(&backoff_key(uid, &f.node), now);
            }
        }
        for f in &plan.finished {
            let (type_, reason, verb) = if f.failed {
                (EventType::Warning, FAILED_DAEMON_POD_REASON, "kill")
            } else {
                (EventType::Normal, SUCCEEDED_DAEMON_POD_REASON, "delete")
            };
            let state = if f.failed { "failed" } else { "succeeded" };
            let message = format!(
                "Found {state} daemon pod {} on node {}, will try to {verb} it",
                f.pod.key(),
                f.node
            );
            self.event(ds, type_, reason, &message);
        }
        let mut created = Ok(());
        if !plan.create_on.is_empty() {
            let controller_ref = ds
                .controller_ref()
                .map_err(|e| PodControlError::Owner(e.to_string()))?;
            let pods = plan
                .create_on
                .iter()
                .map(|node| daemon_pod(ds, controller_ref.clone(), node, hash))
                .collect::<Result<Vec<Pod>, _>>()
                .map_err(PodControlError::from)?;
            created = self.pod_control.create_pods_from(ds, &pods).await.1;
        }
        let deleted = match self
            .pod_control
            .delete_each(ds, &plan.delete)
            .await
            .into_iter()
            .find_map(Result::err)
        {
            Some(e) => Err(PodControlError::Delete(e)),
            None => Ok(()),
        };
        created?;
        deleted?;
        Ok(())
    }

    /// Upstream `cleanupHistory`: deletes the old revisions beyond
    /// `revisionHistoryLimit` that no live pod was made from.
    async fn cleanup_history(
        &self,
        ds: &DaemonSet,
        old: &[Arc<ControllerRevision>],
        pods: &[&Pod],
    ) -> Result<(), ReconcileError> {
        let limit = ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let live: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let names = daemonset_history_to_delete(old, &pod_revisions(&live), limit);
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        self.history.delete_all(ns, &names).await?;
        Ok(())
    }
}

impl Reconciler for DaemonSetReconciler {
    type Error = ReconcileError;

    /// One sync of the DaemonSet named by `key` (see the [module](super) docs).
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let key = &key;
        let Some(ds) = self.daemonsets.get_key(key) else {
            tracing::debug!(daemonset = %key, "daemon set has been deleted");
            self.pod_control.expectations().delete_expectations(key);
            return Ok(Action::Done);
        };
        let Some(spec) = ds.spec.as_ref() else {
            return Ok(Action::Done);
        };
        let selector = ControllerRefManager::<Pod>::selector_from(&spec.selector)
            .map_err(ReconcileError::Selector)?;
        if selector.is_empty() {
            self.event(
                &ds,
                EventType::Warning,
                SELECTING_ALL_REASON,
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(Action::Done);
        }
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let nodes = self.nodes.list_all();
        let nodes: Vec<&Node> = nodes.iter().map(|n| &**n).collect();
        let History {
            hash,
            old,
            relabelled,
        } = self.construct_history(&ds, &selector).await?;
        // Asked before the pods are read (see `ReplicaSetActions::needs_sync`).
        let satisfied = self.pod_control.satisfied(key);
        let claimed = with_relabelled(self.claim_pods(&ds, selector).await?, relabelled);
        let pods: Vec<&Pod> = claimed.iter().map(|p| &**p).collect();
        let backoff = self.backoff.lock().clone();
        let input = SyncInput {
            ds: &ds,
            nodes: &nodes,
            pods: &pods,
            hash: &hash,
            backoff: &backoff,
            now: self.clock.now(),
        };
        let mut outcome = Ok(());
        if satisfied {
            let plan = plan_pods(&input);
            tracing::debug!(daemonset = %key, create = plan.create_on.len(), delete = plan.delete.len(), "syncing nodes");
            if let Some(d) = plan.requeue_after {
                self.add_after(key, d);
            }
            outcome = self.sync_nodes(&ds, &plan, &hash).await;
            if outcome.is_ok()
                && let Some(e) = plan.error
            {
                outcome = Err(ReconcileError::RollingUpdate(e));
            }
            if outcome.is_ok() {
                outcome = self.cleanup_history(&ds, &old, &pods).await;
            }
        }
        let status = plan_status(&input, satisfied);
        if let Some(d) = status.requeue_after {
            self.add_after(key, d);
        }
        self.status
            .write(&ds, &status.status)
            .await
            .map_err(ReconcileError::Status)?;
        outcome?;
        Ok(Action::Done)
    }
}

/// Settings of a [`DaemonSetController`].
#[derive(Debug, Clone)]
pub struct DaemonSetControllerConfig {
    /// Concurrent syncs (`--concurrent-daemonset-syncs`, default 2).
    pub workers: usize,
    /// The instance name events are reported from.
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The clock syncs read `now` from (and expectations expire by).
    pub clock: SharedClock,
}

impl Default for DaemonSetControllerConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's DaemonSet controller on a shared informer
/// factory. Start the factory (before or after building) and [`run`](Self::run).
pub type DaemonSetController = QueuedController<DaemonSetReconciler>;

impl DaemonSetController {
    /// Builds the controller: takes the DaemonSet, Pod, Node and
    /// ControllerRevision informers from `factory` (registering the pod indexes
    /// and event handlers) and writes through `client`. Call inside a tokio
    /// runtime (the event recorder spawns its writer).
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &DaemonSetControllerConfig,
    ) -> Result<Self, SetupError> {
        let ds_informer = factory.informer::<DaemonSet>();
        let node_informer = factory.informer::<Node>();
        let revision_informer = factory.informer::<ControllerRevision>();
        let PodOwnerParts {
            pods: pod_informer,
            expectations,
            recorder,
        } = PodOwnerParts::new(
            factory,
            &client,
            (DAEMONSET_CONTROLLER, &config.instance, config.record_events),
            &config.clock,
        )?;
        let queue_cell: QueueCell = Arc::new(OnceLock::new());
        let reconciler = DaemonSetReconciler {
            client: client.clone(),
            daemonsets: ds_informer.lister(),
            pods: pod_informer.lister(),
            nodes: node_informer.lister(),
            revisions: revision_informer.lister(),
            pod_control: PodControl::new(client.clone(), expectations.clone(), recorder.clone()),
            history: RevisionControl::new(client.clone()),
            status: StatusWriter::new(client).skip_when(status_unchanged),
            backoff: Arc::new(Mutex::new(FailedPodsBackoff::default())),
            recorder,
            clock: config.clock.clone(),
            queue: queue_cell.clone(),
        };
        let synced = synced_all([
            ds_informer.synced_check(),
            pod_informer.synced_check(),
            node_informer.synced_check(),
            revision_informer.synced_check(),
        ]);
        let controller = ControllerBuilder::new("daemonset")
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        let _ = queue_cell.set(controller.queue());
        let wiring = Arc::new(Wiring {
            expectations,
            queue: controller.queue(),
            daemonsets: ds_informer.lister(),
        });
        wiring.register(
            &ds_informer,
            &pod_informer,
            &node_informer,
            &revision_informer,
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// What the event handlers share (upstream's `addPod`, `updateNode`, ...).
struct Wiring {
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    queue: WorkQueue<ObjectKey>,
    daemonsets: Lister<DaemonSet>,
}

impl Wiring {
    fn in_namespace(&self, ns: Option<&str>) -> Vec<Arc<DaemonSet>> {
        self.daemonsets
            .by_index(NAMESPACE_INDEX, ns.unwrap_or_default())
            .unwrap_or_default()
    }

    /// The DaemonSet controlling `pod`, if it is one of ours.
    fn controller_of_pod(&self, pod: &Pod) -> Option<ObjectKey> {
        let r = controller_of(pod)?;
        if r.kind != "DaemonSet" {
            return None;
        }
        let candidates = self.in_namespace(pod.metadata.namespace.as_deref());
        let refs: Vec<&DaemonSet> = candidates.iter().map(|d| &**d).collect();
        resolve_controller_ref(pod.metadata.namespace.as_deref(), r, &refs).map(ObjectKey::of)
    }

    /// An orphan's possible adopters (upstream `getDaemonSetsForPod`).
    fn enqueue_selecting(&self, pod: &Pod) {
        let candidates = self.in_namespace(pod.metadata.namespace.as_deref());
        let refs: Vec<&DaemonSet> = candidates.iter().map(|d| &**d).collect();
        for ds in owners_selecting(pod, &refs) {
            self.queue.add(ObjectKey::of(ds));
        }
    }

    fn pod_added(&self, pod: &Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            self.pod_deleted(pod);
            return;
        }
        match self.controller_of_pod(pod) {
            Some(key) => {
                self.expectations.creation_observed(&key);
                self.queue.add(key);
            }
            None if controller_of(pod).is_none() => self.enqueue_selecting(pod),
            None => {}
        }
    }

    fn pod_updated(&self, old: &Pod, new: &Pod) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        if new.metadata.deletion_timestamp.is_some() {
            self.pod_deleted(new);
            return;
        }
        let old_key = self.controller_of_pod(old);
        let new_key = self.controller_of_pod(new);
        if let Some(k) = &old_key
            && old_key != new_key
        {
            self.queue.add(k.clone());
        }
        match new_key {
            Some(key) => {
                // A pod turning ready becomes available minReadySeconds later.
                if !is_ready(old) && is_ready(new) {
                    let min_ready = self
                        .daemonsets
                        .get_key(&key)
                        .and_then(|d| d.spec.as_ref()?.min_ready_seconds)
                        .unwrap_or(0);
                    if min_ready > 0 {
                        let after = Duration::from_secs(u64::try_from(min_ready).unwrap_or(0) + 1);
                        self.queue.add_after(key.clone(), after);
                    }
                }
                self.queue.add(key);
            }
            // An orphan whose labels changed, or that was just released.
            None if controller_of(new).is_none()
                && (old.metadata.labels != new.metadata.labels || controller_of(old).is_some()) =>
            {
                self.enqueue_selecting(new);
            }
            None => {}
        }
    }

    fn pod_deleted(&self, pod: &Pod) {
        if let Some(key) = self.controller_of_pod(pod) {
            self.expectations.deletion_observed(&key, &pod_key(pod));
            self.queue.add(key);
        }
    }

    /// Enqueues every DaemonSet whose verdict on the node changes (all of them
    /// for a new or removed node whose verdict is "run").
    fn node_changed(&self, old: Option<&Node>, new: &Node) {
        for ds in self.daemonsets.list_all() {
            let now = node_should_run_daemon_pod(new, &ds);
            let changed = match old {
                None => now.should_run,
                Some(old) => node_should_run_daemon_pod(old, &ds) != now,
            };
            if changed {
                self.queue.add(ObjectKey::of(&*ds));
            }
        }
    }

    /// Upstream `shouldIgnoreNodeUpdate`: only the status (heartbeats) moved.
    fn node_updated(&self, old: &Node, new: &Node) {
        if old.metadata.labels == new.metadata.labels && old.spec == new.spec {
            return;
        }
        self.node_changed(Some(old), new);
    }

    fn revision_changed(&self, r: &ControllerRevision) {
        let Some(owner) = controller_of(r).filter(|o| o.kind == "DaemonSet") else {
            return;
        };
        let candidates = self.in_namespace(r.metadata.namespace.as_deref());
        let refs: Vec<&DaemonSet> = candidates.iter().map(|d| &**d).collect();
        if let Some(ds) = resolve_controller_ref(r.metadata.namespace.as_deref(), owner, &refs) {
            self.queue.add(ObjectKey::of(ds));
        }
    }

    fn register(
        self: Arc<Self>,
        ds_informer: &SharedInformer<DaemonSet>,
        pod_informer: &SharedInformer<Pod>,
        node_informer: &SharedInformer<Node>,
        revision_informer: &SharedInformer<ControllerRevision>,
    ) -> Result<(), InformerError> {
        let (w1, w2, w3) = (self.clone(), self.clone(), self.clone());
        pod_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |pod: Arc<Pod>, _| w1.pod_added(&pod))
                .on_update(move |old: Arc<Pod>, new: Arc<Pod>| w2.pod_updated(&old, &new))
                .on_delete(move |gone: DeletedObject<Pod>| w3.pod_deleted(gone.last_state())),
        )?;
        let (w1, w2, w3) = (self.clone(), self.clone(), self.clone());
        ds_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |ds: Arc<DaemonSet>, _| w1.queue.add(ObjectKey::of(&*ds)))
                .on_update(move |_: Arc<DaemonSet>, ds: Arc<DaemonSet>| {
                    w2.queue.add(ObjectKey::of(&*ds));
                })
                .on_delete(move |gone: DeletedObject<DaemonSet>| {
                    w3.queue.add(ObjectKey::of(&**gone.last_state()));
                }),
        )?;
        let (w1, w2, w3) = (self.clone(), self.clone(), self.clone());
        node_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |node: Arc<Node>, _| w1.node_changed(None, &node))
                .on_update(move |old: Arc<Node>, new: Arc<Node>| w2.node_updated(&old, &new))
                .on_delete(move |gone: DeletedObject<Node>| {
                    w3.node_changed(None, gone.last_state());
                }),
        )?;
        let (w1, w2, w3) = (self.clone(), self.clone(), self);
        revision_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |r: Arc<ControllerRevision>, _| w1.revision_changed(&r))
                .on_update(
                    move |_: Arc<ControllerRevision>, r: Arc<ControllerRevision>| {
                        w2.revision_changed(&r);
                    },
                )
                .on_delete(move |gone: DeletedObject<ControllerRevision>| {
                    w3.revision_changed(gone.last_state());
                }),
        )?;
        Ok(())
    }
}
