//! A Deployment's status from its ReplicaSets (upstream `calculateStatus`,
//! `pkg/controller/deployment/sync.go`).

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{
    self, AVAILABLE, MINIMUM_REPLICAS_AVAILABLE, MINIMUM_REPLICAS_UNAVAILABLE,
};
use super::util::{generation, max_unavailable, replicas, status};
use crate::util::replicasets as rsu;

fn nz(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

/// The status normalized as the API server stores it: zero counts and an empty
/// condition list are absent (Go's `omitempty`), so a status read back compares
/// equal to the one computed.
pub fn normalize(mut s: DeploymentStatus) -> DeploymentStatus {
    let z = |v: Option<i32>| v.filter(|v| *v != 0);
    s.replicas = z(s.replicas);
    s.updated_replicas = z(s.updated_replicas);
    s.ready_replicas = z(s.ready_replicas);
    s.available_replicas = z(s.available_replicas);
    s.unavailable_replicas = z(s.unavailable_replicas);
    s.terminating_replicas = z(s.terminating_replicas);
    s.observed_generation = s.observed_generation.filter(|g| *g != 0);
    if s.conditions.as_ref().is_some_and(|c| c.is_empty()) {
        s.conditions = None;
    }
    s
}

/// True when the Deployment's stored status equals `new` (upstream's
/// `reflect.DeepEqual(d.Status, newStatus)` over normalized values).
pub fn status_unchanged(d: &Deployment, new: &DeploymentStatus) -> bool {
    normalize(status(d)) == normalize(new.clone())
}

/// The status of `d` whose ReplicaSets are `all` (`new_rs` among them or absent):
/// `replicas`, `readyReplicas`, `availableReplicas` summed over the ReplicaSets'
/// statuses, `updatedReplicas` from the new one, `unavailableReplicas` as desired
/// sizes minus available (never negative), `observedGeneration`, the stored
/// `collisionCount` and conditions, and `Available` set from `maxUnavailable`.
pub fn calculate_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = rsu::sum_available(all.iter().copied());
    let total = rsu::sum_spec(all.iter().copied());
    let unavailable = (total - available).max(0);
    let stored = status(d);
    let mut s = DeploymentStatus {
        observed_generation: Some(generation(d)).filter(|g| *g != 0),
        replicas: nz(rsu::sum_actual(all.iter().copied())),
        updated_replicas: nz(new_rs.map_or(0, rsu::status_replicas)),
        ready_replicas: nz(rsu::sum_ready(all.iter().copied())),
        available_replicas: nz(available),
        unavailable_replicas: nz(unavailable),
        collision_count: stored.collision_count,
        conditions: stored.conditions.clone().filter(|c| !c.is_empty()),
        terminating_replicas: None,
    };
    let cond = if available >= replicas(d) - max_unavailable(d) {
        conditions::new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        conditions::new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    conditions::set(&mut s, cond);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, deployment, rs, with_status};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn counts_come_from_replica_set_statuses() {
        let d = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
        let old = with_status(rs("old", 8, at(0)), 8, 8);
        let new = with_status(rs("new", 5, at(1)), 5, 0);
        let s = calculate_status(&d, &[&old, &new], Some(&new), at(10));
        assert_eq!(s.replicas, Some(13));
        assert_eq!(s.updated_replicas, Some(5));
        assert_eq!(s.ready_replicas, Some(8));
        assert_eq!(s.available_replicas, Some(8));
        assert_eq!(s.unavailable_replicas, Some(5));
        assert_eq!(s.observed_generation, Some(1));
        let c = conditions::get(&s, AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some(MINIMUM_REPLICAS_AVAILABLE))
        );

        let old7 = with_status(rs("old", 7, at(0)), 7, 7);
        let s = calculate_status(&d, &[&old7, &new], Some(&new), at(10));
        let c = conditions::get(&s, AVAILABLE).unwrap();
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some(MINIMUM_REPLICAS_UNAVAILABLE));
        assert_eq!(
            c.message.as_deref(),
            Some("Deployment does not have minimum availability.")
        );
    }

    #[test]
    fn zero_and_absent_compare_equal() {
        let mut d = deployment(0, IntOrString::Int(1), IntOrString::Int(1));
        let s = calculate_status(&d, &[], None, at(1));
        let mut stored = s.clone();
        stored.replicas = Some(0);
        stored.conditions.as_mut().unwrap();
        d.status = Some(stored);
        assert!(status_unchanged(&d, &s));
    }
}
