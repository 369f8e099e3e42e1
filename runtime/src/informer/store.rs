//! The informer's cache: a thread-safe map from [`ObjectKey`] to `Arc<K>` with
//! secondary indexes, after client-go's `threadSafeMap` and `storeIndex`.
//!
//! Readers share the cached `Arc`s; nothing is deep-copied on read. Index entries are
//! maintained on every write: an update refiles the object under its new index values
//! and removes it from the values it no longer has, a delete removes it from all of
//! them, and index values left empty are dropped.

use std::hash::{Hash, Hasher};
use std::num::NonZeroU8;
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap, HashSet};
use kube::Resource;
use parking_lot::RwLock;

use super::index::{IndexFn, NAMESPACE_INDEX, namespace_index};
use crate::ObjectKey;

/// Errors from index operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    /// A query named an index that was never registered.
    #[error("index {0:?} does not exist")]
    NoSuchIndex(String),
    /// An index with this name is already registered.
    #[error("indexer conflict: index {0:?} already exists")]
    Conflict(String),
}

/// The map key: an [`ObjectKey`] plus, when `namespace/name` is short (it nearly always
/// is), an inline copy of it, so a lookup compares bytes in the table slot instead of
/// chasing two string pointers (cache misses dominate lookups in a 100k-object cache).
/// Hashing uses the string parts, so a borrowed `(namespace, name)` pair can look a key
/// up without allocating.
#[derive(Clone)]
struct StoreKey {
    inline: Option<InlineKey>,
    key: ObjectKey,
}

/// `namespace/name` stored in place. `len` is never zero (an object has a name), which
/// lets `Option<InlineKey>` use it as the niche: the option costs no tag byte and
/// [`StoreKey`] stays at 80 bytes instead of padding to 88 (a table slot per object).
#[derive(Clone, Copy)]
struct InlineKey {
    len: NonZeroU8,
    ns_len: u8,
    bytes: [u8; INLINE_KEY_BYTES],
}

const INLINE_KEY_BYTES: usize = 46;

impl InlineKey {
    fn new(namespace: &str, name: &str) -> Option<Self> {
        let len = namespace.len() + name.len();
        if len > INLINE_KEY_BYTES {
            return None;
        }
        let len_byte = NonZeroU8::new(len as u8)?;
        let mut bytes = [0u8; INLINE_KEY_BYTES];
        bytes[..namespace.len()].copy_from_slice(namespace.as_bytes());
        bytes[namespace.len()..len].copy_from_slice(name.as_bytes());
        Some(Self {
            len: len_byte,
            ns_len: namespace.len() as u8,
            bytes,
        })
    }

    fn matches(&self, namespace: &str, name: &str) -> bool {
        let ns_len = usize::from(self.ns_len);
        let len = usize::from(self.len.get());
        len == namespace.len() + name.len()
            && ns_len == namespace.len()
            && &self.bytes[..ns_len] == namespace.as_bytes()
            && &self.bytes[ns_len..len] == name.as_bytes()
    }
}

impl StoreKey {
    fn new(key: ObjectKey) -> Self {
        Self {
            inline: InlineKey::new(key.namespace().unwrap_or(""), key.name()),
            key,
        }
    }

    fn matches(&self, namespace: &str, name: &str) -> bool {
        match &self.inline {
            Some(inline) => inline.matches(namespace, name),
            None => self.key.name() == name && self.key.namespace().unwrap_or("") == namespace,
        }
    }
}

impl PartialEq for StoreKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for StoreKey {}

fn hash_parts<H: Hasher>(namespace: &str, name: &str, state: &mut H) {
    namespace.hash(state);
    name.hash(state);
}

impl Hash for StoreKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self.key.namespace().unwrap_or(""), self.key.name(), state);
    }
}

/// A borrowed `(namespace, name)` lookup key; `""` is cluster scope.
struct KeyRef<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self.namespace, self.name, state);
    }
}

impl Equivalent<StoreKey> for KeyRef<'_> {
    fn equivalent(&self, key: &StoreKey) -> bool {
        key.matches(self.namespace, self.name)
    }
}

