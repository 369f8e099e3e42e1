//! The decisions of a Job sync before any write (upstream `syncJob` up to
//! `manageJob`, and `manageJob`'s own decisions): [`analyze`] counts and
//! decides whether the Job finishes; [`plan_pods`] decides what to do to its
//! pods.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::backoff::{BackoffRecord, remaining_for_index};
use super::conditions::{
    self, FAILURE_TARGET, MESSAGE_BACKOFF_LIMIT_EXCEEDED, MESSAGE_DEADLINE_EXCEEDED,
    MESSAGE_FAILED_INDEXES, MESSAGE_MAX_FAILED_INDEXES_EXCEEDED, REASON_BACKOFF_LIMIT_EXCEEDED,
    REASON_DEADLINE_EXCEEDED, REASON_FAILED_INDEXES, REASON_MAX_FAILED_INDEXES_EXCEEDED,
    REASON_POD_FAILURE_POLICY, REASON_SUCCESS_POLICY, SUCCESS_CRITERIA_MET,
};
use super::failure_policy::match_pod_failure_policy;
use super::indexed::{self, OrderedIntervals, completions_bound};
use super::pods::{NewPod, count_ready, count_terminating, has_tracking_finalizer, is_pod_failed};
use super::success_policy::match_success_policy;
use super::tracking::{Uncounted, terminal_from};
use super::{MAX_POD_CREATE_DELETE_PER_SYNC, spec};
use crate::replicaset::ranking::sort_active_pods;
use crate::util::pod::{is_active, phase};
use crate::util::pod_control::PodRef;
use crate::util::time::{add, since};

/// What a sync starts from.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The Job (from the cache).
    pub job: &'a Job,
    /// Its claimed pods (adopted ones already carrying the tracking finalizer).
    pub pods: &'a [&'a Pod],
    /// Whether its creation/deletion expectations were satisfied before the pods
    /// were read.
    pub expectations_satisfied: bool,
    /// Pods whose finalizer removal is still expected.
    pub expected_removed: &'a BTreeSet<String>,
    /// The Job's backoff record before this sync.
    pub backoff: BackoffRecord,
    /// The time of the sync.
    pub now: Timestamp,
}

/// Everything a sync knows after counting (upstream `syncJobCtx`).
#[derive(Debug, Clone)]
pub struct JobCtx<'a> {
    /// The Job with `startTime` set on its first unsuspended sync and
    /// `uncountedTerminatedPods` present.
    pub job: Job,
    /// Its pods.
    pub pods: &'a [&'a Pod],
    /// Its active pods.
    pub active: Vec<&'a Pod>,
    /// Ready active pods.
    pub ready: i32,
    /// Terminating pods.
    pub terminating: i32,
    /// `uncountedTerminatedPods` as the sync found it.
    pub uncounted: Uncounted,
    /// Pods whose finalizer removal is still expected.
    pub expected_removed: &'a BTreeSet<String>,
    /// Succeeded pods, counted or not.
    pub succeeded: i32,
    /// Failed pods that count, counted or not.
    pub failed: i32,
    /// The backoff record including this sync's finished pods.
    pub backoff: BackoffRecord,
    /// The condition finishing the Job: interim (`FailureTarget`,
    /// `SuccessCriteriaMet`) or terminal (`Failed`, from an earlier
    /// `FailureTarget`).
    pub finished: Option<JobCondition>,
    /// Succeeded indexes before this sync (Indexed Jobs).
    pub prev_succeeded_indexes: OrderedIntervals,
    /// Succeeded indexes (Indexed Jobs).
    pub succeeded_indexes: OrderedIntervals,
    /// Failed indexes (with `backoffLimitPerIndex`).
    pub failed_indexes: Option<OrderedIntervals>,
    /// Per index, the failed pod whose finalizer waits for its replacement.
    pub delayed_deletion: BTreeMap<usize, &'a Pod>,
    /// Whether expectations were satisfied.
    pub expectations_satisfied: bool,
    /// When to sync again to observe `activeDeadlineSeconds`.
    pub requeue_after: Option<Duration>,
    /// The time of the sync.
    pub now: Timestamp,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The finished pods not counted yet (upstream `getNewFinishedPods`): pods with
