//! The resource quota controller's shell on capstan-runtime (upstream
//! `resourcequota.Controller`): informers for quotas, pods, services and claims,
//! [`Monitors`] for the resources quotas only count, a `resourcequota_primary`
//! queue fed by the [`replenish`](super::replenish) rules, and a reconcile that
//! gathers a quota's namespace objects, computes its status
//! ([`sync_status`]) and writes it when it changed.

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::sync::Arc;
use std::time::Duration;

use capstan_quota::usage::sync_status;
use capstan_quota::{Evaluator, Item};
use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX, SharedInformer,
    SharedInformerFactory,
};
use capstan_runtime::queue::WorkQueue;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use kube::Client;

use super::monitors::{Count, Monitors};
use super::replenish::{
    claim_charge_changed, pod_charge_changed, quota_spec_changed, quota_tracks,
    service_charge_changed,
};

/// The controller's queue name (upstream's primary queue).
pub const QUEUE_NAME: &str = "resourcequota_primary";

/// How soon a quota waiting for a counted resource's first list looks again.
const MONITOR_SYNC_WAIT: Duration = Duration::from_millis(200);

/// Errors of one quota sync; the quota is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A quota, or an object it counts, holds a quantity that does not parse.
    #[error("invalid quantity: {0}")]
    Quantity(#[from] capstan_quota::resources::InvalidEntry),
    /// Discovery or the status write failed (a conflict included: the quota is
    /// recomputed from a fresh cache).
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// Settings of a [`ResourceQuotaController`].
#[derive(Debug, Clone)]
pub struct ResourceQuotaControllerConfig {
    /// Concurrent syncs (`--concurrent-resource-quota-syncs`, default 5).
    pub workers: usize,
    /// How often every quota is recomputed (`--resource-quota-sync-period`, 5
    /// minutes).
    pub resync_period: Duration,
    /// The wall clock pods' deletion grace periods are compared with.
    pub clock: SharedClock,
}

impl Default for ResourceQuotaControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            resync_period: Duration::from_secs(5 * 60),
            clock: RealClock::shared(),
        }
    }
}

/// Reads the caches and writes quota statuses.
pub struct ResourceQuotaReconciler {
    quotas: Lister<ResourceQuota>,
    pods: Lister<Pod>,
    services: Lister<Service>,
    claims: Lister<PersistentVolumeClaim>,
    monitors: Arc<Monitors>,
    writer: StatusWriter<ResourceQuota>,
    resync_period: Duration,
    clock: SharedClock,
}

/// The `count/<resource>.<group>` names no evaluator of `known` charges, as
/// evaluators of their own (upstream registers one per discovered resource).
fn count_evaluators(hard: &[&str], known: &[Evaluator]) -> Vec<Evaluator> {
    hard.iter()
        .filter(|n| known.iter().all(|e| e.matching_resources([**n]).is_empty()))
        .filter_map(|n| n.strip_prefix("count/"))
        .map(|gr| {
            let (resource, group) = gr.split_once('.').unwrap_or((gr, ""));
            Evaluator::for_resource(group, resource)
        })
        .collect()
}

/// A namespace's objects of one evaluator's resource, owned for the sync.
enum Gathered {
    Pods(Vec<Arc<Pod>>),
    Services(Vec<Arc<Service>>),
    Claims(Vec<Arc<PersistentVolumeClaim>>),
    Count(usize),
}

impl Gathered {
    fn items(&self) -> Vec<Item<'_>> {
        match self {
            Gathered::Pods(v) => v.iter().map(|p| Item::Pod(p)).collect(),
            Gathered::Services(v) => v.iter().map(|s| Item::Service(s)).collect(),
            Gathered::Claims(v) => v.iter().map(|c| Item::Claim(c)).collect(),
            Gathered::Count(n) => vec![Item::Counted; *n],
        }
    }
}

