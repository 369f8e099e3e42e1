//! Feeding the shell from shared informers (upstream `eventhandlers.go`'s
//! `addAllEventHandlers`) and running the whole scheduler against a cluster.
//!
//! Pods, nodes and namespaces go through the [`Scheduler`]'s `on_*` methods: bound
//! pods feed the cache, unbound pods whose `spec.schedulerName` is one of the
//! profiles go into the queue (the shell decides both). Claims, volumes and storage
//! classes are cluster events that may let parked pods fit; they, services,
//! ReplicaSets, StatefulSets and PodDisruptionBudgets are read by the plugins
//! through [`InformerLister`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capstan_runtime::events::Recorder;
use capstan_runtime::informer::{
    CacheSyncError, DeletedObject, EventHandlerFns, EventHandlerRegistration, InformerError,
    Lister, Selector, SharedInformerFactory,
};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

use super::{ApiWriter, KubeWriter, Scheduler};
use crate::config::{ConfigError, KubeSchedulerConfiguration};
use crate::framework::{ActionType, ClusterLister, EventResource};

/// How long [`run_scheduler`] waits for the informers' first lists.
pub const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The configuration is invalid.
    #[error("scheduler configuration: {0}")]
    Config(#[from] ConfigError),
    /// An informer could not be wired or started.
    #[error("informer: {0}")]
    Informer(#[from] InformerError),
    /// The informers did not finish their first list in time.
    #[error("waiting for caches: {0}")]
    CacheSync(#[from] CacheSyncError),
    /// The event handlers did not process the initial lists in time.
    #[error("the scheduler's event handlers did not sync within {CACHE_SYNC_TIMEOUT:?}")]
    HandlerSync,
}

/// A [`ClusterLister`] over the informers' caches.
///
/// ReplicationControllers are not watched (the embedded API server does not serve
/// them): default topology spreading derives selectors from services, ReplicaSets
/// and StatefulSets only.
#[derive(Clone)]
pub struct InformerLister {
    pvcs: Lister<PersistentVolumeClaim>,
    pvs: Lister<PersistentVolume>,
    storage_classes: Lister<StorageClass>,
    services: Lister<Service>,
    replica_sets: Lister<ReplicaSet>,
    stateful_sets: Lister<StatefulSet>,
    pdbs: Lister<PodDisruptionBudget>,
}

impl std::fmt::Debug for InformerLister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InformerLister").finish_non_exhaustive()
    }
}

impl InformerLister {
    /// Creates (or reuses) the factory's informers for every object the plugins read.
    pub fn new(factory: &SharedInformerFactory) -> Self {
        InformerLister {
            pvcs: factory.informer::<PersistentVolumeClaim>().lister(),
            pvs: factory.informer::<PersistentVolume>().lister(),
            storage_classes: factory.informer::<StorageClass>().lister(),
            services: factory.informer::<Service>().lister(),
            replica_sets: factory.informer::<ReplicaSet>().lister(),
            stateful_sets: factory.informer::<StatefulSet>().lister(),
            pdbs: factory.informer::<PodDisruptionBudget>().lister(),
        }
    }
}

impl ClusterLister for InformerLister {
    fn pvc(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.pvcs.get(namespace, name)
    }
    fn pv(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.pvs.get("", name)
    }
    fn storage_class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.storage_classes.get("", name)
    }
    fn pvs(&self) -> Vec<Arc<PersistentVolume>> {
        self.pvs.list_all()
    }
    fn services(&self, namespace: &str) -> Vec<Arc<Service>> {
        self.services.list(Some(namespace), &Selector::default())
    }
    fn replication_controllers(&self, _namespace: &str) -> Vec<Arc<ReplicationController>> {
        Vec::new()
    }
    fn replica_sets(&self, namespace: &str) -> Vec<Arc<ReplicaSet>> {
        self.replica_sets
            .list(Some(namespace), &Selector::default())
    }
    fn stateful_sets(&self, namespace: &str) -> Vec<Arc<StatefulSet>> {
        self.stateful_sets
            .list(Some(namespace), &Selector::default())
    }
    fn pdbs(&self) -> Vec<Arc<PodDisruptionBudget>> {
        self.pdbs.list_all()
    }
}

