//! Claims, volumes and classes for the binder's unit tests.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;

/// A `ReadWriteOnce` claim `ns/<name>` (uid `uid-<name>`) of `class` asking `size`.
pub fn claim(name: &str, class: &str, size: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                     "resourceVersion": "1"},
        "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Pending"},
    }))
    .unwrap()
}

/// An `Available`, unclaimed `ReadWriteOnce` host-path volume of `class` and `size`.
pub fn volume(name: &str, class: &str, size: &str) -> PersistentVolume {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                 "capacity": {"storage": size}, "hostPath": {"path": "/tmp"},
                 "persistentVolumeReclaimPolicy": "Retain"},
        "status": {"phase": "Available"},
    }))
    .unwrap()
}

/// `v` with a `claimRef` to `c` (uid included).
pub fn bound_to(mut v: PersistentVolume, c: &PersistentVolumeClaim) -> PersistentVolume {
    v.spec.as_mut().unwrap().claim_ref = Some(
        serde_json::from_value(json!({
            "kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "namespace": c.metadata.namespace, "name": c.metadata.name, "uid": c.metadata.uid,
        }))
        .unwrap(),
    );
    v
}

/// A class `name` of `provisioner`, binding in `mode`, reclaiming by `reclaim`.
pub fn class(name: &str, provisioner: &str, mode: &str, reclaim: &str) -> StorageClass {
    serde_json::from_value(json!({
        "metadata": {"name": name}, "provisioner": provisioner,
        "volumeBindingMode": mode, "reclaimPolicy": reclaim,
    }))
    .unwrap()
}
