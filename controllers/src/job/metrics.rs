//! The Job controller's metrics (upstream `pkg/controller/job/metrics`), with
//! upstream's names, labels, label values and buckets, in capstan-runtime's
//! registry, so `capstan controller-manager` serves them on `/metrics`:
//!
//! - `job_controller_job_sync_duration_seconds{completion_mode,result,action}`
//!   and `job_controller_job_syncs_total{…}`: every sync of a Job that is
//!   neither gone, finished, managed elsewhere nor of an unknown completion mode;
//! - `job_controller_jobs_finished_total{completion_mode,result,reason}`;
//! - `job_controller_job_pods_finished_total{completion_mode,result}`: pods
//!   counted into `succeeded`/`failed` (for an Indexed Job, the change of its
//!   completed indexes);
//! - `job_controller_pod_failures_handled_by_failure_policy_total{action}`;
//! - `job_controller_terminated_pods_tracking_finalizer_total{event}`: terminal
//!   pods with the tracking finalizer appearing (`add`) in and leaving
//!   (`delete`) the informer's view;
//! - `job_controller_job_pods_creation_total{reason,status}`.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use capstan_runtime::metrics::{
    HistogramVec, IntCounterVec, counter_vec, exponential_buckets, histogram_vec,
};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;

use super::conditions::COMPLETE;
use super::indexed::{OrderedIntervals, completions_bound};
use super::pods::{has_tracking_finalizer, is_terminal};
use super::spec;

/// `action` of a sync whose expectations were pending, or that deleted the
/// active pods of a finishing Job.
pub const ACTION_RECONCILING: &str = "reconciling";
/// `action` of a sync that neither created nor deleted pods.
pub const ACTION_TRACKING: &str = "tracking";
/// `action` of a sync that created pods (or waits out the pod-failure backoff to).
pub const ACTION_PODS_CREATED: &str = "pods_created";
/// `action` of a sync that deleted pods (suspended, or too many).
pub const ACTION_PODS_DELETED: &str = "pods_deleted";

/// `result`/`status` value of a success.
pub const SUCCEEDED: &str = "succeeded";
/// `result`/`status` value of a failure.
pub const FAILED: &str = "failed";
/// `result` of a sync that returned no error.
pub const SYNC_SUCCESS: &str = "success";
/// `result` of a sync that returned an error.
pub const SYNC_ERROR: &str = "error";

/// `event` of a terminal pod with the tracking finalizer appearing.
pub const FINALIZER_ADD: &str = "add";
/// `event` of such a pod leaving (finalizer removed, or the pod gone).
pub const FINALIZER_DELETE: &str = "delete";

/// `reason` of a first pod creation.
pub const CREATE_NEW: &str = "new";
/// `reason` of a replacement of terminating or failed pods.
pub const RECREATE_TERMINATING_OR_FAILED: &str = "recreate_terminating_or_failed";
/// `reason` of a replacement of failed pods under `podReplacementPolicy: Failed`.
pub const RECREATE_FAILED: &str = "recreate_failed";

static SYNC_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "job_controller_job_sync_duration_seconds",
        "The time it took to sync a job",
        &["completion_mode", "result", "action"],
        exponential_buckets(0.004, 2.0, 15),
    )
});

static SYNCS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_job_syncs_total",
        "The number of job syncs",
        &["completion_mode", "result", "action"],
    )
});

static JOBS_FINISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_jobs_finished_total",
        "The number of finished jobs",
        &["completion_mode", "result", "reason"],
    )
});

static PODS_FINISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_job_pods_finished_total",
        "The number of finished Pods that are fully tracked",
        &["completion_mode", "result"],
    )
});

static POLICY_ACTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_pod_failures_handled_by_failure_policy_total",
        "The number of failed Pods handled by failure policy with respect to the failure policy action applied based on the matched rule. Possible values of the action label correspond to the possible values for the failure policy rule action, which are: \"FailJob\", \"Ignore\" and \"Count\".",
        &["action"],
    )
});

static TRACKING_FINALIZERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_terminated_pods_tracking_finalizer_total",
        "The number of terminated pods (phase=Failed|Succeeded) that have the finalizer batch.kubernetes.io/job-tracking. The event label can be \"add\" or \"delete\".",
        &["event"],
    )
});

static PODS_CREATED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "job_controller_job_pods_creation_total",
        "The number of Pods created by the Job controller labelled with a reason for the Pod creation.\nThis metric also distinguishes between Pods created using different PodReplacementPolicy settings.\nPossible values of the \"reason\" label are:\n\"new\", \"recreate_terminating_or_failed\", \"recreate_failed\".\nPossible values of the \"status\" label are:\n\"succeeded\", \"failed\".",
        &["reason", "status"],
    )
});

