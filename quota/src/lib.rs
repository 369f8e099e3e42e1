//! # capstan-quota
//!
//! Resource quantities and resource quota evaluation, one implementation for the API
//! server's admission (`LimitRanger`, `ResourceQuota`) and the resource quota
//! controller, faithful to apimachinery's `resource.Quantity` and upstream's
//! `pkg/quota/v1`:
//!
//! - [`Quantity`]: exact parsing, arithmetic, comparison and the canonical string form;
//! - [`resources`]: resource lists and their set operations (add, subtract, mask,
//!   compare against limits, print);
//! - [`pod`]: a pod's aggregate requests and limits (init and sidecar containers,
//!   overhead) and its best-effort QoS test;
//! - [`evaluator`]: what pods, services, claims and any other object are charged;
//! - [`scope`]: quota scopes and scope selectors;
//! - [`admission`]: the admission check with upstream's refusal messages;
//! - [`usage`]: the controller's usage computation and the status it writes.
//!
//! Everything here is pure: callers read objects and write statuses.

#![warn(missing_docs)]

pub mod admission;
pub mod evaluator;
pub mod pod;
pub mod quantity;
pub mod resources;
pub mod scope;
pub mod usage;

pub use admission::{Charge, Refusal, check_request};
pub use evaluator::{Evaluator, Item, Operation};
pub use quantity::{Format, Quantity, QuantityError};
pub use resources::ResourceList;
