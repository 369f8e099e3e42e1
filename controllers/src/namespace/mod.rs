//! The namespace controller (kube-controller-manager's `namespace-controller`,
//! `pkg/controller/namespace`): once a namespace is deleted, it deletes every
//! object inside it, waits until they are gone, and removes the `kubernetes`
//! finalizer so the API server can remove the namespace.
//!
//! - [`conditions`]: the `NamespaceDeletion*` / `Namespace*Remaining` status
//!   conditions a deletion pass leads to, written only on change.
//! - [`content`]: pure decisions — pod termination estimates, what a resource
//!   type's leftovers mean, when to look again, the finalized `spec.finalizers`.
//! - [`discovery`]: the deletable namespaced resources the server serves.
//! - [`deleter`]: one deletion pass against the API server.
//! - [`controller`]: the Namespace informer, queue and workers.

pub mod conditions;
pub mod content;
pub mod controller;
pub mod deleter;
pub mod discovery;

#[cfg(test)]
mod tests;

pub use controller::{NamespaceController, NamespaceControllerConfig};
