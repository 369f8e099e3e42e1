//! Kubernetes patch semantics over `serde_json::Value`, independent of any API server.
//!
//! * [`merge`] — JSON merge patch (RFC 7386, `application/merge-patch+json`).
//! * [`json_patch`] — JSON patch (RFC 6902, `application/json-patch+json`) with the
//!   semantics of `evanphx/json-patch` that the Kubernetes API server uses.
//! * [`strategic`] — strategic merge patch (`application/strategic-merge-patch+json`)
//!   with every directive, driven by a [`schema::PatchMeta`] lookup.
//! * [`three_way`] — kubectl's client-side apply patch calculation
//!   (`CreateThreeWayMergePatch`).
//! * [`builtin_meta`] — patch metadata and list types for the built-in kinds.
//! * [`fieldpath`] — structured-merge-diff field sets and their `FieldsV1` encoding.
//! * [`apply`] — server-side apply and `managedFields` bookkeeping for updates.
//!
//! Nothing here knows about HTTP, storage or kube-rs: the crate can be lifted out.

#![warn(missing_docs)]

pub mod apply;
pub mod builtin_meta;
pub mod fieldpath;
pub mod json_patch;
pub mod merge;
pub mod schema;
pub mod strategic;
pub mod three_way;

pub use schema::{FieldMeta, ListType, MapKind, PatchMeta, PatchStrategy};
