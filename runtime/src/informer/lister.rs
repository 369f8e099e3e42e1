//! Read-only views of an informer's cache (client-go's generated listers).

use std::sync::Arc;

use capstan_labels::Selector;
use kube::Resource;

use super::index::NAMESPACE_INDEX;
use super::store::{IndexError, Indexer};
use crate::ObjectKey;

/// Reads an informer's cache. Cheap to clone; every read takes a shared lock for the
/// duration of one lookup and returns the cached `Arc`s, never copies.
///
/// The cache lags the API server: a controller that has just written an object may not
/// see its write yet (see [`crate::expectations`]).
pub struct Lister<K> {
    indexer: Arc<Indexer<K>>,
}

impl<K> Clone for Lister<K> {
    fn clone(&self) -> Self {
        Self {
            indexer: self.indexer.clone(),
        }
    }
}

impl<K: Resource + 'static> Lister<K> {
    /// A lister over `indexer`.
    pub fn new(indexer: Arc<Indexer<K>>) -> Self {
        Self { indexer }
    }

    /// The object `name` in `namespace`; pass `""` as the namespace for cluster-scoped
    /// objects. Does not allocate.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.indexer.get_parts(namespace, name)
    }

    /// The object under `key`.
    pub fn get_key(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.indexer.get(key)
    }

    /// The objects whose labels match `selector`, in `namespace` (through the namespace
    /// index) or in all namespaces for `None`. Use
    /// [`parse_label_selector`](super::parse_label_selector) for selector strings and
    /// `Selector::default()` to select everything.
    pub fn list(&self, namespace: Option<&str>, selector: &Selector) -> Vec<Arc<K>> {
        let matches = |o: &K| selector.matches(&o.meta().labels);
        match namespace {
            Some(ns) => self
                .indexer
                .filter_index(NAMESPACE_INDEX, ns, matches)
                .unwrap_or_default(),
            None => self.indexer.filter(matches),
        }
    }

    /// Every cached object.
    pub fn list_all(&self) -> Vec<Arc<K>> {
        self.indexer.list()
    }

    /// The objects filed under `value` in the index `index_name`.
    pub fn by_index(&self, index_name: &str, value: &str) -> Result<Vec<Arc<K>>, IndexError> {
        self.indexer.by_index(index_name, value)
    }

    /// The number of cached objects.
    pub fn len(&self) -> usize {
        self.indexer.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.indexer.is_empty()
    }

    /// The underlying indexer.
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.indexer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::informer::parse_label_selector;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn lister() -> Lister<Pod> {
        let idx = Arc::new(Indexer::new());
        for p in [
            pod("a", "web-1", &[("app", "web"), ("env", "prod")]),
            pod("a", "web-2", &[("app", "web"), ("env", "dev")]),
            pod("a", "db", &[("app", "db")]),
            pod("b", "web-3", &[("app", "web"), ("env", "prod")]),
            pod("b", "bare", &[]),
        ] {
            idx.upsert(ObjectKey::of(p.as_ref()), p);
        }
        Lister::new(idx)
    }

    fn names(v: Vec<Arc<Pod>>) -> Vec<String> {
        let mut n: Vec<String> = v.iter().map(|o| o.metadata.name.clone().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn list_filters_by_namespace_and_selector() {
        let l = lister();
        let sel = |s: &str| parse_label_selector(s).unwrap();
        assert_eq!(
            names(l.list(Some("a"), &sel("app=web"))),
            ["web-1", "web-2"]
        );
        assert_eq!(
            names(l.list(None, &sel("app=web,env in (prod)"))),
            ["web-1", "web-3"]
        );
        assert_eq!(
            names(l.list(None, &sel("env notin (prod)"))),
            ["bare", "db", "web-2"]
        );
        assert_eq!(names(l.list(Some("b"), &sel("!app"))), ["bare"]);
        assert_eq!(
            names(l.list(None, &sel("env"))),
            ["web-1", "web-2", "web-3"]
        );
        assert_eq!(names(l.list(None, &sel("app!=web"))), ["bare", "db"]);
        assert_eq!(l.list(Some("a"), &Selector::default()).len(), 3);
        assert!(l.list(Some("zzz"), &Selector::default()).is_empty());
    }

    #[test]
    fn get_by_name_and_key() {
        let l = lister();
        assert_eq!(
            l.get("a", "db").unwrap().metadata.name.as_deref(),
            Some("db")
        );
        assert!(l.get("b", "db").is_none());
        assert!(l.get_key(&ObjectKey::namespaced("b", "web-3")).is_some());
        assert_eq!(
            names(l.by_index(NAMESPACE_INDEX, "b").unwrap()),
            ["bare", "web-3"]
        );
    }
}
