//! capstan-scheduler: a Kubernetes scheduler faithful to kube-scheduler.
//!
//! The pure core lives here: the [`cache`] of nodes and pods (with assumed pods
//! and per-cycle snapshots), the [`framework`] with kube-scheduler's filter and
//! score plugins, [`schedule_one`] (filter → score → select host, and the failure
//! diagnosis, with [`batch`]ing of pods alike), the scheduling [`queue`] (activeQ, backoffQ, unschedulable pods),
//! [`preemption`] (DefaultPreemption) and the [`config`] file shape. The
//! [`shell`] feeds it from cluster events and writes bindings, conditions and
//! events through a `kube::Client`; [`metrics`] carries upstream's metric names.

#![warn(missing_docs)]

pub mod batch;
pub mod cache;
pub mod config;
pub mod framework;
pub mod labels;
pub mod metrics;
pub mod preemption;
pub mod queue;
pub mod resource;
pub mod schedule_one;
pub mod shell;
pub mod testing;
