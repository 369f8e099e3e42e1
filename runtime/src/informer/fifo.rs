//! The DeltaFIFO: turns `kube::runtime::watcher` events into client-go deltas.
//!
//! client-go's `DeltaFIFO` is a queue between the reflector and the processing loop. Here
//! the processing loop applies every delta to the cache and hands notifications to
//! unbounded per-handler buffers without blocking, so deltas are consumed as soon as they
//! are produced and no queue (nor per-key delta compression) is needed. What remains is
//! the arithmetic, which this module owns:
//!
//! - a watch `Apply` becomes `Added` (key unknown to the cache) or `Updated`;
//! - a watch `Delete` becomes `Deleted` with the final state, and is dropped when the
//!   cache does not know the key (as `DeltaFIFO.Delete` with `knownObjects`);
//! - a relist (`Init`, `InitApply`…, `InitDone`) is buffered until `InitDone`, then
//!   becomes `Replaced` for every listed object (in list order) followed by `Deleted`
//!   carrying a [`DeletedFinalStateUnknown`] tombstone for every cached key that the list
//!   no longer contains (as `DeltaFIFO.Replace`).
//!
//! Every object passes through the transform before it is wrapped in an `Arc`.

use std::sync::Arc;

use hashbrown::HashSet;
use kube::Resource;
use kube::runtime::watcher;

use super::delta::{DeletedFinalStateUnknown, DeletedObject, Delta};
use super::store::Indexer;
use crate::ObjectKey;

/// A function applied to every object before it is cached (client-go's
/// `TransformFunc`), typically to drop fields nobody reads.
pub type TransformFn<K> = Arc<dyn Fn(&mut K) + Send + Sync>;

/// Drops `metadata.managedFields`, which controllers never read and which is often the
/// largest part of an object (over half of a typical pod's heap).
pub fn drop_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Re-allocates an object tightly: serde grows every `Vec` it deserialises by doubling,
/// so a freshly decoded object carries capacity slack a clone does not (a typical pod's
/// heap shrinks by about a third). Costs one clone per incoming object.
pub fn compact<K: Clone>(obj: &mut K) {
    *obj = obj.clone();
}

/// The transform informers use unless told otherwise: [`drop_managed_fields`], then
/// [`compact`].
pub fn default_transform<K: Resource + Clone>(obj: &mut K) {
    drop_managed_fields(obj);
    compact(obj);
}

/// The deltas derived from one watcher event.
#[derive(Debug)]
pub struct Batch<K> {
    /// The deltas, in the order they must be applied.
    pub deltas: Vec<(ObjectKey, Delta<K>)>,
    /// Whether this batch completes a (re)list, i.e. the event was `InitDone`.
    pub completes_list: bool,
}

impl<K> Batch<K> {
    fn single(key: ObjectKey, delta: Delta<K>) -> Self {
        Self {
            deltas: vec![(key, delta)],
            completes_list: false,
        }
    }

    fn empty() -> Self {
        Self {
            deltas: Vec::new(),
            completes_list: false,
        }
    }
}

/// Converts watcher events into deltas against the current cache contents.
pub struct DeltaFifo<K> {
    /// Objects of the list in progress (between `Init` and `InitDone`).
    list_buffer: Option<Vec<(ObjectKey, Arc<K>)>>,
    transform: Option<TransformFn<K>>,
}

