//! Index functions: how an [`Indexer`](super::Indexer) files objects under extra keys,
//! after client-go's `IndexFunc` and the indexes controllers register on their informers.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;

/// An index function: the values under which an object is filed in one index
/// (client-go's `IndexFunc`). An object may be filed under several values, or none.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// The name of the built-in namespace index (client-go's `NamespaceIndex`), present in
/// every [`Indexer`](super::Indexer); cluster-scoped objects are filed under `""`.
pub const NAMESPACE_INDEX: &str = "namespace";

/// The name of the index of objects by the UID of their controlling owner reference
/// (the one with `controller: true`), as the workload controllers use it.
pub const CONTROLLER_UID_INDEX: &str = "controllerUID";

/// The name of the index of pods by `spec.nodeName`.
pub const POD_NODE_NAME_INDEX: &str = "spec.nodeName";

/// Files an object under its namespace (client-go's `MetaNamespaceIndexFunc`).
pub fn namespace_index<K: Resource>(obj: &K) -> Vec<String> {
    vec![obj.meta().namespace.clone().unwrap_or_default()]
}

/// Files an object under the UID of its controller owner reference, or nowhere when no
/// owner reference has `controller: true`.
pub fn controller_uid_index<K: Resource>(obj: &K) -> Vec<String> {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| vec![r.uid.clone()])
        .unwrap_or_default()
}

/// Files a pod under the node it is bound to (`spec.nodeName`), or nowhere while it is
/// unscheduled.
pub fn pod_node_name_index(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|n| vec![n.to_string()])
        .unwrap_or_default()
}