/// One index: index value → keys of the objects filed under it.
type Index = HashMap<String, HashSet<ObjectKey>>;

struct Inner<K> {
    items: HashMap<StoreKey, Arc<K>>,
    index_fns: Vec<(String, IndexFn<K>)>,
    indices: HashMap<String, Index>,
    /// One shared copy of each namespace name, with the number of cached objects in
    /// that namespace: every cached key points at it instead of holding its own
    /// allocation (24 bytes per object for a short namespace), and it goes when the
    /// namespace's last object does.
    namespaces: HashMap<Arc<str>, usize>,
}

impl<K> Inner<K> {
    /// `key` with its namespace string swapped for the shared copy, for a key about to
    /// be cached; counts the object in its namespace.
    fn intern(&mut self, key: ObjectKey) -> ObjectKey {
        let Some(ns) = key.namespace_arc() else {
            return key;
        };
        if let Some((shared, count)) = self.namespaces.get_key_value_mut(&**ns) {
            *count += 1;
            let shared = shared.clone();
            key.with_namespace_arc(shared)
        } else {
            self.namespaces.insert(ns.clone(), 1);
            key
        }
    }

    /// Uncounts a removed object from its namespace, dropping the shared copy with the
    /// namespace's last object.
    fn release(&mut self, key: &ObjectKey) {
        let Some(ns) = key.namespace() else {
            return;
        };
        if let Some(count) = self.namespaces.get_mut(ns) {
            *count -= 1;
            if *count == 0 {
                self.namespaces.remove(ns);
            }
        }
    }

    fn file(index: &mut Index, values: Vec<String>, key: &ObjectKey) {
        for v in values {
            index.entry(v).or_default().insert(key.clone());
        }
    }

    fn unfile(index: &mut Index, values: &[String], key: &ObjectKey) {
        for v in values {
            if let Some(set) = index.get_mut(v.as_str()) {
                set.remove(key);
                if set.is_empty() {
                    index.remove(v.as_str());
                }
            }
        }
    }

    /// Moves `key` from the index values of `old` to those of `new` in every index.
    fn update_indices(&mut self, key: &ObjectKey, old: Option<&K>, new: Option<&K>) {
        for (name, f) in &self.index_fns {
            let old_values = old.map(|o| f(o)).unwrap_or_default();
            let new_values = new.map(|n| f(n)).unwrap_or_default();
            if old.is_some() && new.is_some() && old_values == new_values {
                continue;
            }
            let Some(index) = self.indices.get_mut(name.as_str()) else {
                continue;
            };
            let stale: Vec<String> = old_values
                .into_iter()
                .filter(|v| !new_values.contains(v))
                .collect();
            Self::unfile(index, &stale, key);
            Self::file(index, new_values, key);
        }
    }
}

/// A thread-safe, indexed cache of `Arc<K>` keyed by [`ObjectKey`] (client-go's
/// `Indexer`). Always has the [`NAMESPACE_INDEX`]; more are added with
/// [`Indexer::add_index`].
pub struct Indexer<K> {
    inner: RwLock<Inner<K>>,
}

impl<K: Resource + 'static> Default for Indexer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Resource + 'static> Indexer<K> {
    /// An empty cache with the namespace index.
    pub fn new() -> Self {
        let ns_index: IndexFn<K> = Arc::new(namespace_index::<K>);
        let mut indices = HashMap::new();
        indices.insert(NAMESPACE_INDEX.to_string(), Index::new());
        Self {
            inner: RwLock::new(Inner {
                items: HashMap::new(),
                index_fns: vec![(NAMESPACE_INDEX.to_string(), ns_index)],
                indices,
                namespaces: HashMap::new(),
            }),
        }
    }

    /// Registers an index and files every cached object in it. Unlike client-go, this
    /// may be done at any time, not only before the informer starts.
    pub fn add_index(&self, name: &str, f: IndexFn<K>) -> Result<(), IndexError> {
        let mut inner = self.inner.write();
        if inner.indices.contains_key(name) {
            return Err(IndexError::Conflict(name.to_string()));
        }
        let mut index = Index::new();
        for (key, obj) in &inner.items {
            Inner::<K>::file(&mut index, f(obj), &key.key);
        }
        inner.indices.insert(name.to_string(), index);
        inner.index_fns.push((name.to_string(), f));
        Ok(())
    }

