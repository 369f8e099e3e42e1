//! # capstan-runtime
//!
//! A controller framework for Kubernetes written on kube-rs, with the semantics of
//! client-go's `tools/cache` and `util/workqueue`:
//!
//! - [`informer`]: shared informers over `kube_runtime::watcher` with DeltaFIFO
//!   semantics (adds, updates with the old object, deletes with tombstones for objects
//!   missed across a relist), indexers and listers over `Arc`-shared objects;
//! - [`queue`]: work queues that never hand one key to two workers, with delays,
//!   per-item exponential backoff, token buckets and client-go's metric names;
//! - [`controller`]: the runner that ties informers, a queue and a reconcile function
//!   together with N workers, panic isolation and graceful shutdown;
//! - [`clock`]: the wall and monotonic clock controllers read, real or fake;
//! - [`status`]: status-subresource writes that skip no-ops and retry on a fresh read;
//! - [`fake_api`]: a scripted fake API server for testing controller shells;
//! - [`expectations`], [`ownership`], [`events`], [`leader`], [`health`],
//!   [`client`], [`errors`] and [`lru`]: the pieces every kube-controller-manager controller
//!   leans on.

#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod controller;
pub mod errors;
pub mod events;
pub mod expectations;
pub mod fake_api;
pub mod health;
pub mod informer;
pub mod key;
pub mod leader;
pub mod lru;
pub mod metrics;
pub mod ownership;
pub mod queue;
pub mod status;

pub use key::ObjectKey;
