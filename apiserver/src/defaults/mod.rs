//! Defaulting as kube-apiserver does it when an object is decoded for create or update
//! (`pkg/apis/*/v1/defaults.go`, `SetDefaults_*`), plus the stateless parts of the
//! registry strategies' `PrepareForCreate` that fill fields in (a Job's generated
//! selector, a Namespace's `kubernetes` finalizer, a Pod's initial status).
//!
//! Stateful defaults (ClusterIP and NodePort allocation, PriorityClass resolution) are
//! the server's, since they need storage. Custom resources get their schema's `default`
//! values through [`crate::crd::defaults::apply_schema_defaults`].

pub(crate) mod apiregistration;
pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod certificates;
pub(crate) mod core;
pub(crate) mod discovery;
pub(crate) mod limit_range;
pub(crate) mod pod;
pub(crate) mod rbac;
pub(crate) mod scheduling;
pub(crate) mod storage;
#[cfg(test)]
mod testing;

use serde_json::Value;

use crate::kinds::KindInfo;
use crate::kinds::descriptor::CreateStatus;

/// Fills in every default upstream fills in for an object of `kind`. Idempotent: applying
/// it twice gives the same object. Needs `metadata.uid` (set before defaulting) for the
/// Job selector; `metadata.name` for Namespace and Job labels.
pub fn apply_defaults(kind: &KindInfo, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    if let Some(custom) = &kind.custom {
        if let Some(schema) = &custom.schema {
            crate::crd::defaults::apply_schema_defaults(schema, obj);
        }
        return;
    }
    if let Some(defaults) = kind.descriptor.and_then(|d| d.defaults) {
        defaults(obj);
    }
}

/// The `status` a create stores for `kind`, as the registry strategies' `PrepareForCreate`
/// resets it: `Some(status)` replaces whatever the client sent (e.g. `{}` for
/// Deployments, `{phase: Pending, qosClass}` for Pods), `None` keeps the client's status
/// (kinds without a `status` subresource, and Nodes, whose agent reports status on create).
pub fn initial_status(kind: &KindInfo, obj: &Value) -> Option<Value> {
    match kind.descriptor?.create_status {
        CreateStatus::Initial(initial) => Some(initial(obj)),
        CreateStatus::Kept | CreateStatus::Dropped => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;
    use crate::kinds::Registry;
    use serde_json::json;

    #[test]
    fn namespace_node_volume_and_misc_defaults() {
        let ns = defaulted("", "namespaces", json!({"metadata": {"name": "team-a"}}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        let node = defaulted(
            "",
            "nodes",
            json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}}),
        );
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4"}));
        let pvc = defaulted("", "persistentvolumeclaims", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
        let secret = defaulted("", "secrets", json!({"data": {}}));
        assert_eq!(secret["type"], "Opaque");
        let pc = defaulted("scheduling.k8s.io", "priorityclasses", json!({"value": 5}));
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        let sc = defaulted(
            "storage.k8s.io",
            "storageclasses",
            json!({"provisioner": "p"}),
        );
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        let rb = defaulted(
            "rbac.authorization.k8s.io",
            "rolebindings",
            json!({"roleRef": {"kind": "Role", "name": "r"},
                   "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "d"}]}),
        );
        assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][1]["apiGroup"], "");
        let slice = defaulted(
            "discovery.k8s.io",
            "endpointslices",
            json!({"addressType": "IPv4", "ports": [{"port": 80}]}),
        );
        assert_eq!(
            slice["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
    }

    #[test]
    fn initial_status_per_kind() {
        let r = Registry::with_builtins();
        let pod = r.lookup("", "v1", "pods").unwrap();
        let be = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
        assert_eq!(
            initial_status(&pod, &be),
            Some(json!({"phase": "Pending", "qosClass": "BestEffort"}))
        );
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(initial_status(&pod, &g).unwrap()["qosClass"], "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(initial_status(&pod, &b).unwrap()["qosClass"], "Burstable");
        let deploy = r.lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(initial_status(&deploy, &json!({})), Some(json!({})));
        let node = r.lookup("", "v1", "nodes").unwrap();
        assert_eq!(initial_status(&node, &json!({})), None);
        let cm = r.lookup("", "v1", "configmaps").unwrap();
        assert_eq!(initial_status(&cm, &json!({})), None);
    }
}
