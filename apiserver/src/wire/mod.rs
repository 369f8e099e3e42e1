//! The JSON form Go writes a built-in object in. kube-apiserver decodes every write into
//! the kind's Go struct and `encoding/json` writes that struct back out, so what a real
//! server stores and sends follows three rules:
//!
//! - a field without `omitempty` that Go holds by value (an `int32`, `string`, `bool` or
//!   struct, not a pointer) is always written, with its zero value when unset (a new
//!   DaemonSet's `status.numberReady: 0`);
//! - an `omitempty` field that is empty is left out: `null`, an empty list or map, and
//!   the zero of a scalar Go holds by value (a pod its ReplicaSet released has no
//!   `ownerReferences` key, not `"ownerReferences": []`);
//! - keys come in the order the Go struct declares its fields: `kind`, `apiVersion`,
//!   `metadata` (`name`, `generateName`, `namespace`, …), `spec`, `status`, and so on
//!   inside every nested type, map keys sorted.
//!
//! The first two are applied to an object before it is stored ([`normalise`]); the
//! third whenever JSON is written ([`to_vec`], [`Ordered`]): the store keeps each object's
//! bytes in that order, so objects, lists and watch events sent from stored bytes are
//! ordered once, at write time, and everything built per response (`Status`, `Table`,
//! `PartialObjectMetadata`, discovery documents, `Scale`) is ordered as it is written.
//!
//! All three come from type information, never from per-field code: the vendored
//! `.proto` files give the order and which fields Go holds by value (`(gogoproto.nullable)
//! = false`, see [`crate::protobuf::descriptors`]), the OpenAPI schemas which fields are
//! written even when empty (openapi-gen marks the fields without `omitempty` `required`,
//! see [`crate::protobuf::shape`]). [`plan`] builds one table from both, once, on first
//! use. Custom resources keep their bodies; only their `metadata` (an `ObjectMeta`
//! upstream too) follows the value rules, and their keys are sorted, as upstream writes
//! them ([`order`] says why).

mod normalise;
mod order;
mod plan;
mod unvendored;

pub use normalise::normalise;
pub use order::{Ordered, list_envelope, to_vec};
pub use unvendored::VERSION_INFO;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;
    use serde_json::Value;
    use serde_json::json;

    fn normalised(group: &str, resource: &str, mut obj: Value) -> Value {
        let registry = Registry::with_builtins();
        let kind = registry.lookup(group, "v1", resource).unwrap();
        normalise(&kind, &mut obj);
        obj
    }

    /// A table of upstream types and fields: what Go's `encoding/json` writes for them.
    #[test]
    fn fields_are_written_as_go_writes_them() {
        // Non-omitempty scalars Go holds by value appear with their zero.
        let ds = normalised("apps", "daemonsets", json!({"spec": {}, "status": {}}));
        assert_eq!(
            ds["status"],
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                   "desiredNumberScheduled": 0, "numberReady": 0})
        );
        // omitempty ones do not (observedGeneration, numberAvailable, …) and a zero
        // written by a client is dropped.
        let ds = normalised(
            "apps",
            "daemonsets",
            json!({"status": {"numberAvailable": 0, "numberReady": 2}}),
        );
        assert_eq!(ds["status"]["numberReady"], 2);
        assert!(ds["status"].get("numberAvailable").is_none());
        // Emptied metadata lists and maps go; pointer zeros stay (they are values).
        let rs = normalised(
            "apps",
            "replicasets",
            json!({"metadata": {"name": "a", "ownerReferences": [], "labels": {},
                                "annotations": null, "finalizers": []},
                   "spec": {"replicas": 0, "minReadySeconds": 0, "selector": {}}}),
        );
        assert_eq!(rs["metadata"], json!({"name": "a"}));
        assert_eq!(rs["spec"]["replicas"], 0);
        assert!(rs["spec"].get("minReadySeconds").is_none());
        // Inside lists, in embedded structs and in required structs.
        let pod = normalised(
            "",
            "pods",
            json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 0}]}],
                            "volumes": [{"name": "v", "configMap": {"name": "cm", "items": []}}]}}),
        );
        assert_eq!(
            pod["spec"]["containers"][0]["ports"][0],
            json!({"containerPort": 80})
        );
        assert_eq!(
            pod["spec"]["volumes"][0],
            json!({"name": "v", "configMap": {"name": "cm"}})
        );
        let rb = normalised(
            "rbac.authorization.k8s.io",
            "rolebindings",
            json!({"roleRef": {"kind": "Role", "name": "r"}}),
        );
        assert_eq!(
            rb["roleRef"],
            json!({"apiGroup": "", "kind": "Role", "name": "r"})
        );
        // Required lists stay even when empty.
        let pod = normalised("", "pods", json!({"spec": {"containers": []}}));
        assert_eq!(pod["spec"]["containers"], json!([]));
    }

    #[test]
    fn custom_resources_keep_their_bodies_and_lose_empty_metadata() {
        let mut kind = (*Registry::with_builtins()
            .lookup("", "v1", "configmaps")
            .unwrap())
        .clone();
        kind.source = crate::kinds::KindSource::Custom {
            crd_name: "widgets.example.com".into(),
        };
        kind.descriptor = None;
        let mut obj = json!({"metadata": {"name": "w", "ownerReferences": []},
                             "spec": {"items": [], "count": 0}});
        normalise(&kind, &mut obj);
        assert_eq!(
            obj,
            json!({"metadata": {"name": "w"}, "spec": {"items": [], "count": 0}})
        );
    }
}
