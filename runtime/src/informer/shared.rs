//! The shared informer: consumes a list/watch event stream, keeps the indexed cache and
//! notifies handlers (client-go's `sharedIndexInformer`).

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::delta::Delta;
use super::fifo::{DeltaFifo, TransformFn, default_transform};
use super::handler::ResourceEventHandler;
use super::index::IndexFn;
use super::lister::Lister;
use super::processor::{EventHandlerRegistration, Notification, Processor};
use super::store::{IndexError, Indexer};
use crate::ObjectKey;

/// The event stream an informer consumes: `kube::runtime::watcher`'s, or any other with
/// the same items (tests feed scripted sequences).
pub type EventStream<K> = BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>;

/// Errors from informer lifecycle operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InformerError {
    /// The informer was already started; the operation must happen before.
    #[error("informer {0} has already started")]
    AlreadyStarted(String),
    /// The informer was stopped; it cannot be restarted or given handlers.
    #[error("informer {0} is stopped")]
    Stopped(String),
    /// `start` was called outside a tokio runtime.
    #[error("informer {0} must be started from within a tokio runtime")]
    NoRuntime(String),
    /// The informer stopped before its first list reached the cache.
    #[error("informer {0} stopped before it synced")]
    StoppedBeforeSync(String),
}

#[derive(Default)]
struct RunState {
    started: bool,
    stopped: bool,
    task: Option<JoinHandle<()>>,
}

struct Shared<K> {
    name: String,
    indexer: Arc<Indexer<K>>,
    /// The handlers; its lock also serialises delta processing against handler
    /// registration (client-go's `blockDeltas`), so a late handler's synthetic adds and
    /// the live notifications that follow them never overlap or miss an object.
    processor: Arc<Mutex<Processor<K>>>,
    transform: RwLock<Option<TransformFn<K>>>,
    default_resync: Option<Duration>,
    source: Mutex<Option<EventStream<K>>>,
    synced: AtomicBool,
    synced_tx: watch::Sender<bool>,
    run: Mutex<RunState>,
    cancel: CancellationToken,
    resync_changed: Notify,
}

/// A shared informer for one resource type and scope: lists and watches through
/// `kube::runtime::watcher`, maintains an indexed cache of `Arc<K>`, and notifies any
/// number of [`ResourceEventHandler`]s. Cheap to clone: clones share everything.
///
/// Typical use is through [`SharedInformerFactory`](super::SharedInformerFactory), which
/// hands every controller in a process the same informer per type and scope.
pub struct SharedInformer<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K> Debug for SharedInformer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInformer")
            .field("name", &self.shared.name)
            .field("synced", &self.shared.synced.load(Ordering::Acquire))
            .finish()
    }
}

impl<K> SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An informer listing and watching `api` with `config` (namespace comes from the
    /// `Api`, selectors from the `Config`). Watch errors are logged and retried with
    /// kube's default backoff. `default_resync` is the resync period of handlers added
    /// with [`add_event_handler`](Self::add_event_handler); `None` disables resync.
    pub fn new(api: Api<K>, config: watcher::Config, default_resync: Option<Duration>) -> Self {
        let stream = watcher(api, config).default_backoff().boxed();
        Self::from_stream(stream, default_resync)
    }
}

impl<K> SharedInformer<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
{
    /// An informer consuming an arbitrary event stream, e.g. a scripted sequence in
    /// tests or a watcher configured beyond what [`SharedInformer::new`] offers.
    pub fn from_stream(
        stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        default_resync: Option<Duration>,
    ) -> Self {
        let kind = K::kind(&()).to_string();
        Self::from_stream_named(kind, stream, default_resync)
    }
}

