//! An overall token bucket, as client-go's `BucketRateLimiter` over
//! `golang.org/x/time/rate.Limiter`.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::RateLimiter;

/// A token bucket shared by all items: `qps` tokens per second, holding at most
/// `burst`. [`when`](RateLimiter::when) reserves one token and answers how long until
/// that token is available, as `rate.Limiter.Reserve().Delay()`: the bucket may go into
/// debt, so successive calls in one instant get 0 while tokens last, then `1/qps`,
/// `2/qps`, …
///
/// It does not track items: [`num_requeues`](RateLimiter::num_requeues) is always 0
/// and [`forget`](RateLimiter::forget) does nothing. Time is tokio's clock, so paused
/// test time drives it.
pub struct BucketRateLimiter {
    qps: f64,
    burst: u32,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    /// Tokens available at `last` (negative when reservations are waiting).
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` before the first use.
    last: Option<Instant>,
}

impl BucketRateLimiter {
    /// A bucket refilling at `qps` tokens per second and holding at most `burst`
    /// tokens; it starts full. A `qps` of `f64::INFINITY` never delays; a `qps` of zero
    /// (or less) allows `burst` reservations and then answers [`Duration::MAX`].
    pub fn new(qps: f64, burst: u32) -> Self {
        Self {
            qps,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                last: None,
            }),
        }
    }

    /// Tokens in the bucket at `now`, as x/time/rate's `advance`.
    fn advance(&self, bucket: &Bucket, now: Instant) -> f64 {
        let Some(last) = bucket.last else {
            return bucket.tokens;
        };
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = bucket.tokens + elapsed * self.qps;
        tokens.min(f64::from(self.burst))
    }
}

impl<T> RateLimiter<T> for BucketRateLimiter {
    fn when(&self, _item: &T) -> Duration {
        if self.qps == f64::INFINITY {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut bucket = self.bucket.lock();
        let tokens = self.advance(&bucket, now) - 1.0;
        if self.qps <= 0.0 {
            // x/time/rate with a zero limit: the burst is all there will ever be.
            if tokens < 0.0 {
                bucket.last = Some(now);
                return Duration::MAX;
            }
            bucket.tokens = tokens;
            bucket.last = Some(now);
            return Duration::ZERO;
        }
        bucket.tokens = tokens;
        bucket.last = Some(now);
        if tokens >= 0.0 {
            return Duration::ZERO;
        }
        // durationFromTokens: the time the missing tokens take to refill, truncated to
        // whole nanoseconds as Go's `time.Duration(float64(time.Second) * seconds)`.
        let nanos = 1e9 * (-tokens / self.qps);
        if nanos >= u64::MAX as f64 {
            Duration::MAX
        } else {
            Duration::from_nanos(nanos as u64)
        }
    }

    fn forget(&self, _item: &T) {}

    fn num_requeues(&self, _item: &T) -> u32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(l: &BucketRateLimiter) -> Duration {
        RateLimiter::<()>::when(l, &())
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_spacing_of_one_over_qps() {
        let l = BucketRateLimiter::new(10.0, 100);
        for i in 0..100 {
            assert_eq!(when(&l), Duration::ZERO, "token {i} of the burst");
        }
        assert_eq!(when(&l), Duration::from_millis(100));
        assert_eq!(when(&l), Duration::from_millis(200));
        assert_eq!(when(&l), Duration::from_millis(300));
        assert_eq!(RateLimiter::<()>::num_requeues(&l, &()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn refills_with_time_up_to_the_burst() {
        let l = BucketRateLimiter::new(10.0, 100);
        for _ in 0..102 {
            when(&l);
        }
        // Two tokens of debt: after 300 ms, 3 tokens have come back, one is left.
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(when(&l), Duration::ZERO);
        assert_eq!(when(&l), Duration::from_millis(100));

        // A long idle period refills to the burst, not beyond it.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..100 {
            assert_eq!(when(&l), Duration::ZERO);
        }
        assert_eq!(when(&l), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn infinite_and_zero_rates() {
        let inf = BucketRateLimiter::new(f64::INFINITY, 0);
        for _ in 0..1000 {
            assert_eq!(when(&inf), Duration::ZERO);
        }
        let zero = BucketRateLimiter::new(0.0, 2);
        assert_eq!(when(&zero), Duration::ZERO);
        assert_eq!(when(&zero), Duration::ZERO);
        assert_eq!(when(&zero), Duration::MAX);
    }
}