/// the finalizer, not uncounted yet, not expected removed, with a valid index
/// for Indexed Jobs.
fn new_finished<'a>(
    job: &Job,
    pods: &[&'a Pod],
    uncounted: &BTreeSet<String>,
    expected_removed: &BTreeSet<String>,
    filter: impl Fn(&Pod) -> bool,
) -> Vec<&'a Pod> {
    let completions = completions_bound(job);
    pods.iter()
        .copied()
        .filter(|p| {
            let uid = p.metadata.uid.as_deref().unwrap_or("");
            has_tracking_finalizer(p) && !uncounted.contains(uid) && !expected_removed.contains(uid)
        })
        .filter(|p| !spec::is_indexed(job) || indexed::valid_index(p, completions).is_some())
        .filter(|p| filter(p))
        .collect()
}

/// Whether the container restarts of running pods exceed `backoffLimit`, for
/// `restartPolicy: OnFailure` (upstream `pastBackoffLimitOnFailure`).
pub fn past_backoff_limit_on_failure(job: &Job, pods: &[&Pod]) -> bool {
    if spec::restart_policy(job) != "OnFailure" {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| i64::from(c.restart_count))
        .sum();
    let limit = i64::from(spec::backoff_limit(job));
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// The time left before `activeDeadlineSeconds` at `now`; `None` without a
/// deadline, a start time, or while suspended. Zero once past it.
pub fn deadline_remaining(job: &Job, now: Timestamp) -> Option<Duration> {
    let ads = spec::spec(job).active_deadline_seconds?;
    let start = job.status.as_ref()?.start_time.as_ref()?.0;
    if spec::is_suspended(job) {
        return None;
    }
    let allowed = Duration::from_secs(u64::try_from(ads).unwrap_or(0));
    Some(allowed.saturating_sub(since(now, start)))
}

/// The message of the first `FailJob` rule a failed pod matches (upstream
/// `getFailJobMessage`).
fn fail_job_message(job: &Job, pods: &[&Pod]) -> Option<String> {
    let policy = spec::spec(job).pod_failure_policy.as_ref()?;
    pods.iter()
        .filter(|p| is_pod_failed(p, job))
        .find_map(|p| match_pod_failure_policy(policy, p).fail_job_message)
}

/// Counts the Job's pods and decides whether it finishes (upstream `syncJob`
/// before `manageJob`).
pub fn analyze<'a>(input: &SyncInput<'a>) -> JobCtx<'a> {
    let now = input.now;
    let mut job = input.job.clone();
    let status = job.status.get_or_insert_default();
    status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let uncounted = Uncounted::of(status);
    let pods = input.pods;
    let active: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
    let new_succeeded = new_finished(
        input.job,
        pods,
        &uncounted.succeeded,
        input.expected_removed,
        |p| phase(p) == "Succeeded",
    );
    let new_failed = new_finished(
        input.job,
        pods,
        &uncounted.failed,
        input.expected_removed,
        |p| is_pod_failed(p, input.job),
    );
    let counted_failures = match &spec::spec(input.job).pod_failure_policy {
        Some(policy) => new_failed
            .iter()
            .filter(|p| match_pod_failure_policy(policy, p).count_failed)
            .count(),
        None => new_failed.len(),
    };
    let status = job.status.get_or_insert_default();
    let succeeded = status
        .succeeded
        .unwrap_or(0)
        .saturating_add(count(new_succeeded.len()))
        .saturating_add(count(uncounted.succeeded.len()));
    let failed = status
        .failed
        .unwrap_or(0)
        .saturating_add(count(counted_failures))
        .saturating_add(count(uncounted.failed.len()));
    if status.start_time.is_none() && !spec::is_suspended(input.job) {
        status.start_time = Some(Time(now));
    }
    let backoff = input.backoff.next(&new_succeeded, &new_failed);

    let mut ctx = JobCtx {
        ready: count_ready(&active),
        terminating: count_terminating(pods),
        active,
        job,
        pods,
        uncounted,
        expected_removed: input.expected_removed,
        succeeded,
        failed,
        backoff,
        finished: None,
        prev_succeeded_indexes: OrderedIntervals::default(),
        succeeded_indexes: OrderedIntervals::default(),
        failed_indexes: None,
        delayed_deletion: BTreeMap::new(),
        expectations_satisfied: input.expectations_satisfied,
        requeue_after: None,
        now,
    };
    decide_finish(&mut ctx);
    ctx
}

fn failure_target(reason: &str, message: &str, now: Timestamp) -> JobCondition {
    conditions::new_condition(FAILURE_TARGET, "True", reason, message, now)
}

