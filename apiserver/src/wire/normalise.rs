//! The value rules: before an object is stored, non-`omitempty` fields Go holds by value
//! get their zero when unset and empty `omitempty` fields go ([`super`] explains both).

use serde_json::{Map, Value};

use super::plan::{Container, Form, Plan, Rule, TABLE, Zero};
use crate::kinds::KindInfo;
use crate::protobuf::descriptors::{self, META_V1};

/// The plan of a form whose rules apply.
fn rules_of(form: Form) -> Option<&'static Plan> {
    match form {
        Form::Message(i) => Some(TABLE.plan(i)).filter(|p| p.normalises),
        Form::Sorted | Form::Embedded => None,
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
        let Some(field) = plan.field(name) else {
            return true;
        };
        descend(&field.rule, value);
        !(field.rule.omit_empty && is_empty(&field.rule, value))
    });
    for (name, zero) in &plan.always {
        if !matches!(obj.get(&**name), None | Some(Value::Null)) {
            continue;
        }
        let value = match zero {
            Zero::Scalar(v) => v.clone(),
            Zero::Object(form) => {
                let mut fields = Map::new();
                if let Some(inner) = rules_of(*form) {
                    apply(inner, &mut fields);
                }
                Value::Object(fields)
            }
        };
        obj.insert(name.to_string(), value);
    }
}

/// Applies the rules of a field's message to its value(s).
fn descend(rule: &Rule, value: &mut Value) {
    let Some(plan) = rules_of(rule.form) else {
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
/// built-in kind whole (when its group-version is vendored under `proto/` for decoding),
/// a custom resource's `metadata` only.
pub fn normalise(kind: &KindInfo, obj: &mut Value) {
    let Some(fields) = obj.as_object_mut() else {
        return;
    };
    let message = if kind.is_custom() {
        None
    } else {
        descriptors::message_for(&kind.api_version(), &kind.kind)
    };
    let plan = message
        .and_then(|m| TABLE.by_message(m.full_name()))
        .filter(|p| p.normalises);
    match plan {
        Some(plan) => apply(plan, fields),
        None => {
            let meta = TABLE
                .by_message(&format!("{META_V1}.ObjectMeta"))
                .filter(|p| p.normalises);
            if let (Some(plan), Some(Value::Object(m))) = (meta, fields.get_mut("metadata")) {
                apply(plan, m);
            }
        }
    }
}
