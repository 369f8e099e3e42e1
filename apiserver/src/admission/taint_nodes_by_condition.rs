//! `TaintNodesByCondition`: a new Node carries the `node.kubernetes.io/not-ready`
//! `NoSchedule` taint, so no pod is scheduled to it before the node lifecycle controller
//! has seen it Ready and removed the taint (upstream's
//! `plugin/pkg/admission/nodetaint`).

use serde_json::{Value, json};

/// The taint a node not (yet) Ready carries.
const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Its effect here: keeps new pods off, leaves running ones alone.
const NO_SCHEDULE: &str = "NoSchedule";

/// Appends the not-ready `NoSchedule` taint to a node's `spec.taints` unless a taint of
/// that key and effect is there already (upstream's `MatchTaint`: the value and the
/// time added do not count).
pub(super) fn admit(node: &mut Value) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    let spec = obj.entry("spec").or_insert_with(|| json!({}));
    if spec.is_null() {
        *spec = json!({});
    }
    // A non-object spec or list is left for validation to refuse.
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let taints = spec.entry("taints").or_insert(Value::Null);
    if taints.is_null() {
        *taints = json!([]);
    }
    let Some(taints) = taints.as_array_mut() else {
        return;
    };
    let present = taints.iter().any(|t| {
        t.get("key").and_then(Value::as_str) == Some(NOT_READY)
            && t.get("effect").and_then(Value::as_str) == Some(NO_SCHEDULE)
    });
    if !present {
        taints.push(json!({"key": NOT_READY, "effect": NO_SCHEDULE}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(mut node: Value) -> Value {
        admit(&mut node);
        node
    }

    #[test]
    fn new_nodes_are_tainted_as_upstream_taints_them() {
        let not_ready = json!({"key": NOT_READY, "effect": NO_SCHEDULE});
        let gpu = json!({"key": "example.com/gpu", "value": "a100", "effect": "NoSchedule"});
        let not_ready_no_execute = json!({"key": NOT_READY, "effect": "NoExecute"});
        let not_ready_with_value = json!({"key": NOT_READY, "value": "x", "effect": NO_SCHEDULE});
        let table: Vec<(&str, Value, Value)> = vec![
            ("no spec", json!({}), json!([not_ready])),
            ("null spec", json!({"spec": null}), json!([not_ready])),
            ("no taints", json!({"spec": {}}), json!([not_ready])),
            (
                "the node's own taints kept first",
                json!({"spec": {"taints": [gpu]}}),
                json!([gpu, not_ready]),
            ),
            (
                "NoExecute is another taint",
                json!({"spec": {"taints": [not_ready_no_execute]}}),
                json!([not_ready_no_execute, not_ready]),
            ),
            (
                "already there (the value does not count)",
                json!({"spec": {"taints": [not_ready_with_value]}}),
                json!([not_ready_with_value]),
            ),
        ];
        for (case, node, want) in table {
            assert_eq!(admitted(node)["spec"]["taints"], want, "{case}");
        }
    }

    #[test]
    fn malformed_specs_are_left_for_validation() {
        assert_eq!(admitted(json!({"spec": "x"}))["spec"], json!("x"));
        assert_eq!(
            admitted(json!({"spec": {"taints": 7}}))["spec"]["taints"],
            json!(7)
        );
    }
}
