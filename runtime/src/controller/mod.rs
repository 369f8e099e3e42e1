//! The controller runner: a name, a work queue of keys, and a reconcile function run by
//! N workers — kube-controller-manager's `processNextWorkItem` loop with panic isolation,
//! client-go's rate-limited requeues, controller-runtime's metrics and a graceful stop.
//!
//! Informer event handlers decide which keys to enqueue (see [`Controller::queue`]); the
//! reconciler reads the informer caches and writes to the API server.

mod action;
mod metrics;
mod runner;
mod signal;
#[cfg(test)]
mod tests;

pub use action::Action;
pub use runner::{
    Controller, ControllerBuilder, ControllerError, FnReconciler, Reconciler, SyncCheck,
    reconciler_fn, synced_all,
};
pub use signal::shutdown_signal;
