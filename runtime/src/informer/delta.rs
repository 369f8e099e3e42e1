//! The change records an informer derives from list/watch events, after client-go's
//! `DeltaType`, `Delta` and `DeletedFinalStateUnknown`.

use std::sync::Arc;

use crate::ObjectKey;

/// The kind of change a [`Delta`] records, with client-go's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeltaType {
    /// A watch reported an object the cache did not hold.
    Added,
    /// A watch reported a new state of an object the cache holds.
    Updated,
    /// The object is gone: a watch `DELETED`, or missing from a relist (tombstone).
    Deleted,
    /// The object was part of a (re)list that replaced the whole cache.
    Replaced,
    /// A periodic resync re-announces an object that did not change.
    Sync,
}

/// One change to one object, as the DeltaFIFO records it.
#[derive(Debug)]
pub enum Delta<K> {
    /// A watch reported an object the cache did not hold.
    Added(Arc<K>),
    /// A watch reported a new state of an object the cache holds.
    Updated(Arc<K>),
    /// The object was deleted; the payload is its final state or a tombstone.
    Deleted(DeletedObject<K>),
    /// The object appeared in a (re)list.
    Replaced(Arc<K>),
    /// A resync re-announces a cached object.
    Sync(Arc<K>),
}

impl<K> Clone for Delta<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(o) => Self::Added(o.clone()),
            Self::Updated(o) => Self::Updated(o.clone()),
            Self::Deleted(d) => Self::Deleted(d.clone()),
            Self::Replaced(o) => Self::Replaced(o.clone()),
            Self::Sync(o) => Self::Sync(o.clone()),
        }
    }
}

impl<K> Delta<K> {
    /// The kind of change.
    pub fn delta_type(&self) -> DeltaType {
        match self {
            Self::Added(_) => DeltaType::Added,
            Self::Updated(_) => DeltaType::Updated,
            Self::Deleted(_) => DeltaType::Deleted,
            Self::Replaced(_) => DeltaType::Replaced,
            Self::Sync(_) => DeltaType::Sync,
        }
    }

    /// The object the change carries (for a tombstone, the last state the cache knew).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Added(o) | Self::Updated(o) | Self::Replaced(o) | Self::Sync(o) => o,
            Self::Deleted(d) => d.last_state(),
        }
    }
}

/// The marker client-go hands to delete handlers when an object vanished while the
/// watch was down: the informer saw it disappear from a relist, so its final state is
/// unknown and `last_known` is only the state the cache last held.
#[derive(Debug)]
pub struct DeletedFinalStateUnknown<K> {
    /// The key of the vanished object.
    pub key: ObjectKey,
    /// The last state of the object that the cache held; it may be stale.
    pub last_known: Arc<K>,
}

impl<K> Clone for DeletedFinalStateUnknown<K> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            last_known: self.last_known.clone(),
        }
    }
}

/// What a delete handler receives: the object's final state as the watch reported it,
/// or a tombstone when the deletion was inferred from a relist.
#[derive(Debug)]
pub enum DeletedObject<K> {
    /// The watch delivered a `DELETED` event with the final state of the object.
    Live(Arc<K>),
    /// The object vanished while the watch was down (client-go's
    /// `DeletedFinalStateUnknown`).
    Tombstone(DeletedFinalStateUnknown<K>),
}

impl<K> Clone for DeletedObject<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Live(o) => Self::Live(o.clone()),
            Self::Tombstone(t) => Self::Tombstone(t.clone()),
        }
    }
}

impl<K> DeletedObject<K> {
    /// The last state of the object: the final one for [`DeletedObject::Live`], the last
    /// cached one for a tombstone.
    pub fn last_state(&self) -> &Arc<K> {
        match self {
            Self::Live(o) => o,
            Self::Tombstone(t) => &t.last_known,
        }
    }

    /// Whether this deletion was inferred from a relist rather than observed.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Self::Tombstone(_))
    }
}
