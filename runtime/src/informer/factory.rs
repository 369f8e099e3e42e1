//! One informer per resource type and scope per process (client-go's
//! `SharedInformerFactory`, plus its `dynamicinformer` and `metadatainformer`
//! factories for resources known only at run time).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::shared::{InformerError, SharedInformer};

/// Label and field selectors narrowing what an informer lists and watches. Two
/// requests for the same type with equal selectors (and namespace) share one informer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selectors {
    /// A label selector string, e.g. `app=web,tier in (fe,be)`.
    pub labels: Option<String>,
    /// A field selector string, e.g. `spec.nodeName=node-1`.
    pub fields: Option<String>,
}

impl Selectors {
    /// Selects objects whose labels match `selector`.
    pub fn labels(mut self, selector: &str) -> Self {
        self.labels = Some(selector.to_string());
        self
    }

    /// Selects objects whose fields match `selector`.
    pub fn fields(mut self, selector: &str) -> Self {
        self.fields = Some(selector.to_string());
        self
    }

    fn watcher_config(&self) -> watcher::Config {
        let mut config = watcher::Config::default();
        if let Some(l) = &self.labels {
            config = config.labels(l);
        }
        if let Some(f) = &self.fields {
            config = config.fields(f);
        }
        config
    }
}

/// The informers' sync did not complete before the deadline.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("caches not synced: {}", unsynced.join(", "))]
pub struct CacheSyncError {
    /// The informers that had not synced.
    pub unsynced: Vec<String>,
}

/// A resource by group, version and plural name (`ApiResource` without its kind).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupVersionResource {
    group: String,
    version: String,
    resource: String,
}

impl From<&ApiResource> for GroupVersionResource {
    fn from(ar: &ApiResource) -> Self {
        Self {
            group: ar.group.clone(),
            version: ar.version.clone(),
            resource: ar.plural.clone(),
        }
    }
}

/// What identifies a shared informer: the type it caches, the resource for types
/// that do not name one themselves ([`DynamicObject`], [`PartialObjectMeta`] of
/// one), the namespace and the selectors.
#[derive(Clone, PartialEq, Eq, Hash)]
struct InformerKey {
    type_id: TypeId,
    resource: Option<GroupVersionResource>,
    namespace: Option<String>,
    selectors: Selectors,
}

/// Type-erased informer operations the factory applies to all of its informers.
trait ErasedInformer: Send + Sync {
    fn name(&self) -> &str;
    fn start_on(&self, rt: Handle) -> Result<(), InformerError>;
    fn wait_for_sync(&self) -> BoxFuture<'static, Result<(), InformerError>>;
    fn has_synced(&self) -> bool;
    fn shutdown(&self) -> BoxFuture<'static, ()>;
}

impl<K> ErasedInformer for SharedInformer<K>
where
    K: Resource + Clone + Debug + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        SharedInformer::name(self)
    }

    fn start_on(&self, rt: Handle) -> Result<(), InformerError> {
        SharedInformer::start_on(self, rt)
    }

    fn wait_for_sync(&self) -> BoxFuture<'static, Result<(), InformerError>> {
        let this = self.clone();
        Box::pin(async move { this.wait_for_sync().await })
    }

    fn has_synced(&self) -> bool {
        SharedInformer::has_synced(self)
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move { this.shutdown().await })
    }
}

struct Entry {
    typed: Box<dyn Any + Send + Sync>,
    erased: Arc<dyn ErasedInformer>,
}

#[derive(Default)]
struct State {
    informers: HashMap<InformerKey, Entry>,
    /// The runtime informers run on, once `start` was called.
    started: Option<Handle>,
    shut_down: bool,
}

/// Hands out shared informers: the same [`SharedInformer`] for the same type and scope,
/// so every controller in a process shares one watch and one cache per resource.
///
/// Resources known only at run time (discovered kinds, custom resources) get
/// informers of [`DynamicObject`]s ([`dynamic_informer`](Self::dynamic_informer)) or of
/// their metadata only ([`metadata_informer`](Self::metadata_informer), listing and
/// watching `PartialObjectMetadata` as upstream's metadata informers do), shared by
/// group, version and resource in the same way, with the same DeltaFIFO, cache and
/// handler semantics.
///
/// ```no_run
/// # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use capstan_runtime::informer::SharedInformerFactory;
/// use k8s_openapi::api::core::v1::Pod;
/// use std::time::Duration;
///
/// let factory = SharedInformerFactory::new(client, Some(Duration::from_secs(600)));
/// let pods = factory.informer::<Pod>();
/// factory.start()?;
/// factory
///     .wait_for_cache_sync(tokio::time::Instant::now() + Duration::from_secs(30))
///     .await?;
/// let web = pods.lister().get("default", "web-0");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedInformerFactory {
    client: Client,
    default_resync: Option<Duration>,
    state: Arc<Mutex<State>>,
}

