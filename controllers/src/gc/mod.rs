//! The garbage collector (kube-controller-manager's `garbage-collector-controller`,
//! `pkg/controller/garbagecollector`).
//!
//! - [`graph`]: the owner graph built from every watched object's
//!   `ownerReferences`, with virtual nodes for owners not seen yet; applying a
//!   change says which UIDs go on the attemptToDelete / attemptToOrphan queues.
//! - [`decide`]: pure decisions of `attemptToDeleteItem` (delete with
//!   Background, drop dangling references, foreground and orphan finalizer
//!   handling) and the merge patches they send.
//! - [`absent`]: the owners known to be gone (a capstan-runtime LRU).
//! - [`monitors`]: one handler per watched kind on a shared metadata-only
//!   informer (capstan-runtime's, so a relist after a broken watch reports what
//!   vanished as tombstones), feeding the graph and the queues.
//! - [`shell`]: discovery of every deletable served kind, the two rate-limited
//!   queues and their workers, uncached GETs, deletes and patches through
//!   `Api<DynamicObject>`.

pub mod absent;
pub mod decide;
pub mod graph;
pub mod monitors;
pub mod shell;

#[cfg(test)]
mod tests;

pub use shell::{GcError, run_garbage_collector, run_garbage_collector_on};
