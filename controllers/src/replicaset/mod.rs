//! The ReplicaSet controller's planning core (upstream
//! `pkg/controller/replicaset`).
//!
//! A sync is, for the shell's `reconcile` (upstream `syncReplicaSet`, see
//! [`controller`]):
//!
//! 1. claim the active pods matching the RS's selector (capstan-runtime's
//!    `ControllerRefManager`), giving `pods`;
//! 2. [`plan_sync`] → [`ManageReplicas`], performed by
//!    [`ReplicaSetActions::perform`](actions::ReplicaSetActions::perform): create N pods or delete the listed
//!    pods through the shared [`PodControl`](crate::util::pod_control::PodControl)
//!    (pods from the template with the owner's controller reference, slow-start
//!    batches, expectations raised and lowered as upstream), or nothing;
//! 3. [`plan_status`] with the error of step 2, if any → the status to write
//!    (only when changed) and the requeue to observe `minReadySeconds`.
//!
//! The logic is generic over [`ReplicaSetLike`] owners: the ReplicaSet, and the
//! ReplicationController (see [`crate::replicationcontroller`]), as upstream's
//! replication manager runs the ReplicaSet controller.

pub mod actions;
pub mod controller;
pub mod events;
pub mod owner;
pub mod plan;
pub mod ranking;
pub mod status;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

pub use owner::ReplicaSetLike;
pub use plan::{BURST_REPLICAS, ManageReplicas, manage_replicas};
pub use status::{StatusPlan, calculate_status, plan_status};

/// The pod-management decision of upstream `syncReplicaSet`: nothing while creation/deletion
/// expectations are unsatisfied (the cache may not show this controller's own
/// recent writes yet) or while the RS is being deleted; otherwise
/// [`manage_replicas`].
pub fn plan_sync<R: ReplicaSetLike>(
    rs: &R,
    pods: &[&Pod],
    related: &[&Pod],
    expectations_satisfied: bool,
    now: Timestamp,
) -> ManageReplicas {
    if !expectations_satisfied || rs.meta().deletion_timestamp.is_some() {
        return ManageReplicas::Nothing;
    }
    manage_replicas(rs, pods, related, now)
}

/// The active pods among `pods` (upstream `FilterActivePods`).
pub fn filter_active<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<&'a Pod> {
    pods.into_iter()
        .filter(|p| crate::util::pod::is_active(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod, rs};
    use crate::util::time::k8s;

    #[test]
    fn nothing_happens_until_expectations_are_met_or_while_deleting() {
        let r = rs("web", 3, at(0));
        assert_eq!(
            plan_sync(&r, &[], &[], false, at(1)),
            ManageReplicas::Nothing
        );
        assert_eq!(
            plan_sync(&r, &[], &[], true, at(1)),
            ManageReplicas::Create { count: 3 }
        );
        let mut deleting = r.clone();
        deleting.metadata.deletion_timestamp = Some(k8s(at(1)));
        assert_eq!(
            plan_sync(&deleting, &[], &[], true, at(1)),
            ManageReplicas::Nothing
        );
    }

    #[test]
    fn inactive_pods_do_not_count() {
        let a = pod("a");
        let mut done = pod("done");
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let active = filter_active([&a, &done]);
        assert_eq!(active.len(), 1);
        let r = rs("web", 2, at(0));
        assert_eq!(
            plan_sync(&r, &active, &active, true, at(1)),
            ManageReplicas::Create { count: 1 }
        );
    }
}
