//! The StatefulSet controller's shell on capstan-runtime (upstream
//! `StatefulSetController` and `defaultStatefulSetControl.UpdateStatefulSet`):
//! informers for StatefulSets, Pods, PersistentVolumeClaims and
//! ControllerRevisions, a `statefulset` work queue fed by the [`super::events`]
//! reactions, and a reconcile that adopts orphan revisions, claims the set's
//! pods, makes its template the update revision, plans with
//! [`plan_sync`](super::plan::plan_sync), performs, writes the status and
//! truncates the history.

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::informer::{
    CONTROLLER_UID_INDEX, DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX,
    SharedInformer, SharedInformerFactory,
};
use capstan_runtime::ownership::{ControllerRefManager, Owner, OwnershipError, controller_of};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Client;

use super::STATEFULSET_CONTROLLER;
use super::actions::{ActionError, StatefulSetActions};
use super::events::{self, Reaction};
use super::identity::{claims_for, end_ordinal, is_member_of, ordinal, replicas, start_ordinal};
use super::plan::{SyncInput, plan_sync};
use super::status::complete_rolling_update;
use crate::replicaset::controller::{ORPHAN_POD_INDEX, PodOwnerParts, SetupError};
use crate::util::history::{
    HistoryError, RevisionControl, apply_revision, list_controller_revisions, next_revision,
    pod_revisions, sort_controller_revisions, statefulset_history_to_delete, statefulset_revision,
};
use crate::util::pod_control::PodTemplateError;

