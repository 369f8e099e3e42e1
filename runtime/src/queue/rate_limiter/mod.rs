//! Rate limiters that decide how long a work-queue item waits before it is retried,
//! with the semantics of client-go's `util/workqueue/default_rate_limiters.go`.
//!
//! Every limiter implements [`RateLimiter`]; [`default_controller_rate_limiter`] is the
//! limiter kube-controller-manager's controllers use.

mod bucket;
mod exponential;
mod fast_slow;
mod max_of;

use std::sync::Arc;
use std::time::Duration;

pub use bucket::BucketRateLimiter;
pub use exponential::ItemExponentialFailureRateLimiter;
pub use fast_slow::ItemFastSlowRateLimiter;
pub use max_of::MaxOfRateLimiter;

/// Decides how long an item waits before it is (re)queued, as client-go's
/// `workqueue.RateLimiter`.
pub trait RateLimiter<T>: Send + Sync {
    /// How long `item` should wait before it is added again. Each call counts as one
    /// more failure (requeue) of `item` for limiters that track items.
    fn when(&self, item: &T) -> Duration;

    /// Stops tracking `item`: it is done being retried, whether it succeeded or was
    /// given up on. Its next [`when`](RateLimiter::when) starts from scratch.
    fn forget(&self, item: &T);

    /// How many times `item` has been requeued through [`when`](RateLimiter::when)
    /// since it was last forgotten.
    fn num_requeues(&self, item: &T) -> u32;
}

impl<T, R: RateLimiter<T> + ?Sized> RateLimiter<T> for Box<R> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> u32 {
        (**self).num_requeues(item)
    }
}

impl<T, R: RateLimiter<T> + ?Sized> RateLimiter<T> for Arc<R> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> u32 {
        (**self).num_requeues(item)
    }
}

/// The rate limiter of kube-controller-manager's controllers, as client-go's
/// `DefaultControllerRateLimiter`: the larger of a per-item exponential backoff
/// (5 ms doubling up to 1000 s) and an overall token bucket (10 qps, burst 100).
pub fn default_controller_rate_limiter<T>() -> MaxOfRateLimiter<T>
where
    T: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        )),
        Box::new(BucketRateLimiter::new(10.0, 100)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn default_limiter_is_exponential_until_the_bucket_runs_dry() {
        let limiter = default_controller_rate_limiter::<&'static str>();
        // One item failing repeatedly follows the exponential sequence: the bucket
        // still has tokens.
        assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
        assert_eq!(limiter.when(&"a"), Duration::from_millis(10));
        assert_eq!(limiter.when(&"a"), Duration::from_millis(20));
        assert_eq!(limiter.num_requeues(&"a"), 3);
        limiter.forget(&"a");
        assert_eq!(limiter.num_requeues(&"a"), 0);
        assert_eq!(limiter.when(&"a"), Duration::from_millis(5));

        // Many distinct items: each gets 5 ms until the burst of 100 is used; then the
        // bucket's 100 ms spacing wins over the items' own first backoff.
        let items: Vec<String> = (0..100).map(|i| format!("item-{i}")).collect();
        let limiter2 = default_controller_rate_limiter::<String>();
        for item in &items {
            assert_eq!(limiter2.when(item), Duration::from_millis(5));
        }
        assert_eq!(
            limiter2.when(&"late".to_string()),
            Duration::from_millis(100)
        );
        assert_eq!(
            limiter2.when(&"later".to_string()),
            Duration::from_millis(200)
        );
    }
}
