//! JSON merge patch (RFC 7386), the `application/merge-patch+json` content type.

use serde_json::{Map, Value};

/// Applies a JSON merge patch to `target` and returns the result.
///
/// An object patch is merged key by key (a `null` value deletes the key, nested
/// objects merge recursively); any other patch value replaces the target wholesale.
/// Lists are never merged. This is total: every pair of JSON values has a result.
pub fn apply(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    apply_in_place(&mut out, patch);
    out
}

/// In-place form of [`apply`].
pub fn apply_in_place(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            let slot = target_map.entry(key.clone()).or_insert(Value::Null);
            apply_in_place(slot, value);
        }
    }
}

/// Computes the merge patch that turns `original` into `modified`: changed and added
/// keys with their new values, removed keys as `null`. Lists and non-objects are
/// replaced wholesale. kubectl uses this for kinds it has no schema for.
pub fn diff(original: &Value, modified: &Value) -> Value {
    match (original, modified) {
        (Value::Object(o), Value::Object(m)) => {
            let mut patch = Map::new();
            for (k, mv) in m {
                match o.get(k) {
                    Some(ov) if ov == mv => {}
                    Some(ov @ Value::Object(_)) if mv.is_object() => {
                        let d = diff(ov, mv);
                        if d.as_object().is_some_and(|d| !d.is_empty()) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    _ => {
                        patch.insert(k.clone(), mv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !m.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => modified.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7386 appendix A, verbatim.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (i, (target, patch, want)) in cases.into_iter().enumerate() {
            assert_eq!(apply(&target, &patch), want, "case {i}");
        }
    }

    #[test]
    fn kubectl_scale_and_label_patches() {
        let deploy = json!({"metadata":{"name":"d","labels":{"app":"x","tier":"web"}},
            "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"c"}]}}}});
        let scaled = apply(&deploy, &json!({"spec":{"replicas":3}}));
        assert_eq!(scaled["spec"]["replicas"], 3);
        assert_eq!(scaled["spec"]["template"], deploy["spec"]["template"]);
        let unlabeled = apply(
            &deploy,
            &json!({"metadata":{"labels":{"tier":null,"new":"y"}}}),
        );
        assert_eq!(
            unlabeled["metadata"]["labels"],
            json!({"app":"x","new":"y"})
        );
    }

    #[test]
    fn diff_round_trips() {
        let cases = [
            (
                json!({"a":1,"b":{"c":2,"d":3},"l":[1,2]}),
                json!({"a":1,"b":{"c":5},"l":[2],"n":true}),
            ),
            (json!({"a":{"b":{"c":1}}}), json!({"a":{"b":{"c":1}}})),
            (json!({"a":1}), json!({})),
        ];
        for (o, m) in cases {
            let p = diff(&o, &m);
            assert_eq!(apply(&o, &p), m, "patch {p}");
        }
        assert_eq!(
            diff(&json!({"a":{"b":1}}), &json!({"a":{"b":1}})),
            json!({})
        );
        assert_eq!(
            diff(&json!({"a":{"b":1,"c":2}}), &json!({"a":{"b":1}})),
            json!({"a":{"c":null}})
        );
    }
}
