//! Pod predicates as `k8s.io/kubernetes/pkg/api/v1/pod` and
//! `pkg/controller/controller_utils.go` define them.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::jiff::Timestamp;

use super::time;

/// The `Ready` condition of a pod, if it has one (upstream `GetPodReadyCondition`).
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// True when the pod's `Ready` condition is `True` (upstream `IsPodReady`).
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When a ready pod last became ready: the `Ready` condition's
/// `lastTransitionTime`; `None` when the pod is not ready or the time is unset
/// (upstream `podReadyTime` returns the zero time then).
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    if !is_ready(pod) {
        return None;
    }
    ready_condition(pod)?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// True when the pod has been ready for at least `min_ready_seconds` at `now`
/// (upstream `IsPodAvailable`: ready, and either `minReadySeconds == 0` or the
/// `Ready` transition time plus `minReadySeconds` is strictly before `now`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match ready_condition(pod).and_then(|c| c.last_transition_time.as_ref()) {
        Some(t) => time::add(t.0, min_ready_duration(min_ready_seconds)) < now,
        None => false,
    }
}

/// How long until a ready but not yet available pod becomes available, or `None`
/// when the pod is not ready, is already available, or never can be (no
/// transition time). Lets a controller requeue exactly when availability changes.
pub fn available_in(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Duration> {
    if !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let since = ready_condition(pod)?.last_transition_time.as_ref()?.0;
    let at = time::add(since, min_ready_duration(min_ready_seconds));
    // Available once strictly after `at`: wait until then (at least a millisecond).
    Some(time::since(at, now).max(Duration::from_millis(1)))
}

fn min_ready_duration(min_ready_seconds: i32) -> Duration {
    Duration::from_secs(u64::try_from(min_ready_seconds).unwrap_or(0))
}

/// The pod's phase, `""` when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// True for pods that still count towards a controller's replicas: not
/// `Succeeded`, not `Failed`, not being deleted (upstream `IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `spec.nodeName`, `""` when unscheduled.
pub fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// The highest restart count among the pod's containers (upstream
/// `maxContainerRestarts`, which looks at `containerStatuses` only).
pub fn max_container_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// The `controller.kubernetes.io/pod-deletion-cost` annotation key.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The pod's deletion cost: the annotation parsed as an int32, `0` when absent or
/// invalid (upstream `GetDeletionCostFromPodAnnotations`, whose error is ignored by
/// the ranking).
pub fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod, ready_pod};

    #[test]
    fn readiness_follows_the_ready_condition() {
        let p = pod("a");
        assert!(!is_ready(&p));
        let r = ready_pod("b", at(100));
        assert!(is_ready(&r));
        assert_eq!(ready_since(&r), Some(at(100)));
    }

    #[test]
    fn availability_waits_strictly_past_min_ready_seconds() {
        let r = ready_pod("b", at(100));
        assert!(is_available(&r, 0, at(100)));
        assert!(!is_available(&r, 10, at(105)));
        // Exactly at ready+minReady is not yet available (strictly before now).
        assert!(!is_available(&r, 10, at(110)));
        assert!(is_available(&r, 10, at(111)));
        assert_eq!(available_in(&r, 10, at(105)), Some(Duration::from_secs(5)));
        assert_eq!(available_in(&r, 10, at(111)), None);
        assert!(!is_available(&pod("x"), 0, at(1)));
    }

    #[test]
    fn activity_excludes_terminal_and_deleting_pods() {
        let mut p = pod("a");
        assert!(is_active(&p));
        p.status.get_or_insert_default().phase = Some("Succeeded".into());
        assert!(!is_active(&p));
        p.status.get_or_insert_default().phase = Some("Failed".into());
        assert!(!is_active(&p));
        let mut q = pod("b");
        q.metadata.deletion_timestamp = Some(time::k8s(at(5)));
        assert!(!is_active(&q));
    }

    #[test]
    fn deletion_cost_parses_int32_and_defaults_to_zero() {
        let mut p = pod("a");
        assert_eq!(deletion_cost(&p), 0);
        p.metadata
            .annotations
            .get_or_insert_default()
            .insert(POD_DELETION_COST.into(), "-5".into());
        assert_eq!(deletion_cost(&p), -5);
        p.metadata
            .annotations
            .get_or_insert_default()
            .insert(POD_DELETION_COST.into(), "nope".into());
        assert_eq!(deletion_cost(&p), 0);
    }
}
