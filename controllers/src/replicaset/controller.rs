//! The ReplicaSet controller's shell on capstan-runtime (upstream
//! `ReplicaSetController`): informers for ReplicaSets and Pods, a `replicaset`
//! work queue fed by the [`super::events`] reactions, and a reconcile that does
//! what upstream's `syncReplicaSet` does — read the RS from the cache (gone →
//! forget its expectations), gather its pods, claim them (adopt orphans that
//! match, release owned pods that stopped matching), then
//! [`plan_sync`](super::plan_sync) and [`ReplicaSetActions::perform`].

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::events::Recorder;
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::informer::{
    CONTROLLER_UID_INDEX, DeletedObject, EventHandlerFns, IndexError, InformerError, Lister,
    NAMESPACE_INDEX, SharedInformer, SharedInformerFactory, controller_uid_index,
};
use capstan_runtime::ownership::{ControllerRefManager, OwnershipError};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use super::actions::{ReplicaSetActions, SyncError};
use super::events::{self, Reaction};
use super::owner::ReplicaSetLike;
use super::plan_sync;
use super::ranking::related_pods;
use crate::util::pod::is_active;

/// Index of pods without a controller owner reference, by namespace (upstream
/// files orphans under a reserved key of its controller-UID index).
pub const ORPHAN_POD_INDEX: &str = "capstan.dev/orphan-pods-by-namespace";

