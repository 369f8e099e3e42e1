//! Object keys in client-go's `MetaNamespaceKeyFunc` form: `namespace/name`, or just
//! `name` for cluster-scoped objects.

use std::fmt;
use std::sync::Arc;

use kube::Resource;

/// The identity of an object inside an informer cache and a work queue:
/// `namespace/name` for namespaced objects and `name` for cluster-scoped ones.
///
/// Cheap to clone (two reference-counted strings) and ordered, so it can key maps and
/// queues alike.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    namespace: Option<Arc<str>>,
    name: Arc<str>,
}

impl ObjectKey {
    /// A key for a namespaced object.
    pub fn namespaced(namespace: &str, name: &str) -> Self {
        Self {
            namespace: Some(Arc::from(namespace)),
            name: Arc::from(name),
        }
    }

    /// A key for a cluster-scoped object.
    pub fn cluster(name: &str) -> Self {
        Self {
            namespace: None,
            name: Arc::from(name),
        }
    }

    /// A key for `namespace` (empty or `None` means cluster scope) and `name`.
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        match namespace {
            Some(ns) if !ns.is_empty() => Self::namespaced(ns, name),
            _ => Self::cluster(name),
        }
    }

    /// The key of a Kubernetes object, from its metadata.
    pub fn of<K: Resource>(obj: &K) -> Self {
        let meta = obj.meta();
        Self::new(
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or(""),
        )
    }

    /// Parses `namespace/name` or `name`, as client-go's `SplitMetaNamespaceKey`.
    pub fn parse(key: &str) -> Result<Self, InvalidKey> {
        let mut parts = key.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), None, None) if !name.is_empty() => Ok(Self::cluster(name)),
            (Some(ns), Some(name), None) if !name.is_empty() => Ok(Self::new(Some(ns), name)),
            _ => Err(InvalidKey(key.to_string())),
        }
    }

    /// The namespace string itself, for interning.
    pub(crate) fn namespace_arc(&self) -> Option<&Arc<str>> {
        self.namespace.as_ref()
    }

    /// The same key with its namespace string replaced by `namespace`, which must be
    /// equal to it (an interned copy).
    pub(crate) fn with_namespace_arc(self, namespace: Arc<str>) -> Self {
        debug_assert_eq!(self.namespace.as_deref(), Some(&*namespace));
        Self {
            namespace: Some(namespace),
            name: self.name,
        }
    }

    /// The namespace, or `None` for a cluster-scoped object.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A string that is not a valid `namespace/name` or `name` key.
#[derive(Debug, thiserror::Error)]
#[error("unexpected key format: {0:?} (want \"namespace/name\" or \"name\")")]
pub struct InvalidKey(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_namespaced_and_cluster_keys() {
        for s in ["default/web", "node-1"] {
            assert_eq!(ObjectKey::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(ObjectKey::parse("/x").unwrap(), ObjectKey::cluster("x"));
    }

    #[test]
    fn rejects_malformed_keys() {
        for s in ["", "a/b/c", "ns/"] {
            assert!(ObjectKey::parse(s).is_err(), "{s:?} parsed");
        }
    }
}
