//! The StatefulSet controller (upstream `pkg/controller/statefulset`): pods with
//! stable identities `<set>-<ordinal>`, their claims `<template>-<set>-<ordinal>`,
//! created in order and replaced in reverse order by revision.
//!
//! A sync of one StatefulSet (upstream `sync` and `UpdateStatefulSet`, performed by
//! [`controller`]) is:
//!
//! 1. read the set from the cache (gone → forget its expectations); wait while its
//!    pod expectations are unsatisfied; adopt orphan ControllerRevisions matching
//!    its selector, and claim its pods (members only: named `<set>-<ordinal>`);
//! 2. make the set's template the update revision: reuse the newest revision when
//!    it stores that template, renumber an older one that does (a rollback:
//!    `kubectl rollout undo`), or create one (the kit's
//!    [`history`](crate::util::history)); the current revision is the one named in
//!    `status.currentRevision`, else the update revision;
//! 3. [`plan::plan_sync`] → the writes, phase by phase, and the status: missing
//!    pods ([`identity`]) with their claims and the owner references
//!    `persistentVolumeClaimRetentionPolicy` wants ([`retention`]), failed pods
//!    deleted, condemned pods deleted, the rolling update — `OrderedReady` halting
//!    at the first unhealthy pod, `Parallel` not;
//! 4. [`actions::StatefulSetActions`] performs it; [`status`] completes a finished
//!    rolling update and writes the status when a count or revision changed;
//! 5. revisions beyond `revisionHistoryLimit` that no pod uses are deleted.
//!
//! Everything but the I/O of steps 1, 2, 4 and 5 is pure and takes `now` as a
//! value.

pub mod actions;
pub mod controller;
pub mod events;
pub mod identity;
pub mod plan;
pub mod retention;
pub mod status;

#[cfg(test)]
mod testing;

pub use controller::{StatefulSetController, StatefulSetControllerConfig};

/// The component Events are reported under.
pub const STATEFULSET_CONTROLLER: &str = "statefulset-controller";

/// apps/v1 `StatefulSetPodNameLabel`: on each pod, its own name.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// apps/v1 `PodIndexLabel`: on each pod, its ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