/// The finishing conditions, in upstream's order.
fn decide_finish(ctx: &mut JobCtx<'_>) {
    let now = ctx.now;
    let job = &ctx.job;
    ctx.finished = spec::success_criteria_met(job).cloned();
    if ctx.finished.is_none() {
        let target =
            conditions::find(spec::conditions(job), FAILURE_TARGET).filter(|c| c.status == "True");
        if let Some(t) = target {
            ctx.finished = Some(terminal_from(t, conditions::FAILED, now));
        } else if let Some(msg) = fail_job_message(job, ctx.pods) {
            ctx.finished = Some(failure_target(REASON_POD_FAILURE_POLICY, &msg, now));
        }
    }
    if ctx.finished.is_none() {
        if ctx.failed > spec::backoff_limit(job) || past_backoff_limit_on_failure(job, ctx.pods) {
            ctx.finished = Some(failure_target(
                REASON_BACKOFF_LIMIT_EXCEEDED,
                MESSAGE_BACKOFF_LIMIT_EXCEEDED,
                now,
            ));
        } else {
            match deadline_remaining(job, now) {
                Some(left) if left.is_zero() => {
                    ctx.finished = Some(failure_target(
                        REASON_DEADLINE_EXCEEDED,
                        MESSAGE_DEADLINE_EXCEEDED,
                        now,
                    ));
                }
                Some(left) => ctx.requeue_after = Some(left),
                None => {}
            }
        }
    }
    if !spec::is_indexed(job) {
        return;
    }
    let (prev, all) = indexed::succeeded_indexes(job, ctx.pods);
    ctx.succeeded = count(all.total());
    ctx.prev_succeeded_indexes = prev;
    ctx.succeeded_indexes = all;
    let completions = completions_bound(job);
    if spec::has_backoff_limit_per_index(job) {
        let failed = indexed::failed_indexes(job, ctx.pods);
        if ctx.finished.is_none() {
            let max = spec::spec(job)
                .max_failed_indexes
                .and_then(|m| usize::try_from(m).ok());
            if max.is_some_and(|m| failed.total() > m) {
                ctx.finished = Some(failure_target(
                    REASON_MAX_FAILED_INDEXES_EXCEEDED,
                    MESSAGE_MAX_FAILED_INDEXES_EXCEEDED,
                    now,
                ));
            } else if failed.total() > 0
                && failed.total() + ctx.succeeded_indexes.total() >= completions
            {
                ctx.finished = Some(failure_target(
                    REASON_FAILED_INDEXES,
                    MESSAGE_FAILED_INDEXES,
                    now,
                ));
            }
        }
        ctx.delayed_deletion = indexed::pods_with_delayed_deletion(
            job,
            ctx.pods,
            &ctx.active,
            &ctx.succeeded_indexes,
            &failed,
            ctx.expected_removed,
        );
        ctx.failed_indexes = Some(failed);
    }
    if ctx.finished.is_none()
        && let Some(msg) = match_success_policy(
            spec::spec(job).success_policy.as_ref(),
            completions,
            &ctx.succeeded_indexes,
        )
    {
        ctx.finished = Some(conditions::new_condition(
            SUCCESS_CRITERIA_MET,
            "True",
            REASON_SUCCESS_POLICY,
            &msg,
            now,
        ));
    }
}

/// A pod to delete, and whether it was ready (the `ready` count drops by the
/// ready ones deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodToDelete {
    /// The pod.
    pub pod: PodRef,
    /// Whether it is ready.
    pub ready: bool,
}

impl PodToDelete {
    fn of(p: &Pod) -> Self {
        Self {
            pod: PodRef::of(p),
            ready: crate::util::pod::is_ready(p),
        }
    }
}

/// What a sync does to the Job's pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodsPlan {
    /// The Job is finishing: delete every active pod, keeping its tracking
    /// finalizer so that it is counted (upstream `deleteActivePods`).
    DeleteActive(Vec<PodToDelete>),
    /// `manageJob` is not run: expectations are pending or the Job is being
    /// deleted.
    Skip,
    /// `manageJob` found nothing to do.
    Nothing,
    /// Delete these pods (a suspended Job's, or the surplus), their tracking
    /// finalizer removed first: they are not counted (upstream `deleteJobPods`).
    Delete(Vec<PodToDelete>),
    /// Pods are missing but the pod-failure backoff has not passed: sync again
    /// after this long.
    Wait(Duration),
    /// Create these pods.
    Create(Vec<NewPod>),
}

impl PodsPlan {
    /// Whether upstream's `manageJob` ran.
    pub fn manage_called(&self) -> bool {
        !matches!(self, PodsPlan::Skip | PodsPlan::DeleteActive(_))
    }
}

