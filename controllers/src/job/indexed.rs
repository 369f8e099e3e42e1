//! Indexed Jobs (upstream `indexed_job_utils.go`): completion indexes on pods,
//! the compressed interval strings of `status.completedIndexes` and
//! `status.failedIndexes` (`"1,3-5,7"`), which indexes still need a pod, which
//! duplicates to delete, and the per-index failure counts of
//! `backoffLimitPerIndex`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::failure_policy::{PolicyAction, match_pod_failure_policy};
use super::pods::{finished_time, has_tracking_finalizer, is_pod_failed, is_terminating};
use super::spec;
use super::{
    JOB_COMPLETION_INDEX_ANNOTATION, JOB_INDEX_FAILURE_COUNT_ANNOTATION,
    JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION,
};
use crate::replicaset::ranking::sort_active_pods;

/// Upstream `names.MaxGeneratedNameLength`: a `generateName` longer than this is
/// cut so that the random suffix still fits a 63-character name.
pub const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// A closed range of indexes `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The first index.
    pub first: usize,
    /// The last index (inclusive).
    pub last: usize,
}

/// Disjoint, non-adjacent intervals in increasing order (upstream
/// `orderedIntervals`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderedIntervals(pub Vec<Interval>);

impl OrderedIntervals {
    /// Parses `"1,3-5,7"`, dropping indexes at or beyond `completions` and
    /// skipping corrupted parts (upstream `parseIndexesFromString`).
    pub fn parse(s: &str, completions: usize) -> Self {
        let mut out: Vec<Interval> = Vec::new();
        if s.is_empty() {
            return Self(out);
        }
        for part in s.split(',') {
            let mut limits = part.split('-');
            let Some(Ok(first)) = limits.next().map(str::parse::<usize>) else {
                tracing::info!(interval = part, "corrupted indexes interval, ignoring");
                continue;
            };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(l) => match l.parse::<usize>() {
                    Ok(l) => l.min(completions - 1),
                    Err(_) => {
                        tracing::info!(interval = part, "corrupted indexes interval, ignoring");
                        continue;
                    }
                },
                None => first,
            };
            match out.last_mut() {
                Some(prev) if prev.last + 1 == first => prev.last = last,
                _ => out.push(Interval { first, last }),
            }
        }
        Self(out)
    }

    /// These intervals and `other`'s, merged (upstream `merge`).
    pub fn merge(&self, other: &OrderedIntervals) -> OrderedIntervals {
        let mut all: Vec<Interval> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let next =
                if j >= other.0.len() || (i < self.0.len() && self.0[i].first < other.0[j].first) {
                    i += 1;
                    self.0[i - 1]
                } else {
                    j += 1;
                    other.0[j - 1]
                };
            match all.last_mut() {
                Some(prev) if next.first <= prev.last + 1 => prev.last = prev.last.max(next.last),
                _ => all.push(next),
            }
        }
        OrderedIntervals(all)
    }

    /// These intervals with `indexes` (increasing) added (upstream
    /// `withOrderedIndexes`).
    pub fn with_indexes(&self, indexes: impl IntoIterator<Item = usize>) -> OrderedIntervals {
        let single = indexes
            .into_iter()
            .map(|i| Interval { first: i, last: i })
            .collect();
        self.merge(&OrderedIntervals(single))
    }

    /// How many indexes the intervals hold.
    pub fn total(&self) -> usize {
        self.0.iter().map(|iv| iv.last - iv.first + 1).sum()
    }

    /// Whether `ix` is in one of the intervals.
    pub fn has(&self, ix: usize) -> bool {
        let pos = self.0.partition_point(|iv| iv.last < ix);
        self.0.get(pos).is_some_and(|iv| iv.first <= ix)
    }

    /// Whether there is no index at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The compressed form: `a-b` for three or more consecutive indexes, `a,b` for
