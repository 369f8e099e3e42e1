//! `StorageObjectInUseProtection`: a new PersistentVolumeClaim carries the
//! `kubernetes.io/pvc-protection` finalizer and a new PersistentVolume
//! `kubernetes.io/pv-protection`, so deleting one that a pod still uses (a claim) or a
//! claim is still bound to (a volume) leaves it `Terminating` until its protection
//! controller removes the finalizer (upstream's
//! `plugin/pkg/admission/storage/storageobjectinuseprotection`).

use serde_json::{Value, json};

use crate::kinds::KindInfo;

/// The finalizer of claims (upstream's `PVCProtectionFinalizer`).
const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer of volumes (upstream's `PVProtectionFinalizer`).
const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// Appends the kind's protection finalizer to `metadata.finalizers` unless present.
pub(super) fn admit(kind: &KindInfo, obj: &mut Value) {
    let finalizer = match (kind.group.as_str(), kind.plural.as_str()) {
        ("", "persistentvolumeclaims") => PVC_PROTECTION,
        ("", "persistentvolumes") => PV_PROTECTION,
        _ => return,
    };
    add_finalizer(obj, finalizer);
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert(Value::Null);
    if list.is_null() {
        *list = json!([]);
    }
    // A non-list is left for validation to refuse.
    let Some(list) = list.as_array_mut() else {
        return;
    };
    if !list.iter().any(|f| f == finalizer) {
        list.push(json!(finalizer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin::by_resource;

    fn admitted(plural: &str, obj: Value) -> Value {
        let kind = KindInfo::from_descriptor(by_resource("", plural).expect("built-in"));
        let mut obj = obj;
        admit(&kind, &mut obj);
        obj["metadata"]["finalizers"].clone()
    }

    #[test]
    fn claims_and_volumes_get_their_protection_finalizer() {
        let table: Vec<(&str, &str, Value, Value)> = vec![
            (
                "a claim",
                "persistentvolumeclaims",
                json!({"metadata": {"name": "c"}}),
                json!([PVC_PROTECTION]),
            ),
            (
                "a volume",
                "persistentvolumes",
                json!({"metadata": {"name": "v"}}),
                json!([PV_PROTECTION]),
            ),
            (
                "the client's finalizers kept first",
                "persistentvolumeclaims",
                json!({"metadata": {"finalizers": ["example.com/backup"]}}),
                json!(["example.com/backup", PVC_PROTECTION]),
            ),
            (
                "already there: not twice",
                "persistentvolumes",
                json!({"metadata": {"finalizers": [PV_PROTECTION]}}),
                json!([PV_PROTECTION]),
            ),
            (
                "other kinds untouched",
                "configmaps",
                json!({"metadata": {"name": "x"}}),
                Value::Null,
            ),
        ];
        for (case, plural, obj, want) in table {
            assert_eq!(admitted(plural, obj), want, "{case}");
        }
    }
}
