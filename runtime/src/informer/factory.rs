//! One informer per resource type and scope per process (client-go's
//! `SharedInformerFactory`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
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

#[derive(Clone, PartialEq, Eq, Hash)]
struct InformerKey {
    type_id: TypeId,
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
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
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
        self.get_or_create(None, selectors, api)
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
        self.get_or_create(Some(namespace.to_string()), selectors, api)
    }

    fn get_or_create<K>(
        &self,
        namespace: Option<String>,
        selectors: Selectors,
        api: Api<K>,
    ) -> SharedInformer<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let key = InformerKey {
            type_id: TypeId::of::<K>(),
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
        let name = informer_name::<K>(&key);
        let stream = watcher::watcher(api, key.selectors.watcher_config())
            .default_backoff()
            .boxed();
        let informer = SharedInformer::named(name, stream, self.default_resync);
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

fn informer_name<K: Resource<DynamicType = ()>>(key: &InformerKey) -> String {
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
    let kind = K::kind(&());
    if scope.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}[{}]", scope.join(","))
    }
}
