//! The EndpointSlice controller's shell (upstream `endpointslice.Controller`):
//! informers for Services, pods, nodes and EndpointSlices, an `endpoint_slice` work
//! queue of Service keys, and a reconcile that reads the cache, waits while the cache
//! lags this controller's own writes ([`SliceTracker`]), asks
//! [`reconcile_slices`] and performs its plan.

use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_labels::Selector;
use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors::is_not_found;
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, SharedInformerFactory,
};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::reconcile::{NodeZones, SliceInput, reconcile_slices};
use super::tracker::SliceTracker;
use super::{
    ENDPOINTSLICE_QUEUE, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_TOPOLOGY_ZONE,
    MANAGED_BY_VALUE,
};
use crate::endpoints::trigger::TriggerTimeTracker;
use crate::endpoints::wiring::{managed_service_pods, register_service_and_pod_handlers};
use crate::util::queued::QueuedController;

/// Why a Service's sync failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum EndpointSliceError {
    /// The cache does not show this controller's last writes yet (upstream's
    /// `StaleInformerCache`).
    #[error("EndpointSlice informer cache is out of date for {0}")]
    StaleCache(ObjectKey),
    /// A slice write failed (the rest of the plan was still performed).
    #[error("{verb} EndpointSlice for Service {service}: {source}")]
    Write {
        /// `creating`, `updating` or `deleting`.
        verb: &'static str,
        /// The Service.
        service: ObjectKey,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Some pods were left out because their node is not in the cache.
    #[error("skipping pods {pods:?} of Service {service}: node not found")]
    UnknownNodes {
        /// The Service.
        service: ObjectKey,
        /// The pods left out.
        pods: Vec<String>,
    },
}

/// Settings of the EndpointSlice controller.
#[derive(Debug, Clone)]
pub struct EndpointSliceConfig {
    /// Concurrent syncs (`--concurrent-service-endpoint-syncs`).
    pub workers: usize,
    /// The most endpoints a slice holds (`--max-endpoints-per-slice`).
    pub max_endpoints_per_slice: usize,
}

/// One Service's sync: upstream `syncService`.
pub struct EndpointSliceReconciler {
    client: Client,
    services: Lister<Service>,
    pods: Lister<Pod>,
    nodes: Lister<Node>,
    slices: Lister<EndpointSlice>,
    tracker: Arc<SliceTracker>,
    triggers: TriggerTimeTracker,
    max_endpoints_per_slice: usize,
}

impl EndpointSliceReconciler {
    fn zones_of(&self, pods: &[&Pod]) -> NodeZones {
        let mut zones = NodeZones::new();
        for pod in pods {
            let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                continue;
            };
            if let Some(node) = self.nodes.get_key(&ObjectKey::cluster(name)) {
                let zone = node
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_TOPOLOGY_ZONE).cloned());
                zones.insert(name.to_string(), zone);
            }
        }
        zones
    }
}

