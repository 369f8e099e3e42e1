//! The per-node backoff before a failed daemon pod is replaced (upstream's
//! `failedPodsBackoff`, a client-go `flowcontrol.Backoff` of 1 s doubling to
//! 15 min, keyed by DaemonSet and node). Without it the controller and a
//! kubelet that rejects the pod would fight in a hot loop.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{FAILED_POD_BACKOFF_INITIAL, FAILED_POD_BACKOFF_MAX};
use crate::util::time::since;

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// Backoff per `(DaemonSet, node)` key, as `flowcontrol.Backoff` keeps it.
#[derive(Debug, Clone)]
pub struct FailedPodsBackoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for FailedPodsBackoff {
    fn default() -> Self {
        Self::new(FAILED_POD_BACKOFF_INITIAL, FAILED_POD_BACKOFF_MAX)
    }
}

/// The key of one DaemonSet's node (upstream `failedPodsBackoffKey`).
pub fn backoff_key(ds_uid: &str, node: &str) -> String {
    format!("{ds_uid}/{node}")
}

impl FailedPodsBackoff {
    /// A backoff starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// An entry untouched for twice the maximum is forgotten (`hasExpired`).
    fn expired(&self, e: &Entry, now: Timestamp) -> bool {
        since(now, e.last_update) > self.max * 2
    }

    /// The current delay of `key` (`Get`); zero when unknown.
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Records one more failure at `now` (`Next`): the delay doubles (up to the
    /// maximum), or starts at the initial one for a new or expired key.
    pub fn next(&mut self, key: &str, now: Timestamp) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(e, now) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// Whether `now` is within the delay since the last failure of `key`
    /// (`IsInBackOffSinceUpdate`).
    pub fn in_backoff_since_update(&self, key: &str, now: Timestamp) -> bool {
        match self.entries.get(key) {
            Some(e) if !self.expired(e, now) => since(now, e.last_update) < e.backoff,
            _ => false,
        }
    }

    /// Forgets entries expired at `now` (`GC`).
    pub fn gc(&mut self, now: Timestamp) {
        let max = self.max;
        self.entries
            .retain(|_, e| since(now, e.last_update) <= max * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::time::add;

    #[test]
    fn failures_double_the_delay_from_one_second_to_fifteen_minutes() {
        let mut b = FailedPodsBackoff::default();
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        assert!(!b.in_backoff_since_update("ds/n1", t0));
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..12 {
            b.next("ds/n1", now);
            delays.push(b.get("ds/n1").as_secs());
            assert!(b.in_backoff_since_update("ds/n1", now));
            // Just before the delay ends it still holds; at its end it is over.
            let d = b.get("ds/n1");
            assert!(b.in_backoff_since_update("ds/n1", add(now, d - Duration::from_millis(1))));
            now = add(now, d);
            assert!(!b.in_backoff_since_update("ds/n1", now));
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        // Other nodes are not held back.
        assert!(!b.in_backoff_since_update("ds/n2", now));
    }

    #[test]
    fn a_quiet_node_starts_over_after_twice_the_maximum() {
        let mut b = FailedPodsBackoff::default();
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        for _ in 0..4 {
            b.next("k", t0);
        }
        assert_eq!(b.get("k"), Duration::from_secs(8));
        let later = add(t0, FAILED_POD_BACKOFF_MAX * 2 + Duration::from_secs(1));
        b.next("k", later);
        assert_eq!(b.get("k"), Duration::from_secs(1));
        b.gc(add(later, FAILED_POD_BACKOFF_MAX * 3));
        assert_eq!(b.get("k"), Duration::ZERO);
    }
}
