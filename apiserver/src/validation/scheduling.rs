//! `scheduling.k8s.io/v1`: PriorityClasses.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};

/// The highest priority a user-defined PriorityClass may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

pub(crate) fn validate_priority_class(
    new: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let name = str_at(new, &["metadata", "name"]);
    let value = at(new, &["value"]).as_i64();
    let system = name == "system-cluster-critical" || name == "system-node-critical";
    if !system {
        if name.starts_with("system-") {
            errs.push(FieldError::forbidden(
                "metadata.name",
                "priority class names with 'system-' prefix are reserved for system use only",
            ));
        }
        if value.is_some_and(|v| v > HIGHEST_USER_DEFINABLE_PRIORITY) {
            errs.push(FieldError::forbidden(
                "value",
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
    }
    let policy = str_at(new, &["preemptionPolicy"]);
    if !policy.is_empty() && policy != "PreemptLowerPriority" && policy != "Never" {
        errs.push(FieldError::not_supported(
            "preemptionPolicy",
            json!(policy),
            &["Never", "PreemptLowerPriority"],
        ));
    }
    if let Some(old) = old {
        if at(new, &["value"]) != at(old, &["value"]) {
            errs.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        if at(new, &["preemptionPolicy"]) != at(old, &["preemptionPolicy"]) {
            errs.push(FieldError::invalid(
                "preemptionPolicy",
                json!(policy),
                "field is immutable",
            ));
        }
    }
}