impl Debug for SharedInformerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        let names: Vec<&str> = state.informers.values().map(|e| e.erased.name()).collect();
        f.debug_struct("SharedInformerFactory")
            .field("informers", &names)
            .field("started", &state.started.is_some())
            .finish()
    }
}

impl SharedInformerFactory {
    /// A factory whose informers use `client` and give handlers `default_resync` unless
    /// they ask for their own period (`None`: no resync).
    pub fn new(client: Client, default_resync: Option<Duration>) -> Self {
        Self {
            client,
            default_resync,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The informer for every `K` in the cluster.
    pub fn informer<K>(&self) -> SharedInformer<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        self.informer_with(Selectors::default())
    }

    /// The informer for the `K`s in all namespaces matching `selectors`.
    pub fn informer_with<K>(&self, selectors: Selectors) -> SharedInformer<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let api = Api::<K>::all(self.client.clone());
        self.get_or_create(
            K::kind(&()).into_owned(),
            None,
            None,
            selectors,
            move |config| watcher(api, config).default_backoff().boxed(),
        )
    }

    /// The informer for the `K`s in `namespace`.
    pub fn namespaced_informer<K>(&self, namespace: &str) -> SharedInformer<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        self.namespaced_informer_with(namespace, Selectors::default())
    }

    /// The informer for the `K`s in `namespace` matching `selectors`.
    pub fn namespaced_informer_with<K>(
        &self,
        namespace: &str,
        selectors: Selectors,
    ) -> SharedInformer<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let api = Api::<K>::namespaced(self.client.clone(), namespace);
        self.get_or_create(
            K::kind(&()).into_owned(),
            None,
            Some(namespace.to_string()),
            selectors,
            move |config| watcher(api, config).default_backoff().boxed(),
        )
    }

    /// The metadata-only informer for every `K` in the cluster: lists and watches
    /// `PartialObjectMetadata` (kube's metadata-only requests), so the cache holds names,
    /// labels, owners and finalizers without the objects' bodies.
    pub fn metadata_informer_for<K>(&self) -> SharedInformer<PartialObjectMeta<K>>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let api = Api::<PartialObjectMeta<K>>::all(self.client.clone());
        self.get_or_create(
            format!("{}[metadata]", K::kind(&())),
            None,
            None,
            Selectors::default(),
            move |config| watcher(api, config).default_backoff().boxed(),
        )
    }

    /// The informer for every object of `resource` in the cluster, as
    /// [`DynamicObject`]s (client-go's `dynamicinformer`).
    pub fn dynamic_informer(&self, resource: &ApiResource) -> SharedInformer<DynamicObject> {
        self.dynamic_informer_with(resource, None, Selectors::default())
    }

    /// The informer for the objects of `resource` in `namespace` (all namespaces for
    /// `None`) matching `selectors`, as [`DynamicObject`]s.
    pub fn dynamic_informer_with(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        selectors: Selectors,
    ) -> SharedInformer<DynamicObject> {
        let api = self.dynamic_api(resource, namespace);
        self.get_or_create(
            resource_name(resource),
            Some(resource.into()),
            namespace.map(str::to_string),
            selectors,
            move |config| watcher(api, config).default_backoff().boxed(),
        )
    }

    /// The metadata-only informer for every object of `resource` in the cluster
    /// (client-go's `metadatainformer`, which the garbage collector uses): lists and
    /// watches `PartialObjectMetadata`.
    pub fn metadata_informer(
        &self,
        resource: &ApiResource,
    ) -> SharedInformer<PartialObjectMeta<DynamicObject>> {
        self.metadata_informer_with(resource, None, Selectors::default())
    }

    /// The metadata-only informer for the objects of `resource` in `namespace` (all
    /// namespaces for `None`) matching `selectors`.
    pub fn metadata_informer_with(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        selectors: Selectors,
    ) -> SharedInformer<PartialObjectMeta<DynamicObject>> {
        let api: Api<PartialObjectMeta<DynamicObject>> = self.dynamic_api(resource, namespace);
        self.get_or_create(
            format!("{}[metadata]", resource_name(resource)),
            Some(resource.into()),
            namespace.map(str::to_string),
            selectors,
            move |config| watcher(api, config).default_backoff().boxed(),
        )
    }

    fn dynamic_api<K>(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>,
    {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Stops and forgets every dynamic and metadata-only informer of `resource`
    /// (e.g. a custom resource whose definition was deleted, which no one can watch
    /// any more); asking for one again creates a new informer. Returns how many
    /// were stopped.
    pub async fn remove_resource(&self, resource: &ApiResource) -> usize {
        let gvr = GroupVersionResource::from(resource);
        let removed: Vec<Arc<dyn ErasedInformer>> = {
            let mut state = self.state.lock();
            let keys: Vec<InformerKey> = state
                .informers
                .keys()
                .filter(|k| k.resource.as_ref() == Some(&gvr))
                .cloned()
                .collect();
            keys.iter()
                .filter_map(|k| state.informers.remove(k))
                .map(|e| e.erased)
                .collect()
        };
        futures::future::join_all(removed.iter().map(|i| i.shutdown())).await;
        removed.len()
    }

    fn get_or_create<K>(
        &self,
        kind: String,
        resource: Option<GroupVersionResource>,
        namespace: Option<String>,
        selectors: Selectors,
        stream: impl FnOnce(watcher::Config) -> super::shared::EventStream<K>,
    ) -> SharedInformer<K>
    where
        K: Resource + Clone + Debug + Send + Sync + 'static,
    {
        let key = InformerKey {
            type_id: TypeId::of::<K>(),
            resource,
            namespace,
            selectors,
        };
        let mut state = self.state.lock();
        if let Some(existing) = state
            .informers
            .get(&key)
            .and_then(|e| e.typed.downcast_ref::<SharedInformer<K>>())
        {
            return existing.clone();
        }
        let name = informer_name(&kind, &key);
        let stream = stream(key.selectors.watcher_config());
        let informer = SharedInformer::from_stream_named(name, stream, self.default_resync);
        if let Some(rt) = &state.started
            && let Err(e) = informer.start_on(rt.clone())
        {
            tracing::error!(error = %e, "could not start informer created after the factory started");
        }
        state.informers.insert(
            key,
            Entry {
                typed: Box::new(informer.clone()),
                erased: Arc::new(informer.clone()),
            },
        );
        informer
    }

    /// Starts every informer created so far; informers created later start as soon as
    /// they are created. Must be called within a tokio runtime.
    pub fn start(&self) -> Result<(), InformerError> {
        let rt = Handle::try_current()
            .map_err(|_| InformerError::NoRuntime("SharedInformerFactory".into()))?;
        let mut state = self.state.lock();
        if state.shut_down {
            return Err(InformerError::Stopped("SharedInformerFactory".into()));
        }
        for entry in state.informers.values() {
            entry.erased.start_on(rt.clone())?;
        }
        state.started = Some(rt);
        Ok(())
    }

    /// Waits until every informer created so far has synced, or `deadline` passes.
    pub async fn wait_for_cache_sync(&self, deadline: Instant) -> Result<(), CacheSyncError> {
        let informers: Vec<Arc<dyn ErasedInformer>> = self
            .state
            .lock()
            .informers
            .values()
            .map(|e| e.erased.clone())
            .collect();
        let waits = informers.iter().map(|i| i.wait_for_sync());
        let _ = tokio::time::timeout_at(deadline, futures::future::join_all(waits)).await;
        let mut unsynced: Vec<String> = informers
            .iter()
            .filter(|i| !i.has_synced())
            .map(|i| i.name().to_string())
            .collect();
        if unsynced.is_empty() {
            Ok(())
        } else {
            unsynced.sort();
            Err(CacheSyncError { unsynced })
        }
    }

    /// Stops every informer and waits for their loops to finish; informers created
    /// afterwards are not started.
    pub async fn shutdown(&self) {
        let informers: Vec<Arc<dyn ErasedInformer>> = {
            let mut state = self.state.lock();
            state.shut_down = true;
            state.started = None;
            state.informers.values().map(|e| e.erased.clone()).collect()
        };
        futures::future::join_all(informers.iter().map(|i| i.shutdown())).await;
    }

    /// The names of the informers created so far (kind and scope, as `Pod` or
    /// `Pod[namespace=default]`), sorted: what a set of controllers shares.
    pub fn informer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .lock()
            .informers
            .values()
            .map(|e| e.erased.name().to_string())
            .collect();
        names.sort();
        names
    }

    /// The number of distinct informers created.
    pub fn len(&self) -> usize {
        self.state.lock().informers.len()
    }

    /// Whether no informer was created yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Kind.version.group` of a resource known at run time (`Kind.version` for the
/// core group), so that kinds of the same name in two groups stay apart in logs.
fn resource_name(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        format!("{}.{}", resource.kind, resource.version)
    } else {
        format!("{}.{}.{}", resource.kind, resource.version, resource.group)
    }
}

fn informer_name(kind: &str, key: &InformerKey) -> String {
    let mut scope = Vec::new();
    if let Some(ns) = &key.namespace {
        scope.push(format!("namespace={ns}"));
    }
    if let Some(l) = &key.selectors.labels {
        scope.push(format!("labels={l}"));
    }
    if let Some(f) = &key.selectors.fields {
        scope.push(format!("fields={f}"));
    }
    if scope.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}[{}]", scope.join(","))
    }
}
