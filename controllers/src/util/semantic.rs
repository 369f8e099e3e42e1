//! apimachinery's semantic equality (`equality.Semantic.DeepEqual`) for API
//! objects: unlike plain equality, an empty list or map equals an absent one,
//! so objects that went through different serializers (`[]` vs omitted)
//! still compare equal.

use serde::Serialize;
use serde_json::Value;

/// The object's JSON with every null, empty array and empty object removed,
/// recursively: the canonical form semantic equality and hashing work on.
pub fn canonical<T: Serialize>(obj: &T) -> Value {
    // k8s-openapi values always serialize (string map keys only).
    prune(serde_json::to_value(obj).unwrap_or(Value::Null))
}

/// Removes nulls and empty containers from `v`, recursively.
pub fn prune(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune).collect()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// True when `a` and `b` are semantically equal.
pub fn equal<T: Serialize>(a: &T, b: &T) -> bool {
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::template;

    #[test]
    fn empty_and_absent_lists_and_maps_are_equal() {
        let a = template("nginx:1");
        let mut b = a.clone();
        let spec = b.spec.as_mut().unwrap();
        spec.volumes = Some(vec![]);
        spec.containers[0].env = Some(vec![]);
        b.metadata.as_mut().unwrap().annotations = Some(Default::default());
        assert_ne!(a, b);
        assert!(equal(&a, &b));
        assert!(!equal(&a, &template("nginx:2")));
    }

    #[test]
    fn list_elements_keep_their_position() {
        let v = prune(serde_json::json!({"a": [null, {}, 1], "b": {"c": null}}));
        assert_eq!(v, serde_json::json!({"a": [null, {}, 1]}));
    }
}