/// two.
impl fmt::Display for OrderedIntervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, iv) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", iv.first)?;
            if iv.last == iv.first + 1 {
                write!(f, ",{}", iv.last)?;
            } else if iv.last > iv.first {
                write!(f, "-{}", iv.last)?;
            }
        }
        Ok(())
    }
}

/// A pod's completion index: its annotation as a non-negative integer, `None`
/// when missing or invalid (upstream `getCompletionIndex`).
pub fn completion_index(pod: &Pod) -> Option<usize> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(JOB_COMPLETION_INDEX_ANNOTATION)?
        .parse::<i64>()
        .ok()
        .and_then(|i| usize::try_from(i).ok())
}

/// The pod's completion index when it is valid for a Job of `completions`.
pub fn valid_index(pod: &Pod, completions: usize) -> Option<usize> {
    completion_index(pod).filter(|ix| *ix < completions)
}

/// The Job's `completions` as an index bound (0 when unset or negative).
pub fn completions_bound(job: &Job) -> usize {
    spec::completions(job)
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(0)
}

/// The indexes completed before this sync (`status.completedIndexes`) and with
/// the succeeded pods not counted yet added (upstream `calculateSucceededIndexes`).
pub fn succeeded_indexes(job: &Job, pods: &[&Pod]) -> (OrderedIntervals, OrderedIntervals) {
    let completions = completions_bound(job);
    let completed = job
        .status
        .as_ref()
        .and_then(|s| s.completed_indexes.as_deref())
        .unwrap_or("");
    let prev = OrderedIntervals::parse(completed, completions);
    let new: BTreeSet<usize> = pods
        .iter()
        .filter(|p| crate::util::pod::phase(p) == "Succeeded" && has_tracking_finalizer(p))
        .filter_map(|p| valid_index(p, completions))
        .collect();
    let all = prev.with_indexes(new);
    (prev, all)
}

/// The failed indexes: `status.failedIndexes` plus the indexes of pods not
/// counted yet whose failure fails the index (upstream `calculateFailedIndexes`).
pub fn failed_indexes(job: &Job, pods: &[&Pod]) -> OrderedIntervals {
    let completions = completions_bound(job);
    let prev = job
        .status
        .as_ref()
        .and_then(|s| s.failed_indexes.as_deref())
        .map(|s| OrderedIntervals::parse(s, completions))
        .unwrap_or_default();
    let new: BTreeSet<usize> = pods
        .iter()
        .filter(|p| has_tracking_finalizer(p) && is_index_failed(job, p))
        .filter_map(|p| valid_index(p, completions))
        .collect();
    prev.with_indexes(new)
}

/// Whether this failed pod fails its index: a `FailIndex` rule matched, or the
/// failure counts and the index already failed `backoffLimitPerIndex` times
/// (upstream `isIndexFailed`).
pub fn is_index_failed(job: &Job, pod: &Pod) -> bool {
    if !is_pod_failed(pod, job) {
        return false;
    }
    let counted = match &spec::spec(job).pod_failure_policy {
        Some(policy) => {
            let m = match_pod_failure_policy(policy, pod);
            if m.action == Some(PolicyAction::FailIndex) {
                return true;
            }
            m.count_failed
        }
        None => true,
    };
    let limit = spec::spec(job).backoff_limit_per_index.unwrap_or(0);
    counted && failure_count(pod) >= limit
}

fn annotation_i32(pod: &Pod, key: &str) -> i32 {
    let Some(v) = pod.metadata.annotations.as_ref().and_then(|a| a.get(key)) else {
        return 0;
    };
    match v.parse::<i64>() {
        Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => n as i32, // range checked
        _ => {
            tracing::info!(annotation = key, value = %v, "invalid index failure count, using 0");
            0
        }
    }
}

/// The pod's `batch.kubernetes.io/job-index-failure-count` (0 when missing or
/// invalid).
pub fn failure_count(pod: &Pod) -> i32 {
    annotation_i32(pod, JOB_INDEX_FAILURE_COUNT_ANNOTATION)
}

