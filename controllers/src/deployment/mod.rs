//! The Deployment controller's planning core (upstream
//! `pkg/controller/deployment`).
//!
//! The shell claims the ReplicaSets matching the Deployment's selector
//! (capstan-runtime's `ControllerRefManager`, adopting orphans and releasing
//! strays), lists their pods, and calls [`plan_deployment`] with the current time.
//! The [`DeploymentPlan`] lists the writes in order (create/update/scale/delete
//! ReplicaSets, status writes carrying the revision annotation), the events to
//! record once each succeeds, and the progress-deadline requeue.

pub mod actions;
pub mod conditions;
pub mod controller;
pub mod events;
pub mod plan;
pub mod progress;
pub mod recreate;
pub mod revision;
pub mod rolling;
pub mod rollout_status;
pub mod scaling;
pub mod status;
pub mod sync;
pub mod util;

#[cfg(test)]
mod tests;

pub use crate::util::history::compute_hash;
pub use plan::{DeploymentAction, DeploymentPlan, PlannedEvent, Requeue, Step};
pub use rollout_status::{RolloutVerdict, rollout_verdict};
pub use sync::{
    CreateConflict, DeploymentInput, new_replica_set_for, on_create_conflict, on_create_failed,
    plan_deployment,
};