impl<K> SharedInformer<K>
where
    K: Resource + Clone + Debug + Send + Sync + 'static,
{
    /// An informer of any resource type — typed, [`DynamicObject`](kube::api::DynamicObject)
    /// or metadata-only ([`PartialObjectMeta`](kube::api::PartialObjectMeta)) —
    /// consuming `stream`, e.g. `kube::runtime::watcher` or `metadata_watcher` over an
    /// `Api` built with an `ApiResource`. `name` appears in logs and errors.
    pub fn from_stream_named(
        name: impl Into<String>,
        stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        default_resync: Option<Duration>,
    ) -> Self {
        let name = name.into();
        let stream: EventStream<K> = stream.boxed();
        let (synced_tx, _) = watch::channel(false);
        let transform: TransformFn<K> = Arc::new(default_transform::<K>);
        Self {
            shared: Arc::new(Shared {
                name,
                indexer: Arc::new(Indexer::new()),
                processor: Arc::new(Mutex::new(Processor::new())),
                transform: RwLock::new(Some(transform)),
                default_resync,
                source: Mutex::new(Some(stream)),
                synced: AtomicBool::new(false),
                synced_tx,
                run: Mutex::new(RunState::default()),
                cancel: CancellationToken::new(),
                resync_changed: Notify::new(),
            }),
        }
    }

    /// The informer's name (kind and scope) as it appears in logs.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Replaces the transform applied to every object before it is cached (client-go's
    /// `SetTransform`); `None` caches objects as received. The default,
    /// [`default_transform`], drops `metadata.managedFields` and compacts the object.
    /// Only allowed before the informer starts.
    pub fn set_transform(&self, transform: Option<TransformFn<K>>) -> Result<(), InformerError> {
        if self.shared.run.lock().started {
            return Err(InformerError::AlreadyStarted(self.shared.name.clone()));
        }
        *self.shared.transform.write() = transform;
        Ok(())
    }

    /// Adds an index to the cache (client-go's `AddIndexers`); allowed at any time,
    /// existing objects are indexed immediately.
    pub fn add_index(
        &self,
        name: &str,
        f: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<(), IndexError> {
        let f: IndexFn<K> = Arc::new(f);
        self.shared.indexer.add_index(name, f)
    }

    /// Registers a handler with the informer's default resync period.
    pub fn add_event_handler(
        &self,
        handler: impl ResourceEventHandler<K>,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        self.add_event_handler_with_resync(handler, self.shared.default_resync)
    }

    /// Registers a handler with its own resync period (`None` or zero: no resync;
    /// periods under one second are raised to one second, as in client-go). A handler
    /// registered after the informer has cached objects first receives a synthetic
    /// `on_add(obj, true)` for each of them.
    pub fn add_event_handler_with_resync(
        &self,
        handler: impl ResourceEventHandler<K>,
        resync: Option<Duration>,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        if self.shared.run.lock().stopped {
            return Err(InformerError::Stopped(self.shared.name.clone()));
        }
        let mut processor = self.shared.processor.lock();
        let existing = self.shared.indexer.list();
        let (id, state) = processor.add(Arc::new(handler), resync, existing);
        drop(processor);
        self.shared.resync_changed.notify_one();
        Ok(EventHandlerRegistration::new(
            id,
            state,
            Arc::downgrade(&self.shared.processor),
        ))
    }

    /// A lister over the cache.
    pub fn lister(&self) -> Lister<K> {
        Lister::new(self.shared.indexer.clone())
    }

    /// The cache itself, for index queries beyond the lister's.
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.shared.indexer
    }

    /// True once the first complete list has been applied to the cache (client-go's
    /// `HasSynced`). Handlers may still be processing it: see
    /// [`EventHandlerRegistration::has_synced`].
    pub fn has_synced(&self) -> bool {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// [`has_synced`](Self::has_synced) as a [`SyncCheck`](crate::controller::SyncCheck)
    /// a controller waits for (combine several with
    /// [`synced_all`](crate::controller::synced_all)).
    pub fn synced_check(&self) -> crate::controller::SyncCheck {
        let informer = self.clone();
        Arc::new(move || informer.has_synced())
    }

    /// Waits until [`has_synced`](Self::has_synced); fails if the informer stops first.
    /// Wrap in `tokio::time::timeout` for a deadline.
    pub async fn wait_for_sync(&self) -> Result<(), InformerError> {
        let mut rx = self.shared.synced_tx.subscribe();
        let cancel = self.shared.cancel.clone();
        tokio::select! {
            r = rx.wait_for(|s| *s) => r.map(|_| ()).map_err(|_| InformerError::StoppedBeforeSync(self.shared.name.clone())),
            _ = cancel.cancelled() => {
                if self.has_synced() { Ok(()) } else { Err(InformerError::StoppedBeforeSync(self.shared.name.clone())) }
            }
        }
    }

    /// Whether the informer was started.
    pub fn is_started(&self) -> bool {
        self.shared.run.lock().started
    }

    /// Whether the informer was stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.run.lock().stopped
    }

    /// Starts the informer on the current tokio runtime: handler delivery tasks and the
    /// list/watch loop. Starting a running informer does nothing.
    pub fn start(&self) -> Result<(), InformerError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| InformerError::NoRuntime(self.shared.name.clone()))?;
        self.start_on(rt)
    }

    /// Starts the informer on `rt` (see [`start`](Self::start)).
    pub fn start_on(&self, rt: tokio::runtime::Handle) -> Result<(), InformerError> {
        let mut run = self.shared.run.lock();
        if run.stopped {
            return Err(InformerError::Stopped(self.shared.name.clone()));
        }
        if run.started {
            return Ok(());
        }
        let Some(stream) = self.shared.source.lock().take() else {
            return Err(InformerError::Stopped(self.shared.name.clone()));
        };
        run.started = true;
        self.shared.processor.lock().start(rt.clone());
        let shared = self.shared.clone();
        let span = tracing::info_span!("informer", informer = %self.shared.name);
        run.task = Some(rt.spawn(run_loop(shared, stream).instrument(span)));
        Ok(())
    }

    /// Stops the informer: ends the watch, removes every handler and waits for the
    /// list/watch loop to finish. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let task = {
            let mut run = self.shared.run.lock();
            run.stopped = true;
            run.task.take()
        };
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(informer = %self.shared.name, error = %e, "informer loop ended abnormally");
        }
        self.shared.processor.lock().stop_all();
    }

    /// Whether `self` and `other` are the same informer (clones of one another).
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The number of registered handlers.
    pub fn handler_count(&self) -> usize {
        self.shared.processor.lock().len()
    }
}

