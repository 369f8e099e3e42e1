//! The JSON form Go writes a built-in object in. kube-apiserver decodes every write into
//! the kind's Go struct and `encoding/json` writes that struct back out, so what a real
//! server stores and sends follows two rules this module applies before an object is
//! stored:
//!
//! - a field without `omitempty` that Go holds by value (an `int32`, `string`, `bool` or
//!   struct, not a pointer) is always written, with its zero value when unset (a new
//!   DaemonSet's `status.numberReady: 0`);
//! - an `omitempty` field that is empty is left out: `null`, an empty list or map, and
//!   the zero of a scalar Go holds by value (a pod its ReplicaSet released has no
//!   `ownerReferences` key, not `"ownerReferences": []`).
//!
//! Both come from type information, never from per-field code: the vendored `.proto`
//! files say which fields Go holds by value (`(gogoproto.nullable) = false`, see
//! [`crate::protobuf::descriptors`]) and the OpenAPI schemas which fields are written
//! even when empty (openapi-gen marks the fields without `omitempty` `required`, see
//! [`crate::protobuf::shape`]). One rule table per message is built once, on first use.
//! Custom resources keep their bodies; only their `metadata` (an `ObjectMeta` upstream
//! too) follows the rules.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::kinds::KindInfo;
use crate::protobuf::descriptors::{self, META_V1};
use crate::protobuf::shape::{self, Shape};
use crate::protobuf::wellknown;

/// Embedded structs nested deeper than this are not followed (upstream nests two).
const MAX_EMBEDDING: usize = 8;

/// How a field holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// One value.
    Single,
    /// A JSON array.
    List,
    /// A JSON object keyed by strings.
    Map,
}

/// What the rules say about one JSON property of a message.
#[derive(Debug, Clone)]
struct Rule {
    /// The Go field has `omitempty`: left out when empty.
    omit_empty: bool,
    /// A scalar Go holds by value, whose zero is empty.
    by_value_scalar: bool,
    container: Container,
    /// The message each value is (its rules apply inside), unless it has its own form.
    nested: Option<String>,
}

/// The zero value Go writes for a field it always writes.
#[derive(Debug, Clone)]
enum Zero {
    /// A scalar's zero (`0`, `false`, `""`).
    Scalar(Value),
    /// A struct's zero: an object with its own always-written fields.
    Object(Option<String>),
}

/// The rules of one message.
#[derive(Debug, Default)]
struct Plan {
    /// By JSON property name, the fields of embedded structs included.
    fields: HashMap<String, Rule>,
    /// Properties always written, with the zero written when unset.
    always: Vec<(String, Zero)>,
}

static PLANS: LazyLock<HashMap<String, Plan>> = LazyLock::new(|| {
    descriptors::pool()
        .all_messages()
        .filter_map(|m| Some((m.full_name().to_string(), plan_of(&m)?)))
        .collect()
});

fn plan_of(msg: &MessageDescriptor) -> Option<Plan> {
    if wellknown::has_own_form(msg.full_name()) {
        return None;
    }
    let shape = shape::of(msg.full_name())?;
    let mut plan = Plan::default();
    add_fields(msg, shape, &mut plan, 0);
    Some(plan)
}

/// Adds the rules of `msg`'s fields; `shape` is the JSON schema of the outermost
/// message, which lists the properties of embedded structs as its own.
fn add_fields(msg: &MessageDescriptor, shape: &Shape, plan: &mut Plan, depth: usize) {
    for field in msg.fields() {
        let name = field.name();
        let container = if field.is_map() {
            Container::Map
        } else if field.is_list() {
            Container::List
        } else {
            Container::Single
        };
        let message = value_message(&field);
        if !shape.has_property(name) {
            // A struct field with no JSON property of its own is embedded (Go's inline
            // `VolumeSource`, `ProbeHandler`): its fields are this object's.
            if let (Container::Single, Some(inner)) = (container, &message)
                && depth < MAX_EMBEDDING
            {
                add_fields(inner, shape, plan, depth + 1);
            }
            continue;
        }
        let nested = message
            .as_ref()
            .filter(|m| !wellknown::has_own_form(m.full_name()))
            .map(|m| m.full_name().to_string());
        let required = shape.is_required(name);
        let by_value = descriptors::by_value(&field);
        let scalar = container == Container::Single && message.is_none();
        if required && by_value && container == Container::Single {
            let zero = match &message {
                Some(m) if wellknown::has_own_form(m.full_name()) => None,
                Some(_) => Some(Zero::Object(nested.clone())),
                None => scalar_zero(&field.kind()).map(Zero::Scalar),
            };
            if let Some(zero) = zero {
                plan.always.push((name.to_string(), zero));
            }
        }
        plan.fields.insert(
            name.to_string(),
            Rule {
                omit_empty: !required,
                by_value_scalar: scalar && by_value,
                container,
                nested,
            },
        );
    }
}

