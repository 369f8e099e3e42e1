//! Validation of labels and of `metav1.LabelSelector`s as the API server does it
//! (`metav1validation.ValidateLabels`, `ValidateLabelSelector`), returning field
//! errors at upstream's paths with upstream's messages.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::field::{BadValue, FieldError};
use crate::syntax::{is_qualified_name, is_valid_label_value};

/// `ValidateLabelName`: one `Invalid` error at `field` per problem with `name` as a
/// label key.
pub fn validate_label_name(name: &str, field: &str) -> Vec<FieldError> {
    is_qualified_name(name)
        .iter()
        .map(|m| FieldError::invalid(field, BadValue::String(name.to_string()), m))
        .collect()
}

/// `ValidateLabels`: every key a valid label key and every value a valid label value;
/// errors at `field` itself (`metadata.labels`).
pub fn validate_labels<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    field: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        errs.extend(validate_label_name(k, field));
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(
                field,
                BadValue::String(v.to_string()),
                &m,
            ));
        }
    }
    errs
}

/// `ValidateLabelSelector`: `matchLabels` as labels, then each of `matchExpressions`
/// (`field.matchExpressions[i]`) as [`validate_label_selector_requirement`].
pub fn validate_label_selector(selector: &LabelSelector, field: &str) -> Vec<FieldError> {
    let labels = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let mut errs = validate_labels(labels, &format!("{field}.matchLabels"));
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        errs.extend(validate_label_selector_requirement(
            req,
            &format!("{field}.matchExpressions[{i}]"),
        ));
    }
    errs
}

/// `ValidateLabelSelectorRequirement`: values required for `In`/`NotIn` and forbidden
/// for `Exists`/`DoesNotExist`, no other operator, a valid key, valid values.
pub fn validate_label_selector_requirement(
    req: &LabelSelectorRequirement,
    field: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
            format!("{field}.values"),
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
            format!("{field}.values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
        op => errs.push(FieldError::invalid(
            format!("{field}.operator"),
            BadValue::String(op.to_string()),
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&req.key, &format!("{field}.key")));
    for (i, v) in values.iter().enumerate() {
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(
                format!("{field}.values[{i}]"),
                BadValue::String(v.clone()),
                &m,
            ));
        }
    }
    errs
}
