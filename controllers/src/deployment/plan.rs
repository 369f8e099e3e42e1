//! What a Deployment sync asks the shell to do.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

/// An Event to record on the Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// The reason, e.g. `ScalingReplicaSet`.
    pub reason: &'static str,
    /// The message, as upstream formats it.
    pub message: String,
}

impl PlannedEvent {
    /// A `Normal` event.
    pub fn normal(reason: &'static str, message: String) -> Self {
        Self {
            type_: "Normal",
            reason,
            message,
        }
    }

    /// A `Warning` event.
    pub fn warning(reason: &'static str, message: String) -> Self {
        Self {
            type_: "Warning",
            reason,
            message,
        }
    }
}

/// One write against the API server.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentAction {
    /// Create the new ReplicaSet (`<deployment>-<pod-template-hash>`). On
    /// `AlreadyExists`, see [`super::on_create_conflict`]; on other errors,
    /// [`super::on_create_failed`].
    CreateReplicaSet(ReplicaSet),
    /// Update an existing ReplicaSet's annotations or `minReadySeconds` (PUT
    /// with the cached `resourceVersion`).
    UpdateReplicaSet(ReplicaSet),
    /// Resize a ReplicaSet (PUT of `rs`, which also carries the
    /// `desired-replicas`/`max-replicas` annotations).
    ScaleReplicaSet {
        /// The ReplicaSet as it should be stored.
        rs: ReplicaSet,
        /// `spec.replicas` before.
        from: i32,
        /// `spec.replicas` after.
        to: i32,
    },
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit` (a `NotFound` is
    /// success).
    DeleteReplicaSet {
        /// Its name.
        name: String,
        /// Its UID, as a delete precondition.
        uid: String,
    },
    /// Write the Deployment through its `status` subresource. The object carries
    /// the new status and annotations (the revision): apps/v1's status strategy
    /// keeps metadata annotations from status writes, which is how upstream
    /// records `deployment.kubernetes.io/revision`.
    UpdateStatus(Box<Deployment>),
}

/// An action and the Event to record once it succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The write.
    pub action: DeploymentAction,
    /// Recorded after the write succeeds.
    pub event: Option<PlannedEvent>,
}

/// When to look at the Deployment again without an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After this long (the progress deadline, plus a second of slack).
    After(Duration),
    /// Now, rate limited (the deadline is less than a second away).
    RateLimited,
}

/// The outcome of planning one Deployment sync.
///
/// The shell performs `steps` in order and stops at the first failure (the sync
/// then returns the error and is retried with backoff), records each step's
/// event after it succeeds, records `events` regardless, and requeues as
/// `requeue` says once every step succeeded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeploymentPlan {
    /// Ordered writes; later ones assume earlier ones succeeded.
    pub steps: Vec<Step>,
    /// Events independent of any write (e.g. `SelectingAll`).
    pub events: Vec<PlannedEvent>,
    /// Requeue for a progress-deadline check.
    pub requeue: Option<Requeue>,
}

impl DeploymentPlan {
    /// The actions alone, for inspection.
    pub fn actions(&self) -> impl DoubleEndedIterator<Item = &DeploymentAction> {
        self.steps.iter().map(|s| &s.action)
    }

    /// The last status written by the plan, if any.
    pub fn final_status_write(&self) -> Option<&Deployment> {
        self.actions().rev().find_map(|a| match a {
            DeploymentAction::UpdateStatus(d) => Some(d.as_ref()),
            _ => None,
        })
    }
}
