//! The volume protection controllers (upstream `pkg/controller/volume/pvcprotection`
//! and `pvprotection`): the `StorageObjectInUseProtection` admission step gives every
//! new PersistentVolumeClaim the `kubernetes.io/pvc-protection` finalizer and every
//! PersistentVolume `kubernetes.io/pv-protection`; these controllers remove it from a
//! deleted one once nothing uses it, so deleting a claim a pod still mounts (or a
//! volume a claim is still bound to) leaves it `Terminating` until then.
//!
//! - [`protection`]: pure — where an object stands with its finalizer (upstream's
//!   `protectionutil`), and the finalizer list after the change.
//! - [`pvc_protection`]: `persistentvolumeclaim-protection-controller` — which pods use a
//!   claim (pure) and its shell on the claim and pod informers.
//! - [`binder`]: `persistentvolume-binder-controller` — claims bound to volumes, volumes
//!   provisioned (local path) and reclaimed.
//! - [`pv_protection`]: `persistentvolume-protection-controller` — whether a volume is in
//!   use (pure: `Bound`) and its shell on the volume informer.

pub mod binder;
pub mod protection;
pub mod pv_protection;
pub mod pvc_protection;
