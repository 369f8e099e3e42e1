//! The graph builder's monitors (upstream `GraphBuilder.monitors`): one handler per
//! watched resource on a shared metadata-only informer, feeding the [`Graph`] and the
//! attemptToDelete / attemptToOrphan queues.
//!
//! The informer does what upstream's does for the collector: a relist after a broken
//! watch reports objects that vanished meanwhile as deletions (tombstones), which
//! are handled like observed deletions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use capstan_runtime::informer::{
    DeletedObject, EventHandlerRegistration, ResourceEventHandler, SharedInformerFactory,
};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject, PartialObjectMeta};
use tracing::debug;

use super::absent::{AbsentOwnerCache, OwnerKey};
use super::graph::{Enqueue, Graph, Identity, ObservedObject, OwnerRef};

/// What every object is cached as: its metadata.
pub type Metadata = PartialObjectMeta<DynamicObject>;

/// What the monitors feed, shared with the collector's workers.
#[derive(Clone)]
pub struct GraphInput {
    /// The owner graph.
    pub graph: Arc<Mutex<Graph>>,
    /// Owners known to be gone.
    pub absent: Arc<Mutex<AbsentOwnerCache>>,
    /// The attemptToDelete queue.
    pub to_delete: WorkQueue<String>,
    /// The attemptToOrphan queue.
    pub to_orphan: WorkQueue<String>,
}

/// The owner references of an object.
pub fn owners_of(meta: &ObjectMeta) -> Vec<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .map(OwnerRef::from)
        .collect()
}

/// The absent-owner cache key of a deleted object.
pub fn owner_key(id: &Identity) -> OwnerKey {
    OwnerKey {
        api_version: id.api_version.clone(),
        kind: id.kind.clone(),
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        uid: id.uid.clone(),
    }
}