fn same_version<K: kube::Resource>(old: &K, new: &K) -> bool {
    let (a, b) = (
        old.meta().resource_version.as_deref(),
        new.meta().resource_version.as_deref(),
    );
    a.is_some() && a == b
}

type SyncCheck = Box<dyn Fn() -> bool + Send + Sync>;

/// Whether the scheduler's event handlers have processed their informers' initial
/// lists (upstream `WaitForHandlersSync`): until then the cache may miss nodes and
/// bound pods, and a scheduling cycle would see a partial cluster.
pub struct HandlersSynced {
    checks: Vec<SyncCheck>,
}

impl std::fmt::Debug for HandlersSynced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlersSynced")
            .field("handlers", &self.checks.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

impl HandlersSynced {
    fn push<K: Send + Sync + 'static>(&mut self, reg: EventHandlerRegistration<K>) {
        self.checks.push(Box::new(move || reg.has_synced()));
    }

    /// True once every handler has processed its informer's initial list.
    pub fn has_synced(&self) -> bool {
        self.checks.iter().all(|c| c())
    }

    /// Polls [`has_synced`](Self::has_synced) (as client-go's `WaitForCacheSync`
    /// does) until it holds or `deadline` passes; returns whether it held.
    pub async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            if self.has_synced() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(HANDLER_SYNC_POLL).await;
        }
    }
}

/// How often [`HandlersSynced::wait`] checks the handlers.
const HANDLER_SYNC_POLL: Duration = Duration::from_millis(10);

/// Registers the scheduler's handlers on the factory's pod, node, namespace and
/// storage informers (creating them if needed). Updates that do not change the
/// resourceVersion (resyncs) are skipped, as upstream's pod and node handlers do.
/// Wait on the returned [`HandlersSynced`] before scheduling.
pub fn add_event_handlers<W: ApiWriter>(
    factory: &SharedInformerFactory,
    scheduler: &Arc<Scheduler<W>>,
) -> Result<HandlersSynced, InformerError> {
    let mut synced = HandlersSynced { checks: Vec::new() };
    let (a, u, d) = (scheduler.clone(), scheduler.clone(), scheduler.clone());
    let reg = factory.informer::<Pod>().add_event_handler(
        EventHandlerFns::new()
            .on_add(move |pod: Arc<Pod>, _| a.on_pod_add(pod))
            .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                if !same_version(&*old, &*new) {
                    u.on_pod_update(&old, new);
                }
            })
            .on_delete(move |gone: DeletedObject<Pod>| d.on_pod_delete(gone.last_state())),
    )?;
    synced.push(reg);

    let (a, u, d) = (scheduler.clone(), scheduler.clone(), scheduler.clone());
    let reg = factory.informer::<Node>().add_event_handler(
        EventHandlerFns::new()
            .on_add(move |node: Arc<Node>, _| a.on_node_add((*node).clone()))
            .on_update(move |old: Arc<Node>, new: Arc<Node>| {
                if !same_version(&*old, &*new) {
                    u.on_node_update(&old, (*new).clone());
                }
            })
            .on_delete(move |gone: DeletedObject<Node>| {
                d.on_node_delete(gone.last_state().metadata.name.as_deref().unwrap_or(""))
            }),
    )?;
    synced.push(reg);

    let (a, u, d) = (scheduler.clone(), scheduler.clone(), scheduler.clone());
    let reg = factory.informer::<Namespace>().add_event_handler(
        EventHandlerFns::new()
            .on_add(move |ns: Arc<Namespace>, _| a.on_namespace(&ns))
            .on_update(move |_old: Arc<Namespace>, new: Arc<Namespace>| u.on_namespace(&new))
            .on_delete(move |gone: DeletedObject<Namespace>| {
                d.on_namespace_delete(gone.last_state().metadata.name.as_deref().unwrap_or(""))
            }),
    )?;
    synced.push(reg);

    synced.push(storage_handlers::<PersistentVolumeClaim, W>(
        factory,
        scheduler,
        EventResource::PersistentVolumeClaim,
    )?);
    synced.push(storage_handlers::<PersistentVolume, W>(
        factory,
        scheduler,
        EventResource::PersistentVolume,
    )?);
    synced.push(storage_handlers::<StorageClass, W>(
        factory,
        scheduler,
        EventResource::StorageClass,
    )?);
    Ok(synced)
}