/// The pod's `batch.kubernetes.io/job-index-ignored-failure-count`.
pub fn ignored_failure_count(pod: &Pod) -> i32 {
    annotation_i32(pod, JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)
}

/// Failures and ignored failures of the pod's index up to and including it
/// (upstream `getIndexAbsoluteFailureCount`).
pub fn absolute_failure_count(pod: &Pod) -> i32 {
    failure_count(pod).saturating_add(ignored_failure_count(pod))
}

/// The failure counts the replacement of `replaced` carries: its counts plus its
/// own failure, counted or ignored as the pod failure policy says (upstream
/// `getNewIndexFailureCounts`); `(0, 0)` for an index's first pod.
pub fn new_failure_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(p) = replaced else {
        return (0, 0);
    };
    let (mut failed, mut ignored) = (failure_count(p), ignored_failure_count(p));
    let counted = spec::spec(job)
        .pod_failure_policy
        .as_ref()
        .is_none_or(|policy| match_pod_failure_policy(policy, p).count_failed);
    if counted {
        failed = failed.saturating_add(1);
    } else {
        ignored = ignored.saturating_add(1);
    }
    (failed, ignored)
}

/// The indexes of `pods` (those with one).
pub fn indexes_of<'a>(pods: impl IntoIterator<Item = &'a &'a Pod>) -> BTreeSet<usize> {
    pods.into_iter()
        .filter_map(|p| completion_index(p))
        .collect()
}

