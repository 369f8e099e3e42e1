//! The TTL-after-finished controller (upstream
//! `pkg/controller/ttlafterfinished`): a finished Job (its `Complete` or
//! `Failed` condition True) with `spec.ttlSecondsAfterFinished` is deleted,
//! with its pods (foreground propagation), once that many seconds have passed
//! since the condition's `lastTransitionTime`.
//!
//! A sync of one Job: read it from the cache; not finished, without a TTL or
//! being deleted → nothing; [`expiry::time_left`] at the clock's `now` → still
//! time left: requeue after it; expired: read the Job fresh from the API
//! server, check again (the TTL may have changed), and delete it with a UID
//! precondition.

pub mod controller;
pub mod expiry;

pub use controller::{TtlAfterFinishedController, TtlAfterFinishedControllerConfig};

/// The controller's upstream name (`--controllers`), also its queue's.
pub const TTL_AFTER_FINISHED_CONTROLLER: &str = "ttl-after-finished-controller";
