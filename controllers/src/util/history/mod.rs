//! Controller history: the `ControllerRevision`s the DaemonSet and StatefulSet
//! controllers record their pod templates in (upstream `pkg/controller/history` and
//! the revision code of `pkg/controller/daemon` and `pkg/controller/statefulset`),
//! and the template hash the Deployment controller names ReplicaSets by.
//!
//! - [`hash`]: `ComputeHash`, `HashControllerRevision`, revision names.
//! - [`data`]: the stored strategic patch (`getPatch`), Go's byte encoding of it,
//!   `Match` and `ApplyRevision`.
//! - [`revision`]: building revisions for an owner, equality and de-duplication
//!   (`EqualRevision`, `FindEqualRevisions`, `dedupCurHistories`), order and numbers
//!   (`SortControllerRevisions`, `nextRevision`, `maxRevision`), and the choice of
//!   the update revision.
//! - [`cleanup`]: which revisions `revisionHistoryLimit` removes, never one that
//!   live pods use.
//! - [`control`]: the API shell: list from the cache, create with collision
//!   handling, renumber, delete.
//!
//! Everything but [`control`] is pure.

pub mod cleanup;
pub mod control;
pub mod data;
pub mod hash;
pub mod revision;

pub use cleanup::{daemonset_history_to_delete, pod_revisions, statefulset_history_to_delete};
pub use control::{Created, RevisionControl, list_controller_revisions};
pub use data::{
    apply_revision, go_json, matches_template, revision_bytes, stored_template, template_patch,
};
pub use hash::{compute_hash, controller_revision_name, hash_controller_revision};
pub use revision::{
    CONTROLLER_REVISION_HASH_LABEL, POD_REVISION_LABEL, UpdateRevision, daemonset_revision,
    dedup_current, equal_revision, find_equal_revisions, max_revision, new_controller_revision,
    next_revision, plan_update_revision, sort_controller_revisions, statefulset_revision,
};

/// Errors of the history helpers.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A call to the API server failed.
    #[error("controller revision request failed: {0}")]
    Api(#[from] kube::Error),
    /// A revision's data could not be applied to its owner as a strategic merge
    /// patch.
    #[error("applying controller revision data: {0}")]
    Patch(#[source] capstan_patch::strategic::PatchError),
    /// An owner or a revision's data does not (de)serialise as the expected type.
    #[error("decoding controller revision data: {0}")]
    Decode(#[source] serde_json::Error),
    /// A revision's data has no `spec.template`.
    #[error("controller revision data has no spec.template")]
    NoTemplate,
    /// Every name tried for a new revision was taken by one with other data.
    #[error("could not name a new controller revision of {owner}: {attempts} names collided")]
    TooManyCollisions {
        /// The owner's name.
        owner: String,
        /// How many names were tried.
        attempts: usize,
    },
}
