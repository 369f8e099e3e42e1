//! The objects quotas only count (upstream's quota monitors for the generic object
//! count evaluator): a metadata-only informer per counted resource, from the shared
//! factory, started the first time a quota names the resource, whose deletions
//! requeue the quotas that count it. The four resources with a legacy count name
//! (configmaps, secrets, replicationcontrollers, resourcequotas) are known up front;
//! any other `count/<resource>.<group>` is resolved through discovery.

use std::collections::HashMap;
use std::sync::Arc;

use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, EventHandlerRegistration, Lister, NAMESPACE_INDEX,
    SharedInformerFactory,
};
use k8s_openapi::api::core::v1::{ConfigMap, ReplicationController, ResourceQuota, Secret};
use kube::Client;
use kube::api::{ApiResource, DynamicObject, PartialObjectMeta};
use kube::discovery::{Discovery, Scope};
use parking_lot::Mutex;

/// What a counted resource is cached as: its objects' metadata.
pub type Metadata = PartialObjectMeta<DynamicObject>;

/// Called with the namespace of a deleted counted object.
pub type OnDelete = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// A counted resource's informer, as far as it got.
enum Monitor {
    /// Watched: its cache and its handler (which tells when the initial list is in).
    Watching {
        lister: Lister<Metadata>,
        registration: Arc<EventHandlerRegistration<Metadata>>,
    },
    /// Discovery does not serve it as a namespaced resource (yet): not counted.
    Unserved,
}

/// How many objects of a resource a namespace holds, as far as the monitor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// This many.
    Known(usize),
    /// The informer has not listed the resource yet: look again shortly.
    NotSynced,
    /// The resource is not served: nothing is counted for it.
    Unserved,
}

/// The counted resources' monitors, started on demand.
pub struct Monitors {
    factory: SharedInformerFactory,
    client: Client,
    on_delete: OnDelete,
    active: Mutex<HashMap<(String, String), Monitor>>,
}

/// The resources with a legacy count name, whose versions and kinds need no discovery.
fn known(group: &str, resource: &str) -> Option<ApiResource> {
    match (group, resource) {
        ("", "configmaps") => Some(ApiResource::erase::<ConfigMap>(&())),
        ("", "secrets") => Some(ApiResource::erase::<Secret>(&())),
        ("", "replicationcontrollers") => Some(ApiResource::erase::<ReplicationController>(&())),
        ("", "resourcequotas") => Some(ApiResource::erase::<ResourceQuota>(&())),
        _ => None,
    }
}

impl Monitors {
    /// No monitors yet; informers come from `factory`, discovery goes through `client`,
    /// and `on_delete(group, resource, namespace)` is told of every counted deletion.
    pub fn new(factory: SharedInformerFactory, client: Client, on_delete: OnDelete) -> Self {
        Self {
            factory,
            client,
            on_delete,
            active: Mutex::new(HashMap::new()),
        }
    }

    /// The preferred version of `resource` in `group`, if discovery serves it as a
    /// namespaced resource.
    async fn discover(
        &self,
        group: &str,
        resource: &str,
    ) -> Result<Option<ApiResource>, kube::Error> {
        if let Some(known) = known(group, resource) {
            return Ok(Some(known));
        }
        let discovery = Discovery::new(self.client.clone())
            .filter(&[group])
            .run()
            .await?;
        Ok(discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, caps)| ar.plural == resource && caps.scope == Scope::Namespaced)
            .map(|(ar, _)| ar))
    }

    /// Starts watching a resource: its metadata informer and a handler reporting
    /// deletions.
    fn watch(&self, group: &str, resource: &str, ar: &ApiResource) -> Monitor {
        let informer = self.factory.metadata_informer(ar);
        let on_delete = self.on_delete.clone();
        let (g, r) = (group.to_string(), resource.to_string());
        let handler = EventHandlerFns::new().on_delete(move |gone: DeletedObject<Metadata>| {
            let ns = gone
                .last_state()
                .metadata
                .namespace
                .clone()
                .unwrap_or_default();
            on_delete(&g, &r, &ns);
        });
        match informer.add_event_handler(handler) {
            Ok(registration) => Monitor::Watching {
                lister: informer.lister(),
                registration: Arc::new(registration),
            },
            Err(e) => {
                tracing::warn!(group, resource, error = %e, "quota monitor cannot watch");
                Monitor::Unserved
            }
        }
    }

    /// How many objects of `resource` in `group` namespace `ns` holds, watching the
    /// resource from now on if it was not yet.
    pub async fn count(&self, group: &str, resource: &str, ns: &str) -> Result<Count, kube::Error> {
        let key = (group.to_string(), resource.to_string());
        if !self.active.lock().contains_key(&key) {
            let monitor = match self.discover(group, resource).await? {
                Some(ar) => self.watch(group, resource, &ar),
                None => Monitor::Unserved,
            };
            self.active.lock().entry(key.clone()).or_insert(monitor);
        }
        let active = self.active.lock();
        Ok(match active.get(&key) {
            Some(Monitor::Watching {
                lister,
                registration,
            }) if registration.has_synced() => {
                Count::Known(lister.by_index(NAMESPACE_INDEX, ns).map_or(0, |o| o.len()))
            }
            Some(Monitor::Watching { .. }) => Count::NotSynced,
            Some(Monitor::Unserved) | None => Count::Unserved,
        })
    }

    /// Forgets resources discovery did not serve, so the next sync asks again (a
    /// CRD may have been created since).
    pub fn forget_unserved(&self) {
        self.active
            .lock()
            .retain(|_, m| matches!(m, Monitor::Watching { .. }));
    }
}
