//! Work queues and rate limiters with the semantics of client-go's `util/workqueue`.
//!
//! A [`WorkQueue`] sits between informer event handlers, which [`add`](WorkQueue::add)
//! object keys, and a controller's workers, which [`get`](WorkQueue::get) a key,
//! reconcile it, and call [`done`](WorkQueue::done):
//!
//! - a key added while it waits is queued once (events are coalesced);
//! - a key being processed is never handed to a second worker; added meanwhile, it is
//!   processed once more after `done`;
//! - [`add_after`](WorkQueue::add_after) delays a key (the earliest deadline wins) and
//!   [`add_rate_limited`](WorkQueue::add_rate_limited) delays it by a [`RateLimiter`]:
//!   per-item exponential backoff, token bucket, fast-slow, or the max of several, with
//!   [`default_controller_rate_limiter`] as kube-controller-manager uses;
//! - a named queue records client-go's `workqueue_*` metrics in
//!   [`crate::metrics::registry`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use capstan_runtime::queue::WorkQueue;
//!
//! let queue = WorkQueue::<String>::builder().name("example").build();
//! queue.add("default/web".to_string());
//! queue.add("default/web".to_string()); // coalesced
//! let key = queue.get().await.unwrap();
//! // Reconcile failed: retry later with backoff, then mark this attempt done.
//! queue.add_rate_limited(key.clone());
//! queue.done(&key);
//! assert_eq!(queue.num_requeues(&key), 1);
//! queue.shut_down();
//! assert_eq!(queue.get().await, None);
//! # }
//! ```

mod background;
mod builder;
mod delaying;
mod depth;
mod metrics;
mod rate_limiter;
mod slots;
mod state;
mod work_queue;

pub use builder::WorkQueueBuilder;
pub use metrics::UNFINISHED_WORK_UPDATE_PERIOD;
pub use rate_limiter::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter,
    MaxOfRateLimiter, RateLimiter, default_controller_rate_limiter,
};
pub use work_queue::WorkQueue;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