/// Records one sync of `job` that took `elapsed`, ended with an error or not,
/// having done `action` (one of the `ACTION_*` values).
pub fn record_sync(job: &Job, ok: bool, action: &str, elapsed: Duration) {
    let labels = [
        spec::completion_mode(job),
        if ok { SYNC_SUCCESS } else { SYNC_ERROR },
        action,
    ];
    SYNC_DURATION
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    SYNCS.with_label_values(&labels).inc();
}

/// Records `job` finishing with the terminal condition `cond` (upstream
/// `recordJobFinished`): `succeeded` for `Complete`, else `failed`, by the
/// condition's reason.
pub fn record_finished(job: &Job, cond: &JobCondition) {
    let result = if cond.type_ == COMPLETE {
        SUCCEEDED
    } else {
        FAILED
    };
    JOBS_FINISHED
        .with_label_values(&[
            spec::completion_mode(job),
            result,
            cond.reason.as_deref().unwrap_or(""),
        ])
        .inc();
}

/// The completed indexes a status lists below `completions`.
fn completed_indexes(status: &JobStatus, completions: usize) -> i64 {
    let listed = status.completed_indexes.as_deref().unwrap_or("");
    let total = OrderedIntervals::parse(listed, completions).total();
    i64::try_from(total).unwrap_or(i64::MAX)
}

/// Records the pods a status write counted (upstream `recordJobPodFinished`):
/// the growth of `succeeded` (of the completed indexes below `completions`
/// for an Indexed Job) and of `failed` from `old` to `job`'s status.
pub fn record_pods_finished(job: &Job, old: &JobStatus) {
    let new = spec::status(job);
    let succeeded = if spec::is_indexed(job) {
        let completions = completions_bound(job);
        if new.completed_indexes == old.completed_indexes {
            0
        } else {
            completed_indexes(&new, completions) - completed_indexes(old, completions)
        }
    } else {
        i64::from(new.succeeded.unwrap_or(0)) - i64::from(old.succeeded.unwrap_or(0))
    };
    let failed = i64::from(new.failed.unwrap_or(0)) - i64::from(old.failed.unwrap_or(0));
    let mode = spec::completion_mode(job);
    for (result, diff) in [(SUCCEEDED, succeeded), (FAILED, failed)] {
        if let Ok(n) = u64::try_from(diff)
            && n > 0
        {
            PODS_FINISHED.with_label_values(&[mode, result]).inc_by(n);
        }
    }
}

/// Records the failed pods the pod failure policy handled in one sync, by the
/// action of the rule that matched.
pub fn record_failure_policy_actions(by_action: &BTreeMap<&'static str, u64>) {
    for (action, n) in by_action {
        POLICY_ACTIONS.with_label_values(&[action]).inc_by(*n);
    }
}

/// Whether `pod` is terminal and still carries the tracking finalizer.
fn finished_with_finalizer(pod: Option<&Pod>) -> bool {
    pod.is_some_and(|p| is_terminal(p) && has_tracking_finalizer(p))
}

/// Records a pod event (upstream `recordFinishedPodWithTrackingFinalizer`):
/// `add` when the pod became terminal with the tracking finalizer, `delete`
/// when such a pod lost it or went away (`old` `None` for an added pod, `new`
/// `None` for a deleted one).
pub fn record_tracking_finalizer(old: Option<&Pod>, new: Option<&Pod>) {
    let (was, is) = (finished_with_finalizer(old), finished_with_finalizer(new));
    if was != is {
        let event = if is { FINALIZER_ADD } else { FINALIZER_DELETE };
        TRACKING_FINALIZERS.with_label_values(&[event]).inc();
    }
}

/// Why a sync creates pods (upstream `recordJobPodsCreationTotal`): to
/// replace failed pods under `podReplacementPolicy: Failed`, to replace
/// terminating or failed ones, or new ones.
pub fn creation_reason(job: &Job, failed: i32, terminating: i32) -> &'static str {
    let policy = spec::spec(job).pod_replacement_policy.as_deref();
    if policy == Some("Failed") && failed > 0 {
        RECREATE_FAILED
    } else if failed > 0 || terminating > 0 {
        RECREATE_TERMINATING_OR_FAILED
    } else {
        CREATE_NEW
    }
}

/// Records the pod creations of one sync for `reason`.
pub fn record_pods_created(reason: &str, succeeded: u64, failed: u64) {
    for (status, n) in [(SUCCEEDED, succeeded), (FAILED, failed)] {
        if n > 0 {
            PODS_CREATED.with_label_values(&[reason, status]).inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests;