/// Errors setting the controller up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// An index could not be registered on a shared informer.
    #[error("registering informer index: {0}")]
    Index(#[from] IndexError),
    /// An event handler could not be registered.
    #[error("registering event handler: {0}")]
    Informer(#[from] InformerError),
}

/// Errors of one ReplicaSet reconcile; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Adopting or releasing pods failed.
    #[error("claiming pods: {0}")]
    Claim(#[from] OwnershipError),
    /// Managing pods or writing the status failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Adds `name` to the informer unless an identical index is already there (the
/// informers are shared with other controllers registering the same indexes).
pub(crate) fn ensure_index<K>(
    informer: &SharedInformer<K>,
    name: &str,
    f: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
) -> Result<(), IndexError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    match informer.add_index(name, f) {
        Ok(()) | Err(IndexError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Files a pod with no controller owner reference under its namespace.
pub fn orphan_pod_index(pod: &Pod) -> Vec<String> {
    if controller_uid_index(pod).is_empty() {
        vec![pod.metadata.namespace.clone().unwrap_or_default()]
    } else {
        Vec::new()
    }
}

/// Registers the pod indexes the workload controllers read through.
pub(crate) fn add_pod_indexes(pods: &SharedInformer<Pod>) -> Result<(), IndexError> {
    ensure_index(pods, CONTROLLER_UID_INDEX, controller_uid_index::<Pod>)?;
    ensure_index(pods, ORPHAN_POD_INDEX, orphan_pod_index)
}

/// What every pod-owning controller builds the same way: the shared Pod
/// informer with the workload pod indexes, creation and deletion expectations on
/// the controller's clock, and its Event recorder (when it records Events).
pub(crate) struct PodOwnerParts {
    /// The Pod informer, indexed by controller UID and orphans by namespace.
    pub pods: SharedInformer<Pod>,
    /// The owner's pod expectations.
    pub expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    /// Records Events as `component` from `instance`.
    pub recorder: Option<Recorder>,
}

impl PodOwnerParts {
    /// The parts of a controller reporting as `component` (e.g. `job-controller`)
    /// from `instance`, on `clock`. Call inside a tokio runtime (the recorder
    /// spawns its writer).
    pub(crate) fn new(
        factory: &SharedInformerFactory,
        client: &Client,
        (component, instance, record_events): (&str, &str, bool),
        clock: &SharedClock,
    ) -> Result<Self, IndexError> {
        let pods = factory.informer::<Pod>();
        add_pod_indexes(&pods)?;
        Ok(Self {
            pods,
            expectations: Arc::new(UidTrackingExpectations::with_clock(clock.clone())),
            recorder: record_events.then(|| Recorder::new(client.clone(), component, instance)),
        })
    }
}

/// The reconciler of owners of kind `R` (a [`ReplicaSet`] by default): reads the
/// caches, claims pods and syncs.
pub struct ReplicaSetReconciler<R: ReplicaSetLike = ReplicaSet> {
    client: Client,
    owners: Lister<R>,
    pods: Lister<Pod>,
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    actions: ReplicaSetActions<R>,
    clock: SharedClock,
}

impl<R: ReplicaSetLike> ReplicaSetReconciler<R> {
    /// The pods `rs` may manage (upstream `getRSPods`): those it controls plus
    /// the orphans in its namespace, active ones only.
    fn candidate_pods(&self, rs: &R) -> Vec<Arc<Pod>> {
        let uid = rs.meta().uid.as_deref().unwrap_or_default();
        let ns = rs.meta().namespace.as_deref().unwrap_or_default();
        let mut pods = self
            .pods
            .by_index(CONTROLLER_UID_INDEX, uid)
            .unwrap_or_default();
        pods.extend(self.pods.by_index(ORPHAN_POD_INDEX, ns).unwrap_or_default());
        pods.retain(|p| is_active(p));
        pods
    }
}

impl<R: ReplicaSetLike> Reconciler for ReplicaSetReconciler<R> {
    type Error = ReconcileError;

    /// One sync of the owner named by `key` (upstream `syncReplicaSet`): read
    /// the cache, claim the pods, [`plan_sync`](super::plan_sync), then
    /// [`ReplicaSetActions::perform`].
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let key = &key;
        let Some(rs) = self.owners.get_key(key) else {
            tracing::debug!(kind = %R::kind(&()), owner = %key, "owner has been deleted");
            self.expectations.delete_expectations(key);
            return Ok(Action::Done);
        };
        // Upstream asks the expectations before listing pods: see `needs_sync`.
        let needs_sync = self.actions.needs_sync(key);
        let Some(pod_selector) = rs.pod_selector() else {
            return Ok(Action::Done);
        };
        let selector = match ControllerRefManager::<Pod>::selector_from(&pod_selector) {
            Ok(s) => s,
            Err(e) => {
                // Upstream logs and gives up: retrying cannot fix a bad selector.
                tracing::error!(kind = %R::kind(&()), owner = %key, error = %e, "invalid selector");
                return Ok(Action::Done);
            }
        };
        let candidates = self.candidate_pods(&rs);
        let manager = ControllerRefManager::<Pod>::new(self.client.clone(), &*rs, selector)?;
        let claimed = manager.claim(candidates, |_| true).await.into_result()?;
        let pods: Vec<&Pod> = claimed.iter().map(|p| &**p).collect();

        // Pods of sibling owners (same controller) rank co-location on deletion;
        // only worth gathering when this owner has a controller.
        let ns = rs.meta().namespace.as_deref().unwrap_or_default();
        let has_controller = !controller_uid_index(&*rs).is_empty();
        let (siblings, ns_pods) = if has_controller {
            let siblings: Vec<R> = self
                .owners
                .by_index(NAMESPACE_INDEX, ns)
                .unwrap_or_default()
                .iter()
                .map(|r| (**r).clone())
                .collect();
            (
                siblings,
                self.pods.by_index(NAMESPACE_INDEX, ns).unwrap_or_default(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let ns_pod_refs: Vec<&Pod> = ns_pods.iter().map(|p| &**p).collect();
        let related = related_pods(&*rs, &siblings, &ns_pod_refs);

        let now = self.clock.now();
        let plan = plan_sync(&*rs, &pods, &related, needs_sync, now);
        match self.actions.perform(&rs, &plan, &pods, now).await? {
            Some(after) => Ok(Action::RequeueAfter(after)),
            None => Ok(Action::Done),
        }
    }
}

/// Settings of a [`ReplicaSetController`].
#[derive(Debug, Clone)]
pub struct ReplicaSetControllerConfig {
    /// Concurrent syncs (`--concurrent-replicaset-syncs`, default 5).
    pub workers: usize,
    /// The instance name events are reported from (e.g. the host name).
    pub instance: String,
    /// Whether to record Events (off for tests that do not want them).
    pub record_events: bool,
    /// The clock syncs read `now` from (and expectations expire by).
    pub clock: SharedClock,
}

impl Default for ReplicaSetControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's ReplicaSet controller for owners of kind `R` (a
/// [`ReplicaSet`] by default; a ReplicationController makes it the replication
/// manager), built on a shared informer factory. Start the factory (before or
/// after building) and [`run`](Self::run).
pub type ReplicaSetController<R = ReplicaSet> = QueuedController<ReplicaSetReconciler<R>>;

impl<R: ReplicaSetLike> ReplicaSetController<R> {
    /// Builds the controller: takes the `R` and Pod informers from `factory`
    /// (registering the pod indexes and event handlers) and writes through
    /// `client`. Call inside a tokio runtime (the event recorder spawns its
    /// writer).
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &ReplicaSetControllerConfig,
    ) -> Result<Self, SetupError> {
        let owner_informer = factory.informer::<R>();
        let PodOwnerParts {
            pods: pod_informer,
            expectations,
            recorder,
        } = PodOwnerParts::new(
            factory,
            &client,
            (
                R::REPORTING_CONTROLLER,
                &config.instance,
                config.record_events,
            ),
            &config.clock,
        )?;
        let reconciler = ReplicaSetReconciler {
            client: client.clone(),
            owners: owner_informer.lister(),
            pods: pod_informer.lister(),
            expectations: expectations.clone(),
            actions: ReplicaSetActions::new(client, expectations.clone(), recorder),
            clock: config.clock.clone(),
        };
        let synced = synced_all([owner_informer.synced_check(), pod_informer.synced_check()]);
        let controller = ControllerBuilder::new(R::QUEUE_NAME)
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        register_handlers(
            &owner_informer,
            &pod_informer,
            &expectations,
            &controller.queue(),
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// Wires informer events to the reactions (upstream `addPod`, `updatePod`,
/// `deletePod`, `addRS`, `updateRS`, `deleteRS`).
fn register_handlers<R: ReplicaSetLike>(
    owner_informer: &SharedInformer<R>,
    pod_informer: &SharedInformer<Pod>,
    expectations: &Arc<UidTrackingExpectations<ObjectKey>>,
    queue: &WorkQueue<ObjectKey>,
) -> Result<(), InformerError> {
    let apply = {
        let (exp, queue) = (expectations.clone(), queue.clone());
        Arc::new(move |r: Reaction| r.apply(&exp, &queue))
    };
    let owners = owner_informer.lister();
    let in_namespace = move |pod: &Pod| -> Vec<Arc<R>> {
        owners
            .by_index(
                NAMESPACE_INDEX,
                pod.metadata.namespace.as_deref().unwrap_or_default(),
            )
            .unwrap_or_default()
    };
    let (a1, a2, a3) = (apply.clone(), apply.clone(), apply.clone());
    let (n1, n2, n3) = (
        in_namespace.clone(),
        in_namespace.clone(),
        in_namespace.clone(),
    );
    pod_informer.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |pod: Arc<Pod>, _| {
                let rss = n1(&pod);
                let rss: Vec<&R> = rss.iter().map(|r| &**r).collect();
                a1(events::pod_added(&pod, &rss));
            })
            .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                let rss = n2(&new);
                let rss: Vec<&R> = rss.iter().map(|r| &**r).collect();
                a2(events::pod_updated(&old, &new, &rss));
            })
            .on_delete(move |gone: DeletedObject<Pod>| {
                let pod = gone.last_state();
                let rss = n3(pod);
                let rss: Vec<&R> = rss.iter().map(|r| &**r).collect();
                a3(events::pod_deleted(pod, &rss));
            }),
    )?;

    let (b1, b2, b3) = (apply.clone(), apply.clone(), apply);
    owner_informer.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |rs: Arc<R>, _| b1(events::replica_set_changed(&*rs)))
            .on_update(move |_, rs: Arc<R>| b2(events::replica_set_changed(&*rs)))
            .on_delete(move |gone: DeletedObject<R>| {
                b3(events::replica_set_deleted(&**gone.last_state()))
            }),
    )?;
    Ok(())
}
