//! The Deployment controller's shell on capstan-runtime (upstream
//! `DeploymentController`): informers for Deployments, ReplicaSets and Pods, a
//! `deployment` work queue fed by the [`super::events`] reactions, and a
//! reconcile that does what upstream's `syncDeployment` does — read the
//! Deployment from the cache, claim the ReplicaSets in its namespace (adopt
//! orphans that match, release strays), gather the pods those ReplicaSets
//! control, then [`plan_deployment`](super::plan_deployment) and
//! [`DeploymentActions::perform`].

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_labels::is_empty_label_selector;
use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::events::Recorder;
use capstan_runtime::informer::{
    CONTROLLER_UID_INDEX, DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX,
    SharedInformer, SharedInformerFactory,
};
use capstan_runtime::ownership::{ControllerRefManager, OwnershipError};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use super::actions::{DeploymentActions, DeploymentSyncError};
use super::events;
use super::plan::Requeue;
use super::sync::{DeploymentInput, plan_deployment};
use crate::replicaset::controller::{SetupError, add_pod_indexes};

/// The controller's name: its work queue, metrics and logs (upstream's queue name).
pub const QUEUE_NAME: &str = "deployment";
/// The name events are reported under (upstream's `deployment-controller`).
pub const REPORTING_CONTROLLER: &str = "deployment-controller";

/// Errors of one Deployment reconcile; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Adopting or releasing ReplicaSets failed.
    #[error("claiming replica sets: {0}")]
    Claim(#[from] OwnershipError),
    /// A write of the sync failed.
    #[error(transparent)]
    Sync(#[from] DeploymentSyncError),
}

/// The Deployment reconciler: reads the caches, claims ReplicaSets and syncs.
pub struct DeploymentReconciler {
    client: Client,
    deployments: Lister<Deployment>,
    replica_sets: Lister<ReplicaSet>,
    pods: Lister<Pod>,
    actions: DeploymentActions,
    clock: SharedClock,
}

impl Reconciler for DeploymentReconciler {
    type Error = ReconcileError;

    /// One sync of the Deployment named by `key` (upstream `syncDeployment`):
    /// read the cache, claim, [`plan_deployment`](super::plan_deployment), then
    /// [`DeploymentActions::perform`].
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let key = &key;
        let Some(d) = self.deployments.get_key(key) else {
            tracing::debug!(deployment = %key, "deployment has been deleted");
            return Ok(Action::Done);
        };
        let Some(spec) = d.spec.as_ref() else {
            return Ok(Action::Done);
        };
        // An empty selector would claim every ReplicaSet: the planner records
        // SelectingAll and only updates observedGeneration.
        let replica_sets: Vec<ReplicaSet> = if is_empty_label_selector(&spec.selector) {
            Vec::new()
        } else {
            let selector = match ControllerRefManager::<ReplicaSet>::selector_from(&spec.selector) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(deployment = %key, error = %e, "invalid selector");
                    return Ok(Action::Done);
                }
            };
            let ns = d.metadata.namespace.as_deref().unwrap_or_default();
            let in_ns = self
                .replica_sets
                .by_index(NAMESPACE_INDEX, ns)
                .unwrap_or_default();
            let manager =
                ControllerRefManager::<ReplicaSet>::new(self.client.clone(), &*d, selector)?;
            manager
                .claim(in_ns, |_| true)
                .await
                .into_result()?
                .into_iter()
                .map(|rs| (*rs).clone())
                .collect()
        };
        let pods: Vec<Arc<Pod>> = replica_sets
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .flat_map(|uid| {
                self.pods
                    .by_index(CONTROLLER_UID_INDEX, uid)
                    .unwrap_or_default()
            })
            .collect();
        let pod_refs: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
        let now = self.clock.now();
        let plan = plan_deployment(DeploymentInput {
            deployment: &d,
            replica_sets: &replica_sets,
            pods: &pod_refs,
            now,
        });
        self.actions.perform(&d, &plan, now).await?;
        match plan.requeue {
            Some(Requeue::After(after)) => Ok(Action::RequeueAfter(after)),
            Some(Requeue::RateLimited) => Ok(Action::RequeueRateLimited),
            None => Ok(Action::Done),
        }
    }
}

/// Settings of a [`DeploymentController`].
#[derive(Debug, Clone)]
pub struct DeploymentControllerConfig {
    /// Concurrent syncs (`--concurrent-deployment-syncs`, default 5).
    pub workers: usize,
    /// The instance name events are reported from (e.g. the host name).
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The wall clock syncs read `now` from.
    pub clock: SharedClock,
}

impl Default for DeploymentControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's Deployment controller, built on a shared informer
/// factory. Start the factory (before or after building) and [`run`](Self::run).
pub type DeploymentController = QueuedController<DeploymentReconciler>;

