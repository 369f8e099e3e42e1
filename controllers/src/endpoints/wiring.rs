//! The informer wiring both endpoints controllers share (upstream's `onServiceUpdate`,
//! `onServiceDelete`, `addPod`, `updatePod`, `deletePod`): a Service's events queue
//! the Service; a pod's events queue every Service whose endpoints the change can
//! touch.

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX, SharedInformer,
};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::{Pod, Service};

use capstan_labels::Selector;

use super::pods::{has_managed_endpoints, services_of_pod, services_to_update_on_pod_change};

/// The cached pods `service` selects, or `None` when its endpoints are not the
/// endpoints controllers' to write (no selector: the user's; `ExternalName`: none).
pub fn managed_service_pods(service: &Service, pods: &Lister<Pod>) -> Option<Vec<Arc<Pod>>> {
    if !has_managed_endpoints(service) {
        return None;
    }
    let selector = service.spec.as_ref()?.selector.clone()?;
    Some(pods.list(
        service.metadata.namespace.as_deref(),
        &Selector::from_set(selector),
    ))
}

/// Queues the Services of the pod's namespace named in `names`.
fn enqueue_names(queue: &WorkQueue<ObjectKey>, pod: &Pod, names: impl IntoIterator<Item = String>) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    for name in names {
        queue.add(ObjectKey::namespaced(ns, &name));
    }
}

fn services_in(services: &Lister<Service>, pod: &Pod) -> Vec<Arc<Service>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    services.by_index(NAMESPACE_INDEX, ns).unwrap_or_default()
}

/// Registers the Service and pod handlers feeding `queue` with Service keys.
pub fn register_service_and_pod_handlers(
    services: &SharedInformer<Service>,
    pods: &SharedInformer<Pod>,
    queue: &WorkQueue<ObjectKey>,
) -> Result<(), InformerError> {
    let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
    services.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |s: Arc<Service>, _| q1.add(ObjectKey::of(s.as_ref())))
            .on_update(move |_, s: Arc<Service>| q2.add(ObjectKey::of(s.as_ref())))
            .on_delete(move |gone: DeletedObject<Service>| {
                q3.add(ObjectKey::of(gone.last_state().as_ref()))
            }),
    )?;
    let lister = services.lister();
    let (l1, l2, l3) = (lister.clone(), lister.clone(), lister);
    let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
    pods.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |pod: Arc<Pod>, _| {
                let all = services_in(&l1, &pod);
                enqueue_names(&q1, &pod, services_of_pod(all.iter().map(|s| &**s), &pod));
            })
            .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                let all = services_in(&l2, &new);
                let refs: Vec<&Service> = all.iter().map(|s| &**s).collect();
                enqueue_names(
                    &q2,
                    &new,
                    services_to_update_on_pod_change(&refs, &old, &new),
                );
            })
            .on_delete(move |gone: DeletedObject<Pod>| {
                let pod = gone.last_state();
                let all = services_in(&l3, pod);
                enqueue_names(&q3, pod, services_of_pod(all.iter().map(|s| &**s), pod));
            }),
    )?;
    Ok(())
}