/// Errors of one StatefulSet sync; the set is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Adopting or releasing pods or revisions failed, or the set cannot be
    /// referenced.
    #[error("claiming: {0}")]
    Claim(#[from] OwnershipError),
    /// Reading, creating or applying a revision failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The set's template cannot make pods.
    #[error(transparent)]
    Template(#[from] PodTemplateError),
    /// A write of the sync failed.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// Writing the status failed (a conflict when the cache is stale).
    #[error("updating status: {0}")]
    Status(#[source] kube::Error),
}

/// The queue's handle for a reconcile that asks for a later sync; set once the
/// controller is built.
type QueueCell = Arc<OnceLock<WorkQueue<ObjectKey>>>;

/// The reconciler of StatefulSets (upstream `sync`).
pub struct StatefulSetReconciler {
    client: Client,
    sets: Lister<StatefulSet>,
    pods: Lister<Pod>,
    claims: Lister<PersistentVolumeClaim>,
    revisions: Lister<ControllerRevision>,
    revision_control: RevisionControl,
    actions: StatefulSetActions,
    clock: SharedClock,
    queue: QueueCell,
}

impl StatefulSetReconciler {
    /// The pods the set manages (upstream `getPodsForStatefulSet`): those it
    /// controls and the orphans of its namespace, claimed — only members (named
    /// `<set>-<ordinal>`) match.
    async fn pods_for_set(
        &self,
        set: &StatefulSet,
        selector: capstan_labels::Selector,
    ) -> Result<Vec<Arc<Pod>>, OwnershipError> {
        let uid = set.metadata.uid.as_deref().unwrap_or_default();
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let mut candidates = self
            .pods
            .by_index(CONTROLLER_UID_INDEX, uid)
            .unwrap_or_default();
        candidates.extend(self.pods.by_index(ORPHAN_POD_INDEX, ns).unwrap_or_default());
        let manager = ControllerRefManager::<Pod>::new(self.client.clone(), set, selector)?;
        manager
            .claim(candidates, |p| is_member_of(set, p))
            .await
            .into_result()
    }

    /// The set's revisions (upstream `ListRevisions`), orphans adopted
    /// (upstream `adoptOrphanRevisions`), sorted.
    async fn revisions_for_set(
        &self,
        set: &StatefulSet,
        owner: &Owner,
        selector: &capstan_labels::Selector,
    ) -> Result<Vec<Arc<ControllerRevision>>, OwnershipError> {
        let mut revisions = list_controller_revisions(&self.revisions, owner, selector);
        let orphans: Vec<Arc<ControllerRevision>> = revisions
            .iter()
            .filter(|r| controller_of(r.as_ref()).is_none())
            .cloned()
            .collect();
        if !orphans.is_empty() {
            let manager = ControllerRefManager::<ControllerRevision>::new(
                self.client.clone(),
                set,
                selector.clone(),
            )?;
            manager.claim(orphans, |_| true).await.into_result()?;
        }
        sort_controller_revisions(&mut revisions);
        Ok(revisions)
    }

    /// The cached claims a sync of `set` may look at: those of its templates for
    /// every ordinal in range and every pod's ordinal.
    fn claims_for_set(
        &self,
        set: &StatefulSet,
        pods: &[&Pod],
    ) -> BTreeMap<String, PersistentVolumeClaim> {
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let ordinals =
            (start_ordinal(set)..=end_ordinal(set)).chain(pods.iter().filter_map(|p| ordinal(p)));
        let mut out = BTreeMap::new();
        for ord in ordinals {
            for (_, claim) in claims_for(set, ord) {
                let name = claim.metadata.name.unwrap_or_default();
                if let Some(c) = self.claims.get(ns, &name) {
                    out.insert(name, (*c).clone());
                }
            }
        }
        out
    }
}

impl Reconciler for StatefulSetReconciler {
    type Error = ReconcileError;

    /// One sync of the set named by `key` (see the [module](super) documentation).
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let key = &key;
        let Some(set) = self.sets.get_key(key) else {
            tracing::debug!(statefulset = %key, "statefulset has been deleted");
            self.actions.forget(key);
            return Ok(Action::Done);
        };
        let Some(spec) = set.spec.as_ref() else {
            return Ok(Action::Done);
        };
        let selector = match ControllerRefManager::<Pod>::selector_from(&spec.selector) {
            Ok(s) => s,
            Err(e) => {
                // Not transient: no retry (upstream).
                tracing::warn!(statefulset = %key, error = %e, "invalid selector");
                return Ok(Action::Done);
            }
        };
        if !self.actions.expectations_satisfied(key) {
            tracing::debug!(statefulset = %key, "waiting for the cache to show this controller's pod writes");
            return Ok(Action::Done);
        }
        let owner = Owner::of(set.as_ref())?;
        let revisions = self.revisions_for_set(&set, &owner, &selector).await?;
        let claimed = self.pods_for_set(&set, selector).await?;
        let pods: Vec<&Pod> = claimed.iter().map(|p| p.as_ref()).collect();

        // Upstream `getStatefulSetRevisions`.
        let status = set.status.clone().unwrap_or_default();
        let mut collision_count = status.collision_count.unwrap_or(0);
        let candidate =
            statefulset_revision(&set, next_revision(&revisions), Some(collision_count))?;
        let update = self
            .revision_control
            .ensure_update_revision(&owner, &revisions, candidate, &mut collision_count)
            .await?;
        let update_name = update.metadata.name.clone().unwrap_or_default();
        let current = revisions
            .iter()
            .find(|r| r.metadata.name.is_some() && r.metadata.name == status.current_revision)
            .map(|r| r.as_ref().clone())
            .unwrap_or_else(|| update.clone());
        let current_name = current.metadata.name.clone().unwrap_or_default();
        let current_set = apply_revision(set.as_ref(), &current)?;
        let update_set = apply_revision(set.as_ref(), &update)?;

        let claims = self.claims_for_set(&set, &pods);
        let input = SyncInput {
            set: &set,
            current_set: &current_set,
            update_set: &update_set,
            current_revision: &current_name,
            update_revision: &update_name,
            collision_count,
            pods: &pods,
            claims: &claims,
            now: self.clock.now(),
        };
        let mut plan = plan_sync(&input)?;
        if let Some(why) = &plan.waiting {
            tracing::debug!(statefulset = %key, "{why}");
        }
        let performed = self.actions.perform(&set, &plan).await;
        complete_rolling_update(&set, &mut plan.status);
        let written = self
            .actions
            .write_status(&set, &plan.status)
            .await
            .map_err(ReconcileError::Status);

        // Upstream `truncateHistory`: never a revision that is live.
        let mut live: HashSet<String> = pod_revisions(&pods);
        live.insert(current_name);
        live.insert(update_name);
        let limit = spec.revision_history_limit.unwrap_or(10);
        let doomed = statefulset_history_to_delete(&revisions, &live, limit);
        let truncated = self
            .revision_control
            .delete_all(key.namespace().unwrap_or_default(), &doomed)
            .await;
        performed?;
        written?;
        truncated?;

        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0
            && plan.status.available_replicas.unwrap_or(0) != replicas(&set)
            && let Some(q) = self.queue.get()
        {
            let secs = u64::try_from(min_ready).unwrap_or(0);
            q.add_after(key.clone(), Duration::from_secs(secs));
        }
        Ok(Action::Done)
    }
}

/// Settings of a [`StatefulSetController`].
#[derive(Debug, Clone)]
pub struct StatefulSetControllerConfig {
    /// Concurrent syncs (`--concurrent-statefulset-syncs`, default 5).
    pub workers: usize,
    /// The instance name events are reported from.
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The clock syncs read `now` from (and expectations expire by).
    pub clock: SharedClock,
}

impl Default for StatefulSetControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's StatefulSet controller on a shared informer factory.
/// Start the factory (before or after building) and [`run`](Self::run).
pub type StatefulSetController = QueuedController<StatefulSetReconciler>;

impl StatefulSetController {
    /// Builds the controller: takes the StatefulSet, Pod, PersistentVolumeClaim
    /// and ControllerRevision informers from `factory` (registering the pod
    /// indexes and event handlers) and writes through `client`. Call inside a
    /// tokio runtime.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &StatefulSetControllerConfig,
    ) -> Result<Self, SetupError> {
        let set_informer = factory.informer::<StatefulSet>();
        let claim_informer = factory.informer::<PersistentVolumeClaim>();
        let revision_informer = factory.informer::<ControllerRevision>();
        let PodOwnerParts {
            pods: pod_informer,
            expectations,
            recorder,
        } = PodOwnerParts::new(
            factory,
            &client,
            (
                STATEFULSET_CONTROLLER,
                &config.instance,
                config.record_events,
            ),
            &config.clock,
        )?;
        let queue_cell: QueueCell = Arc::new(OnceLock::new());
        let reconciler = StatefulSetReconciler {
            client: client.clone(),
            sets: set_informer.lister(),
            pods: pod_informer.lister(),
            claims: claim_informer.lister(),
            revisions: revision_informer.lister(),
            revision_control: RevisionControl::new(client.clone()),
            actions: StatefulSetActions::new(client, expectations.clone(), recorder),
            clock: config.clock.clone(),
            queue: queue_cell.clone(),
        };
        let synced = synced_all([
            set_informer.synced_check(),
            pod_informer.synced_check(),
            claim_informer.synced_check(),
            revision_informer.synced_check(),
        ]);
        let controller = ControllerBuilder::new("statefulset")
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        let _ = queue_cell.set(controller.queue());
        Wiring {
            expectations,
            queue: controller.queue(),
        }
        .register(&set_informer, &pod_informer)?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// What the event handlers share.
struct Wiring {
    expectations: Arc<capstan_runtime::expectations::UidTrackingExpectations<ObjectKey>>,
    queue: WorkQueue<ObjectKey>,
}

impl Wiring {
    /// Applies a reaction: expectations first, then the queue.
    fn apply(&self, r: Reaction) {
        if let Some(key) = &r.creation_observed {
            self.expectations.creation_observed(key);
        }
        if let Some((key, pod)) = &r.deletion_observed {
            self.expectations.deletion_observed(key, pod);
        }
        for key in r.enqueue {
            self.queue.add(key);
        }
        for (key, delay) in r.enqueue_after {
            self.queue.add_after(key, delay);
        }
    }

    /// Wires informer events to the reactions.
    fn register(
        self,
        set_informer: &SharedInformer<StatefulSet>,
        pod_informer: &SharedInformer<Pod>,
    ) -> Result<(), InformerError> {
        let this = Arc::new(self);
        let sets = set_informer.lister();
        let sets_of = move |ns: Option<&str>| -> Vec<Arc<StatefulSet>> {
            sets.by_index(NAMESPACE_INDEX, ns.unwrap_or_default())
                .unwrap_or_default()
        };
        let on_pods = {
            let (w1, w2, w3) = (this.clone(), this.clone(), this.clone());
            let (s1, s2, s3) = (sets_of.clone(), sets_of.clone(), sets_of);
            EventHandlerFns::new()
                .on_add(move |pod: Arc<Pod>, _| {
                    let sets = s1(pod.metadata.namespace.as_deref());
                    let sets: Vec<&StatefulSet> = sets.iter().map(|s| &**s).collect();
                    w1.apply(events::pod_added(&pod, &sets));
                })
                .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                    let sets = s2(new.metadata.namespace.as_deref());
                    let sets: Vec<&StatefulSet> = sets.iter().map(|s| &**s).collect();
                    w2.apply(events::pod_updated(&old, &new, &sets));
                })
                .on_delete(move |gone: DeletedObject<Pod>| {
                    let pod = gone.last_state();
                    let sets = s3(pod.metadata.namespace.as_deref());
                    let sets: Vec<&StatefulSet> = sets.iter().map(|s| &**s).collect();
                    w3.apply(events::pod_deleted(pod, &sets));
                })
        };
        pod_informer.add_event_handler(on_pods)?;
        let on_sets = {
            let (w1, w2, w3) = (this.clone(), this.clone(), this);
            EventHandlerFns::new()
                .on_add(move |set: Arc<StatefulSet>, _| w1.queue.add(ObjectKey::of(&*set)))
                .on_update(move |_old: Arc<StatefulSet>, new: Arc<StatefulSet>| {
                    w2.queue.add(ObjectKey::of(&*new))
                })
                .on_delete(move |gone: DeletedObject<StatefulSet>| {
                    w3.queue.add(ObjectKey::of(&**gone.last_state()))
                })
        };
        set_informer.add_event_handler(on_sets)?;
        Ok(())
    }
}