/// The first `count` indexes below `completions` with no active pod that are
/// neither succeeded nor failed — nor, when only failed pods are replaced, held
/// by a terminating pod (upstream `firstPendingIndexes`).
pub fn first_pending_indexes(
    job: &Job,
    active: &[&Pod],
    all: &[&Pod],
    succeeded: &OrderedIntervals,
    failed: Option<&OrderedIntervals>,
    count: usize,
    completions: usize,
) -> Vec<usize> {
    if count == 0 {
        return Vec::new();
    }
    let mut non_pending = succeeded.with_indexes(indexes_of(active));
    if spec::only_replace_failed_pods(job) {
        let terminating: Vec<&Pod> = all.iter().copied().filter(|p| is_terminating(p)).collect();
        non_pending = non_pending.with_indexes(indexes_of(&terminating));
    }
    if let Some(failed) = failed {
        non_pending = non_pending.merge(failed);
    }
    let mut out = Vec::with_capacity(count);
    let mut candidate = 0;
    for iv in &non_pending.0 {
        while candidate < completions && out.len() < count && candidate < iv.first {
            out.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(iv.last + 1);
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

/// Splits active pods into those to remove — pods without an index, with an
/// index out of range, and all but one pod of each repeated index (the one kept
/// is the last in upstream's `ActivePods` order) — and the rest (upstream
/// `appendDuplicatedIndexPodsForRemoval`).
pub fn duplicated_index_pods<'a>(
    pods: &[&'a Pod],
    completions: usize,
) -> (Vec<&'a Pod>, Vec<&'a Pod>) {
    let mut by_index: BTreeMap<usize, Vec<&'a Pod>> = BTreeMap::new();
    let mut rm = Vec::new();
    for p in pods {
        match completion_index(p) {
            Some(ix) if ix < completions => by_index.entry(ix).or_default().push(p),
            _ => rm.push(*p),
        }
    }
    let mut left = Vec::new();
    for (_, mut same) in by_index {
        sort_active_pods(&mut same);
        if let Some(keep) = same.pop() {
            left.push(keep);
        }
        rm.extend(same);
    }
    (rm, left)
}

/// For each index with no active pod that is neither succeeded nor failed, its
/// latest failed pod not counted yet: its tracking finalizer stays until the
/// replacement exists, so the replacement can carry the index's failure count
/// (upstream `getPodsWithDelayedDeletionPerIndex`).
pub fn pods_with_delayed_deletion<'a>(
    job: &Job,
    pods: &[&'a Pod],
    active: &[&Pod],
    succeeded: &OrderedIntervals,
    failed: &OrderedIntervals,
    expected_removed: &BTreeSet<String>,
) -> BTreeMap<usize, &'a Pod> {
    let completions = completions_bound(job);
    let active_indexes = indexes_of(active);
    let mut out: BTreeMap<usize, &'a Pod> = BTreeMap::new();
    for p in pods {
        let uid = p.metadata.uid.as_deref().unwrap_or("");
        if !has_tracking_finalizer(p) || expected_removed.contains(uid) || !is_pod_failed(p, job) {
            continue;
        }
        let Some(ix) = valid_index(p, completions) else {
            continue;
        };
        if succeeded.has(ix) || failed.has(ix) || active_indexes.contains(&ix) {
            continue;
        }
        match out.get(&ix) {
            Some(last)
                if !(absolute_failure_count(last) <= absolute_failure_count(p)
                    && finished_time(p) >= finished_time(last)) => {}
            _ => {
                out.insert(ix, p);
            }
        }
    }
    out
}

/// The `generateName` of a pod for `index` (upstream `podGenerateNameWithIndex`):
/// `<job>-<index>-`, the Job's name cut so that it fits
/// [`MAX_GENERATED_NAME_LENGTH`].
pub fn generate_name_with_index(job_name: &str, index: usize) -> String {
    let suffix = format!("-{index}-");
    let prefix = format!("{job_name}{suffix}");
    if prefix.len() <= MAX_GENERATED_NAME_LENGTH {
        return prefix;
    }
    let keep = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
    let cut: String = job_name.chars().take(keep).collect();
    format!("{cut}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::{failed_pod, indexed_job, indexed_pod, job, succeeded_pod, tracked};

    fn iv(s: &str, completions: usize) -> OrderedIntervals {
        OrderedIntervals::parse(s, completions)
    }

    #[test]
    fn interval_strings_round_trip_compressed() {
        let cases = [
            ("", ""),
            ("0", "0"),
            ("0,1", "0,1"),
            ("0-2", "0-2"),
            ("0,1,2", "0-2"),
            ("1,3-5,7", "1,3-5,7"),
            ("3-5,6", "3-6"),
            ("0-2,3,4", "0-4"),
        ];
        for (input, want) in cases {
            assert_eq!(iv(input, 100).to_string(), want, "{input}");
        }
        // Out of range: cut at completions; corrupted parts skipped.
        assert_eq!(iv("1,5-9,12", 8).to_string(), "1,5-7");
        assert_eq!(iv("x,2,3-y,4", 10).to_string(), "2,4");
        assert_eq!(iv("0-3", 10).total(), 4);
    }

    #[test]
    fn merging_and_membership() {
        let a = iv("0,5-7,10", 100);
        let b = iv("1,3,8,20-21", 100);
        assert_eq!(a.merge(&b).to_string(), "0,1,3,5-8,10,20,21");
        assert_eq!(a.with_indexes([2, 3, 4]).to_string(), "0,2-7,10");
        assert_eq!(iv("1-3", 10).with_indexes([0, 4]).to_string(), "0-4");
        for (ix, want) in [
            (0, true),
            (1, false),
            (5, true),
            (7, true),
            (8, false),
            (10, true),
            (11, false),
        ] {
            assert_eq!(a.has(ix), want, "{ix}");
        }
        assert_eq!(a.total(), 5);
    }

    #[test]
    fn pending_indexes_skip_active_succeeded_and_failed() {
        let j = indexed_job("ix", 6, 6);
        let a = indexed_pod("a", 1);
        let b = indexed_pod("b", 4);
        let active = [&a, &b];
        let succeeded = iv("0", 6);
        let failed = iv("2", 6);
        assert_eq!(
            first_pending_indexes(&j, &active, &active, &succeeded, Some(&failed), 10, 6),
            [3, 5]
        );
        assert_eq!(
            first_pending_indexes(&j, &active, &active, &succeeded, None, 1, 6),
            [2]
        );
        assert!(first_pending_indexes(&j, &[], &[], &succeeded, None, 0, 6).is_empty());
    }

    #[test]
    fn terminating_pods_hold_their_index_when_only_failed_pods_are_replaced() {
        let mut j = indexed_job("ix", 3, 3);
        let mut t = indexed_pod("t", 0);
        t.metadata.deletion_timestamp = Some(crate::util::time::k8s(crate::util::testing::at(5)));
        let all = [&t];
        assert_eq!(
            first_pending_indexes(&j, &[], &all, &OrderedIntervals::default(), None, 3, 3),
            [0, 1, 2]
        );
        j.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
        assert_eq!(
            first_pending_indexes(&j, &[], &all, &OrderedIntervals::default(), None, 3, 3),
            [1, 2]
        );
    }

    #[test]
    fn duplicates_and_out_of_range_indexes_are_removed() {
        let a = indexed_pod("a", 0);
        let b = indexed_pod("b", 0);
        let c = indexed_pod("c", 1);
        let d = indexed_pod("d", 7);
        let mut e = indexed_pod("e", 2);
        e.metadata.annotations = None;
        let (rm, left) = duplicated_index_pods(&[&a, &b, &c, &d, &e], 3);
        let names = |v: &[&Pod]| -> Vec<String> {
            let mut n: Vec<String> = v.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
            n.sort();
            n
        };
        assert_eq!(names(&left).len(), 2);
        assert!(names(&left).contains(&"c".to_string()));
        assert_eq!(names(&rm).len(), 3);
        assert!(names(&rm).contains(&"d".to_string()) && names(&rm).contains(&"e".to_string()));
    }

    #[test]
    fn succeeded_and_failed_indexes_count_only_tracked_pods() {
        let mut j = indexed_job("ix", 5, 5);
        {
            let st = j.status.get_or_insert_default();
            st.completed_indexes = Some("0".into());
        }
        j.spec.as_mut().unwrap().backoff_limit_per_index = Some(0);
        let s1 = tracked(succeeded_pod(indexed_pod("s1", 1)));
        let s2 = succeeded_pod(indexed_pod("s2", 2)); // counted already
        let f3 = tracked(failed_pod(indexed_pod("f3", 3), 1));
        let pods = [&s1, &s2, &f3];
        let (prev, all) = succeeded_indexes(&j, &pods);
        assert_eq!(
            (prev.to_string(), all.to_string()),
            ("0".into(), "0,1".into())
        );
        assert_eq!(failed_indexes(&j, &pods).to_string(), "3");
        // With one retry allowed, the first failure does not fail the index.
        j.spec.as_mut().unwrap().backoff_limit_per_index = Some(1);
        assert_eq!(failed_indexes(&j, &pods).to_string(), "");
    }

    #[test]
    fn failure_counts_carry_to_the_replacement() {
        let j = job("w", Some(1), 1);
        let mut p = failed_pod(indexed_pod("p", 0), 1);
        p.metadata
            .annotations
            .get_or_insert_default()
            .insert(JOB_INDEX_FAILURE_COUNT_ANNOTATION.into(), "2".into());
        assert_eq!(new_failure_counts(&j, Some(&p)), (3, 0));
        assert_eq!(new_failure_counts(&j, None), (0, 0));
        p.metadata
            .annotations
            .get_or_insert_default()
            .insert(JOB_INDEX_FAILURE_COUNT_ANNOTATION.into(), "-4".into());
        assert_eq!(failure_count(&p), 0);
    }

    #[test]
    fn generated_names_keep_the_index() {
        assert_eq!(generate_name_with_index("pi", 3), "pi-3-");
        let long = "a".repeat(70);
        let g = generate_name_with_index(&long, 12);
        assert_eq!(g.len(), MAX_GENERATED_NAME_LENGTH);
        assert!(g.ends_with("a-12-"));
    }
}