impl ResourceQuotaReconciler {
    /// The objects of `evaluator`'s resource in `ns`; `None` when its monitor is
    /// still listing, and no objects for a resource that is not served.
    async fn gather(&self, evaluator: &Evaluator, ns: &str) -> Result<Option<Gathered>, SyncError> {
        Ok(Some(match evaluator {
            Evaluator::Pods => {
                Gathered::Pods(self.pods.by_index(NAMESPACE_INDEX, ns).unwrap_or_default())
            }
            Evaluator::Services => Gathered::Services(
                self.services
                    .by_index(NAMESPACE_INDEX, ns)
                    .unwrap_or_default(),
            ),
            Evaluator::PersistentVolumeClaims => Gathered::Claims(
                self.claims
                    .by_index(NAMESPACE_INDEX, ns)
                    .unwrap_or_default(),
            ),
            Evaluator::ObjectCount { group, resource } => {
                match self.monitors.count(group, resource, ns).await? {
                    Count::Known(n) => Gathered::Count(n),
                    Count::Unserved => Gathered::Count(0),
                    Count::NotSynced => return Ok(None),
                }
            }
        }))
    }
}

impl Reconciler for ResourceQuotaReconciler {
    type Error = SyncError;

    /// One sync of the quota named by `key` (upstream `syncResourceQuotaFromKey`).
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, SyncError> {
        let Some(quota) = self.quotas.get_key(&key) else {
            tracing::debug!(quota = %key, "resource quota has been deleted");
            return Ok(Action::Done);
        };
        let ns = key.namespace().unwrap_or_default();
        let hard: Vec<&str> = quota
            .spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        let mut evaluators = Evaluator::registered();
        evaluators.extend(count_evaluators(&hard, &evaluators));
        let mut gathered = Vec::new();
        for evaluator in evaluators {
            if evaluator
                .matching_resources(hard.iter().copied())
                .is_empty()
            {
                continue;
            }
            match self.gather(&evaluator, ns).await? {
                Some(g) => gathered.push((evaluator, g)),
                None => return Ok(Action::RequeueAfter(MONITOR_SYNC_WAIT)),
            }
        }
        let objects: Vec<(&Evaluator, Vec<Item<'_>>)> =
            gathered.iter().map(|(e, g)| (e, g.items())).collect();
        if let Some(status) = sync_status(&quota, &objects, self.clock.now())? {
            self.writer.write(&quota, &status).await?;
        }
        Ok(Action::RequeueAfter(self.resync_period))
    }
}

/// kube-controller-manager's resource quota controller (`resourcequota-controller`).
pub type ResourceQuotaController = QueuedController<ResourceQuotaReconciler>;

/// Requeues the quotas of `ns` that track what `evaluator` charges (upstream
/// `replenishQuota`).
fn replenish(
    quotas: &Lister<ResourceQuota>,
    queue: &WorkQueue<ObjectKey>,
    evaluator: &Evaluator,
    ns: &str,
) {
    for q in quotas.by_index(NAMESPACE_INDEX, ns).unwrap_or_default() {
        if quota_tracks(&q, evaluator) {
            queue.add(ObjectKey::of(&*q));
        }
    }
}

fn namespace_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().namespace.clone().unwrap_or_default()
}