/// Active pods to delete: for Indexed Jobs the duplicated and invalid indexes
/// first, then the first `at_least` in upstream's `ActivePods` order (upstream
/// `activePodsForRemoval`).
fn active_pods_for_removal<'a>(job: &Job, active: &[&'a Pod], at_least: usize) -> Vec<&'a Pod> {
    let (mut rm, mut left) = if spec::is_indexed(job) {
        indexed::duplicated_index_pods(active, completions_bound(job))
    } else {
        (Vec::new(), active.to_vec())
    };
    if rm.len() < at_least {
        sort_active_pods(&mut left);
        let more = (at_least - rm.len()).min(left.len());
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// What to do to the pods (upstream `syncJob`'s choice between
/// `deleteActivePods` and `manageJob`, and `manageJob`'s decisions).
pub fn plan_pods(ctx: &JobCtx<'_>) -> PodsPlan {
    let job = &ctx.job;
    if ctx.finished.is_some() {
        return PodsPlan::DeleteActive(ctx.active.iter().map(|p| PodToDelete::of(p)).collect());
    }
    if !ctx.expectations_satisfied || job.metadata.deletion_timestamp.is_some() {
        return PodsPlan::Skip;
    }
    let active = ctx.active.len();
    if spec::is_suspended(job) {
        let pods = active_pods_for_removal(job, &ctx.active, active);
        return deletion(pods);
    }
    let parallelism = usize::try_from(spec::parallelism(job)).unwrap_or(0);
    let want = match spec::completions(job) {
        // A work queue: keep `parallelism` pods until one succeeds, then let
        // the running ones finish.
        None if ctx.succeeded > 0 => active,
        None => parallelism,
        Some(c) => usize::try_from(c.saturating_sub(ctx.succeeded))
            .unwrap_or(0)
            .min(parallelism),
    };
    let mut remove = active_pods_for_removal(job, &ctx.active, active.saturating_sub(want));
    if !remove.is_empty() {
        remove.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        return deletion(remove);
    }
    let terminating = if spec::only_replace_failed_pods(job) {
        usize::try_from(ctx.terminating).unwrap_or(0)
    } else {
        0
    };
    let diff = want.saturating_sub(terminating).saturating_sub(active);
    if diff == 0 {
        return PodsPlan::Nothing;
    }
    let per_index = spec::has_backoff_limit_per_index(job);
    if !per_index {
        let wait = ctx.backoff.remaining(ctx.now);
        if !wait.is_zero() {
            return PodsPlan::Wait(wait);
        }
    }
    let diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC);
    if !spec::is_indexed(job) {
        return PodsPlan::Create(vec![
            NewPod {
                index: None,
                failure_counts: None,
            };
            diff
        ]);
    }
    let mut indexes = indexed::first_pending_indexes(
        job,
        &ctx.active,
        ctx.pods,
        &ctx.succeeded_indexes,
        ctx.failed_indexes.as_ref(),
        diff,
        completions_bound(job),
    );
    if per_index {
        let remaining: Vec<(usize, Duration)> = indexes
            .iter()
            .map(|ix| {
                (
                    *ix,
                    remaining_for_index(ctx.delayed_deletion.get(ix).copied(), ctx.now),
                )
            })
            .collect();
        let now: Vec<usize> = remaining
            .iter()
            .filter(|(_, d)| d.is_zero())
            .map(|(ix, _)| *ix)
            .collect();
        if now.is_empty()
            && let Some(min) = remaining.iter().map(|(_, d)| *d).min()
        {
            return PodsPlan::Wait(min);
        }
        indexes = now;
    }
    if indexes.is_empty() {
        return PodsPlan::Nothing;
    }
    PodsPlan::Create(
        indexes
            .into_iter()
            .map(|ix| NewPod {
                index: Some(ix),
                failure_counts: per_index.then(|| {
                    indexed::new_failure_counts(job, ctx.delayed_deletion.get(&ix).copied())
                }),
            })
            .collect(),
    )
}

fn deletion(pods: Vec<&Pod>) -> PodsPlan {
    if pods.is_empty() {
        PodsPlan::Nothing
    } else {
        PodsPlan::Delete(pods.into_iter().map(PodToDelete::of).collect())
    }
}

/// When to look at a Job again to observe its `activeDeadlineSeconds` after a
/// spec change (upstream `updateJob`): the deadline counted from
/// `status.startTime`, at once when already past.
pub fn deadline_requeue(job: &Job, now: Timestamp) -> Option<Duration> {
    let ads = spec::spec(job).active_deadline_seconds?;
    let start = job.status.as_ref()?.start_time.as_ref()?.0;
    let at = add(start, Duration::from_secs(u64::try_from(ads).unwrap_or(0)));
    Some(since(at, now))
}

#[cfg(test)]
mod tests;
