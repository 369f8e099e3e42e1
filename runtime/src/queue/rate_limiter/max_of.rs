//! The worst case of several limiters, as client-go's `MaxOfRateLimiter`.

use std::time::Duration;

use super::RateLimiter;

/// Asks every limiter and answers the longest delay (and the largest requeue count);
/// [`forget`](RateLimiter::forget) forgets in all of them.
///
/// Every limiter's [`when`](RateLimiter::when) is called each time, so each one counts
/// the failure. As in client-go, combined with a token bucket the burst can appear to
/// be exceeded when particular items were separately delayed longer.
pub struct MaxOfRateLimiter<T> {
    limiters: Vec<Box<dyn RateLimiter<T>>>,
}

impl<T> MaxOfRateLimiter<T> {
    /// The maximum of `limiters`; with none, every delay is zero.
    pub fn new(limiters: Vec<Box<dyn RateLimiter<T>>>) -> Self {
        Self { limiters }
    }
}

impl<T> RateLimiter<T> for MaxOfRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.when(item))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn forget(&self, item: &T) {
        for l in &self.limiters {
            l.forget(item);
        }
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.limiters
            .iter()
            .map(|l| l.num_requeues(item))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter};
    use super::*;

    #[test]
    fn answers_the_worst_case_and_forgets_everywhere() {
        let ms = Duration::from_millis;
        let l = MaxOfRateLimiter::new(vec![
            Box::new(ItemFastSlowRateLimiter::new(ms(5), ms(3000), 3)),
            Box::new(ItemExponentialFailureRateLimiter::new(
                ms(1),
                Duration::from_secs(1),
            )),
        ]);
        // fast-slow: 5,5,5,3000,3000; exponential: 1,2,4,8,16 → max of each.
        let got: Vec<_> = (0..5).map(|_| l.when(&"k")).collect();
        assert_eq!(got, vec![ms(5), ms(5), ms(5), ms(3000), ms(3000)]);
        assert_eq!(l.num_requeues(&"k"), 5);
        l.forget(&"k");
        assert_eq!(l.num_requeues(&"k"), 0);
        assert_eq!(l.when(&"k"), ms(5));

        // Exponential overtakes fast-slow once 2^n ms exceeds 3000 ms.
        let l = MaxOfRateLimiter::new(vec![
            Box::new(ItemFastSlowRateLimiter::new(ms(5), ms(3000), 1)),
            Box::new(ItemExponentialFailureRateLimiter::new(
                ms(1),
                Duration::from_secs(100),
            )),
        ]);
        let got: Vec<_> = (0..14).map(|_| l.when(&"k")).collect();
        assert_eq!(got[12], ms(4096));
        assert_eq!(got[11], ms(3000));
    }

    #[test]
    fn empty_never_delays() {
        let l = MaxOfRateLimiter::<u8>::new(Vec::new());
        assert_eq!(l.when(&1), Duration::ZERO);
        assert_eq!(l.num_requeues(&1), 0);
    }
}
