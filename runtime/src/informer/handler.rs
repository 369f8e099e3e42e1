//! Event handlers: what an informer calls when its cache changes (client-go's
//! `ResourceEventHandler` and `ResourceEventHandlerFuncs`).

use std::sync::Arc;

use super::delta::DeletedObject;

/// Receives an informer's notifications. Each registered handler gets its own delivery
/// task and unbounded buffer, so a slow handler never holds up the informer or other
/// handlers; notifications for one handler are delivered one at a time, in the order the
/// cache changed.
///
/// Handlers should be quick (typically: compute keys and add them to a work queue). A
/// panicking handler is logged and keeps receiving later notifications.
pub trait ResourceEventHandler<K>: Send + Sync + 'static {
    /// An object entered the cache. `is_in_initial_list` is true for objects of the
    /// informer's first list and for the synthetic adds a handler registered late
    /// receives for everything already cached.
    fn on_add(&self, obj: Arc<K>, is_in_initial_list: bool);

    /// An object changed from `old` to `new`. Resyncs deliver `old` and `new` as the same
    /// object; handlers that only care about real changes compare resourceVersions.
    fn on_update(&self, old: Arc<K>, new: Arc<K>);

    /// An object left the cache: its final state, or a tombstone when the deletion was
    /// only noticed by a relist.
    fn on_delete(&self, obj: DeletedObject<K>);
}

type AddFn<K> = Box<dyn Fn(Arc<K>, bool) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(Arc<K>, Arc<K>) + Send + Sync>;
type DeleteFn<K> = Box<dyn Fn(DeletedObject<K>) + Send + Sync>;

/// A [`ResourceEventHandler`] built from closures; notifications without a closure are
/// ignored (client-go's `ResourceEventHandlerFuncs`).
///
/// ```
/// # use capstan_runtime::informer::EventHandlerFns;
/// # use k8s_openapi::api::core::v1::Pod;
/// let handler = EventHandlerFns::<Pod>::new()
///     .on_add(|pod, _initial| println!("added {:?}", pod.metadata.name))
///     .on_delete(|gone| println!("deleted {:?}", gone.last_state().metadata.name));
/// ```
pub struct EventHandlerFns<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

impl<K> Default for EventHandlerFns<K> {
    fn default() -> Self {
        Self {
            add: None,
            update: None,
            delete: None,
        }
    }
}

impl<K> EventHandlerFns<K> {
    /// A handler that ignores everything until closures are attached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f(obj, is_in_initial_list)` on adds.
    pub fn on_add(mut self, f: impl Fn(Arc<K>, bool) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }

    /// Calls `f(old, new)` on updates and resyncs.
    pub fn on_update(mut self, f: impl Fn(Arc<K>, Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Calls `f(deleted)` on deletes.
    pub fn on_delete(mut self, f: impl Fn(DeletedObject<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: Send + Sync + 'static> ResourceEventHandler<K> for EventHandlerFns<K> {
    fn on_add(&self, obj: Arc<K>, is_in_initial_list: bool) {
        if let Some(f) = &self.add {
            f(obj, is_in_initial_list);
        }
    }

    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new);
        }
    }

    fn on_delete(&self, obj: DeletedObject<K>) {
        if let Some(f) = &self.delete {
            f(obj);
        }
    }
}
