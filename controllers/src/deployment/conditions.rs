//! Deployment conditions, reasons and messages as `deployment_util.go`.

use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus, ReplicaSetCondition};
use k8s_openapi::jiff::Timestamp;

use crate::util::time::k8s;

/// Condition type `Available`.
pub const AVAILABLE: &str = "Available";
/// Condition type `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// Condition type `ReplicaFailure`.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// `Progressing` reason: a ReplicaSet was scaled as part of the rollout.
pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
/// `Progressing` reason: creating the new ReplicaSet failed.
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
/// `Progressing` reason: the new ReplicaSet was created.
pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
/// `Progressing` reason: an existing ReplicaSet was found to be the new one.
pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
/// `Progressing` reason: the rollout completed.
pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
/// `Progressing` reason: no progress within `progressDeadlineSeconds`.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
/// `Progressing` reason: the Deployment is paused.
pub const DEPLOYMENT_PAUSED: &str = "DeploymentPaused";
/// `Progressing` reason: the Deployment was resumed.
pub const DEPLOYMENT_RESUMED: &str = "DeploymentResumed";
/// `Available` reason: enough pods are available.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// `Available` reason: too few pods are available.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// A new condition stamped with `now` (seconds precision, as stored) for both
/// times (upstream `NewDeploymentCondition`).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(k8s(now)),
        last_transition_time: Some(k8s(now)),
    }
}

/// The condition of `type_`, if any.
pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The condition of `type_` in an optional status.
pub fn get_in<'a>(
    status: Option<&'a DeploymentStatus>,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status.and_then(|s| get(s, type_))
}

/// Sets `cond` unless one of its type with the same status and reason exists;
/// keeps the old `lastTransitionTime` when only the reason changes (upstream
/// `SetDeploymentCondition`). The condition moves to the end of the list.
pub fn set(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove(status, &cond.type_);
    status.conditions.get_or_insert_default().push(cond);
}

/// Removes the condition of `type_` (upstream `RemoveDeploymentCondition`).
pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
        if cs.is_empty() {
            status.conditions = None;
        }
    }
}

/// A ReplicaSet's condition as a Deployment condition, its transition time used
/// for both times (upstream `ReplicaSetToDeploymentCondition`).
pub fn from_replica_set(c: &ReplicaSetCondition) -> DeploymentCondition {
    DeploymentCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_update_time: c.last_transition_time.clone(),
        last_transition_time: c.last_transition_time.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;

    #[test]
    fn same_status_and_reason_is_a_no_op_and_reason_changes_keep_transition_time() {
        let mut s = DeploymentStatus::default();
        set(
            &mut s,
            new_condition(
                PROGRESSING,
                "True",
                NEW_REPLICA_SET_CREATED,
                "a".into(),
                at(1),
            ),
        );
        set(
            &mut s,
            new_condition(
                PROGRESSING,
                "True",
                NEW_REPLICA_SET_CREATED,
                "b".into(),
                at(2),
            ),
        );
        let c = get(&s, PROGRESSING).unwrap();
        assert_eq!(c.message.as_deref(), Some("a"));
        set(
            &mut s,
            new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, "c".into(), at(3)),
        );
        let c = get(&s, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(REPLICA_SET_UPDATED));
        assert_eq!(c.last_transition_time, Some(k8s(at(1))));
        assert_eq!(c.last_update_time, Some(k8s(at(3))));
        set(
            &mut s,
            new_condition(
                PROGRESSING,
                "False",
                PROGRESS_DEADLINE_EXCEEDED,
                "d".into(),
                at(4),
            ),
        );
        assert_eq!(
            get(&s, PROGRESSING).unwrap().last_transition_time,
            Some(k8s(at(4)))
        );
        remove(&mut s, PROGRESSING);
        assert_eq!(s.conditions, None);
    }
}
