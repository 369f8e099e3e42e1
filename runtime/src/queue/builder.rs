//! [`WorkQueueBuilder`]: names a queue and picks its rate limiter.

use std::hash::Hash;
use std::sync::Arc;

use super::background;
use super::rate_limiter::{RateLimiter, default_controller_rate_limiter};
use super::work_queue::WorkQueue;

/// Configures a [`WorkQueue`], as client-go's `TypedRateLimitingQueueConfig`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use capstan_runtime::ObjectKey;
/// use capstan_runtime::queue::{WorkQueue, default_controller_rate_limiter};
///
/// let queue = WorkQueue::<ObjectKey>::builder()
///     .name("replicaset")
///     .rate_limiter(default_controller_rate_limiter())
///     .build();
/// queue.add(ObjectKey::namespaced("default", "web"));
/// let key = queue.get().await.unwrap();
/// queue.done(&key);
/// # }
/// ```
pub struct WorkQueueBuilder<T> {
    name: Option<Arc<str>>,
    rate_limiter: Option<Box<dyn RateLimiter<T>>>,
}

impl<T> WorkQueueBuilder<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        Self {
            name: None,
            rate_limiter: None,
        }
    }

    /// Names the queue: its metrics are recorded under label `name="<name>"`. An
    /// unnamed queue (or one named `""`) records no metrics, as in client-go.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        let name: String = name.into();
        self.name = (!name.is_empty()).then(|| Arc::from(name));
        self
    }

    /// The rate limiter behind [`WorkQueue::add_rate_limited`]; by default
    /// [`default_controller_rate_limiter`].
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<T> + 'static) -> Self {
        self.rate_limiter = Some(Box::new(limiter));
        self
    }

    /// Builds the queue and starts its background tasks (the delay timer and, for a
    /// named queue, the unfinished-work gauges), which end when the queue is shut down
    /// or dropped.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime, as [`tokio::spawn`].
    pub fn build(self) -> WorkQueue<T> {
        let limiter = self
            .rate_limiter
            .unwrap_or_else(|| Box::new(default_controller_rate_limiter()));
        let named = self.name.is_some();
        let (queue, timer) = WorkQueue::from_parts(self.name, limiter);
        tokio::spawn(background::delay_timer(queue.downgrade(), timer));
        if named {
            tokio::spawn(background::unfinished_work(queue.downgrade()));
        }
        queue
    }
}