impl DeploymentController {
    /// Builds the controller: takes the Deployment, ReplicaSet and Pod informers
    /// from `factory` (registering indexes and event handlers) and writes through
    /// `client`. Call inside a tokio runtime.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &DeploymentControllerConfig,
    ) -> Result<Self, SetupError> {
        let d_informer = factory.informer::<Deployment>();
        let rs_informer = factory.informer::<ReplicaSet>();
        let pod_informer = factory.informer::<Pod>();
        add_pod_indexes(&pod_informer)?;
        let recorder = config
            .record_events
            .then(|| Recorder::new(client.clone(), REPORTING_CONTROLLER, &config.instance));
        let reconciler = DeploymentReconciler {
            client: client.clone(),
            deployments: d_informer.lister(),
            replica_sets: rs_informer.lister(),
            pods: pod_informer.lister(),
            actions: DeploymentActions::new(client, recorder),
            clock: config.clock.clone(),
        };
        let synced = synced_all([
            d_informer.synced_check(),
            rs_informer.synced_check(),
            pod_informer.synced_check(),
        ]);
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        register_handlers(
            &d_informer,
            &rs_informer,
            &pod_informer,
            &controller.queue(),
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

fn namespace_of<K: kube::Resource>(obj: &K) -> &str {
    obj.meta().namespace.as_deref().unwrap_or_default()
}

/// Wires informer events to the reactions (upstream `addDeployment`,
/// `updateDeployment`, `deleteDeployment`, `addReplicaSet`, `updateReplicaSet`,
/// `deleteReplicaSet`, `deletePod`).
fn register_handlers(
    d_informer: &SharedInformer<Deployment>,
    rs_informer: &SharedInformer<ReplicaSet>,
    pod_informer: &SharedInformer<Pod>,
    queue: &WorkQueue<ObjectKey>,
) -> Result<(), InformerError> {
    let enqueue = {
        let queue = queue.clone();
        Arc::new(move |keys: Vec<ObjectKey>| {
            for k in keys {
                queue.add(k);
            }
        })
    };
    let deployments = {
        let lister = d_informer.lister();
        Arc::new(move |ns: &str| lister.by_index(NAMESPACE_INDEX, ns).unwrap_or_default())
    };

    let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
    d_informer.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |d: Arc<Deployment>, _| q1.add(ObjectKey::of(&*d)))
            .on_update(move |_, d: Arc<Deployment>| q2.add(ObjectKey::of(&*d)))
            .on_delete(move |gone: DeletedObject<Deployment>| {
                q3.add(ObjectKey::of(&**gone.last_state()))
            }),
    )?;

    let (e1, e2, e3) = (enqueue.clone(), enqueue.clone(), enqueue.clone());
    let (l1, l2, l3) = (
        deployments.clone(),
        deployments.clone(),
        deployments.clone(),
    );
    rs_informer.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |rs: Arc<ReplicaSet>, _| {
                let ds = l1(namespace_of(&*rs));
                let ds: Vec<&Deployment> = ds.iter().map(|d| &**d).collect();
                e1(events::replica_set_added(&rs, &ds));
            })
            .on_update(move |old: Arc<ReplicaSet>, new: Arc<ReplicaSet>| {
                let ds = l2(namespace_of(&*new));
                let ds: Vec<&Deployment> = ds.iter().map(|d| &**d).collect();
                e2(events::replica_set_updated(&old, &new, &ds));
            })
            .on_delete(move |gone: DeletedObject<ReplicaSet>| {
                let rs = gone.last_state();
                let ds = l3(namespace_of(&**rs));
                let ds: Vec<&Deployment> = ds.iter().map(|d| &**d).collect();
                e3(events::replica_set_deleted(rs, &ds));
            }),
    )?;

    let rs_lister = rs_informer.lister();
    let pod_lister = pod_informer.lister();
    let e4 = enqueue;
    pod_informer.add_event_handler(EventHandlerFns::new().on_delete(
        move |gone: DeletedObject<Pod>| {
            let pod = gone.last_state();
            let ns = namespace_of(&**pod);
            let ds = deployments(ns);
            if ds.is_empty() {
                return;
            }
            let rss = rs_lister.by_index(NAMESPACE_INDEX, ns).unwrap_or_default();
            let pods = pod_lister.by_index(NAMESPACE_INDEX, ns).unwrap_or_default();
            let ds: Vec<&Deployment> = ds.iter().map(|d| &**d).collect();
            let rss: Vec<&ReplicaSet> = rss.iter().map(|r| &**r).collect();
            let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
            e4(events::pod_deleted(pod, &rss, &ds, &pods));
        },
    ))?;
    Ok(())
}
