//! Stale `DisruptionTarget` conditions (upstream's `stalePodDisruption` queue): a
//! pod marked `DisruptionTarget=True` by an eviction or a taint manager but not
//! deleted within [`STALE_POD_DISRUPTION_TIMEOUT`] gets the condition reset to
//! `False` (with no reason, as upstream writes it), so it no longer reads as about to
//! go.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{DISRUPTION_TARGET, TERMINATION_BY_KUBELET, update_pod_condition};
use crate::util::time;

/// Upstream's `stalePodDisruptionTimeout`.
pub const STALE_POD_DISRUPTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Upstream `nonTerminatingPodHasStaleDisruptionCondition`: `None` unless the pod,
/// not being deleted and not in a terminal phase, has `DisruptionTarget=True` set by
/// someone other than the kubelet; else how long until that condition is stale
/// (zero once it is).
pub fn stale_disruption_in(pod: &Pod, now: Timestamp, timeout: Duration) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let cond = status
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == DISRUPTION_TARGET)?;
    if cond.status != "True" || cond.reason.as_deref() == Some(TERMINATION_BY_KUBELET) {
        return None;
    }
    // A condition without a transition time counts as set at the zero time: stale.
    let since = cond
        .last_transition_time
        .as_ref()
        .map_or(Duration::MAX, |t| time::since(now, t.0));
    Some(timeout.saturating_sub(since))
}

/// The pod's status with `DisruptionTarget` reset to `False` (upstream
/// `syncStalePodDisruption`), `None` when that changes nothing.
pub fn reset_disruption_target(pod: &Pod, now: Timestamp) -> Option<PodStatus> {
    let mut status = pod.status.clone().unwrap_or_default();
    let reset = PodCondition {
        type_: DISRUPTION_TARGET.to_string(),
        status: "False".to_string(),
        ..Default::default()
    };
    update_pod_condition(&mut status, reset, now).then_some(status)
}