impl<K: Resource + 'static> DeltaFifo<K> {
    /// A FIFO applying `transform` (if any) to every incoming object.
    pub fn new(transform: Option<TransformFn<K>>) -> Self {
        Self {
            list_buffer: None,
            transform,
        }
    }

    /// Whether a relist is in progress (`Init` seen, `InitDone` not yet).
    pub fn is_listing(&self) -> bool {
        self.list_buffer.is_some()
    }

    fn prepare(&self, mut obj: K) -> (ObjectKey, Arc<K>) {
        if let Some(t) = &self.transform {
            t(&mut obj);
        }
        (ObjectKey::of(&obj), Arc::new(obj))
    }

    /// The deltas for one watcher event, given the cache they will be applied to.
    pub fn push(&mut self, event: watcher::Event<K>, known: &Indexer<K>) -> Batch<K> {
        match event {
            watcher::Event::Init => {
                // A list that restarts (e.g. after a failed page) starts over.
                self.list_buffer = Some(Vec::new());
                Batch::empty()
            }
            watcher::Event::InitApply(obj) => {
                let entry = self.prepare(obj);
                self.list_buffer.get_or_insert_with(Vec::new).push(entry);
                Batch::empty()
            }
            watcher::Event::InitDone => {
                let listed = self.list_buffer.take().unwrap_or_default();
                self.replace(listed, known)
            }
            watcher::Event::Apply(obj) => {
                let (key, obj) = self.prepare(obj);
                if known.contains(&key) {
                    Batch::single(key, Delta::Updated(obj))
                } else {
                    Batch::single(key, Delta::Added(obj))
                }
            }
            watcher::Event::Delete(obj) => {
                let (key, obj) = self.prepare(obj);
                if known.contains(&key) {
                    Batch::single(key, Delta::Deleted(DeletedObject::Live(obj)))
                } else {
                    Batch::empty()
                }
            }
        }
    }

    /// client-go's `DeltaFIFO.Resync`: a `Sync` delta for every cached object.
    pub fn resync(&self, known: &Indexer<K>) -> Batch<K> {
        Batch {
            deltas: known
                .entries()
                .into_iter()
                .map(|(k, o)| (k, Delta::Sync(o)))
                .collect(),
            completes_list: false,
        }
    }

    /// client-go's `DeltaFIFO.Replace`: `Replaced` for each listed object, then a
    /// tombstone for each cached object the list no longer contains.
    fn replace(&self, listed: Vec<(ObjectKey, Arc<K>)>, known: &Indexer<K>) -> Batch<K> {
        let listed_keys: HashSet<ObjectKey> = listed.iter().map(|(k, _)| k.clone()).collect();
        let mut deltas: Vec<(ObjectKey, Delta<K>)> = listed
            .into_iter()
            .map(|(k, o)| (k, Delta::Replaced(o)))
            .collect();
        for (key, last_known) in known.entries() {
            if !listed_keys.contains(&key) {
                let tombstone = DeletedFinalStateUnknown {
                    key: key.clone(),
                    last_known,
                };
                deltas.push((key, Delta::Deleted(DeletedObject::Tombstone(tombstone))));
            }
        }
        Batch {
            deltas,
            completes_list: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(name: &str, rv: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn summary(batch: &Batch<ConfigMap>) -> Vec<String> {
        batch
            .deltas
            .iter()
            .map(|(k, d)| {
                let rv = d
                    .object()
                    .metadata
                    .resource_version
                    .clone()
                    .unwrap_or_default();
                let tomb = match d {
                    Delta::Deleted(DeletedObject::Tombstone(t)) => {
                        assert_eq!(&t.key, k, "tombstone key must be the cache key");
                        "(tombstone)"
                    }
                    _ => "",
                };
                format!("{:?} {k}@{rv}{tomb}", d.delta_type())
            })
            .collect()
    }

    fn cache(objs: &[(&str, &str)]) -> Indexer<ConfigMap> {
        let idx = Indexer::new();
        for (n, rv) in objs {
            let o = cm(n, rv);
            idx.upsert(ObjectKey::of(&o), Arc::new(o));
        }
        idx
    }

    #[test]
    fn relist_replaces_survivors_and_new_objects_and_tombstones_vanished_ones() {
        let known = cache(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let mut fifo = DeltaFifo::new(None);
        assert!(fifo.push(watcher::Event::Init, &known).deltas.is_empty());
        for (n, rv) in [("a", "1"), ("b", "2"), ("d", "3")] {
            let b = fifo.push(watcher::Event::InitApply(cm(n, rv)), &known);
            assert!(
                b.deltas.is_empty(),
                "list pages are buffered until InitDone"
            );
            assert!(fifo.is_listing());
        }
        let batch = fifo.push(watcher::Event::InitDone, &known);
        assert!(batch.completes_list);
        assert!(!fifo.is_listing());
        assert_eq!(
            summary(&batch),
            [
                "Replaced ns/a@1",
                "Replaced ns/b@2",
                "Replaced ns/d@3",
                "Deleted ns/c@1(tombstone)"
            ]
        );
    }

    #[test]
    fn resync_syncs_every_cached_object() {
        let known = cache(&[("a", "1"), ("b", "2")]);
        let fifo = DeltaFifo::new(None);
        let mut got = summary(&fifo.resync(&known));
        got.sort();
        assert_eq!(got, ["Sync ns/a@1", "Sync ns/b@2"]);
    }

    #[test]
    fn restarted_list_discards_the_partial_buffer() {
        let known = cache(&[("a", "1")]);
        let mut fifo = DeltaFifo::new(None);
        fifo.push(watcher::Event::Init, &known);
        fifo.push(watcher::Event::InitApply(cm("x", "5")), &known);
        fifo.push(watcher::Event::Init, &known);
        fifo.push(watcher::Event::InitApply(cm("a", "2")), &known);
        let batch = fifo.push(watcher::Event::InitDone, &known);
        assert_eq!(summary(&batch), ["Replaced ns/a@2"]);
    }

    #[test]
    fn watch_events_become_adds_updates_and_live_deletes() {
        let known = cache(&[("a", "1")]);
        let mut fifo = DeltaFifo::new(None);
        let b = fifo.push(watcher::Event::Apply(cm("a", "2")), &known);
        assert_eq!(summary(&b), ["Updated ns/a@2"]);
        let b = fifo.push(watcher::Event::Apply(cm("n", "3")), &known);
        assert_eq!(summary(&b), ["Added ns/n@3"]);
        let b = fifo.push(watcher::Event::Delete(cm("a", "4")), &known);
        assert_eq!(summary(&b), ["Deleted ns/a@4"]);
        assert!(matches!(
            b.deltas[0].1,
            Delta::Deleted(DeletedObject::Live(_))
        ));
        // client-go drops deletes of objects the cache never knew.
        let b = fifo.push(watcher::Event::Delete(cm("ghost", "5")), &known);
        assert!(b.deltas.is_empty());
    }

    #[test]
    fn transform_runs_before_caching() {
        let known = cache(&[]);
        let t: TransformFn<ConfigMap> = Arc::new(|o: &mut ConfigMap| {
            o.metadata.labels = Some([("t".to_string(), "1".to_string())].into());
        });
        let mut fifo = DeltaFifo::new(Some(t));
        let b = fifo.push(watcher::Event::Apply(cm("a", "1")), &known);
        assert_eq!(
            b.deltas[0].1.object().metadata.labels.as_ref().unwrap()["t"],
            "1"
        );
    }
}
