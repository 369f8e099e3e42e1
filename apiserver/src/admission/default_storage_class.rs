//! `DefaultStorageClass`: a PersistentVolumeClaim created without a class gets the
//! cluster's default StorageClass (upstream's
//! `plugin/pkg/admission/storage/storageclass/setdefault`).

use serde_json::{Value, json};

use crate::ops::meta::meta_str;
use crate::storage::{ResourceKey, Store};

/// The annotation marking a StorageClass as the default.
const IS_DEFAULT: &str = "storageclass.kubernetes.io/is-default-class";
/// Its beta spelling, which upstream still honours.
const BETA_IS_DEFAULT: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// The beta annotation naming a claim's class, which counts as naming one.
const BETA_CLAIM_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// Sets `spec.storageClassName` of a claim that names no class to the default class,
/// if there is one.
pub(super) fn admit(store: &Store, pvc: &mut Value) {
    if has_class(pvc) {
        return;
    }
    let key = ResourceKey::new("storage.k8s.io", "storageclasses");
    let page = store.list(&key, None, None, None, &|_| true);
    let classes: Vec<Value> = page
        .items
        .into_iter()
        .filter_map(|o| o.value().ok())
        .collect();
    let Some(name) = default_class(&classes) else {
        return;
    };
    if let Some(spec) = pvc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("storageClassName".into(), json!(name));
    }
}

/// Upstream's `PersistentVolumeClaimHasClass`: the beta annotation, or any
/// `spec.storageClassName` (the empty one too: it asks for no class).
fn has_class(pvc: &Value) -> bool {
    pvc.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(BETA_CLAIM_CLASS))
        || pvc
            .pointer("/spec/storageClassName")
            .is_some_and(|c| !c.is_null())
}

/// Whether a class carries either default annotation set to `"true"`.
fn is_default(class: &Value) -> bool {
    [IS_DEFAULT, BETA_IS_DEFAULT].iter().any(|a| {
        class
            .pointer("/metadata/annotations")
            .and_then(|m| m.get(*a))
            .and_then(Value::as_str)
            == Some("true")
    })
}

/// The default class's name: of several, the newest, and of equally new ones the first
/// by name, as upstream (1.26 on) picks.
fn default_class(classes: &[Value]) -> Option<&str> {
    classes
        .iter()
        .filter(|c| is_default(c))
        .map(|c| {
            (
                meta_str(c, "creationTimestamp").unwrap_or(""),
                meta_str(c, "name").unwrap_or(""),
            )
        })
        .max_by(|a, b| a.0.cmp(b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, annotation: Option<(&str, &str)>) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if let Some((k, v)) = annotation {
            c["metadata"]["annotations"] = json!({ k: v });
        }
        c
    }

    #[test]
    fn the_default_class_is_chosen_as_upstream_chooses_it() {
        let old = "2026-01-01T00:00:00Z";
        let new = "2026-06-01T00:00:00Z";
        let table: Vec<(&str, Vec<Value>, Option<&str>)> = vec![
            ("no classes", vec![], None),
            (
                "no class annotated",
                vec![
                    class("a", old, None),
                    class("b", old, Some((IS_DEFAULT, "false"))),
                ],
                None,
            ),
            (
                "the annotated one",
                vec![
                    class("a", old, None),
                    class("fast", old, Some((IS_DEFAULT, "true"))),
                ],
                Some("fast"),
            ),
            (
                "the beta annotation counts",
                vec![class("beta", old, Some((BETA_IS_DEFAULT, "true")))],
                Some("beta"),
            ),
            (
                "several: the newest",
                vec![
                    class("newer", new, Some((IS_DEFAULT, "true"))),
                    class("older", old, Some((IS_DEFAULT, "true"))),
                ],
                Some("newer"),
            ),
            (
                "equally new: the first by name",
                vec![
                    class("zeta", new, Some((IS_DEFAULT, "true"))),
                    class("alpha", new, Some((IS_DEFAULT, "true"))),
                ],
                Some("alpha"),
            ),
        ];
        for (case, classes, want) in table {
            assert_eq!(default_class(&classes), want, "{case}");
        }
    }

    #[test]
    fn a_claim_naming_a_class_keeps_it() {
        let table = [
            (json!({"spec": {}}), false),
            (json!({"spec": {"storageClassName": null}}), false),
            (json!({"spec": {"storageClassName": ""}}), true),
            (json!({"spec": {"storageClassName": "slow"}}), true),
            (
                json!({"metadata": {"annotations": {BETA_CLAIM_CLASS: ""}}, "spec": {}}),
                true,
            ),
        ];
        for (pvc, want) in table {
            assert_eq!(has_class(&pvc), want, "{pvc}");
        }
    }
}
