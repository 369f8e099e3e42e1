//! The delay before a failed Job pod is replaced (upstream `backoff_utils.go`):
//! `10 s × 2^(n−1)` after `n` consecutive failures since the last success,
//! capped at 10 minutes, counted from the last failure's finish time. Per index
//! with `backoffLimitPerIndex`, from the index's failure count.
//!
//! The records live in memory, one per Job (upstream's `backoffStore`): they
//! are rebuilt from the pods not yet counted at each sync, and stored when the
//! sync writes the status.

use std::collections::HashMap;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;

use super::indexed::absolute_failure_count;
use super::pods::finished_time;
use super::{DEFAULT_POD_FAILURE_BACKOFF, MAX_POD_FAILURE_BACKOFF};
use crate::util::time::since;

/// Consecutive failures of a Job's pods since its last success (upstream
/// `backoffRecord`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Failed pods since the last succeeded one.
    pub failures_after_last_success: u32,
    /// When the last of them finished.
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// The record after this sync's newly finished pods (upstream
    /// `newBackoffRecord`): failures add up; a success resets the count to the
    /// failures that finished after the last success.
    pub fn next(&self, new_succeeded: &[&Pod], new_failed: &[&Pod]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_time(p)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finished_time(p)).max();
        match last_success {
            None if failed.is_empty() => *self,
            None => BackoffRecord {
                failures_after_last_success: self
                    .failures_after_last_success
                    .saturating_add(u32::try_from(failed.len()).unwrap_or(u32::MAX)),
                last_failure_time: failed.last().copied(),
            },
            Some(success) => {
                let after: Vec<Timestamp> = failed.into_iter().filter(|t| *t > success).collect();
                BackoffRecord {
                    failures_after_last_success: u32::try_from(after.len()).unwrap_or(u32::MAX),
                    last_failure_time: after.last().copied(),
                }
            }
        }
    }

    /// How long before a replacement pod may be created at `now` (upstream
    /// `getRemainingTime`).
    pub fn remaining(&self, now: Timestamp) -> Duration {
        remaining_for_failures(
            self.failures_after_last_success,
            self.last_failure_time,
            now,
        )
    }
}

/// The backoff after `failures` consecutive failures: `10 s × 2^(failures−1)`,
/// capped at 10 minutes; zero without failures.
pub fn backoff_for(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let mut d = DEFAULT_POD_FAILURE_BACKOFF;
    for _ in 1..failures {
        d = d.saturating_mul(2);
        if d >= MAX_POD_FAILURE_BACKOFF {
            return MAX_POD_FAILURE_BACKOFF;
        }
    }
    d
}

/// What is left at `now` of the backoff of `failures` failures, the last one at
/// `last_failure` (upstream `getRemainingTimeForFailuresCount`).
pub fn remaining_for_failures(
    failures: u32,
    last_failure: Option<Timestamp>,
    now: Timestamp,
) -> Duration {
    let (backoff, Some(last)) = (backoff_for(failures), last_failure) else {
        return Duration::ZERO;
    };
    backoff.saturating_sub(since(now, last))
}

/// What is left at `now` of the backoff of an index whose last failed pod is
/// `last_failed` (upstream `getRemainingTimePerIndex`): its absolute failure
/// count plus its own failure.
pub fn remaining_for_index(last_failed: Option<&Pod>, now: Timestamp) -> Duration {
    let Some(p) = last_failed else {
        return Duration::ZERO;
    };
    let failures = u32::try_from(absolute_failure_count(p))
        .unwrap_or(0)
        .saturating_add(1);
    remaining_for_failures(failures, Some(finished_time(p)), now)
}

/// The records of every Job, by key (upstream `backoffStore`).
#[derive(Debug, Default)]
pub struct BackoffStore {
    records: Mutex<HashMap<ObjectKey, BackoffRecord>>,
}

impl BackoffStore {
    /// The Job's record (empty when none).
    pub fn get(&self, key: &ObjectKey) -> BackoffRecord {
        self.records.lock().get(key).copied().unwrap_or_default()
    }

    /// Stores the Job's record.
    pub fn update(&self, key: &ObjectKey, record: BackoffRecord) {
        self.records.lock().insert(key.clone(), record);
    }

    /// Forgets the Job's record (finished or deleted).
    pub fn remove(&self, key: &ObjectKey) {
        self.records.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::{failed_pod_at, succeeded_pod_at};
    use crate::util::testing::{at, pod};

    #[test]
    fn delays_double_from_ten_seconds_up_to_ten_minutes() {
        let secs: Vec<u64> = (0..9).map(|n| backoff_for(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff_for(1000), MAX_POD_FAILURE_BACKOFF);
    }

    #[test]
    fn remaining_time_counts_from_the_last_failure() {
        assert_eq!(
            remaining_for_failures(1, Some(at(100)), at(104)),
            Duration::from_secs(6)
        );
        assert_eq!(
            remaining_for_failures(2, Some(at(100)), at(104)),
            Duration::from_secs(16)
        );
        assert_eq!(
            remaining_for_failures(2, Some(at(100)), at(130)),
            Duration::ZERO
        );
        assert_eq!(
            remaining_for_failures(0, Some(at(100)), at(100)),
            Duration::ZERO
        );
        assert_eq!(remaining_for_failures(3, None, at(100)), Duration::ZERO);
    }

    #[test]
    fn records_add_failures_and_successes_reset_them() {
        let f1 = failed_pod_at(pod("f1"), 10);
        let f2 = failed_pod_at(pod("f2"), 30);
        let f3 = failed_pod_at(pod("f3"), 50);
        let s = succeeded_pod_at(pod("s"), 40);
        let empty = BackoffRecord::default();
        let r = empty.next(&[], &[&f2, &f1]);
        assert_eq!(
            r,
            BackoffRecord {
                failures_after_last_success: 2,
                last_failure_time: Some(at(30))
            }
        );
        assert_eq!(r.next(&[], &[]), r);
        let r = r.next(&[], &[&f3]);
        assert_eq!(r.failures_after_last_success, 3);
        assert_eq!(r.remaining(at(60)), Duration::from_secs(30));
        // A success in the same sync keeps only the failures after it.
        let r = empty.next(&[&s], &[&f1, &f2, &f3]);
        assert_eq!(
            r,
            BackoffRecord {
                failures_after_last_success: 1,
                last_failure_time: Some(at(50))
            }
        );
        assert_eq!(empty.next(&[&s], &[]), BackoffRecord::default());
    }

    #[test]
    fn per_index_backoff_uses_the_failure_count_annotation() {
        let mut p = failed_pod_at(pod("p"), 100);
        assert_eq!(
            remaining_for_index(Some(&p), at(105)),
            Duration::from_secs(5)
        );
        p.metadata.annotations.get_or_insert_default().insert(
            crate::job::JOB_INDEX_FAILURE_COUNT_ANNOTATION.into(),
            "1".into(),
        );
        assert_eq!(
            remaining_for_index(Some(&p), at(105)),
            Duration::from_secs(15)
        );
        assert_eq!(remaining_for_index(None, at(105)), Duration::ZERO);
    }

    #[test]
    fn the_store_keeps_one_record_per_job() {
        let store = BackoffStore::default();
        let key = ObjectKey::new(Some("default"), "pi");
        assert_eq!(store.get(&key), BackoffRecord::default());
        let r = BackoffRecord {
            failures_after_last_success: 2,
            last_failure_time: Some(at(1)),
        };
        store.update(&key, r);
        assert_eq!(store.get(&key), r);
        store.remove(&key);
        assert_eq!(store.get(&key), BackoffRecord::default());
    }
}