fn observed(resource: &ApiResource, meta: &ObjectMeta) -> Option<ObservedObject> {
    Some(ObservedObject {
        identity: Identity {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
        },
        owners: owners_of(meta),
        being_deleted: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

impl GraphInput {
    /// The graph, locked (a poisoned lock is taken over: the graph stays usable).
    pub fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The absent-owner cache, locked.
    pub fn absent(&self) -> MutexGuard<'_, AbsentOwnerCache> {
        self.absent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the work a graph change produced on its queues.
    pub fn enqueue(&self, work: Vec<Enqueue>) {
        for w in work {
            match w {
                Enqueue::AttemptToDelete(uid) => self.to_delete.add(uid),
                Enqueue::AttemptToOrphan(uid) => self.to_orphan.add(uid),
            }
        }
    }

    fn observe(&self, resource: &ApiResource, meta: &ObjectMeta) {
        if let Some(o) = observed(resource, meta) {
            let work = self.graph().observe(o);
            self.enqueue(work);
        }
    }

    /// An object left the cluster (observed or inferred from a relist): its node
    /// goes, its dependents are rechecked, and an owner that had dependents is
    /// remembered as absent.
    fn deleted(&self, resource: &ApiResource, meta: &ObjectMeta) {
        let Some(o) = observed(resource, meta) else {
            return;
        };
        let mut graph = self.graph();
        let absent = graph
            .node(&o.identity.uid)
            .filter(|n| !n.dependents.is_empty())
            .map(|n| owner_key(&n.identity));
        let work = graph.remove(&o.identity.uid);
        drop(graph);
        if let Some(key) = absent {
            self.absent().insert(key, ());
        }
        self.enqueue(work);
    }
}

/// The handler a monitor registers on its resource's informer.
struct GraphFeeder {
    resource: ApiResource,
    input: GraphInput,
}

impl ResourceEventHandler<Metadata> for GraphFeeder {
    fn on_add(&self, obj: Arc<Metadata>, _is_in_initial_list: bool) {
        self.input.observe(&self.resource, &obj.metadata);
    }

    fn on_update(&self, _old: Arc<Metadata>, new: Arc<Metadata>) {
        self.input.observe(&self.resource, &new.metadata);
    }

    fn on_delete(&self, obj: DeletedObject<Metadata>) {
        self.input
            .deleted(&self.resource, &obj.last_state().metadata);
    }
}

/// A new monitor's progress through its informer's initial list.
pub type SyncWaiter = Arc<EventHandlerRegistration<Metadata>>;

/// Waits until every waiter's handler has processed its informer's initial list
/// (upstream polls `HasSynced` the same way); wrap in a timeout for a deadline.
pub async fn all_synced(waiters: &[SyncWaiter]) {
    const POLL: Duration = Duration::from_millis(50);
    while !waiters.iter().all(|w| w.has_synced()) {
        tokio::time::sleep(POLL).await;
    }
}

/// The monitors of every watched resource, on a shared informer factory.
pub struct Monitors {
    factory: SharedInformerFactory,
    input: GraphInput,
    active: HashMap<String, (ApiResource, SyncWaiter)>,
}

impl Monitors {
    /// No monitors yet; informers come from `factory`.
    pub fn new(factory: SharedInformerFactory, input: GraphInput) -> Self {
        Self {
            factory,
            input,
            active: HashMap::new(),
        }
    }

    /// The number of resources watched.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether no resource is watched.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Upstream `syncMonitors`: watches every resource of `wanted` (keyed by
    /// `apiVersion/plural`) not watched yet, and stops watching the others; the
    /// informers of resources no longer in `served` at all are stopped as well.
    /// Returns the waiters of the new monitors.
    pub async fn sync(
        &mut self,
        wanted: HashMap<String, ApiResource>,
        served: &HashSet<String>,
    ) -> Vec<SyncWaiter> {
        let stale: Vec<String> = self
            .active
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in stale {
            if let Some((resource, registration)) = self.active.remove(&key) {
                debug!(resource = %key, "garbage collector: stop watching");
                registration.remove();
                if !served.contains(&key) {
                    self.factory.remove_resource(&resource).await;
                }
            }
        }
        let mut waiters = Vec::new();
        for (key, resource) in wanted {
            match self.active.get(&key) {
                Some((_, r)) if !r.is_removed() => continue,
                // Its informer stopped (its stream ended): start over with a new one.
                Some(_) => {
                    self.factory.remove_resource(&resource).await;
                }
                None => {}
            }
            debug!(resource = %key, "garbage collector: watching");
            let informer = self.factory.metadata_informer(&resource);
            let feeder = GraphFeeder {
                resource: resource.clone(),
                input: self.input.clone(),
            };
            match informer.add_event_handler_with_resync(feeder, None) {
                Ok(registration) => {
                    let registration = Arc::new(registration);
                    waiters.push(registration.clone());
                    self.active.insert(key, (resource, registration));
                }
                Err(e) => {
                    // A stopped informer (its factory shut down): retried next sync.
                    debug!(resource = %key, error = %e, "garbage collector: cannot watch");
                }
            }
        }
        waiters
    }

    /// Removes every monitor's handler (the informers belong to the factory).
    pub fn stop(&mut self) {
        for (_, (_, registration)) in self.active.drain() {
            registration.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::eventually;
    use capstan_runtime::informer::SharedInformer;
    use futures::channel::mpsc;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::core::PartialObjectMetaExt;
    use kube::runtime::watcher::{self, Event};

    fn cm(name: &str, owner: Option<&str>) -> Metadata {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(name.into()),
            resource_version: Some("1".into()),
            owner_references: owner.map(|o| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: o.into(),
                    uid: o.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
        .into_response_partial()
    }

    #[tokio::test]
    async fn an_owner_missing_from_a_relist_leaves_the_graph_and_its_dependents_are_rechecked() {
        type Sent = Result<Event<Metadata>, watcher::Error>;
        let (tx, rx) = mpsc::unbounded::<Sent>();
        let informer = SharedInformer::from_stream_named("ConfigMap.v1[metadata]", rx, None);
        let input = GraphInput {
            graph: Arc::new(Mutex::new(Graph::new())),
            absent: Arc::new(Mutex::new(super::super::absent::absent_owner_cache())),
            to_delete: WorkQueue::builder().build(),
            to_orphan: WorkQueue::builder().build(),
        };
        let feeder = GraphFeeder {
            resource: ApiResource::erase::<ConfigMap>(&()),
            input: input.clone(),
        };
        let registration = informer.add_event_handler(feeder).unwrap();
        informer.start().unwrap();
        for e in [
            Event::Init,
            Event::InitApply(cm("owner", None)),
            Event::InitApply(cm("child", Some("owner"))),
            Event::InitDone,
        ] {
            tx.unbounded_send(Ok(e)).unwrap();
        }
        eventually("initial list processed", || registration.has_synced()).await;
        assert!(
            input
                .graph()
                .node("owner")
                .is_some_and(|n| n.dependents.contains("child"))
        );
        assert_eq!(input.to_delete.len(), 0, "a known owner needs no check");

        // The watch broke; the relist no longer has the owner.
        for e in [
            Event::Init,
            Event::InitApply(cm("child", Some("owner"))),
            Event::InitDone,
        ] {
            tx.unbounded_send(Ok(e)).unwrap();
        }
        eventually("owner removed", || input.graph().node("owner").is_none()).await;
        let child = tokio::time::timeout(Duration::from_secs(30), input.to_delete.get())
            .await
            .expect("child enqueued");
        assert_eq!(child.as_deref(), Some("child"));
        let gone = OwnerKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: "owner".into(),
            uid: "owner".into(),
        };
        assert!(
            input.absent().get(&gone).is_some(),
            "the owner is remembered as absent"
        );
        informer.shutdown().await;
    }
}
