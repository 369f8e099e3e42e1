//! `storage.k8s.io/v1`: StorageClasses.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};

pub(crate) fn validate_storage_class(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let provisioner = str_at(new, &["provisioner"]);
    if provisioner.is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    }
    let binding = str_at(new, &["volumeBindingMode"]);
    if !binding.is_empty() && binding != "Immediate" && binding != "WaitForFirstConsumer" {
        errs.push(FieldError::not_supported(
            "volumeBindingMode",
            json!(binding),
            &["Immediate", "WaitForFirstConsumer"],
        ));
    }
    if let Some(old) = old {
        if at(new, &["parameters"]) != at(old, &["parameters"]) {
            errs.push(FieldError::forbidden(
                "parameters",
                "updates to parameters are forbidden.",
            ));
        }
        if provisioner != str_at(old, &["provisioner"]) {
            errs.push(FieldError::forbidden(
                "provisioner",
                "updates to provisioner are forbidden.",
            ));
        }
        if at(new, &["reclaimPolicy"]) != at(old, &["reclaimPolicy"]) {
            errs.push(FieldError::forbidden(
                "reclaimPolicy",
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        if at(new, &["volumeBindingMode"]) != at(old, &["volumeBindingMode"]) {
            errs.push(FieldError::invalid(
                "volumeBindingMode",
                json!(binding),
                "field is immutable",
            ));
        }
    }
}
