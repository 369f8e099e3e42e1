//! The resource quota controller (upstream `pkg/controller/resourcequota`,
//! `resourcequota-controller`): keeps every ResourceQuota's `status` current, so
//! that deleted and finished objects give their quota back. Quota admission in the
//! API server charges `status.used` as objects are admitted; this controller
//! recomputes it from the objects that exist.
//!
//! One sync of a quota (upstream `syncResourceQuota`):
//! 1. read the quota from the cache (gone: nothing to do);
//! 2. gather, per evaluator whose resources the quota limits, the objects of its
//!    namespace from the shared caches (pods, services, claims, configmaps, secrets,
//!    replication controllers, resource quotas), and for any other
//!    `count/<resource>.<group>` the quota names, from a metadata-only informer the
//!    controller starts for that resource ([`monitors`]);
//! 3. [`sync_status`](capstan_quota::usage::sync_status) (pure): `status.hard`
//!    mirrored from `spec.hard`, `status.used` recomputed;
//! 4. write the status when it changed (a conflict requeues the quota).
//!
//! What enqueues a quota ([`replenish`], pure): its creation and changes to its
//! `spec.hard`; the deletion of an object it counts, and updates that change what
//! an object is charged (a pod finishing, a service changing type, a claim's
//! allocated size); and the full resync every `--resource-quota-sync-period`
//! (5 minutes, upstream's default).

pub mod controller;
pub mod monitors;
pub mod replenish;

pub use controller::{ResourceQuotaController, ResourceQuotaControllerConfig};
