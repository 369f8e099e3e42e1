//! The worker loop: take a key, reconcile it, decide what happens to the key next.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tracing::Instrument;

use super::Action;
use super::metrics::{
    ACTIVE_WORKERS, MAX_CONCURRENT, RECONCILE_ERRORS, RECONCILE_PANICS, RECONCILE_TIME,
    RECONCILE_TOTAL,
};
use crate::ObjectKey;
use crate::queue::{RateLimiter, WorkQueue, default_controller_rate_limiter};

/// Failed reconciles of one key logged at `info` before they are logged as errors
/// (upstream's controllers log a sync error at `V(2)` and report it through
/// `HandleError` once it has been retried `maxRetries`, 15, times).
pub const QUIET_RETRIES: u32 = 15;

/// The reconcile function of a controller: given a key, make the world match the desired
/// state of the object it names, reading caches and writing to the API server.
///
/// An `Err` is logged with the key and the key is requeued with the rate limiter; a panic is
/// caught, counted and treated the same way, and the worker keeps serving other keys.
pub trait Reconciler: Send + Sync + 'static {
    /// The error a reconcile can fail with.
    type Error: std::fmt::Display + Send + 'static;

    /// Reconciles the object named by `key`.
    fn reconcile(&self, key: ObjectKey)
    -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// Why [`Controller::run`] returned without running its workers.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The informer caches the controller depends on did not sync before the deadline.
    #[error("controller {controller}: caches did not sync within {timeout:?}")]
    CacheSyncTimeout {
        /// The controller's name.
        controller: String,
        /// The deadline that passed.
        timeout: Duration,
    },
}

/// A readiness condition the controller waits for before starting workers, typically an
/// informer's `has_synced`.
pub type SyncCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// One [`SyncCheck`] true once every one of `checks` is (a controller's informers,
/// each from [`SharedInformer::synced_check`](crate::informer::SharedInformer::synced_check)).
pub fn synced_all(checks: impl IntoIterator<Item = SyncCheck>) -> SyncCheck {
    let checks: Vec<SyncCheck> = checks.into_iter().collect();
    Arc::new(move || checks.iter().all(|c| c()))
}

/// Configures a [`Controller`].
pub struct ControllerBuilder {
    name: String,
    workers: usize,
    rate_limiter: Option<Arc<dyn RateLimiter<ObjectKey>>>,
    sync_checks: Vec<SyncCheck>,
    cache_sync_timeout: Option<Duration>,
    shutdown_grace: Duration,
}

impl ControllerBuilder {
    /// Number of concurrent workers (kube-controller-manager's `--concurrent-*-syncs`;
    /// default 5). Zero is treated as one.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// The rate limiter for failed keys; default: client-go's default controller limiter
    /// (max of per-item exponential 5 ms..1000 s and a 10 qps / 100 burst bucket).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter<ObjectKey>>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Waits for `check` (e.g. an informer's `has_synced`) before starting workers.
    pub fn wait_for(mut self, check: SyncCheck) -> Self {
        self.sync_checks.push(check);
        self
    }

    /// Gives up starting when the caches have not synced within `timeout` (default: wait
    /// until shutdown, as client-go's `WaitForCacheSync`).
    pub fn cache_sync_timeout(mut self, timeout: Duration) -> Self {
        self.cache_sync_timeout = Some(timeout);
        self
    }

