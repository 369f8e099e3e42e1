//! `metav1.LabelSelector`s in specs: `ValidateLabelSelector` and matching a selector
//! against a template's labels.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};
use crate::names::is_qualified_name;

use super::meta::validate_labels;

/// `ValidateLabelSelector`: operators, values presence, matchLabels syntax.
pub(super) fn validate_label_selector(sel: &Value, field: &str, errs: &mut Vec<FieldError>) {
    if sel.is_null() {
        return;
    }
    for (i, e) in array_at(sel, &["matchExpressions"]).iter().enumerate() {
        let path = format!("{field}.matchExpressions[{i}]");
        let values = array_at(e, &["values"]);
        match str_at(e, &["operator"]) {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &format!("{path}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &format!("{path}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                &format!("{path}.operator"),
                json!(op),
                "not a valid selector operator",
            )),
        }
        for m in is_qualified_name(str_at(e, &["key"])) {
            errs.push(FieldError::invalid(
                &format!("{path}.key"),
                json!(str_at(e, &["key"])),
                &m,
            ));
        }
    }
    validate_labels(
        at(sel, &["matchLabels"]),
        &format!("{field}.matchLabels"),
        errs,
    );
}

/// Whether a `metav1.LabelSelector` selects `labels`.
pub(super) fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(|v| v.as_str());
    if let Some(m) = sel.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if get(k) != v.as_str() {
                return false;
            }
        }
    }
    for e in array_at(sel, &["matchExpressions"]) {
        let key = str_at(e, &["key"]);
        let values: Vec<&str> = array_at(e, &["values"])
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let ok = match str_at(e, &["operator"]) {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub(super) fn selector_is_empty(sel: &Value) -> bool {
    sel.get("matchLabels")
        .and_then(|m| m.as_object())
        .is_none_or(|m| m.is_empty())
        && array_at(sel, &["matchExpressions"]).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_error::errors_by_field;

    #[test]
    fn selector_matching() {
        let labels = json!({"app": "web", "tier": "fe"});
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
            &labels
        ));
        assert_eq!(
            errors_by_field(&[
                FieldError::required("a", ""),
                FieldError::required("a", "x")
            ])["a"]
                .len(),
            2
        );
    }
}