impl Reconciler for EndpointSliceReconciler {
    type Error = EndpointSliceError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, EndpointSliceError> {
        let Some(service) = self.services.get_key(&key) else {
            // The garbage collector deletes the slices the Service owned.
            self.triggers.forget(&key);
            self.tracker.forget(&key);
            return Ok(Action::Done);
        };
        let Some(pods) = managed_service_pods(&service, &self.pods) else {
            return Ok(Action::Done);
        };
        let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
        let ours = Selector::from_set([
            (LABEL_SERVICE_NAME, key.name()),
            (LABEL_MANAGED_BY, MANAGED_BY_VALUE),
        ]);
        let existing = self.slices.list(key.namespace(), &ours);
        let existing: Vec<&EndpointSlice> = existing.iter().map(|s| &**s).collect();
        if self.tracker.stale(&key, &existing) {
            return Err(EndpointSliceError::StaleCache(key));
        }
        let zones = self.zones_of(&pods);
        let trigger = self.triggers.compute(&key, &service, &pods);
        let plan = reconcile_slices(&SliceInput {
            service: &service,
            pods: &pods,
            zones: &zones,
            existing: &existing,
            max_endpoints_per_slice: self.max_endpoints_per_slice,
            controller_name: MANAGED_BY_VALUE,
            trigger,
        });
        tracing::debug!(
            service = %key,
            create = plan.create.len(),
            update = plan.update.len(),
            delete = plan.delete.len(),
            "reconciled EndpointSlices"
        );
        let api: Api<EndpointSlice> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or_default());
        let mut first_error = None;
        let mut fail = |verb, source| {
            first_error.get_or_insert(EndpointSliceError::Write {
                verb,
                service: key.clone(),
                source,
            });
        };
        for slice in &plan.create {
            match api.create(&PostParams::default(), slice).await {
                Ok(created) => self.tracker.written(&key, &created),
                Err(e) => fail("creating", e),
            }
        }
        for slice in &plan.update {
            let name = slice.metadata.name.clone().unwrap_or_default();
            match api.replace(&name, &PostParams::default(), slice).await {
                Ok(updated) => self.tracker.written(&key, &updated),
                Err(e) => fail("updating", e),
            }
        }
        for slice in &plan.delete {
            let name = slice.metadata.name.clone().unwrap_or_default();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => self.tracker.deleted(&key, slice),
                Err(e) if is_not_found(&e) => {}
                Err(e) => fail("deleting", e),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if !plan.pods_on_unknown_nodes.is_empty() {
            return Err(EndpointSliceError::UnknownNodes {
                service: key,
                pods: plan.pods_on_unknown_nodes,
            });
        }
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `endpointslice-controller`.
pub type EndpointSliceController = QueuedController<EndpointSliceReconciler>;

/// The Service a slice of this controller belongs to.
fn service_of(slice: &EndpointSlice) -> Option<ObjectKey> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    let name = labels.get(LABEL_SERVICE_NAME)?;
    Some(ObjectKey::namespaced(
        slice.metadata.namespace.as_deref().unwrap_or_default(),
        name,
    ))
}

/// Upstream `onEndpointSliceAdd/Update/Delete`: a slice change that is not the echo
/// of this controller's write queues its Service.
fn register_slice_handlers(
    slices: &capstan_runtime::informer::SharedInformer<EndpointSlice>,
    tracker: &Arc<SliceTracker>,
    queue: &WorkQueue<ObjectKey>,
) -> Result<(), InformerError> {
    let (t1, t2, t3) = (tracker.clone(), tracker.clone(), tracker.clone());
    let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
    slices.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |s: Arc<EndpointSlice>, _| {
                if let Some(svc) = service_of(&s)
                    && t1.should_sync(&svc, &s)
                {
                    q1.add(svc);
                }
            })
            .on_update(move |old: Arc<EndpointSlice>, new: Arc<EndpointSlice>| {
                let (before, after) = (service_of(&old), service_of(&new));
                if before != after {
                    before.into_iter().chain(after).for_each(|k| q2.add(k));
                } else if let Some(svc) = after
                    && t2.should_sync(&svc, &new)
                {
                    q2.add(svc);
                }
            })
            .on_delete(move |gone: DeletedObject<EndpointSlice>| {
                let s = gone.last_state();
                if let Some(svc) = service_of(s)
                    && t3.deletion_observed(&svc, s)
                {
                    q3.add(svc);
                }
            }),
    )?;
    Ok(())
}

/// Builds the controller on `factory`'s Service, Pod, Node and EndpointSlice
/// informers, writing through `client`.
pub fn endpointslice_controller(
    factory: &SharedInformerFactory,
    client: Client,
    config: &EndpointSliceConfig,
) -> Result<EndpointSliceController, InformerError> {
    let services = factory.informer::<Service>();
    let pods = factory.informer::<Pod>();
    let nodes = factory.informer::<Node>();
    let slices = factory.informer::<EndpointSlice>();
    let synced = synced_all([
        services.synced_check(),
        pods.synced_check(),
        nodes.synced_check(),
        slices.synced_check(),
    ]);
    let tracker = Arc::new(SliceTracker::default());
    let controller = ControllerBuilder::new(ENDPOINTSLICE_QUEUE)
        .workers(config.workers)
        .wait_for(synced.clone())
        .build(EndpointSliceReconciler {
            client,
            services: services.lister(),
            pods: pods.lister(),
            nodes: nodes.lister(),
            slices: slices.lister(),
            tracker: tracker.clone(),
            triggers: TriggerTimeTracker::default(),
            max_endpoints_per_slice: config.max_endpoints_per_slice,
        });
    let queue = controller.queue();
    register_service_and_pod_handlers(&services, &pods, &queue)?;
    register_slice_handlers(&slices, &tracker, &queue)?;
    Ok(QueuedController::wrap(controller, synced))
}
