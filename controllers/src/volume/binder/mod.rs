//! `persistentvolume-binder-controller` (upstream
//! `pkg/controller/volume/persistentvolume`): binds PersistentVolumeClaims to
//! PersistentVolumes, keeps both sides' phases, and reclaims volumes whose claim is
//! gone; with a built-in local-path provisioner (kind's `rancher.io/local-path`) for
//! the embedded control plane's `standard` class.
//!
//! The sync steps, as upstream's `syncClaim` / `syncVolume`:
//! - a claim without `pv.kubernetes.io/bind-completed` is unbound: it is bound to the
//!   smallest matching `Available` volume (or the one pre-bound to it); a claim of a
//!   `WaitForFirstConsumer` class waits for the scheduler's
//!   `volume.kubernetes.io/selected-node` before anything but a pre-bound volume is
//!   taken, then is provisioned; a claim of an `Immediate` class is provisioned at once
//!   ([`sync::plan_claim`]);
//! - a bound claim keeps its volume, or is `Lost` when the volume is gone or bound
//!   elsewhere;
//! - a volume without a claim is `Available`; one whose claim is gone is `Released`
//!   and reclaimed by its policy: `Retain` keeps it, `Delete` deletes it (here, for
//!   volumes the built-in provisioner made), anything else fails it
//!   ([`sync::plan_volume`]).
//!
//! - [`matching`]: pure — which volume a claim may take (upstream's
//!   `FindMatchingVolume`).
//! - [`sync`]: pure — the plan of one claim's or one volume's sync.
//! - [`local_path`]: pure — the volume the built-in provisioner makes for a claim.
//! - [`controller`]: the shell: informers, one queue for both kinds, the writes.

pub mod controller;
pub mod local_path;
pub mod matching;
pub mod sync;
#[cfg(test)]
mod testing;

pub use controller::{BinderConfig, BinderError, PersistentVolumeBinderController};

/// The controller's upstream name (`--controllers`).
pub const CONTROLLER_NAME: &str = "persistentvolume-binder-controller";
/// The name its events report (upstream's `persistentvolume-controller`).
pub const EVENT_COMPONENT: &str = "persistentvolume-controller";

/// On a claim: the binding is complete (upstream's `AnnBindCompleted`).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or volume: the controller, not a user, made the binding
/// (`AnnBoundByController`).
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a claim: the provisioner asked to make its volume
/// (`AnnStorageProvisioner`).
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta spelling of [`ANN_STORAGE_PROVISIONER`], still set beside it
/// (`AnnBetaStorageProvisioner`).
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a claim: the node the scheduler picked for its first consumer (`AnnSelectedNode`).
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a volume: the provisioner that made it (`AnnDynamicallyProvisioned`).
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// The value of the yes/no annotations.
pub const ANN_YES: &str = "yes";
