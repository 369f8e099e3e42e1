//! `policy/v1`: PodDisruptionBudgets.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};

use super::rules::validate_int_or_percent;
use super::selector::validate_label_selector;

pub(crate) fn validate_pdb(new: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let spec = at(new, &["spec"]);
    let (min, max) = (at(spec, &["minAvailable"]), at(spec, &["maxUnavailable"]));
    if !min.is_null() && !max.is_null() {
        errs.push(FieldError::invalid(
            "spec",
            spec.clone(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    validate_int_or_percent(min, "spec.minAvailable", errs);
    validate_int_or_percent(max, "spec.maxUnavailable", errs);
    validate_label_selector(at(spec, &["selector"]), "spec.selector", errs);
    let policy = str_at(spec, &["unhealthyPodEvictionPolicy"]);
    if !policy.is_empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow" {
        errs.push(FieldError::not_supported(
            "spec.unhealthyPodEvictionPolicy",
            json!(policy),
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
}