/// Adds and real updates of a storage object are cluster events for the queue
/// (VolumeBinding registers PVC/PV/StorageClass Add|Update); deletions are not.
fn storage_handlers<K, W>(
    factory: &SharedInformerFactory,
    scheduler: &Arc<Scheduler<W>>,
    resource: EventResource,
) -> Result<EventHandlerRegistration<K>, InformerError>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    W: ApiWriter,
{
    let (a, u) = (scheduler.clone(), scheduler.clone());
    factory.informer::<K>().add_event_handler(
        EventHandlerFns::new()
            .on_add(move |_: Arc<K>, initial| {
                if !initial {
                    a.on_storage_event(resource, ActionType::ADD)
                }
            })
            .on_update(move |old: Arc<K>, new: Arc<K>| {
                if !same_version(&*old, &*new) {
                    u.on_storage_event(resource, ActionType::UPDATE)
                }
            }),
    )
}

/// The reporting instance of the scheduler's Events: the host name, as upstream.
fn reporting_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "capstan-scheduler".to_string())
}

/// Options of [`run_scheduler_with`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Set to true once the informers' caches have synced and scheduling started
    /// (for a `/readyz` check).
    pub synced: Option<Arc<AtomicBool>>,
    /// The `reportingInstance` of Events (default: `$HOSTNAME`).
    pub reporting_instance: Option<String>,
    /// Turns batching of pods alike off (upstream's `OpportunisticBatching`
    /// feature gate set to false); decisions are the same, cycles dearer.
    pub disable_batching: bool,
}

/// Runs the scheduler against the cluster `client` talks to until `shutdown`
/// completes: informers feed the shell, the queue's flush loop and the
/// scheduling loop run, bindings and failures are written through `client`.
/// Events are reported under each profile's scheduler name. On shutdown the
/// queue closes, in-flight writes finish and the informers stop.
pub async fn run_scheduler(
    client: kube::Client,
    config: KubeSchedulerConfiguration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SchedulerError> {
    run_scheduler_with(client, config, RunOptions::default(), shutdown).await
}

/// [`run_scheduler`] with [`RunOptions`].
pub async fn run_scheduler_with(
    client: kube::Client,
    config: KubeSchedulerConfiguration,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SchedulerError> {
    let factory = SharedInformerFactory::new(client.clone(), None);
    let lister = Arc::new(InformerLister::new(&factory));
    let instance = options
        .reporting_instance
        .clone()
        .unwrap_or_else(reporting_instance);
    let scheduler = Scheduler::new(&config, lister, KubeWriter::new(client.clone()), None, None)?;
    // One recorder per profile: Events report the profile's scheduler name.
    let recorders = scheduler
        .profile_names()
        .map(|name| {
            (
                name.to_string(),
                Recorder::new(client.clone(), name, &instance),
            )
        })
        .collect();
    let scheduler = Arc::new(
        scheduler
            .with_profile_recorders(recorders)
            .with_batching(!options.disable_batching),
    );
    scheduler.register_metrics();
    let handlers = add_event_handlers(&factory, &scheduler)?;
    factory.start()?;

    tokio::pin!(shutdown);
    let deadline = tokio::time::Instant::now() + CACHE_SYNC_TIMEOUT;
    let synced = tokio::select! {
        r = async {
            factory.wait_for_cache_sync(deadline).await?;
            if handlers.wait(deadline).await {
                Ok(())
            } else {
                Err(SchedulerError::HandlerSync)
            }
        } => Some(r),
        _ = &mut shutdown => None,
    };
    let outcome = match synced {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => {
            tracing::info!(profiles = ?config.profiles.iter().filter_map(|p| p.scheduler_name.as_deref()).collect::<Vec<_>>(), "scheduler caches synced; scheduling");
            let flush = tokio::spawn(scheduler.queue().clone().run());
            let cycles = tokio::spawn(scheduler.clone().run());
            if let Some(synced) = &options.synced {
                synced.store(true, Ordering::SeqCst);
            }
            shutdown.await;
            scheduler.queue().close();
            flush.abort();
            if let Err(e) = cycles.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "scheduling loop panicked");
            }
            scheduler.wait_for_writes().await;
            Ok(())
        }
    };
    factory.shutdown().await;
    outcome
}
