//! What every workload controller's object shares: a pod template with the restart
//! policies the controller allows, and a selector that matches the template's labels.

use capstan_labels::{Selector, is_empty_label_selector};
use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};
use crate::selector::{JsonLabels, label_selector_of};

use super::meta::{validate_annotations, validate_labels};
use super::pod::{RESTART_POLICIES, validate_pod_spec};
use super::rules::{validate_immutable, validate_nonnegative};
use super::selector::validate_label_selector;

/// Validates a workload's pod template at `spec.template`: labels, pod spec, the
/// restart policies the controller allows, and (for apps kinds) no activeDeadlineSeconds.
pub(super) fn validate_template(
    obj: &Value,
    template_path: &[&str],
    restart_policies: &[&str],
    kind_name: &str,
    errs: &mut Vec<FieldError>,
) {
    let field = template_path.join(".");
    let template = at(obj, template_path);
    if template.is_null() {
        errs.push(FieldError::required(&field, ""));
        return;
    }
    validate_labels(
        at(template, &["metadata", "labels"]),
        &format!("{field}.metadata.labels"),
        errs,
    );
    validate_annotations(
        at(template, &["metadata", "annotations"]),
        &format!("{field}.metadata.annotations"),
        errs,
    );
    let spec = at(template, &["spec"]);
    validate_pod_spec(spec, &format!("{field}.spec"), errs);
    let restart = str_at(spec, &["restartPolicy"]);
    if !restart.is_empty()
        && RESTART_POLICIES.contains(&restart)
        && !restart_policies.contains(&restart)
    {
        errs.push(FieldError::not_supported(
            &format!("{field}.spec.restartPolicy"),
            json!(restart),
            restart_policies,
        ));
    }
    if restart_policies == ["Always"] && !at(spec, &["activeDeadlineSeconds"]).is_null() {
        errs.push(FieldError::forbidden(
            &format!("{field}.spec.activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind_name} is not Supported"),
        ));
    }
}

/// Selector present, non-empty, well-formed and matching the template's labels.
pub(super) fn validate_selector_and_template(
    obj: &Value,
    kind_name: &str,
    template_path: &[&str],
    errs: &mut Vec<FieldError>,
) {
    let sel = at(obj, &["spec", "selector"]);
    if sel.is_null() {
        errs.push(FieldError::required("spec.selector", ""));
        return;
    }
    validate_label_selector(sel, "spec.selector", errs);
    let typed = label_selector_of(sel).unwrap_or_default();
    if is_empty_label_selector(&typed) {
        errs.push(FieldError::invalid(
            "spec.selector",
            sel.clone(),
            &format!("empty selector is invalid for {kind_name}"),
        ));
        return;
    }
    let labels_path: Vec<&str> = template_path
        .iter()
        .copied()
        .chain(["metadata", "labels"])
        .collect();
    let labels = at(obj, &labels_path);
    // A selector that does not convert is reported by ValidateLabelSelector alone.
    let matches =
        Selector::from_label_selector(Some(&typed)).map(|s| s.matches(&JsonLabels(labels)));
    if matches == Ok(false) {
        errs.push(FieldError::invalid(
            &labels_path.join("."),
            if labels.is_null() {
                json!({})
            } else {
                labels.clone()
            },
            "`selector` does not match template `labels`",
        ));
    }
}

/// ReplicaSet-like kinds: replicas, minReadySeconds, selector/template, update rules.
pub(super) fn validate_replicated(
    new: &Value,
    old: Option<&Value>,
    kind_name: &str,
    selector_immutable: bool,
    errs: &mut Vec<FieldError>,
) {
    validate_nonnegative(at(new, &["spec", "replicas"]), "spec.replicas", errs);
    validate_nonnegative(
        at(new, &["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        errs,
    );
    validate_selector_and_template(new, &kind_name.to_lowercase(), &["spec", "template"], errs);
    validate_template(new, &["spec", "template"], &["Always"], kind_name, errs);
    if selector_immutable && let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
    }
}