    /// Inserts or replaces the object under `key`, maintaining every index, and
    /// returns the previous state.
    pub fn upsert(&self, key: ObjectKey, obj: Arc<K>) -> Option<Arc<K>> {
        let mut inner = self.inner.write();
        let inner = &mut *inner;
        let lookup = KeyRef {
            namespace: key.namespace().unwrap_or(""),
            name: key.name(),
        };
        if let Some((cached, slot)) = inner.items.get_key_value_mut(&lookup) {
            // An update keeps the cached key, whose namespace is the shared copy, and
            // files that key under any new index values.
            let key = cached.key.clone();
            let old = std::mem::replace(slot, obj.clone());
            inner.update_indices(&key, Some(&old), Some(&obj));
            return Some(old);
        }
        let key = inner.intern(key);
        inner.items.insert(StoreKey::new(key.clone()), obj.clone());
        inner.update_indices(&key, None, Some(&obj));
        None
    }

    /// Removes the object under `key` from the cache and every index, returning it.
    pub fn delete(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let mut inner = self.inner.write();
        let old = inner.items.remove(&KeyRef {
            namespace: key.namespace().unwrap_or(""),
            name: key.name(),
        })?;
        inner.update_indices(key, Some(&old), None);
        inner.release(key);
        Some(old)
    }

