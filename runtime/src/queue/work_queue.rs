//! [`WorkQueue`], the handle controllers use: client-go's rate-limiting work queue
//! (`Add`/`Get`/`Done`, `AddAfter`, `AddRateLimited`/`Forget`/`NumRequeues`,
//! `ShutDown`/`ShutDownWithDrain`) over the pieces in the sibling modules.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use hashbrown::DefaultHashBuilder;
use parking_lot::Mutex;
use prometheus::IntCounter;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::builder::WorkQueueBuilder;
use super::delaying::Delays;
use super::depth::DepthSource;
use super::rate_limiter::RateLimiter;
use super::state::{Added, Done, State, Take};

/// A work queue of keys with client-go's `util/workqueue` semantics.
///
/// - A key added while it is waiting to be processed (dirty) is queued once.
/// - A key being processed is never handed to a second worker; added again meanwhile,
///   it is handed out once more after [`done`](Self::done).
/// - Otherwise keys come out first-in first-out.
/// - [`add_after`](Self::add_after) and [`add_rate_limited`](Self::add_rate_limited)
///   add a key later; a key waiting twice is added at the earlier deadline.
///
/// Every key obtained from [`get`](Self::get) must be given back to
/// [`done`](Self::done). The handle is cheap to clone: clones share one queue.
///
/// Unlike client-go, whose `Get` keeps handing out queued items after `ShutDown`,
/// [`shut_down`](Self::shut_down) stops handing out at once (the documented intent of
/// client-go's `ShutDown`); [`shut_down_with_drain`](Self::shut_down_with_drain) is the
/// graceful variant.
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner<T> {
    name: Option<Arc<str>>,
    state: Mutex<State<T>>,
    /// Hashes keys before the state lock is taken (the state stores the hashes).
    hasher: DefaultHashBuilder,
    /// Wakes workers waiting in `get`: one per ready key, all on shut down.
    ready: Notify,
    /// Workers asleep in `get` (counted under the state lock when they find nothing):
    /// adds skip the notification when none sleeps.
    sleepers: AtomicUsize,
    /// Wakes `shut_down_with_drain` when the queue may have become idle.
    idle: Notify,
    delays: Mutex<Delays<T>>,
    /// Wakes the delay timer task: earlier deadline, shut down, or queue dropped.
    timer: Arc<Notify>,
    limiter: Box<dyn RateLimiter<T>>,
    retries: Option<IntCounter>,
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // The timer task holds only a weak reference: let it see the queue is gone.
        self.timer.notify_one();
    }
}

