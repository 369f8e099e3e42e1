//! Fan-out of cache notifications to registered handlers (client-go's `sharedProcessor`
//! and `processorListener`): one unbounded buffer and one delivery task per handler,
//! per-handler resync schedules, and per-handler sync tracking.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use super::delta::DeletedObject;
use super::handler::ResourceEventHandler;

/// client-go's `minimumResyncPeriod`: shorter non-zero resync periods are raised to it.
pub const MINIMUM_RESYNC_PERIOD: Duration = Duration::from_secs(1);

/// One notification for one handler.
pub(crate) enum Notification<K> {
    Add { obj: Arc<K>, initial: bool },
    Update { old: Arc<K>, new: Arc<K> },
    Delete(DeletedObject<K>),
}

impl<K> Clone for Notification<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Add { obj, initial } => Self::Add {
                obj: obj.clone(),
                initial: *initial,
            },
            Self::Update { old, new } => Self::Update {
                old: old.clone(),
                new: new.clone(),
            },
            Self::Delete(d) => Self::Delete(d.clone()),
        }
    }
}

const UNKNOWN: u64 = u64::MAX;

/// Progress of one handler, shared between the processor, its delivery task and its
/// registration handle.
#[derive(Debug)]
struct ListenerState {
    /// Notifications the handler has finished processing.
    delivered: AtomicU64,
    /// How many notifications the handler must have processed to count as synced
    /// (everything enqueued up to the informer's first full list, or the synthetic adds
    /// of a late registration); `UNKNOWN` until the informer has synced.
    sync_target: AtomicU64,
    /// Set when the handler is removed or the informer stops.
    stopped: AtomicBool,
}

type Delivery<K> = (
    UnboundedReceiver<Notification<K>>,
    Arc<dyn ResourceEventHandler<K>>,
);

struct Listener<K> {
    id: u64,
    tx: UnboundedSender<Notification<K>>,
    /// The receiving end and handler, until a delivery task is spawned for them.
    pending: Option<Delivery<K>>,
    state: Arc<ListenerState>,
    enqueued: u64,
    resync: Option<Duration>,
    next_resync: Option<Instant>,
}

impl<K> Listener<K> {
    fn send(&mut self, n: Notification<K>) {
        // A send only fails once the delivery task is gone, i.e. after removal.
        if self.tx.send(n).is_ok() {
            self.enqueued += 1;
        }
    }
}

/// The set of handlers of one informer.
pub(crate) struct Processor<K> {
    listeners: Vec<Listener<K>>,
    next_id: u64,
    runtime: Option<Handle>,
    synced: bool,
}

/// Clamps a requested resync period as client-go does: zero means none, and anything
/// shorter than [`MINIMUM_RESYNC_PERIOD`] is raised to it.
pub(crate) fn effective_resync(period: Option<Duration>) -> Option<Duration> {
    period
        .filter(|p| !p.is_zero())
        .map(|p| p.max(MINIMUM_RESYNC_PERIOD))
}

impl<K: Send + Sync + 'static> Processor<K> {
    pub(crate) fn new() -> Self {
        Self {
            listeners: Vec::new(),
            next_id: 0,
            runtime: None,
            synced: false,
        }
    }

    /// Registers a handler; `existing` are the cached objects it first receives as
    /// synthetic adds.
    pub(crate) fn add(
        &mut self,
        handler: Arc<dyn ResourceEventHandler<K>>,
        resync: Option<Duration>,
        existing: Vec<Arc<K>>,
    ) -> (u64, Arc<ListenerStateHandle>) {
        let (tx, rx) = unbounded_channel();
        let state = Arc::new(ListenerState {
            delivered: AtomicU64::new(0),
            sync_target: AtomicU64::new(UNKNOWN),
            stopped: AtomicBool::new(false),
        });
        let resync = effective_resync(resync);
        let id = self.next_id;
        self.next_id += 1;
        let mut listener = Listener {
            id,
            tx,
            pending: Some((rx, handler)),
            state: state.clone(),
            enqueued: 0,
            resync,
            next_resync: resync.map(|p| Instant::now() + p),
        };
        for obj in existing {
            listener.send(Notification::Add { obj, initial: true });
        }
        if self.synced {
            state
                .sync_target
                .store(listener.enqueued, Ordering::Release);
        }
        if let Some(rt) = &self.runtime {
            spawn_delivery(rt, &mut listener);
        }
        self.listeners.push(listener);
        (id, Arc::new(ListenerStateHandle(state)))
    }

    /// Starts the delivery tasks of every handler (and of handlers added later) on `rt`.
    pub(crate) fn start(&mut self, rt: Handle) {
        for l in &mut self.listeners {
            spawn_delivery(&rt, l);
        }
        self.runtime = Some(rt);
    }

    /// Hands a notification to every handler; a sync notification (a resync, or an
    /// update that did not change the resourceVersion) only to handlers that asked for
    /// resyncs, as client-go's `distribute(obj, sync)`.
    pub(crate) fn distribute(&mut self, n: &Notification<K>, is_sync: bool) {
        for l in &mut self.listeners {
            if is_sync && l.resync.is_none() {
                continue;
            }
            l.send(n.clone());
        }
    }

    /// Records that the informer's first list is in the cache: each handler is synced
    /// once it has processed everything enqueued so far.
    pub(crate) fn mark_synced(&mut self) {
        self.synced = true;
        for l in &self.listeners {
            l.state.sync_target.store(l.enqueued, Ordering::Release);
        }
    }

    /// Removes a handler; its delivery task stops before the next notification.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let Some(pos) = self.listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        let l = self.listeners.remove(pos);
        l.state.stopped.store(true, Ordering::Release);
        true
    }

    /// Removes every handler (informer shutdown).
    pub(crate) fn stop_all(&mut self) {
        for l in self.listeners.drain(..) {
            l.state.stopped.store(true, Ordering::Release);
        }
    }

    /// The earliest instant a handler is due for a resync.
    pub(crate) fn next_resync(&self) -> Option<Instant> {
        self.listeners.iter().filter_map(|l| l.next_resync).min()
    }

    /// Picks the handlers whose resync is due at `now` and schedules their next one
    /// (client-go's `shouldResync`); the returned ids go to [`Processor::send_to`].
    pub(crate) fn take_due_resyncs(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        for l in &mut self.listeners {
            if l.next_resync.is_some_and(|t| t <= now) {
                due.push(l.id);
                l.next_resync = l.resync.map(|p| now + p);
            }
        }
        due
    }

    /// Hands a notification to the handlers in `ids` only.
    pub(crate) fn send_to(&mut self, ids: &[u64], n: &Notification<K>) {
        for l in &mut self.listeners {
            if ids.contains(&l.id) {
                l.send(n.clone());
            }
        }
    }

    /// The number of registered handlers.
    pub(crate) fn len(&self) -> usize {
        self.listeners.len()
    }
}

