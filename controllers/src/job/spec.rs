//! What the controller reads of a Job's spec and conditions, with the API
//! server's defaults applied where a field may be missing (upstream reads the
//! defaulted fields directly).

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};

use super::JOB_CONTROLLER_NAME;
use super::conditions::{COMPLETE, FAILED, SUCCESS_CRITERIA_MET, find};

/// The Job's spec (empty when missing).
pub fn spec(job: &Job) -> &JobSpec {
    static EMPTY: std::sync::OnceLock<JobSpec> = std::sync::OnceLock::new();
    job.spec
        .as_ref()
        .unwrap_or_else(|| EMPTY.get_or_init(JobSpec::default))
}

/// The Job's status (empty when missing).
pub fn status(job: &Job) -> JobStatus {
    job.status.clone().unwrap_or_default()
}

/// `spec.completions`: `None` for a work-queue Job (any success completes it).
pub fn completions(job: &Job) -> Option<i32> {
    spec(job).completions
}

/// `spec.parallelism`, defaulted to 1.
pub fn parallelism(job: &Job) -> i32 {
    spec(job).parallelism.unwrap_or(1)
}

/// `spec.backoffLimit`, defaulted as the API server does (6; unlimited with
/// `backoffLimitPerIndex`).
pub fn backoff_limit(job: &Job) -> i32 {
    spec(job)
        .backoff_limit
        .unwrap_or(if has_backoff_limit_per_index(job) {
            i32::MAX
        } else {
            6
        })
}

/// Whether `completionMode` is `Indexed`.
pub fn is_indexed(job: &Job) -> bool {
    spec(job).completion_mode.as_deref() == Some("Indexed")
}

/// Whether the completion mode is one this controller knows (unset, `NonIndexed`
/// or `Indexed`).
pub fn known_completion_mode(job: &Job) -> bool {
    matches!(
        spec(job).completion_mode.as_deref(),
        None | Some("NonIndexed") | Some("Indexed")
    )
}

/// The completion mode as upstream's metrics and messages name it.
pub fn completion_mode(job: &Job) -> &'static str {
    if is_indexed(job) {
        "Indexed"
    } else {
        "NonIndexed"
    }
}

/// Whether the Job limits failures per index (`backoffLimitPerIndex`).
pub fn has_backoff_limit_per_index(job: &Job) -> bool {
    spec(job).backoff_limit_per_index.is_some()
}

/// `spec.suspend`.
pub fn is_suspended(job: &Job) -> bool {
    spec(job).suspend == Some(true)
}

/// Whether only failed pods are replaced, not terminating ones (upstream
/// `onlyReplaceFailedPods`): `podReplacementPolicy: Failed`, or a pod failure
/// policy.
pub fn only_replace_failed_pods(job: &Job) -> bool {
    spec(job).pod_replacement_policy.as_deref() == Some("Failed")
        || spec(job).pod_failure_policy.is_some()
}

/// The controller named by `spec.managedBy` when it is not this one (upstream
/// `managedByExternalController`): such Jobs are left alone.
pub fn managed_by_other(job: &Job) -> Option<&str> {
    spec(job)
        .managed_by
        .as_deref()
        .filter(|m| *m != JOB_CONTROLLER_NAME)
}

/// The Job's conditions.
pub fn conditions(job: &Job) -> &[JobCondition] {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
}

/// Whether the Job finished: a `Complete` or `Failed` condition is `True`
/// (upstream `IsJobFinished`).
pub fn is_finished(job: &Job) -> bool {
    conditions(job)
        .iter()
        .any(|c| (c.type_ == COMPLETE || c.type_ == FAILED) && c.status == "True")
}

/// The Job's `SuccessCriteriaMet` condition when `True` (upstream
/// `hasSuccessCriteriaMetCondition`).
pub fn success_criteria_met(job: &Job) -> Option<&JobCondition> {
    find(conditions(job), SUCCESS_CRITERIA_MET).filter(|c| c.status == "True")
}

/// The Job's `restartPolicy` of its pod template.
pub fn restart_policy(job: &Job) -> &str {
    spec(job)
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::job;

    #[test]
    fn defaults_and_policies() {
        let mut j = job("pi", Some(3), 2);
        assert_eq!(completions(&j), Some(3));
        assert_eq!(parallelism(&j), 2);
        assert_eq!(backoff_limit(&j), 6);
        assert!(!only_replace_failed_pods(&j));
        j.spec.as_mut().unwrap().backoff_limit = None;
        assert_eq!(backoff_limit(&j), 6, "the API server's default");
        j.spec.as_mut().unwrap().backoff_limit_per_index = Some(1);
        assert_eq!(backoff_limit(&j), i32::MAX);
        j.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
        assert!(only_replace_failed_pods(&j));
        assert_eq!(managed_by_other(&j), None);
        j.spec.as_mut().unwrap().managed_by = Some(JOB_CONTROLLER_NAME.into());
        assert_eq!(managed_by_other(&j), None);
        j.spec.as_mut().unwrap().managed_by = Some("example.com/other".into());
        assert_eq!(managed_by_other(&j), Some("example.com/other"));
        j.spec.as_mut().unwrap().completion_mode = Some("Weird".into());
        assert!(!known_completion_mode(&j));
    }
}
