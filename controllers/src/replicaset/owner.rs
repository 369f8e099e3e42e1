//! What the ReplicaSet controller's logic needs from the object it keeps
//! replicas of: a ReplicaSet, or a ReplicationController (upstream's
//! `pkg/controller/replication` runs the ReplicaSet controller over RCs converted
//! to ReplicaSets; here the logic is generic over [`ReplicaSetLike`] and converts
//! only the status).

use capstan_runtime::status::HasStatus;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};

use crate::util::pod_control::PodOwner;

/// An owner of a fixed number of identical pods, synced by the ReplicaSet
/// controller's logic. Its status is read and written through the ReplicaSet
/// status shape (same counts, `ReplicaFailure` condition and observed
/// generation).
pub trait ReplicaSetLike: PodOwner + HasStatus {
    /// The work queue name (upstream's: `replicaset`, `replicationmanager`).
    const QUEUE_NAME: &'static str;
    /// The component Events are reported under (`replicaset-controller`,
    /// `replication-controller`).
    const REPORTING_CONTROLLER: &'static str;

    /// `spec.replicas`, defaulted to 1 as the API server defaults it.
    fn replicas(&self) -> i32;

    /// `spec.minReadySeconds` (0 when unset).
    fn min_ready_seconds(&self) -> i32;

    /// The status in the ReplicaSet shape (empty when unset).
    fn replica_set_status(&self) -> ReplicaSetStatus;

    /// The kind's status holding `status`.
    fn status_from(status: ReplicaSetStatus) -> Self::Status;
}

/// The [`ReplicaSetLike`] spec accessors of a kind whose `spec` has `replicas`
/// (defaulted to 1 as the API server defaults it) and `minReadySeconds`.
macro_rules! spec_accessors {
    () => {
        fn replicas(&self) -> i32 {
            self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
        }

        fn min_ready_seconds(&self) -> i32 {
            self.spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
        }
    };
}
pub(crate) use spec_accessors;

impl ReplicaSetLike for ReplicaSet {
    const QUEUE_NAME: &'static str = "replicaset";
    const REPORTING_CONTROLLER: &'static str = "replicaset-controller";

    spec_accessors!();

    fn replica_set_status(&self) -> ReplicaSetStatus {
        self.status.clone().unwrap_or_default()
    }

    fn status_from(status: ReplicaSetStatus) -> ReplicaSetStatus {
        status
    }
}
