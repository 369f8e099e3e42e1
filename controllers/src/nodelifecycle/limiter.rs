//! The zone tainters' queue: upstream's `RateLimitedTimedQueue`
//! (`pkg/controller/nodelifecycle/scheduler/rate_limited_queue.go`) with the time
//! passed in, so it is pure.
//!
//! - [`TokenBucket`]: client-go's token bucket (`flowcontrol.NewTokenBucketRateLimiter`),
//!   full when created, refilled at `qps` up to `burst`; a rate of 0 or less never
//!   accepts (`NewFakeNeverRateLimiter`).
//! - [`TimedQueue`]: upstream's `UniqueQueue` (values in a set, ordered by when they
//!   are due) behind a limiter. A value taken and done leaves the queue but stays in
//!   the set (`RemoveFromQueue`), so the same node is not queued again until it is
//!   removed for good ([`TimedQueue::remove`], upstream `Remove`).

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::jiff::Timestamp;

/// Upstream `EvictionRateLimiterBurst`: one node at a time.
pub const EVICTION_RATE_LIMITER_BURST: u32 = 1;

/// client-go's token bucket over an explicit clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    /// A bucket refilled at `qps` tokens per second up to `burst`, full at `now`.
    /// `qps <= 0` never accepts.
    pub fn new(qps: f64, burst: u32, now: Timestamp) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Its rate (tokens per second).
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Takes a token if one is there at `now` (upstream `TryAccept`).
    pub fn try_accept(&mut self, now: Timestamp) -> bool {
        if self.qps <= 0.0 || !self.qps.is_finite() {
            return false;
        }
        let elapsed = now.duration_since(self.last).as_secs_f64();
        if elapsed > 0.0 {
            self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
            self.last = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A queued node (upstream `TimedValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedValue {
    /// The node's name.
    pub value: String,
    /// The node's UID when queued.
    pub uid: String,
    /// When it was queued.
    pub added_at: Timestamp,
    /// When it is due.
    pub process_at: Timestamp,
}

/// Upstream's `RateLimitedTimedQueue`: unique values, due in `process_at` order,
/// taken at most as fast as the limiter allows.
#[derive(Debug, Clone)]
pub struct TimedQueue {
    /// Values by (due time, insertion sequence).
    queue: BTreeMap<(Timestamp, u64), TimedValue>,
    /// Where each queued value sits in `queue`.
    position: HashMap<String, (Timestamp, u64)>,
    /// Every value added and not removed (queued or done).
    set: HashSet<String>,
    seq: u64,
    limiter: TokenBucket,
}

impl TimedQueue {
    /// An empty queue whose limiter lets `qps` values through per second (burst
    /// [`EVICTION_RATE_LIMITER_BURST`]).
    pub fn new(qps: f64, now: Timestamp) -> Self {
        Self {
            queue: BTreeMap::new(),
            position: HashMap::new(),
            set: HashSet::new(),
            seq: 0,
            limiter: TokenBucket::new(qps, EVICTION_RATE_LIMITER_BURST, now),
        }
    }

    /// The limiter's rate.
    pub fn qps(&self) -> f64 {
        self.limiter.qps()
    }

    /// How many values wait in the queue (not counting those done).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no value waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `value`, due at once; false when it is already in the set (queued, or
    /// done and not removed).
    pub fn add(&mut self, value: &str, uid: &str, now: Timestamp) -> bool {
        if !self.set.insert(value.to_string()) {
            return false;
        }
        self.push(TimedValue {
            value: value.to_string(),
            uid: uid.to_string(),
            added_at: now,
            process_at: now,
        });
        true
    }

    fn push(&mut self, v: TimedValue) {
        self.seq += 1;
        let at = (v.process_at, self.seq);
        self.position.insert(v.value.clone(), at);
        self.queue.insert(at, v);
    }

    fn unqueue(&mut self, value: &str) -> bool {
        match self.position.remove(value) {
            Some(at) => self.queue.remove(&at).is_some(),
            None => false,
        }
    }

    /// Removes `value` from the queue and the set (upstream `Remove`); true when it
    /// was queued or done.
    pub fn remove(&mut self, value: &str) -> bool {
        let queued = self.unqueue(value);
        self.set.remove(value) || queued
    }

    /// The value due first.
    pub fn head(&self) -> Option<&TimedValue> {
        self.queue.values().next()
    }

    /// The next value to process at `now`, if the limiter gives a token and the head
    /// is due (upstream `Try`'s loop step: the token is taken before the due time is
    /// looked at). The value stays queued until [`done`](Self::done) or
    /// [`retry`](Self::retry).
    pub fn next_due(&mut self, now: Timestamp) -> Option<TimedValue> {
        let head = self.head()?.clone();
        if !self.limiter.try_accept(now) {
            return None;
        }
        if now < head.process_at {
            return None;
        }
        Some(head)
    }

    /// `value` was processed: it leaves the queue and stays in the set
    /// (upstream `RemoveFromQueue`).
    pub fn done(&mut self, value: &str) {
        self.unqueue(value);
    }

    /// `value` failed: it is due again at `at` (upstream `Replace`), if still queued.
    pub fn retry(&mut self, value: &str, at: Timestamp) {
        let Some(pos) = self.position.get(value).copied() else {
            return;
        };
        if let Some(mut v) = self.queue.remove(&pos) {
            self.position.remove(value);
            v.process_at = at;
            self.push(v);
        }
    }

    /// Replaces the limiter by one of `qps` (upstream `SwapLimiter`): nothing when
    /// the rate is the same; a rate of 0 or less stops the queue; otherwise a fresh
    /// bucket of burst 1, drained when the old one had no token left.
    pub fn swap_limiter(&mut self, qps: f64, now: Timestamp) {
        if self.limiter.qps() == qps {
            return;
        }
        let mut fresh = TokenBucket::new(qps, EVICTION_RATE_LIMITER_BURST, now);
        if qps > 0.0 && !self.limiter.try_accept(now) {
            fresh.try_accept(now);
        }
        self.limiter = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::jiff::SignedDuration;

    fn plus_ms(t: Timestamp, ms: i64) -> Timestamp {
        t + SignedDuration::from_millis(ms)
    }

    #[test]
    fn the_bucket_starts_full_and_refills_at_its_rate() {
        let t0 = at(0);
        let mut b = TokenBucket::new(0.1, 1, t0);
        assert!(b.try_accept(t0));
        assert!(!b.try_accept(t0));
        assert!(!b.try_accept(plus_ms(t0, 9_999)));
        assert!(b.try_accept(plus_ms(t0, 10_000)));
        // Burst bounds the refill: a long idle time gives one token only.
        assert!(b.try_accept(plus_ms(t0, 1_000_000)));
        assert!(!b.try_accept(plus_ms(t0, 1_000_000)));
        let mut never = TokenBucket::new(0.0, 1, t0);
        assert!(!never.try_accept(t0));
        assert!(!never.try_accept(plus_ms(t0, 1_000_000)));
    }

    #[test]
    fn values_come_out_in_order_at_the_limiters_pace() {
        let t0 = at(0);
        let mut q = TimedQueue::new(1.0, t0);
        assert!(q.add("a", "ua", t0));
        assert!(q.add("b", "ub", plus_ms(t0, 1)));
        assert!(!q.add("a", "ua", t0), "unique");
        let first = q.next_due(plus_ms(t0, 1)).expect("a due");
        assert_eq!(first.value, "a");
        q.done("a");
        // No token left for b until a second has passed.
        assert_eq!(q.next_due(plus_ms(t0, 2)), None);
        let second = q.next_due(plus_ms(t0, 1_002)).expect("b due");
        assert_eq!(second.value, "b");
        q.done("b");
        assert!(q.is_empty());
        // Done values stay in the set until removed.
        assert!(!q.add("a", "ua", plus_ms(t0, 2_000)));
        assert!(q.remove("a"));
        assert!(q.add("a", "ua", plus_ms(t0, 2_000)));
    }

    #[test]
    fn a_failed_value_waits_until_its_retry_time() {
        let t0 = at(0);
        let mut q = TimedQueue::new(100.0, t0);
        q.add("a", "ua", t0);
        q.add("b", "ub", t0);
        let a = q.next_due(t0).unwrap();
        q.retry(&a.value, plus_ms(t0, 500));
        assert_eq!(q.next_due(plus_ms(t0, 10)).unwrap().value, "b");
        q.done("b");
        // The head is a, not due yet: a token is spent and nothing comes out.
        assert_eq!(q.next_due(plus_ms(t0, 20)), None);
        assert_eq!(q.next_due(plus_ms(t0, 500)).unwrap().value, "a");
    }

    #[test]
    fn swapping_limiters_stops_and_resumes_the_queue() {
        let t0 = at(0);
        let mut q = TimedQueue::new(0.1, t0);
        q.add("a", "ua", t0);
        q.swap_limiter(0.0, t0);
        assert_eq!(q.qps(), 0.0);
        assert_eq!(q.next_due(plus_ms(t0, 100_000)), None);
        // Back to a rate: the old (never) limiter had no token, so the new one
        // starts drained and a token comes after 1/qps.
        q.swap_limiter(1.0, plus_ms(t0, 100_000));
        assert_eq!(q.next_due(plus_ms(t0, 100_500)), None);
        assert_eq!(q.next_due(plus_ms(t0, 101_001)).unwrap().value, "a");
        // The same rate keeps the limiter as it is.
        let before = q.limiter.clone();
        q.swap_limiter(1.0, plus_ms(t0, 200_000));
        assert_eq!(q.limiter, before);
    }
}