impl<T> WorkQueue<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// A builder for a queue: name (for metrics) and rate limiter.
    pub fn builder() -> WorkQueueBuilder<T> {
        WorkQueueBuilder::new()
    }

    /// An unnamed queue (no metrics) with
    /// [`default_controller_rate_limiter`](super::default_controller_rate_limiter).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`WorkQueueBuilder::build`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    pub(crate) fn from_parts(
        name: Option<Arc<str>>,
        limiter: Box<dyn RateLimiter<T>>,
    ) -> (Self, Arc<Notify>) {
        let metrics = name.as_deref().map(super::metrics::QueueMetrics::new);
        let retries = metrics.as_ref().map(|m| m.retries.clone());
        let timer = Arc::new(Notify::new());
        let hasher = DefaultHashBuilder::default();
        let inner = Arc::new(Inner {
            name,
            state: Mutex::new(State::new(metrics)),
            hasher,
            ready: Notify::new(),
            sleepers: AtomicUsize::new(0),
            idle: Notify::new(),
            delays: Mutex::new(Delays::new()),
            timer: Arc::clone(&timer),
            limiter,
            retries,
        });
        if let Some(name) = &inner.name {
            let source: Weak<dyn DepthSource> = Arc::downgrade(&inner) as Weak<Inner<T>>;
            super::depth::watch(Arc::clone(name), source);
        }
        (Self { inner }, timer)
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner<T>> {
        Arc::downgrade(&self.inner)
    }

    /// The queue's name, under which its metrics are labelled.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Marks `key` as needing processing (client-go's `Add`). Ignored once shutting
    /// down.
    pub fn add(&self, key: T) {
        let hash = self.inner.hasher.hash_one(&key);
        let added = self.inner.state.lock().add(hash, key);
        if added == Added::Queued {
            self.inner.wake_one();
        }
    }

    /// Waits for a key to process and marks it as processing; `None` once the queue is
    /// shut down (after [`shut_down_with_drain`](Self::shut_down_with_drain): once no
    /// key is left to hand out). The key must be given back to [`done`](Self::done).
    ///
    /// Cancel safe: a wake-up received by a dropped `get` passes to another waiter.
    pub async fn get(&self) -> Option<T> {
        match self.inner.state.lock().take() {
            Take::Item(key) => return Some(key),
            Take::Closed => return None,
            Take::Empty => {}
        }
        loop {
            // Register before looking, so an add or shut down in between is not missed.
            let mut notified = pin!(self.inner.ready.notified());
            notified.as_mut().enable();
            {
                let mut state = self.inner.state.lock();
                match state.take() {
                    Take::Item(key) => return Some(key),
                    Take::Closed => return None,
                    // Counted while the lock is held: an add that follows sees it.
                    Take::Empty => self.inner.sleepers.fetch_add(1, Ordering::SeqCst),
                };
            }
            let _asleep = Asleep(&self.inner.sleepers);
            notified.await;
        }
    }

    /// Marks `key` as processed (client-go's `Done`). If it was added while being
    /// processed, it is queued again.
    pub fn done(&self, key: &T) {
        let hash = self.inner.hasher.hash_one(key);
        let (outcome, idle) = {
            let mut state = self.inner.state.lock();
            let outcome = state.done(hash, key);
            (outcome, state.draining() && state.is_idle())
        };
        if outcome == Done::Requeued {
            self.inner.wake_one();
        }
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// Number of keys ready to be handed out (client-go's `Len`): not counting keys
    /// being processed or waiting for a delay. Informational only.
    pub fn len(&self) -> usize {
        self.inner.state.lock().len()
    }

    /// Whether no key is ready to be handed out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys handed out and not yet done.
    pub fn processing(&self) -> usize {
        self.inner.state.lock().processing()
    }

    /// Number of keys waiting for their [`add_after`](Self::add_after) deadline.
    pub fn waiting(&self) -> usize {
        self.inner.delays.lock().len()
    }

    /// Whether the queue has nothing to do: no key ready, being processed or waiting
    /// for its [`add_after`](Self::add_after) deadline, read as one consistent
    /// snapshot (unlike checking [`len`](Self::len), [`processing`](Self::processing)
    /// and [`waiting`](Self::waiting) one after the other, which can miss a key moving
    /// between them).
    pub fn is_idle(&self) -> bool {
        // Same lock order as the delay timer: delays, then state.
        let delays = self.inner.delays.lock();
        delays.len() == 0 && self.inner.state.lock().is_idle()
    }

    /// Stops the queue: adds are ignored and [`get`](Self::get) answers `None` from now
    /// on, waking every waiting worker. Keys still queued or waiting for a delay are
    /// abandoned. Also ends a pending
    /// [`shut_down_with_drain`](Self::shut_down_with_drain).
    pub fn shut_down(&self) {
        self.inner.state.lock().shut_down(false);
        self.after_shut_down();
    }

    /// Stops accepting keys, keeps handing out the keys already queued, and returns
    /// once no key is queued and every key handed out is [`done`](Self::done)
    /// (client-go's `ShutDownWithDrain`). Workers must keep running meanwhile; a
    /// [`shut_down`](Self::shut_down) from elsewhere ends the wait at once.
    pub async fn shut_down_with_drain(&self) {
        self.inner.state.lock().shut_down(true);
        self.after_shut_down();
        loop {
            let mut notified = pin!(self.inner.idle.notified());
            notified.as_mut().enable();
            {
                let state = self.inner.state.lock();
                if !state.draining() || state.is_idle() {
                    break;
                }
            }
            notified.await;
        }
        // Workers waiting for a key when the last one was done: they get `None` now.
        self.inner.ready.notify_waiters();
    }

    fn after_shut_down(&self) {
        self.inner.delays.lock().clear();
        self.inner.ready.notify_waiters();
        self.inner.idle.notify_waiters();
        self.inner.timer.notify_one();
    }

    /// Whether [`shut_down`](Self::shut_down) or
    /// [`shut_down_with_drain`](Self::shut_down_with_drain) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.state.lock().is_shutting_down()
    }

    /// Adds `key` after `delay` (client-go's `AddAfter`); a zero delay adds it now. If
    /// the key is already waiting, the earlier deadline wins. Counts a retry in
    /// `workqueue_retries_total`. Ignored once shutting down.
    pub fn add_after(&self, key: T, delay: Duration) {
        if self.is_shutting_down() {
            return;
        }
        if let Some(retries) = &self.inner.retries {
            retries.inc();
        }
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let deadline = Instant::now().checked_add(delay).unwrap_or_else(far_future);
        let rearm = self.inner.delays.lock().insert(key, deadline);
        if self.is_shutting_down() {
            // A shut down raced with this call: its flag is set before it clears the
            // delays, so either it cleared this key or this clears it.
            self.inner.delays.lock().clear();
            return;
        }
        if rearm {
            self.inner.timer.notify_one();
        }
    }

    /// Adds `key` after the delay the rate limiter answers for it (client-go's
    /// `AddRateLimited`), counting one more requeue of the key.
    pub fn add_rate_limited(&self, key: T) {
        let delay = self.inner.limiter.when(&key);
        self.add_after(key, delay);
    }

    /// Tells the rate limiter `key` is done being retried (client-go's `Forget`): its
    /// backoff starts from scratch next time. Call it when processing succeeded or was
    /// given up on; it does not remove the key from the queue.
    pub fn forget(&self, key: &T) {
        self.inner.limiter.forget(key);
    }

    /// How many times `key` was requeued through
    /// [`add_rate_limited`](Self::add_rate_limited) since it was last forgotten.
    pub fn num_requeues(&self, key: &T) -> u32 {
        self.inner.limiter.num_requeues(key)
    }
}

