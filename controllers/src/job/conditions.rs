//! Job conditions: their types and reasons as upstream names them, and
//! upstream's `newCondition` / `ensureJobConditionStatus`.

use k8s_openapi::api::batch::v1::JobCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The Job completed (terminal).
pub const COMPLETE: &str = "Complete";
/// The Job failed (terminal).
pub const FAILED: &str = "Failed";
/// The Job will fail once its pods are gone (interim).
pub const FAILURE_TARGET: &str = "FailureTarget";
/// The Job will complete once its pods are gone (interim).
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// The Job is suspended (`True`) or was resumed (`False`).
pub const SUSPENDED: &str = "Suspended";

/// More failed pods than `backoffLimit` (or too many container restarts).
pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
/// Active longer than `activeDeadlineSeconds`.
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// A `FailJob` rule of the pod failure policy matched a failed pod.
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
/// More failed indexes than `maxFailedIndexes`.
pub const REASON_MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
/// Every index finished and some failed (`backoffLimitPerIndex`).
pub const REASON_FAILED_INDEXES: &str = "FailedIndexes";
/// A rule of the success policy matched.
pub const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
/// `completions` pods succeeded.
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

/// Message of [`REASON_BACKOFF_LIMIT_EXCEEDED`].
pub const MESSAGE_BACKOFF_LIMIT_EXCEEDED: &str = "Job has reached the specified backoff limit";
/// Message of [`REASON_DEADLINE_EXCEEDED`].
pub const MESSAGE_DEADLINE_EXCEEDED: &str = "Job was active longer than specified deadline";
/// Message of [`REASON_MAX_FAILED_INDEXES_EXCEEDED`].
pub const MESSAGE_MAX_FAILED_INDEXES_EXCEEDED: &str =
    "Job has exceeded the specified maximal number of failed indexes";
/// Message of [`REASON_FAILED_INDEXES`].
pub const MESSAGE_FAILED_INDEXES: &str = "Job has failed indexes";
/// Message of [`REASON_COMPLETIONS_REACHED`].
pub const MESSAGE_COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";

/// A condition of `type_` with `status`, probed and transitioned at `now`
/// (upstream `newCondition`).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
        reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        message: Some(message.to_string()).filter(|m| !m.is_empty()),
    }
}

/// The condition of `type_` in `list`, if any.
pub fn find<'a>(list: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    list.iter().find(|c| c.type_ == type_)
}

/// Sets the condition `type_` in `list` to `status`/`reason`/`message`
/// (upstream `ensureJobConditionStatus`): an existing one is replaced when any
/// of them differ; a missing one is appended unless its status is `False`.
/// Returns whether `list` changed.
pub fn ensure(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = c.status == status
            && c.reason.as_deref().unwrap_or("") == reason
            && c.message.as_deref().unwrap_or("") == message;
        if same {
            return false;
        }
        *c = new_condition(type_, status, reason, message, now);
        return true;
    }
    if status != "False" {
        list.push(new_condition(type_, status, reason, message, now));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;

    #[test]
    fn ensure_appends_replaces_and_never_adds_false() {
        let mut list = Vec::new();
        assert!(!ensure(
            &mut list,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            at(1)
        ));
        assert!(list.is_empty());
        assert!(ensure(
            &mut list,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            at(1)
        ));
        assert!(!ensure(
            &mut list,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            at(2)
        ));
        assert!(ensure(
            &mut list,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            at(3)
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "False");
        assert_eq!(list[0].last_transition_time, Some(Time(at(3))));
        assert_eq!(
            find(&list, SUSPENDED).map(|c| c.reason.as_deref()),
            Some(Some("JobResumed"))
        );
    }
}
