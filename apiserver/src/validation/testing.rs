//! Helpers the validation tests share: look a built-in kind up, default an object and
//! validate it as a create or an update.

use serde_json::{Value, json};

use super::validate;
use crate::defaults::apply_defaults;
use crate::kinds::{KindInfo, Registry};

pub(super) fn kind(group: &str, plural: &str) -> std::sync::Arc<KindInfo> {
    Registry::with_builtins()
        .lookup(group, "v1", plural)
        .unwrap()
}

pub(super) fn check(group: &str, plural: &str, mut obj: Value) -> Vec<String> {
    let k = kind(group, plural);
    apply_defaults(&k, &mut obj);
    validate(&k, &obj, None, None)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

pub(super) fn check_update(group: &str, plural: &str, old: Value, new: Value) -> Vec<String> {
    let k = kind(group, plural);
    let (mut old, mut new) = (old, new);
    apply_defaults(&k, &mut old);
    apply_defaults(&k, &mut new);
    validate(&k, &new, Some(&old), None)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

pub(super) fn deployment() -> Value {
    json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
}