impl<T> Default for WorkQueue<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// As [`WorkQueue::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// Uncounts a worker asleep in `get` when it wakes or its `get` is dropped.
struct Asleep<'a>(&'a AtomicUsize);

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A deadline for delays too long to represent: about thirty years away.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl<T> DepthSource for Inner<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    fn depth(&self) -> i64 {
        self.state.lock().depth()
    }
}

impl<T> Inner<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// Moves keys whose delay has passed into the queue; returns the next deadline, or
    /// `None` when nothing waits. Used by the timer task.
    pub(crate) fn fire_due(&self, scratch: &mut Vec<T>) -> Option<Instant> {
        let mut queued = 0;
        let next = {
            // The delays lock is held until the due keys are in the queue, so a key is
            // always either waiting or queued: `waiting()`, `len()` and `processing()`
            // never all read zero while a key moves from one to the other.
            let mut delays = self.delays.lock();
            delays.take_due(Instant::now(), scratch);
            if !scratch.is_empty() {
                let hashes: Vec<u64> = scratch.iter().map(|k| self.hasher.hash_one(k)).collect();
                let mut state = self.state.lock();
                for (key, hash) in scratch.drain(..).zip(hashes) {
                    if state.add(hash, key) == Added::Queued {
                        queued += 1;
                    }
                }
            }
            delays.next_deadline()
        };
        for _ in 0..queued {
            self.wake_one();
        }
        next
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.state.lock().is_shutting_down()
    }

    /// Wakes one worker asleep in `get`, if any; called after a key became ready and
    /// the state lock was released.
    fn wake_one(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.ready.notify_one();
        }
    }

    pub(crate) fn update_unfinished_work(&self) {
        self.state.lock().update_unfinished_work();
    }
}