    /// How long in-flight reconciles may run after shutdown was requested before their
    /// workers are aborted (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Builds the controller around `reconciler`. The queue exists from here on, so event
    /// handlers can enqueue keys before [`Controller::run`] starts the workers.
    pub fn build<R: Reconciler>(self, reconciler: R) -> Controller<R> {
        let limiter = self
            .rate_limiter
            .unwrap_or_else(|| Arc::new(default_controller_rate_limiter()));
        let queue = WorkQueue::builder()
            .name(&self.name)
            .rate_limiter(limiter)
            .build();
        Controller {
            name: Arc::from(self.name.as_str()),
            queue,
            reconciler: Arc::new(reconciler),
            workers: self.workers,
            sync_checks: self.sync_checks,
            cache_sync_timeout: self.cache_sync_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// A named controller: a rate-limited work queue of object keys and N workers running a
/// [`Reconciler`] over it.
pub struct Controller<R: Reconciler> {
    name: Arc<str>,
    queue: WorkQueue<ObjectKey>,
    reconciler: Arc<R>,
    workers: usize,
    sync_checks: Vec<SyncCheck>,
    cache_sync_timeout: Option<Duration>,
    shutdown_grace: Duration,
}

impl ControllerBuilder {
    /// Starts configuring a controller called `name` (used in logs, metrics and as the
    /// queue's name): 5 workers, client-go's default controller rate limiter, a 30 s
    /// shutdown grace period.
    pub fn new(name: &str) -> Self {
        ControllerBuilder {
            name: name.to_string(),
            workers: 5,
            rate_limiter: None,
            sync_checks: Vec::new(),
            cache_sync_timeout: None,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A [`Reconciler`] made from an async closure, for small controllers and tests.
pub struct FnReconciler<F>(F);

/// Wraps `f` as a [`Reconciler`].
pub fn reconciler_fn<F, Fut, E>(f: F) -> FnReconciler<F>
where
    F: Fn(ObjectKey) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send,
    E: std::fmt::Display + Send + 'static,
{
    FnReconciler(f)
}

impl<F, Fut, E> Reconciler for FnReconciler<F>
where
    F: Fn(ObjectKey) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send,
    E: std::fmt::Display + Send + 'static,
{
    type Error = E;

    fn reconcile(&self, key: ObjectKey) -> impl Future<Output = Result<Action, E>> + Send {
        (self.0)(key)
    }
}

/// Distinguishes reconciles of the same key in logs.
static RECONCILE_IDS: AtomicU64 = AtomicU64::new(1);

impl<R: Reconciler> Controller<R> {
    /// The controller's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle on the controller's queue, for event handlers to enqueue keys.
    pub fn queue(&self) -> WorkQueue<ObjectKey> {
        self.queue.clone()
    }

    /// The reconciler, shared with the workers.
    pub fn reconciler(&self) -> &Arc<R> {
        &self.reconciler
    }

    /// Waits for the caches, runs the workers until `shutdown` completes, then stops taking
    /// keys and lets in-flight reconciles finish within the shutdown grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let name = self.name.to_string();
        tracing::info!(controller = %name, "waiting for caches to sync");
        tokio::select! {
            synced = self.wait_for_caches() => synced?,
            _ = &mut shutdown => {
                self.queue.shut_down();
                return Ok(());
            }
        }
        tracing::info!(controller = %name, workers = self.workers, "starting workers");
        MAX_CONCURRENT
            .with_label_values(&[&name])
            .set(self.workers as i64);

        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.workers {
            let queue = self.queue.clone();
            let reconciler = self.reconciler.clone();
            let name = self.name.clone();
            workers.spawn(async move {
                while let Some(key) = queue.get().await {
                    process(&name, &queue, reconciler.as_ref(), key).await;
                }
            });
        }

        tokio::select! {
            _ = &mut shutdown => {}
            // Every worker exited on its own: the queue was shut down by someone else.
            _ = wait_all(&mut workers) => {}
        }
        tracing::info!(controller = %name, "shutting down: no new keys, finishing in-flight ones");
        self.queue.shut_down();
        if tokio::time::timeout(self.shutdown_grace, wait_all(&mut workers))
            .await
            .is_err()
        {
            tracing::warn!(controller = %name, grace = ?self.shutdown_grace, "in-flight reconciles outlived the grace period; aborting them");
            workers.abort_all();
            wait_all(&mut workers).await;
        }
        tracing::info!(controller = %name, "stopped");
        Ok(())
    }

    async fn wait_for_caches(&self) -> Result<(), ControllerError> {
        let all_synced = || self.sync_checks.iter().all(|check| check());
        let poll = async {
            while !all_synced() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match self.cache_sync_timeout {
            None => {
                poll.await;
                Ok(())
            }
            Some(timeout) => tokio::time::timeout(timeout, poll).await.map_err(|_| {
                ControllerError::CacheSyncTimeout {
                    controller: self.name.to_string(),
                    timeout,
                }
            }),
        }
    }
}

async fn wait_all(workers: &mut tokio::task::JoinSet<()>) {
    while workers.join_next().await.is_some() {}
}

/// Reconciles one key and settles it in the queue: forget on success, requeue on request,
/// rate-limited requeue on error or panic; `done` always.
async fn process<R: Reconciler>(
    name: &str,
    queue: &WorkQueue<ObjectKey>,
    reconciler: &R,
    key: ObjectKey,
) {
    let reconcile_id = RECONCILE_IDS.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("reconcile", controller = %name, key = %key, reconcile_id);
    let active = ACTIVE_WORKERS.with_label_values(&[name]);
    active.inc();
    let started = Instant::now();
    let outcome = AssertUnwindSafe(reconciler.reconcile(key.clone()))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    RECONCILE_TIME
        .with_label_values(&[name])
        .observe(started.elapsed().as_secs_f64());
    active.dec();

    let _entered = span.enter();
    let result = match outcome {
        Ok(Ok(Action::Done)) => {
            queue.forget(&key);
            "success"
        }
        Ok(Ok(Action::RequeueAfter(delay))) => {
            queue.forget(&key);
            queue.add_after(key.clone(), delay);
            "requeue_after"
        }
        Ok(Ok(Action::RequeueRateLimited)) => {
            queue.add_rate_limited(key.clone());
            "requeue"
        }
        Ok(Err(err)) => {
            // As upstream's controllers: a sync error is routine (a conflict with a
            // newer write, a transient API error) until it persists; only then is it
            // an error worth an operator's attention.
            let requeues = queue.num_requeues(&key);
            if requeues < QUIET_RETRIES {
                tracing::info!(error = %err, requeues, "reconcile failed; requeueing with backoff");
            } else {
                tracing::error!(error = %err, requeues, "reconcile keeps failing; requeueing with backoff");
            }
            RECONCILE_ERRORS.with_label_values(&[name]).inc();
            queue.add_rate_limited(key.clone());
            "error"
        }
        Err(panic) => {
            tracing::error!(panic = %panic_message(&panic), "reconcile panicked; requeueing with backoff");
            RECONCILE_PANICS.with_label_values(&[name]).inc();
            RECONCILE_ERRORS.with_label_values(&[name]).inc();
            queue.add_rate_limited(key.clone());
            "error"
        }
    };
    RECONCILE_TOTAL.with_label_values(&[name, result]).inc();
    queue.done(&key);
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
