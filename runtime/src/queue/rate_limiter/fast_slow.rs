//! A few quick retries then slow ones, as client-go's `ItemFastSlowRateLimiter`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;

use super::RateLimiter;

/// Answers `fast_delay` for an item's first `max_fast_attempts` requeues and
/// `slow_delay` after that, until the item is forgotten.
pub struct ItemFastSlowRateLimiter<T> {
    failures: Mutex<HashMap<T, u32>>,
    fast_delay: Duration,
    slow_delay: Duration,
    max_fast_attempts: u32,
}

impl<T: Eq + Hash> ItemFastSlowRateLimiter<T> {
    /// A limiter giving `max_fast_attempts` retries after `fast_delay`, then retries
    /// after `slow_delay`.
    pub fn new(fast_delay: Duration, slow_delay: Duration, max_fast_attempts: u32) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            fast_delay,
            slow_delay,
            max_fast_attempts,
        }
    }
}

impl<T: Eq + Hash + Clone + Send + Sync> RateLimiter<T> for ItemFastSlowRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let attempts = {
            let mut failures = self.failures.lock();
            let count = failures.entry(item.clone()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        if attempts <= self.max_fast_attempts {
            self.fast_delay
        } else {
            self.slow_delay
        }
    }

    fn forget(&self, item: &T) {
        self.failures.lock().remove(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.failures.lock().get(item).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_to_slow_after_max_fast_attempts() {
        let ms = Duration::from_millis;
        let l = ItemFastSlowRateLimiter::new(ms(5), ms(10_000), 3);
        let got: Vec<_> = (0..5).map(|_| l.when(&"a")).collect();
        assert_eq!(got, vec![ms(5), ms(5), ms(5), ms(10_000), ms(10_000)]);
        assert_eq!(l.num_requeues(&"a"), 5);
        // Per item.
        assert_eq!(l.when(&"b"), ms(5));
        l.forget(&"a");
        assert_eq!(l.num_requeues(&"a"), 0);
        assert_eq!(l.when(&"a"), ms(5));
    }

    #[test]
    fn zero_fast_attempts_is_always_slow() {
        let l = ItemFastSlowRateLimiter::new(Duration::from_millis(1), Duration::from_secs(1), 0);
        assert_eq!(l.when(&0), Duration::from_secs(1));
    }
}