    /// The object under `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.get_parts(key.namespace().unwrap_or(""), key.name())
    }

    /// The object named `name` in `namespace` (`""` for cluster-scoped objects), without
    /// allocating a key.
    pub fn get_parts(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.inner
            .read()
            .items
            .get(&KeyRef { namespace, name })
            .cloned()
    }

    /// Whether an object is cached under `key`.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.inner.read().items.contains_key(&KeyRef {
            namespace: key.namespace().unwrap_or(""),
            name: key.name(),
        })
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner.read().items.values().cloned().collect()
    }

    /// Every cached key.
    pub fn list_keys(&self) -> Vec<ObjectKey> {
        self.inner
            .read()
            .items
            .keys()
            .map(|k| k.key.clone())
            .collect()
    }

    /// Every cached `(key, object)` pair.
    pub fn entries(&self) -> Vec<(ObjectKey, Arc<K>)> {
        self.inner
            .read()
            .items
            .iter()
            .map(|(k, v)| (k.key.clone(), v.clone()))
            .collect()
    }

    /// The number of cached objects.
    pub fn len(&self) -> usize {
        self.inner.read().items.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects filed under `value` in the index `index_name` (client-go's
    /// `ByIndex`).
    pub fn by_index(&self, index_name: &str, value: &str) -> Result<Vec<Arc<K>>, IndexError> {
        let inner = self.inner.read();
        let index = inner
            .indices
            .get(index_name)
            .ok_or_else(|| IndexError::NoSuchIndex(index_name.to_string()))?;
        Ok(index
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                inner
                    .items
                    .get(&KeyRef {
                        namespace: k.namespace().unwrap_or(""),
                        name: k.name(),
                    })
                    .cloned()
            })
            .collect())
    }

    /// The keys filed under `value` in the index `index_name` (client-go's
    /// `IndexKeys`).
    pub fn index_keys(&self, index_name: &str, value: &str) -> Result<Vec<ObjectKey>, IndexError> {
        let inner = self.inner.read();
        let index = inner
            .indices
            .get(index_name)
            .ok_or_else(|| IndexError::NoSuchIndex(index_name.to_string()))?;
        Ok(index.get(value).into_iter().flatten().cloned().collect())
    }

    /// The values that currently have objects filed under them in `index_name`
    /// (client-go's `ListIndexFuncValues`).
    pub fn index_values(&self, index_name: &str) -> Result<Vec<String>, IndexError> {
        let inner = self.inner.read();
        let index = inner
            .indices
            .get(index_name)
            .ok_or_else(|| IndexError::NoSuchIndex(index_name.to_string()))?;
        Ok(index.keys().cloned().collect())
    }

    /// The cached objects filed under `value` in `index_name` that satisfy `keep`,
    /// filtered under one read lock.
    pub(crate) fn filter_index(
        &self,
        index_name: &str,
        value: &str,
        mut keep: impl FnMut(&K) -> bool,
    ) -> Result<Vec<Arc<K>>, IndexError> {
        let inner = self.inner.read();
        let index = inner
            .indices
            .get(index_name)
            .ok_or_else(|| IndexError::NoSuchIndex(index_name.to_string()))?;
        Ok(index
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                inner.items.get(&KeyRef {
                    namespace: k.namespace().unwrap_or(""),
                    name: k.name(),
                })
            })
            .filter(|o| keep(o))
            .cloned()
            .collect())
    }

    /// The cached objects that satisfy `keep`, filtered under one read lock.
    pub(crate) fn filter(&self, mut keep: impl FnMut(&K) -> bool) -> Vec<Arc<K>> {
        self.inner
            .read()
            .items
            .values()
            .filter(|o| keep(o))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::informer::index::{CONTROLLER_UID_INDEX, controller_uid_index};
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn cm(ns: &str, name: &str, owner: Option<&str>) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn names(v: Vec<Arc<ConfigMap>>) -> Vec<String> {
        let mut n: Vec<String> = v.iter().map(|o| o.metadata.name.clone().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn update_moves_object_between_index_values_and_drops_empty_ones() {
        let s = Indexer::<ConfigMap>::new();
        s.add_index(
            CONTROLLER_UID_INDEX,
            Arc::new(controller_uid_index::<ConfigMap>),
        )
        .unwrap();
        let k = ObjectKey::namespaced("a", "x");
        s.upsert(k.clone(), cm("a", "x", Some("u1")));
        s.upsert(ObjectKey::namespaced("a", "y"), cm("a", "y", Some("u1")));
        assert_eq!(
            names(s.by_index(CONTROLLER_UID_INDEX, "u1").unwrap()),
            ["x", "y"]
        );

        s.upsert(k.clone(), cm("a", "x", Some("u2")));
        assert_eq!(
            names(s.by_index(CONTROLLER_UID_INDEX, "u1").unwrap()),
            ["y"]
        );
        assert_eq!(
            names(s.by_index(CONTROLLER_UID_INDEX, "u2").unwrap()),
            ["x"]
        );

        s.upsert(k.clone(), cm("a", "x", None));
        assert!(s.by_index(CONTROLLER_UID_INDEX, "u2").unwrap().is_empty());
        let mut values = s.index_values(CONTROLLER_UID_INDEX).unwrap();
        values.sort();
        assert_eq!(values, ["u1"], "emptied index values must be dropped");
    }

    #[test]
    fn delete_removes_object_from_every_index() {
        let s = Indexer::<ConfigMap>::new();
        s.add_index(
            CONTROLLER_UID_INDEX,
            Arc::new(controller_uid_index::<ConfigMap>),
        )
        .unwrap();
        let k = ObjectKey::namespaced("a", "x");
        s.upsert(k.clone(), cm("a", "x", Some("u1")));
        assert_eq!(s.delete(&k).unwrap().metadata.name.as_deref(), Some("x"));
        assert!(s.get(&k).is_none());
        assert!(s.by_index(NAMESPACE_INDEX, "a").unwrap().is_empty());
        assert!(s.index_values(NAMESPACE_INDEX).unwrap().is_empty());
        assert!(s.index_values(CONTROLLER_UID_INDEX).unwrap().is_empty());
        assert!(s.delete(&k).is_none());
    }

    #[test]
    fn late_index_covers_existing_objects_and_unknown_index_is_an_error() {
        let s = Indexer::<ConfigMap>::new();
        s.upsert(ObjectKey::namespaced("a", "x"), cm("a", "x", Some("u1")));
        s.add_index(
            CONTROLLER_UID_INDEX,
            Arc::new(controller_uid_index::<ConfigMap>),
        )
        .unwrap();
        assert_eq!(
            names(s.by_index(CONTROLLER_UID_INDEX, "u1").unwrap()),
            ["x"]
        );
        assert_eq!(
            s.add_index(
                CONTROLLER_UID_INDEX,
                Arc::new(controller_uid_index::<ConfigMap>)
            ),
            Err(IndexError::Conflict(CONTROLLER_UID_INDEX.into()))
        );
        assert_eq!(
            s.by_index("nope", "x").unwrap_err(),
            IndexError::NoSuchIndex("nope".into())
        );
    }

    #[test]
    fn cached_keys_share_one_namespace_string_until_its_last_object_goes() {
        let s = Indexer::<ConfigMap>::new();
        s.add_index(
            CONTROLLER_UID_INDEX,
            Arc::new(controller_uid_index::<ConfigMap>),
        )
        .unwrap();
        let (x, y) = (
            ObjectKey::namespaced("a", "x"),
            ObjectKey::namespaced("a", "y"),
        );
        s.upsert(x.clone(), cm("a", "x", None));
        s.upsert(y.clone(), cm("a", "y", None));
        // An update refiling the object under a new index value files the cached key.
        s.upsert(ObjectKey::namespaced("a", "y"), cm("a", "y", Some("u1")));
        s.upsert(ObjectKey::cluster("c"), cm("", "c", None));
        let shared = |k: &ObjectKey| k.namespace_arc().cloned();
        let keys = s.list_keys();
        let ns: Vec<_> = keys.iter().filter_map(shared).collect();
        assert_eq!(ns.len(), 2);
        assert!(Arc::ptr_eq(&ns[0], &ns[1]), "one namespace string");
        let filed = s.index_keys(CONTROLLER_UID_INDEX, "u1").unwrap();
        assert!(Arc::ptr_eq(&shared(&filed[0]).unwrap(), &ns[0]));
        assert_eq!(s.inner.read().namespaces.len(), 1);

        s.delete(&x);
        assert_eq!(s.inner.read().namespaces.len(), 1);
        s.delete(&y);
        assert!(
            s.inner.read().namespaces.is_empty(),
            "released with its last object"
        );
        s.upsert(x.clone(), cm("a", "x", None));
        assert_eq!(s.inner.read().namespaces.get("a"), Some(&1));
        assert_eq!(s.get(&x).unwrap().metadata.name.as_deref(), Some("x"));
    }

    #[test]
    fn store_key_has_no_padding_for_the_inline_option() {
        assert_eq!(
            std::mem::size_of::<Option<InlineKey>>(),
            INLINE_KEY_BYTES + 2
        );
        assert_eq!(std::mem::size_of::<StoreKey>(), 80);
    }

    #[test]
    fn get_by_parts_matches_get_by_key_including_cluster_scope() {
        let s = Indexer::<ConfigMap>::new();
        s.upsert(ObjectKey::namespaced("a", "x"), cm("a", "x", None));
        s.upsert(ObjectKey::cluster("c"), cm("", "c", None));
        assert!(s.get_parts("a", "x").is_some());
        assert!(s.get_parts("", "c").is_some());
        assert!(s.get(&ObjectKey::cluster("c")).is_some());
        assert!(s.get_parts("b", "x").is_none());
        assert!(s.get_parts("", "x").is_none());
        // Same bytes, different split between namespace and name.
        assert!(s.get_parts("ax", "").is_none());
        assert!(s.get_parts("", "ax").is_none());
    }

    #[test]
    fn long_keys_that_do_not_fit_inline_still_work() {
        let s = Indexer::<ConfigMap>::new();
        let ns = "n".repeat(40);
        let name = "x".repeat(200);
        s.upsert(ObjectKey::namespaced(&ns, &name), cm(&ns, &name, None));
        assert!(s.get_parts(&ns, &name).is_some());
        assert!(s.get_parts(&ns, &name[1..]).is_none());
        assert!(s.delete(&ObjectKey::namespaced(&ns, &name)).is_some());
        assert!(s.is_empty());
    }
}