impl ResourceQuotaController {
    /// Builds the controller on `factory`'s informers, writing through `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &ResourceQuotaControllerConfig,
    ) -> Result<Self, InformerError> {
        let quota_informer = factory.informer::<ResourceQuota>();
        let pod_informer = factory.informer::<Pod>();
        let service_informer = factory.informer::<Service>();
        let claim_informer = factory.informer::<PersistentVolumeClaim>();
        let queue_slot: Arc<parking_lot::Mutex<Option<WorkQueue<ObjectKey>>>> = Arc::default();
        let monitors = {
            let (quotas, slot) = (quota_informer.lister(), queue_slot.clone());
            Arc::new(Monitors::new(
                factory.clone(),
                client.clone(),
                Arc::new(move |group: &str, resource: &str, ns: &str| {
                    if let Some(queue) = slot.lock().as_ref() {
                        replenish(
                            &quotas,
                            queue,
                            &Evaluator::for_resource(group, resource),
                            ns,
                        );
                    }
                }),
            ))
        };
        let reconciler = ResourceQuotaReconciler {
            quotas: quota_informer.lister(),
            pods: pod_informer.lister(),
            services: service_informer.lister(),
            claims: claim_informer.lister(),
            monitors: monitors.clone(),
            // A conflict means the cache is behind: recompute rather than re-read
            // and overwrite what admission charged meanwhile.
            writer: StatusWriter::new(client).with_retries(0),
            resync_period: config.resync_period,
            clock: config.clock.clone(),
        };
        let synced = synced_all([
            quota_informer.synced_check(),
            pod_informer.synced_check(),
            service_informer.synced_check(),
            claim_informer.synced_check(),
        ]);
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        let queue = controller.queue();
        *queue_slot.lock() = Some(queue.clone());
        register_handlers(
            &quota_informer,
            &pod_informer,
            &service_informer,
            &claim_informer,
            &queue,
            &config.clock,
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// Requeues `quotas` of an object's namespace tracking `evaluator`'s resources
/// whenever `changed(old, new)` says an update changed its charge, and on every
/// deletion.
fn replenish_on<K>(
    informer: &SharedInformer<K>,
    quotas: &Lister<ResourceQuota>,
    queue: &WorkQueue<ObjectKey>,
    evaluator: Evaluator,
    changed: impl Fn(&K, &K) -> bool + Send + Sync + 'static,
) -> Result<(), InformerError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (q1, q2) = (quotas.clone(), quotas.clone());
    let (w1, w2) = (queue.clone(), queue.clone());
    let (e1, e2) = (evaluator.clone(), evaluator);
    informer.add_event_handler(
        EventHandlerFns::new()
            .on_update(move |old: Arc<K>, new: Arc<K>| {
                if changed(&old, &new) {
                    replenish(&q1, &w1, &e1, &namespace_of(&*new));
                }
            })
            .on_delete(move |gone: DeletedObject<K>| {
                replenish(&q2, &w2, &e2, &namespace_of(&**gone.last_state()));
            }),
    )?;
    Ok(())
}

/// Wires the informers to the queue: quotas on creation and spec changes, tracked
/// objects on deletion and on updates that change their charge.
fn register_handlers(
    quota_informer: &SharedInformer<ResourceQuota>,
    pod_informer: &SharedInformer<Pod>,
    service_informer: &SharedInformer<Service>,
    claim_informer: &SharedInformer<PersistentVolumeClaim>,
    queue: &WorkQueue<ObjectKey>,
    clock: &SharedClock,
) -> Result<(), InformerError> {
    let (w1, w2, w3) = (queue.clone(), queue.clone(), queue.clone());
    quota_informer.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |q: Arc<ResourceQuota>, _| w1.add(ObjectKey::of(&*q)))
            .on_update(move |old: Arc<ResourceQuota>, new: Arc<ResourceQuota>| {
                if quota_spec_changed(&old, &new) {
                    w2.add(ObjectKey::of(&*new));
                }
            })
            .on_delete(move |gone: DeletedObject<ResourceQuota>| {
                w3.add(ObjectKey::of(&**gone.last_state()))
            }),
    )?;
    let quotas = quota_informer.lister();
    let clock = clock.clone();
    replenish_on(
        pod_informer,
        &quotas,
        queue,
        Evaluator::Pods,
        move |old, new| pod_charge_changed(old, new, clock.now()),
    )?;
    replenish_on(
        service_informer,
        &quotas,
        queue,
        Evaluator::Services,
        service_charge_changed,
    )?;
    replenish_on(
        claim_informer,
        &quotas,
        queue,
        Evaluator::PersistentVolumeClaims,
        claim_charge_changed,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_names_no_evaluator_charges_get_their_own() {
        let known = Evaluator::registered();
        let hard = [
            "pods",
            "count/pods",
            "count/deployments.apps",
            "count/widgets.example.com",
            "secrets",
            "count/secrets",
            "count/events",
        ];
        assert_eq!(
            count_evaluators(&hard, &known),
            [
                Evaluator::for_resource("apps", "deployments"),
                Evaluator::for_resource("example.com", "widgets"),
                Evaluator::for_resource("", "events"),
            ]
        );
    }
}