async fn run_loop<K>(shared: Arc<Shared<K>>, mut stream: EventStream<K>)
where
    K: Resource + Debug + Send + Sync + 'static,
{
    let transform = shared.transform.read().clone();
    let mut fifo = DeltaFifo::new(transform);
    tracing::debug!("informer started");
    loop {
        let next_resync = shared.processor.lock().next_resync();
        tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => break,
            _ = sleep_until_opt(next_resync) => shared.resync(&fifo),
            event = stream.next() => match event {
                None => {
                    tracing::warn!("informer event stream ended");
                    break;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "list/watch failed; the watcher retries with backoff");
                }
                Some(Ok(event)) => shared.handle_event(&mut fifo, event),
            },
            _ = shared.resync_changed.notified() => {}
        }
    }
    shared.run.lock().stopped = true;
    shared.processor.lock().stop_all();
    tracing::debug!("informer stopped");
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn resource_version<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta().resource_version.as_deref()
}

impl<K> Shared<K>
where
    K: Resource + Debug + Send + Sync + 'static,
{
    /// client-go's `HandleDeltas` + `processDeltas`: applies the deltas of one event to
    /// the cache and notifies handlers, under the processor lock.
    fn handle_event(&self, fifo: &mut DeltaFifo<K>, event: watcher::Event<K>) {
        let batch = fifo.push(event, &self.indexer);
        if batch.deltas.is_empty() && !batch.completes_list {
            return;
        }
        let mut processor = self.processor.lock();
        let initial = !self.synced.load(Ordering::Acquire);
        for (key, delta) in batch.deltas {
            self.apply(&mut processor, key, delta, initial);
        }
        if batch.completes_list && initial {
            self.synced.store(true, Ordering::Release);
            processor.mark_synced();
            self.synced_tx.send_replace(true);
            tracing::debug!(objects = self.indexer.len(), "informer synced");
        }
    }

    fn apply(&self, processor: &mut Processor<K>, key: ObjectKey, delta: Delta<K>, initial: bool) {
        match delta {
            Delta::Added(obj) | Delta::Updated(obj) | Delta::Replaced(obj) | Delta::Sync(obj) => {
                match self.indexer.upsert(key, obj.clone()) {
                    Some(old) => {
                        // An update that did not change the resourceVersion (a relisted
                        // object that did not change while the watch was down) is a
                        // resync for handlers: only those that asked for resyncs see it,
                        // as client-go's OnUpdate.
                        let is_sync =
                            resource_version(old.as_ref()) == resource_version(obj.as_ref());
                        processor.distribute(&Notification::Update { old, new: obj }, is_sync);
                    }
                    None => processor.distribute(&Notification::Add { obj, initial }, false),
                }
            }
            Delta::Deleted(deleted) => {
                self.indexer.delete(&key);
                processor.distribute(&Notification::Delete(deleted), false);
            }
        }
    }

    /// A periodic resync: `Sync` deltas for every cached object, delivered as
    /// `update(obj, obj)` to the handlers whose resync period has elapsed.
    fn resync(&self, fifo: &DeltaFifo<K>) {
        let now = tokio::time::Instant::now();
        let mut processor = self.processor.lock();
        let due = processor.take_due_resyncs(now);
        if due.is_empty() {
            return;
        }
        let batch = fifo.resync(&self.indexer);
        tracing::trace!(handlers = due.len(), objects = batch.deltas.len(), "resync");
        for (_, delta) in batch.deltas {
            if let Delta::Sync(obj) = delta {
                let n = Notification::Update {
                    old: obj.clone(),
                    new: obj,
                };
                processor.send_to(&due, &n);
            }
        }
    }
}