fn spawn_delivery<K: Send + Sync + 'static>(rt: &Handle, l: &mut Listener<K>) {
    if let Some((rx, handler)) = l.pending.take() {
        rt.spawn(deliver(rx, handler, l.state.clone()));
    }
}

async fn deliver<K: 'static>(
    mut rx: UnboundedReceiver<Notification<K>>,
    handler: Arc<dyn ResourceEventHandler<K>>,
    state: Arc<ListenerState>,
) {
    while let Some(n) = rx.recv().await {
        if state.stopped.load(Ordering::Acquire) {
            break;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| match n {
            Notification::Add { obj, initial } => handler.on_add(obj, initial),
            Notification::Update { old, new } => handler.on_update(old, new),
            Notification::Delete(d) => handler.on_delete(d),
        }));
        if outcome.is_err() {
            tracing::error!(
                "informer event handler panicked; continuing with the next notification"
            );
        }
        state.delivered.fetch_add(1, Ordering::AcqRel);
    }
}

/// Read access to a handler's progress for its registration handle.
#[derive(Debug)]
pub(crate) struct ListenerStateHandle(Arc<ListenerState>);

impl ListenerStateHandle {
    pub(crate) fn has_synced(&self) -> bool {
        let target = self.0.sync_target.load(Ordering::Acquire);
        target != UNKNOWN
            && !self.0.stopped.load(Ordering::Acquire)
            && self.0.delivered.load(Ordering::Acquire) >= target
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.0.stopped.load(Ordering::Acquire)
    }
}

/// The handle returned when a handler is registered on an informer (client-go's
/// `ResourceEventHandlerRegistration`): reports whether the handler has processed the
/// informer's initial contents, and removes the handler.
pub struct EventHandlerRegistration<K> {
    id: u64,
    state: Arc<ListenerStateHandle>,
    processor: Weak<Mutex<Processor<K>>>,
}

impl<K> std::fmt::Debug for EventHandlerRegistration<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHandlerRegistration")
            .field("id", &self.id)
            .field("has_synced", &self.state.has_synced())
            .finish()
    }
}

impl<K: Send + Sync + 'static> EventHandlerRegistration<K> {
    pub(crate) fn new(
        id: u64,
        state: Arc<ListenerStateHandle>,
        processor: Weak<Mutex<Processor<K>>>,
    ) -> Self {
        Self {
            id,
            state,
            processor,
        }
    }

    /// True once the informer has synced and this handler has processed every
    /// notification of the initial list (or, for a handler registered after the sync,
    /// every synthetic add of the cached objects).
    pub fn has_synced(&self) -> bool {
        self.state.has_synced()
    }

    /// Removes the handler from the informer; it receives nothing after the notification
    /// it may be processing. Idempotent.
    pub fn remove(&self) {
        if let Some(p) = self.processor.upgrade() {
            p.lock().remove(self.id);
        }
    }

    /// Whether the handler was removed (or its informer stopped).
    pub fn is_removed(&self) -> bool {
        self.state.is_removed()
    }
}
