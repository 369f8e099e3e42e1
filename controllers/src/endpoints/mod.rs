//! `endpoints-controller` (upstream `pkg/controller/endpoint`): every Service with a
//! selector, other than `ExternalName`, gets an Endpoints object of its name listing
//! the pods its selector picks.
//!
//! A sync (upstream `syncService`):
//! 1. The Service is gone → its Endpoints are deleted. No selector or `ExternalName`
//!    → nothing (a selector-less Service's Endpoints are its owner's to write).
//! 2. The pods the selector picks, from the cache, each published
//!    ([`pods::should_pod_be_in_endpoints`]: has an IP, not terminating unless
//!    `publishNotReadyAddresses`, not finished for good) at its address of the
//!    Service's primary IP family, with `nodeName`, a `targetRef` to the pod and, when
//!    its `subdomain` names the Service, its `hostname`.
//! 3. Each service port resolved on each pod ([`pods::find_port`]: named
//!    `targetPort`s looked up in the pod's container ports), one subset per address
//!    and port, `addresses` when the pod is Ready (or the Service publishes not ready
//!    addresses) and `notReadyAddresses` otherwise, then regrouped
//!    ([`repack::repack_subsets`]).
//! 4. Compared with the cached Endpoints (subsets, labels, over-capacity annotation):
//!    equal → no write. Else labels copied from the Service (plus
//!    `service.kubernetes.io/headless` without a cluster IP), the subsets truncated
//!    at 1,000 addresses with `endpoints.kubernetes.io/over-capacity: truncated`, the
//!    `endpoints.kubernetes.io/last-change-trigger-time` annotation
//!    ([`trigger`]), and one create or update.
//!
//! [`pods`], [`repack`], [`trigger`] and [`plan`] are pure; [`controller`] is the
//! shell. [`pods`] and [`wiring`] are shared with the EndpointSlice controller.

pub mod controller;
pub mod plan;
pub mod pods;
pub mod repack;
pub mod trigger;
pub mod wiring;

pub use controller::{EndpointsController, endpoints_controller};

/// Upstream name of the Endpoints controller (`--controllers`).
pub const ENDPOINTS_CONTROLLER: &str = "endpoints-controller";
/// Its work queue's name (upstream's `endpoint`).
pub const ENDPOINTS_QUEUE: &str = "endpoint";
