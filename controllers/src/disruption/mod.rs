//! `disruption-controller` (upstream `pkg/controller/disruption`): keeps every
//! PodDisruptionBudget's status, which the API server's `pods/eviction` reads and
//! decrements, so that `kubectl drain` evicts within budget.
//!
//! A budget's sync (upstream `trySync`):
//!
//! 1. the pods its selector matches in its namespace (`policy/v1`: a null selector
//!    none, `{}` all);
//! 2. `expectedPods` and `desiredHealthy` ([`plan::expectation`]): an integer
//!    `minAvailable` counts the pods; a percentage `minAvailable` or any
//!    `maxUnavailable` is resolved (rounding up) against the sum of the scale of
//!    the pods' controllers, found by [`finders`] (ReplicationController,
//!    Deployment, ReplicaSet, StatefulSet, else the owner's `scale` subresource);
//!    pods with no controller are reported (`UnmanagedPods`) and not counted; a
//!    controller no finder knows fails the sync;
//! 3. `disruptedPods`, the evictions the API server recorded, minus pods gone,
//!    being deleted, or not deleted within [`plan::DELETION_TIMEOUT`]
//!    (`NotDeleted` event); the budget is synced again when the next entry expires;
//! 4. `currentHealthy` (Ready pods neither being deleted nor just evicted),
//!    `disruptionsAllowed = max(0, currentHealthy - desiredHealthy)` (0 while no pod
//!    is expected), `observedGeneration` and the `DisruptionAllowed` condition
//!    (`SufficientPods` / `InsufficientPods`), written only when something changed.
//!
//! A failed sync other than a write conflict fails safe: `disruptionsAllowed` 0 and
//! `DisruptionAllowed=False`, reason `SyncFailed`, the error as message.
//!
//! A second queue resets stale `DisruptionTarget=True` pod conditions ([`stale`]).
//! `unhealthyPodEvictionPolicy` acts in the API server's eviction, not here.

pub mod conditions;
pub mod controller;
pub mod finders;
pub mod matching;
pub mod plan;
pub mod stale;

#[cfg(test)]
mod tests;

pub use controller::{DisruptionController, DisruptionControllerConfig, DisruptionError};

/// Upstream name of the controller (`--controllers`).
pub const DISRUPTION_CONTROLLER: &str = "disruption-controller";
/// The budgets' work queue (upstream `disruption`).
pub const DISRUPTION_QUEUE: &str = "disruption";
/// The pods' work queue (upstream `stale_pod_disruption`).
pub const STALE_POD_DISRUPTION_QUEUE: &str = "stale_pod_disruption";
/// The component its events are reported as (upstream's recorder source).
pub const EVENT_COMPONENT: &str = "controllermanager";
