//! Per-item exponential backoff, as client-go's `ItemExponentialFailureRateLimiter`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;

use super::RateLimiter;

/// Waits `base_delay * 2^failures` for an item, capped at `max_delay`; the failure
/// count is per item and reset by [`forget`](RateLimiter::forget).
///
/// The computation never overflows: a backoff too large for a [`Duration`] (or for
/// Go's `int64` nanoseconds, which client-go checks) is the cap.
pub struct ItemExponentialFailureRateLimiter<T> {
    failures: Mutex<HashMap<T, u32>>,
    base_delay: Duration,
    max_delay: Duration,
}

impl<T: Eq + Hash> ItemExponentialFailureRateLimiter<T> {
    /// A limiter starting at `base_delay` and doubling up to `max_delay`.
    pub fn new(base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            base_delay,
            max_delay,
        }
    }

    /// client-go's `DefaultItemBasedRateLimiter`: 1 ms doubling up to 1000 s.
    pub fn default_item_based() -> Self {
        Self::new(Duration::from_millis(1), Duration::from_secs(1000))
    }
}

/// `base * 2^exp`, or `None` when it exceeds what an `i64` of nanoseconds holds.
fn backoff(base: Duration, exp: u32) -> Option<Duration> {
    let nanos = base.as_nanos() as f64 * 2f64.powi(exp.min(i32::MAX as u32) as i32);
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(nanos as u64))
}

impl<T: Eq + Hash + Clone + Send + Sync> RateLimiter<T> for ItemExponentialFailureRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let exp = {
            let mut failures = self.failures.lock();
            match failures.get_mut(item) {
                Some(count) => {
                    let exp = *count;
                    *count = count.saturating_add(1);
                    exp
                }
                None => {
                    failures.insert(item.clone(), 1);
                    0
                }
            }
        };
        match backoff(self.base_delay, exp) {
            Some(delay) if delay <= self.max_delay => delay,
            _ => self.max_delay,
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
    fn doubles_from_base_per_item() {
        let l = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        );
        let got: Vec<_> = (0..5).map(|_| l.when(&"one")).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(got, vec![ms(5), ms(10), ms(20), ms(40), ms(80)]);
        assert_eq!(l.num_requeues(&"one"), 5);
        // Another item has its own count.
        assert_eq!(l.when(&"two"), ms(5));
        assert_eq!(l.num_requeues(&"two"), 1);
        l.forget(&"one");
        assert_eq!(l.num_requeues(&"one"), 0);
        assert_eq!(l.when(&"one"), ms(5));
    }

    #[test]
    fn caps_at_max_delay() {
        let l = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        );
        // 5ms * 2^17 = 655.36 s, 2^18 = 1310.72 s > cap.
        for _ in 0..17 {
            l.when(&1);
        }
        assert_eq!(l.when(&1), Duration::from_millis(5 << 17));
        assert_eq!(l.when(&1), Duration::from_secs(1000));
        assert_eq!(l.when(&1), Duration::from_secs(1000));
    }

    #[test]
    fn never_overflows() {
        let l = ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::MAX);
        // 2^63 ns is past int64: capped, not wrapped to a tiny or negative value.
        for i in 0..200u32 {
            let d = l.when(&"x");
            if i <= 33 {
                assert_eq!(d, Duration::from_secs(1 << i));
            } else {
                assert_eq!(d, Duration::MAX, "failure {i}");
            }
        }
        // A count saturating at u32::MAX still answers the cap.
        l.failures.lock().insert("x", u32::MAX);
        assert_eq!(l.when(&"x"), Duration::MAX);
        assert_eq!(l.num_requeues(&"x"), u32::MAX);
    }

    #[test]
    fn default_item_based_starts_at_one_millisecond() {
        let l = ItemExponentialFailureRateLimiter::default_item_based();
        assert_eq!(l.when(&"a"), Duration::from_millis(1));
        assert_eq!(l.when(&"a"), Duration::from_millis(2));
    }
}
