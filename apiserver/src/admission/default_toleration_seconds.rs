//! `DefaultTolerationSeconds`: a pod that does not already tolerate the
//! `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` `NoExecute`
//! taints gets a toleration of each for 300 seconds, so it is evicted five minutes
//! after its node goes away rather than at once (upstream's
//! `plugin/pkg/admission/defaulttolerationseconds`).

use serde_json::{Value, json};

/// The taint the node lifecycle controller puts on a node whose kubelet reports not
/// ready.
const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint the node lifecycle controller puts on a node it no longer hears from.
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Upstream's `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`.
const DEFAULT_SECONDS: i64 = 300;

/// Adds the missing default tolerations to a pod's `spec.tolerations`.
pub(super) fn admit(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let missing: Vec<&'static str> = [NOT_READY, UNREACHABLE]
        .into_iter()
        .filter(|key| !existing.iter().any(|t| tolerates_no_execute(t, key)))
        .collect();
    if missing.is_empty() {
        return;
    }
    let list = spec.entry("tolerations").or_insert(Value::Null);
    if list.is_null() {
        *list = json!([]);
    }
    // A non-list is left for validation to refuse.
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in missing {
        list.push(json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_SECONDS,
        }));
    }
}

/// Whether a toleration covers the `NoExecute` taint `key`: upstream counts an empty
/// key (every taint) and an empty effect (every effect), whatever the operator.
fn tolerates_no_execute(toleration: &Value, key: &str) -> bool {
    let k = toleration.get("key").and_then(Value::as_str).unwrap_or("");
    let effect = toleration
        .get("effect")
        .and_then(Value::as_str)
        .unwrap_or("");
    (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_for(key: &str) -> Value {
        json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    }

    fn admitted(tolerations: Value) -> Value {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "i"}]}});
        if !tolerations.is_null() {
            pod["spec"]["tolerations"] = tolerations;
        }
        admit(&mut pod);
        pod["spec"]["tolerations"].clone()
    }

    #[test]
    fn tolerations_added_as_upstream_adds_them() {
        let custom =
            json!({"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"});
        let not_ready_60 = json!({"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60});
        let unreachable_any_effect = json!({"key": UNREACHABLE, "operator": "Equal", "value": "x"});
        let everything = json!({"operator": "Exists"});
        let not_ready_no_schedule =
            json!({"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"});
        let table: Vec<(&str, Value, Value)> = vec![
            (
                "none: both added",
                Value::Null,
                json!([default_for(NOT_READY), default_for(UNREACHABLE)]),
            ),
            (
                "unrelated toleration kept first",
                json!([custom]),
                json!([custom, default_for(NOT_READY), default_for(UNREACHABLE)]),
            ),
            (
                "the client's not-ready seconds win",
                json!([not_ready_60]),
                json!([not_ready_60, default_for(UNREACHABLE)]),
            ),
            (
                "an empty effect covers NoExecute",
                json!([unreachable_any_effect]),
                json!([unreachable_any_effect, default_for(NOT_READY)]),
            ),
            (
                "an empty key tolerates every taint",
                json!([everything]),
                json!([everything]),
            ),
            (
                "NoSchedule does not cover NoExecute",
                json!([not_ready_no_schedule]),
                json!([
                    not_ready_no_schedule,
                    default_for(NOT_READY),
                    default_for(UNREACHABLE)
                ]),
            ),
        ];
        for (case, given, want) in table {
            assert_eq!(admitted(given), want, "{case}");
        }
    }

    #[test]
    fn a_null_list_gets_both() {
        let mut pod = json!({"spec": {"tolerations": null}});
        admit(&mut pod);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([default_for(NOT_READY), default_for(UNREACHABLE)])
        );
    }

    #[test]
    fn admitting_twice_adds_nothing_more() {
        let once = admitted(Value::Null);
        assert_eq!(admitted(once.clone()), once);
    }

    #[test]
    fn a_non_list_is_left_for_validation() {
        assert_eq!(admitted(json!("nope")), json!("nope"));
    }
}