/// The message a field's values are: the field's own for a message or a list of them,
/// the value type for a map.
fn value_message(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(m) if field.is_map() => match m.map_entry_value_field().kind() {
            Kind::Message(v) => Some(v),
            _ => None,
        },
        Kind::Message(m) => Some(m),
        _ => None,
    }
}

/// Go's zero of a scalar, as `encoding/json` writes it.
fn scalar_zero(kind: &Kind) -> Option<Value> {
    match kind {
        Kind::Bool => Some(Value::Bool(false)),
        Kind::String | Kind::Bytes => Some(Value::String(String::new())),
        Kind::Message(_) | Kind::Enum(_) => None,
        _ => Some(Value::from(0)),
    }
}

/// Whether `omitempty` leaves the value out.
fn is_empty(rule: &Rule, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        // A struct is never empty to `omitempty`; a map is when it has no keys.
        Value::Object(fields) => rule.container == Container::Map && fields.is_empty(),
        Value::Bool(b) => rule.by_value_scalar && !b,
        Value::String(s) => rule.by_value_scalar && s.is_empty(),
        Value::Number(n) => rule.by_value_scalar && n.as_f64() == Some(0.0),
    }
}

/// Applies a plan to one object: nested values first, then `omitempty`, then the
/// always-written fields.
fn apply(plan: &Plan, obj: &mut Map<String, Value>) {
    obj.retain(|name, value| {
        let Some(rule) = plan.fields.get(name) else {
            return true;
        };
        descend(rule, value);
        !(rule.omit_empty && is_empty(rule, value))
    });
    for (name, zero) in &plan.always {
        if !matches!(obj.get(name), None | Some(Value::Null)) {
            continue;
        }
        let value = match zero {
            Zero::Scalar(v) => v.clone(),
            Zero::Object(message) => {
                let mut fields = Map::new();
                if let Some(inner) = message.as_deref().and_then(|m| PLANS.get(m)) {
                    apply(inner, &mut fields);
                }
                Value::Object(fields)
            }
        };
        obj.insert(name.clone(), value);
    }
}

/// Applies the rules of a field's message to its value(s).
fn descend(rule: &Rule, value: &mut Value) {
    let Some(plan) = rule.nested.as_deref().and_then(|m| PLANS.get(m)) else {
        return;
    };
    let each = |v: &mut Value| {
        if let Value::Object(fields) = v {
            apply(plan, fields);
        }
    };
    match (rule.container, value) {
        (Container::Single, v) => each(v),
        (Container::List, Value::Array(items)) => items.iter_mut().for_each(each),
        (Container::Map, Value::Object(entries)) => entries.values_mut().for_each(each),
        _ => {}
    }
}

/// Brings an object about to be stored into the form upstream's Go types give it: a
/// built-in kind whole (when its group-version is vendored under `proto/`), a custom
/// resource's `metadata` only.
pub fn normalise(kind: &KindInfo, obj: &mut Value) {
    let Some(fields) = obj.as_object_mut() else {
        return;
    };
    let message = if kind.is_custom() {
        None
    } else {
        descriptors::message_for(&kind.api_version(), &kind.kind)
    };
    match message.and_then(|m| PLANS.get(m.full_name())) {
        Some(plan) => apply(plan, fields),
        None => {
            let meta = PLANS.get(&format!("{META_V1}.ObjectMeta"));
            if let (Some(plan), Some(Value::Object(m))) = (meta, fields.get_mut("metadata")) {
                apply(plan, m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;
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
