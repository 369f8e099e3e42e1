//! The ReplicationController controller (upstream `pkg/controller/replication`,
//! `replicationcontroller-controller`): the legacy `v1` ReplicationController is
//! kept at its replica count by the ReplicaSet controller's logic, as upstream's
//! replication manager wraps the ReplicaSet controller.
//!
//! What differs from a ReplicaSet is only the object's shape, said once here by
//! [`ReplicaSetLike`] for [`ReplicationController`]:
//!
//! - its selector is a plain label map, matched as `matchLabels` (see
//!   [`PodOwner`](crate::util::pod_control::PodOwner));
//! - its pods' controller reference is `v1` `ReplicationController`, its Events
//!   are reported by `replication-controller`, its queue is `replicationmanager`;
//! - its status has the same counts (`replicas`, `fullyLabeledReplicas`,
//!   `readyReplicas`, `availableReplicas`, `observedGeneration`) and the
//!   `ReplicaFailure` condition as a `ReplicationControllerCondition`.
//!
//! Adoption of matching orphans, release of pods whose labels stop matching,
//! slow-start creations, deletion ranking, expectations and `minReadySeconds`
//! are the ReplicaSet controller's.

use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerStatus};

use crate::replicaset::ReplicaSetLike;
use crate::replicaset::controller::ReplicaSetController;
use crate::replicaset::owner::spec_accessors;

/// The ReplicationController controller: the ReplicaSet controller over
/// ReplicationControllers (upstream `ReplicationManager`). Build it with a
/// [`ReplicaSetControllerConfig`](crate::replicaset::controller::ReplicaSetControllerConfig)
/// (`--concurrent-rc-syncs` as its workers).
pub type ReplicationManager = ReplicaSetController<ReplicationController>;

impl ReplicaSetLike for ReplicationController {
    const QUEUE_NAME: &'static str = "replicationmanager";
    const REPORTING_CONTROLLER: &'static str = "replication-controller";

    spec_accessors!();

    fn replica_set_status(&self) -> ReplicaSetStatus {
        self.status.as_ref().map(same_shape).unwrap_or_default()
    }

    fn status_from(status: ReplicaSetStatus) -> ReplicationControllerStatus {
        same_shape(&status)
    }
}

/// The same status in the other kind's type: ReplicaSet and ReplicationController
/// statuses have the same fields (the RC lacks only the ReplicaSet's
/// `terminatingReplicas`, which this controller does not compute) and their
/// conditions the same shape, so the JSON of one is the other (upstream's
/// conversion in `pkg/controller/replication/conversion.go` copies field by field).
fn same_shape<A: serde::Serialize, B: serde::de::DeserializeOwned + Default>(a: &A) -> B {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use capstan_runtime::ObjectKey;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::replicaset::status::{REPLICA_FAILURE, plan_status, status_unchanged};
    use crate::replicaset::{ManageReplicas, events, plan_sync};
    use crate::util::pod_control::PodOwner;
    use crate::util::testing::{at, labels, pod, rc, ready_pod, rs};
    use crate::util::time::k8s;
    use k8s_openapi::api::core::v1::ReplicationControllerCondition;

    fn owned_by_rc(
        mut p: k8s_openapi::api::core::v1::Pod,
        c: &ReplicationController,
    ) -> k8s_openapi::api::core::v1::Pod {
        p.metadata.owner_references = Some(vec![c.controller_ref().unwrap()]);
        p
    }

    #[test]
    fn the_status_converts_both_ways_without_loss() {
        let status = ReplicationControllerStatus {
            replicas: 3,
            fully_labeled_replicas: Some(2),
            ready_replicas: Some(2),
            available_replicas: Some(1),
            observed_generation: Some(4),
            conditions: Some(vec![ReplicationControllerCondition {
                type_: REPLICA_FAILURE.into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some("exceeded quota".into()),
                last_transition_time: Some(k8s(at(7))),
            }]),
        };
        let mut c = rc("web", 3, at(0));
        c.status = Some(status.clone());
        let view = c.replica_set_status();
        assert_eq!(view.replicas, 3);
        assert_eq!(
            view.conditions.as_ref().unwrap()[0].reason.as_deref(),
            Some("FailedCreate")
        );
        assert_eq!(ReplicationController::status_from(view), status);
        assert_eq!(
            rc("web", 3, at(0)).replica_set_status(),
            ReplicaSetStatus::default()
        );
    }

    #[test]
    fn replicas_default_to_one_and_the_selector_is_the_label_map() {
        let mut c = rc("web", 2, at(0));
        assert_eq!(c.replicas(), 2);
        c.spec.as_mut().unwrap().replicas = None;
        assert_eq!(c.replicas(), 1);
        let sel = c.pod_selector().unwrap();
        assert_eq!(sel.match_labels, Some(labels(&[("app", "web")])));
        assert_eq!(sel.match_expressions, None);
        assert_eq!(
            plan_sync(&c, &[], &[], true, at(1)),
            ManageReplicas::Create { count: 1 }
        );
    }

    #[test]
    fn a_failed_creation_sets_replica_failure_on_the_controller() {
        let mut c = rc("web", 3, at(0));
        c.metadata.generation = Some(2);
        let a = ready_pod("a", at(0));
        let plan = plan_status(&c, &[&a], Some("exceeded quota"), at(5));
        assert!(plan.write);
        let status = ReplicationController::status_from(plan.status);
        assert_eq!(status.replicas, 1);
        assert_eq!(status.ready_replicas, Some(1));
        assert_eq!(status.observed_generation, Some(2));
        let cond = &status.conditions.unwrap()[0];
        assert_eq!(
            (cond.type_.as_str(), cond.status.as_str()),
            (REPLICA_FAILURE, "True")
        );
        assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(cond.message.as_deref(), Some("exceeded quota"));
        // Once written and observed, the same outcome writes nothing.
        let written = ReplicationController::status_from(
            plan_status(&c, &[&a], Some("exceeded quota"), at(5)).status,
        );
        c.status = Some(written);
        let again = plan_status(&c, &[&a], Some("exceeded quota"), at(9));
        assert!(status_unchanged(&c, &again.status));
        assert!(!again.write);
    }

    #[test]
    fn pod_events_reach_only_owners_of_the_referenced_kind() {
        let c = rc("web", 1, at(0));
        // A ReplicaSet of the same name and UID: its pods are not the RC's.
        let twin: ReplicaSet = rs("web", 1, at(0));
        let mut by_rs = pod("a");
        by_rs.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: twin.metadata.uid.clone().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        assert_eq!(
            events::pod_added(&by_rs, &[&c]),
            events::Reaction::default()
        );
        let mine = owned_by_rc(pod("b"), &c);
        let r = events::pod_added(&mine, &[&c]);
        assert_eq!(r.creation_observed, Some(ObjectKey::of(&c)));
        // Orphans matching the label map are offered for adoption.
        assert_eq!(
            events::pod_added(&pod("c"), &[&c]).enqueue,
            [ObjectKey::of(&c)]
        );
    }
}
