//! The disruption controller's arithmetic, pure: upstream's `getExpectedPodCount`
//! (what `minAvailable`/`maxUnavailable` resolve to), `buildDisruptedPodMap`,
//! `countHealthyPods`, `updatePdbStatus` and `failSafe`. The shell finds the pods and
//! their controllers' scale; everything decided from them is here, given `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::conditions::{
    DISRUPTION_ALLOWED, SYNC_FAILED, conditions_are_up_to_date, set_status_condition,
    update_disruption_allowed_condition,
};
use crate::util::intstr::{InvalidIntOrPercent, scaled_value};
use crate::util::pod::is_ready;
use crate::util::time;

/// Upstream's `DeletionTimeout`: how long a pod recorded in `disruptedPods` by an
/// eviction is expected to take to be marked for deletion; after that the entry is
/// dropped (the eviction is assumed not to have happened).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// What a budget's `minAvailable` or `maxUnavailable` needs from the pods'
/// controllers: upstream asks their scale only for `maxUnavailable` and for a
/// percentage `minAvailable`; an integer `minAvailable` counts the pods instead.
pub fn needs_controller_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `expectedPods` and `desiredHealthy` of a budget (upstream `getExpectedPodCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expectation {
    /// `expectedPods`: the sum of the controllers' scale, or the number of pods for
    /// an integer `minAvailable`.
    pub expected_count: i32,
    /// `desiredHealthy`: how many healthy pods the budget keeps.
    pub desired_healthy: i32,
}

/// Resolves the budget's bounds. `pod_count` is the number of pods the selector
/// matches; `scale` the sum of their controllers' scale, which the caller computes
/// when [`needs_controller_scale`] says so (0 otherwise). Percentages round up, for
/// `maxUnavailable` as for `minAvailable` (`GetScaledValueFromIntOrPercent(.., true)`);
/// `desiredHealthy` never goes below 0. A budget with neither bound expects nothing.
pub fn expectation(
    spec: &PodDisruptionBudgetSpec,
    pod_count: i32,
    scale: i32,
) -> Result<Expectation, InvalidIntOrPercent> {
    if let Some(max_unavailable) = &spec.max_unavailable {
        let max = scaled_value(max_unavailable, scale, true)?;
        return Ok(Expectation {
            expected_count: scale,
            desired_healthy: scale.saturating_sub(max).max(0),
        });
    }
    Ok(match &spec.min_available {
        Some(IntOrString::Int(min)) => Expectation {
            expected_count: pod_count,
            desired_healthy: *min,
        },
        Some(pct @ IntOrString::String(_)) => Expectation {
            expected_count: scale,
            desired_healthy: scaled_value(pct, scale, true)?,
        },
        None => Expectation::default(),
    })
}

/// The `disruptedPods` a sync keeps (upstream `buildDisruptedPodMap`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisruptedPods {
    /// Entries of pods that exist, are not yet being deleted and whose eviction is
    /// younger than [`DELETION_TIMEOUT`].
    pub kept: BTreeMap<String, Time>,
    /// When the youngest-expiring kept entry expires: the budget is synced again then.
    pub recheck_at: Option<Timestamp>,
    /// Pods whose entry expired without the pod being deleted (each gets upstream's
    /// `NotDeleted` event).
    pub expired: Vec<String>,
}

/// Drops the `disruptedPods` entries of pods that are gone or being deleted, and
/// those older than [`DELETION_TIMEOUT`] at `now`.
pub fn build_disrupted_pod_map(
    pods: &[&Pod],
    recorded: Option<&BTreeMap<String, Time>>,
    now: Timestamp,
) -> DisruptedPods {
    let mut out = DisruptedPods::default();
    let Some(recorded) = recorded else {
        return out;
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let Some(at) = recorded.get(name) else {
            continue;
        };
        let expected_deletion = time::add(at.0, DELETION_TIMEOUT);
        if expected_deletion < now {
            out.expired.push(name.to_string());
        } else {
            if out.recheck_at.is_none_or(|r| expected_deletion < r) {
                out.recheck_at = Some(expected_deletion);
            }
            out.kept.insert(name.to_string(), at.clone());
        }
    }
    out
}

/// `currentHealthy` (upstream `countHealthyPods`): Ready pods that are neither being
/// deleted nor recorded as disrupted within [`DELETION_TIMEOUT`] of `now`.
pub fn count_healthy_pods(
    pods: &[&Pod],
    disrupted: &BTreeMap<String, Time>,
    now: Timestamp,
) -> i32 {
    let healthy = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            disrupted
                .get(name)
                .is_none_or(|at| time::add(at.0, DELETION_TIMEOUT) <= now)
        })
        .filter(|pod| is_ready(pod))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// `disruptionsAllowed`: `currentHealthy - desiredHealthy`, never negative, and 0
/// while the budget expects no pods (so that its first pods are safe before the
/// controller has looked at them).
pub fn disruptions_allowed(current_healthy: i32, desired_healthy: i32, expected: i32) -> i32 {
    let allowed = current_healthy.saturating_sub(desired_healthy);
    if expected <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    }
}

/// The counts one sync computed for a budget.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `currentHealthy`.
    pub current_healthy: i32,
    /// `desiredHealthy` and `expectedPods`.
    pub expectation: Expectation,
    /// `disruptedPods`.
    pub disrupted: BTreeMap<String, Time>,
}

/// The status to write (upstream `updatePdbStatus`), `None` when the stored one
/// already says all of it: counts, `disruptedPods` (an empty map and none are
/// equal), `observedGeneration` and an up-to-date `DisruptionAllowed` condition.
/// Other conditions are kept; the condition is stamped at `now` when its status
/// changes.
pub fn next_status(
    pdb: &PodDisruptionBudget,
    observed: &Observed,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let Expectation {
        expected_count,
        desired_healthy,
    } = observed.expectation;
    let allowed = disruptions_allowed(observed.current_healthy, desired_healthy, expected_count);
    let generation = pdb.metadata.generation.unwrap_or(0);
    let current = pdb.status.clone().unwrap_or_default();
    let stored_disrupted = current.disrupted_pods.clone().unwrap_or_default();
    if current.current_healthy == observed.current_healthy
        && current.desired_healthy == desired_healthy
        && current.expected_pods == expected_count
        && current.disruptions_allowed == allowed
        && stored_disrupted == observed.disrupted
        && current.observed_generation.unwrap_or(0) == generation
        && conditions_are_up_to_date(pdb)
    {
        return None;
    }
    let mut status = PodDisruptionBudgetStatus {
        current_healthy: observed.current_healthy,
        desired_healthy,
        expected_pods: expected_count,
        disruptions_allowed: allowed,
        disrupted_pods: (!observed.disrupted.is_empty()).then(|| observed.disrupted.clone()),
        observed_generation: Some(generation),
        conditions: current.conditions,
    };
    update_disruption_allowed_condition(&mut status, now);
    Some(status)
}

/// The status upstream's `failSafe` writes when a sync fails: the stored one with
/// no disruption allowed and the `DisruptionAllowed` condition `False`, reason
/// `SyncFailed`, the error as its message.
pub fn fail_safe_status(
    pdb: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let observed_generation = status.observed_generation.unwrap_or(0);
    set_status_condition(
        status.conditions.get_or_insert_default(),
        DISRUPTION_ALLOWED,
        "False",
        SYNC_FAILED,
        message,
        observed_generation,
        now,
    );
    status
}

/// What one sync of a budget sees (upstream `trySync` between finding the pods and
/// writing the status).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    /// The counts and `disruptedPods` to write.
    pub observed: Observed,
    /// When to sync again (the next `disruptedPods` entry to expire).
    pub recheck_at: Option<Timestamp>,
    /// Pods whose eviction expired without their deletion (`NotDeleted` events).
    pub expired: Vec<String>,
}

/// Observes a budget over `pods` (those its selector matches), `scale` being the
/// sum of their controllers' scale when [`needs_controller_scale`] (else unused).
pub fn observe(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    scale: i32,
    now: Timestamp,
) -> Result<Observation, InvalidIntOrPercent> {
    let spec = pdb.spec.clone().unwrap_or_default();
    let pod_count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let expectation = expectation(&spec, pod_count, scale)?;
    let recorded = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref());
    let disrupted = build_disrupted_pod_map(pods, recorded, now);
    Ok(Observation {
        observed: Observed {
            current_healthy: count_healthy_pods(pods, &disrupted.kept, now),
            expectation,
            disrupted: disrupted.kept,
        },
        recheck_at: disrupted.recheck_at,
        expired: disrupted.expired,
    })
}
