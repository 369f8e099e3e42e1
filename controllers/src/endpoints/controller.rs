//! The Endpoints controller's shell (upstream `endpoint.Controller`): informers for
//! Services, pods and Endpoints, an `endpoint` work queue of Service keys, and a
//! reconcile that lists the Service's pods from the cache, asks
//! [`plan_endpoints`](super::plan::plan_endpoints) and performs the one write it
//! plans (or the delete of a deleted Service's Endpoints).

use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors::is_not_found;
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, SharedInformerFactory,
};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::ENDPOINTS_QUEUE;
use super::plan::{EndpointsPlan, plan_endpoints};
use super::trigger::TriggerTimeTracker;
use super::wiring::{managed_service_pods, register_service_and_pod_handlers};
use crate::util::queued::QueuedController;

/// Why a Service's sync failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// Creating, updating or deleting the Endpoints object failed (a conflict when
    /// the cache was stale).
    #[error("writing the Endpoints of {service}: {source}")]
    Write {
        /// The Service, as `namespace/name`.
        service: ObjectKey,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// One Service's sync: upstream `syncService`.
pub struct EndpointsReconciler {
    client: Client,
    services: Lister<Service>,
    pods: Lister<Pod>,
    endpoints: Lister<Endpoints>,
    triggers: TriggerTimeTracker,
}

impl EndpointsReconciler {
    fn api(&self, key: &ObjectKey) -> Api<Endpoints> {
        Api::namespaced(self.client.clone(), key.namespace().unwrap_or_default())
    }

    fn failed(key: &ObjectKey) -> impl FnOnce(kube::Error) -> EndpointsError + '_ {
        move |source| EndpointsError::Write {
            service: key.clone(),
            source,
        }
    }
}

impl Reconciler for EndpointsReconciler {
    type Error = EndpointsError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, EndpointsError> {
        let Some(service) = self.services.get_key(&key) else {
            // The Service is gone: so are its Endpoints.
            self.triggers.forget(&key);
            match self
                .api(&key)
                .delete(key.name(), &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    tracing::debug!(service = %key, "deleted the Endpoints of a deleted Service")
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Self::failed(&key)(e)),
            }
            return Ok(Action::Done);
        };
        let Some(pods) = managed_service_pods(&service, &self.pods) else {
            return Ok(Action::Done);
        };
        let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
        let trigger = self.triggers.compute(&key, &service, &pods);
        let current = self.endpoints.get_key(&key);
        match plan_endpoints(&service, &pods, current.as_deref(), trigger) {
            EndpointsPlan::Unchanged => {
                tracing::trace!(service = %key, "endpoints are equal, skipping update");
            }
            EndpointsPlan::Create(ep) => {
                self.api(&key)
                    .create(&PostParams::default(), &ep)
                    .await
                    .map_err(Self::failed(&key))?;
                tracing::debug!(service = %key, "created Endpoints");
            }
            EndpointsPlan::Update(ep) => {
                self.api(&key)
                    .replace(key.name(), &PostParams::default(), &ep)
                    .await
                    .map_err(Self::failed(&key))?;
                tracing::debug!(service = %key, "updated Endpoints");
            }
        }
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `endpoints-controller`.
pub type EndpointsController = QueuedController<EndpointsReconciler>;

/// Builds the controller on `factory`'s Service, Pod and Endpoints informers, writing
/// through `client` with `workers` concurrent syncs.
pub fn endpoints_controller(
    factory: &SharedInformerFactory,
    client: Client,
    workers: usize,
) -> Result<EndpointsController, InformerError> {
    let services = factory.informer::<Service>();
    let pods = factory.informer::<Pod>();
    let endpoints = factory.informer::<Endpoints>();
    let synced = synced_all([
        services.synced_check(),
        pods.synced_check(),
        endpoints.synced_check(),
    ]);
    let controller = ControllerBuilder::new(ENDPOINTS_QUEUE)
        .workers(workers)
        .wait_for(synced.clone())
        .build(EndpointsReconciler {
            client,
            services: services.lister(),
            pods: pods.lister(),
            endpoints: endpoints.lister(),
            triggers: TriggerTimeTracker::default(),
        });
    let queue = controller.queue();
    register_service_and_pod_handlers(&services, &pods, &queue)?;
    // Upstream's `checkLeftoverEndpoints` (every Endpoints object once, at start: those
    // of Services deleted meanwhile are removed) and `onEndpointsDelete` (a deleted
    // Endpoints object of a live Service is recreated).
    let (q1, q2) = (queue.clone(), queue);
    endpoints.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |ep: Arc<Endpoints>, initial| {
                if initial && !is_leader_election_record(&ep) {
                    q1.add(ObjectKey::of(ep.as_ref()));
                }
            })
            .on_delete(move |gone: DeletedObject<Endpoints>| {
                q2.add(ObjectKey::of(gone.last_state().as_ref()))
            }),
    )?;
    Ok(QueuedController::wrap(controller, synced))
}

/// Endpoints objects used as leader-election locks by old components carry this
/// annotation; upstream's leftover check leaves them alone.
fn is_leader_election_record(ep: &Endpoints) -> bool {
    ep.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("control-plane.alpha.kubernetes.io/leader"))
}
