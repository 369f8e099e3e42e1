//! Shared informers with client-go's `tools/cache` semantics, on
//! `kube::runtime::watcher`.
//!
//! Data flows as in client-go:
//!
//! ```text
//! watcher (list + watch, relists on 410, bookmarks, backoff)
//!   └─▶ DeltaFifo   Added / Updated / Deleted / Replaced / Sync; a relist is buffered
//!        │          until InitDone and diffed against the cache: survivors → update,
//!        │          new objects → add, vanished ones → delete with a
//!        │          DeletedFinalStateUnknown tombstone
//!        ├─▶ Indexer  Arc<K> by ObjectKey + indexes (namespace, controller UID,
//!        │            node name, user-defined), read through Listers
//!        └─▶ handlers one unbounded buffer and delivery task each, in order per object;
//!                     late handlers get synthetic adds; per-handler resync
//! ```
//!
//! - [`SharedInformerFactory`] hands out one [`SharedInformer`] per type and scope:
//!   typed (`K` with a static kind), dynamic ([`DynamicObject`](kube::api::DynamicObject)s
//!   of an `ApiResource`) and metadata-only
//!   ([`PartialObjectMeta`](kube::api::PartialObjectMeta), listed and watched as
//!   `PartialObjectMetadata`), the last two shared by group, version and resource.
//! - [`ResourceEventHandler`] (or [`EventHandlerFns`] from closures) receives
//!   `on_add(obj, is_in_initial_list)`, `on_update(old, new)` and
//!   `on_delete(DeletedObject)`; registration returns an [`EventHandlerRegistration`]
//!   with `has_synced()` and `remove()`.
//! - [`Lister`] reads the cache: `get`, `list(namespace, selector)`, `by_index`.
//!
//! Objects pass through a transform before they are cached — by default
//! [`default_transform`]: drop `metadata.managedFields` and re-allocate the object
//! without deserialisation slack — and are cached as `Arc<K>`, shared with every reader
//! and handler without copies.
//!
//! Updates whose resourceVersion did not change (objects relisted unchanged after a
//! watch outage) are treated as resyncs, as in client-go: only handlers with a resync
//! period receive them.

mod delta;
mod factory;
mod fifo;
mod handler;
mod index;
mod lister;
mod processor;
mod shared;
mod store;

/// Label selectors for [`Lister::list`]: capstan-labels' [`Selector`], and its string
/// parser under the name this module has always exported.
pub use capstan_labels::{Error as SelectorParseError, Selector, parse as parse_label_selector};
pub use delta::{DeletedFinalStateUnknown, DeletedObject, Delta, DeltaType};
pub use factory::{CacheSyncError, Selectors, SharedInformerFactory};
pub use fifo::{Batch, DeltaFifo, TransformFn, compact, default_transform, drop_managed_fields};
pub use handler::{EventHandlerFns, ResourceEventHandler};
pub use index::{
    CONTROLLER_UID_INDEX, IndexFn, NAMESPACE_INDEX, POD_NODE_NAME_INDEX, controller_uid_index,
    namespace_index, pod_node_name_index,
};
pub use lister::Lister;
pub use processor::{EventHandlerRegistration, MINIMUM_RESYNC_PERIOD};
pub use shared::{EventStream, InformerError, SharedInformer};
pub use store::{IndexError, Indexer};

#[cfg(test)]
mod tests;
