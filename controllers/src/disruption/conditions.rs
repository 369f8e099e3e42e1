//! The `DisruptionAllowed` condition of a PodDisruptionBudget (upstream
//! `component-helpers/apps/poddisruptionbudget`), written with apimachinery's
//! `meta.SetStatusCondition`, and the pod condition the stale-disruption cleanup
//! resets (`pkg/api/v1/pod.UpdatePodCondition`).

use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The condition type (`policy.DisruptionAllowedCondition`).
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Reason while disruptions are allowed (`policy.SufficientPodsReason`).
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Reason while none is (`policy.InsufficientPodsReason`).
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Reason after a failed sync (`policy.SyncFailedReason`).
pub const SYNC_FAILED: &str = "SyncFailed";
/// The pod condition evictions set (`v1.DisruptionTarget`).
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// The `DisruptionTarget` reason the kubelet sets, never considered stale
/// (`v1.PodReasonTerminationByKubelet`).
pub const TERMINATION_BY_KUBELET: &str = "TerminationByKubelet";

/// Conditions are stamped with whole seconds, as `metav1.Time` serializes them.
fn whole_seconds(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// `meta.SetStatusCondition`: adds the condition of `type_`, stamped at `now`, or
/// updates the one there (its transition time moves only when its status changes).
/// Answers whether anything changed.
pub fn set_status_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    observed_generation: i64,
    now: Timestamp,
) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) else {
        conditions.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: Some(observed_generation),
            last_transition_time: whole_seconds(now),
        });
        return true;
    };
    let mut changed = false;
    if existing.status != status {
        existing.status = status.to_string();
        existing.last_transition_time = whole_seconds(now);
        changed = true;
    }
    if existing.reason != reason {
        existing.reason = reason.to_string();
        changed = true;
    }
    if existing.message != message {
        existing.message = message.to_string();
        changed = true;
    }
    if existing.observed_generation != Some(observed_generation) {
        existing.observed_generation = Some(observed_generation);
        changed = true;
    }
    changed
}

/// Upstream `UpdateDisruptionAllowedCondition`: `True`/`SufficientPods` while
/// `disruptionsAllowed > 0`, else `False`/`InsufficientPods`, observed at the
/// status's `observedGeneration`.
pub fn update_disruption_allowed_condition(status: &mut PodDisruptionBudgetStatus, now: Timestamp) {
    let (value, reason) = if status.disruptions_allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    let generation = status.observed_generation.unwrap_or(0);
    set_status_condition(
        status.conditions.get_or_insert_default(),
        DISRUPTION_ALLOWED,
        value,
        reason,
        "",
        generation,
        now,
    );
}

/// Upstream `ConditionsAreUpToDate`: the condition exists, the status observed the
/// current generation, and status and reason agree with `disruptionsAllowed`.
pub fn conditions_are_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let Some(status) = pdb.status.as_ref() else {
        return false;
    };
    let Some(cond) = status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    else {
        return false;
    };
    if status.observed_generation.unwrap_or(0) != pdb.metadata.generation.unwrap_or(0) {
        return false;
    }
    if status.disruptions_allowed > 0 {
        cond.status == "True" && cond.reason == SUFFICIENT_PODS
    } else {
        cond.status == "False" && cond.reason == INSUFFICIENT_PODS
    }
}

/// `UpdatePodCondition`: puts `condition` (stamped at `now`, or keeping the old
/// transition time when its status is unchanged) in place of the pod's condition of
/// its type, or appends it. Answers whether anything changed.
pub fn update_pod_condition(
    status: &mut PodStatus,
    mut condition: PodCondition,
    now: Timestamp,
) -> bool {
    condition.last_transition_time = Some(whole_seconds(now));
    let conditions = status.conditions.get_or_insert_default();
    let Some(old) = conditions.iter_mut().find(|c| c.type_ == condition.type_) else {
        conditions.push(condition);
        return true;
    };
    if old.status == condition.status {
        condition.last_transition_time = old.last_transition_time.clone();
    }
    let equal = old.status == condition.status
        && old.reason == condition.reason
        && old.message == condition.message
        && old.last_probe_time == condition.last_probe_time
        && old.last_transition_time == condition.last_transition_time;
    *old = condition;
    !equal
}
