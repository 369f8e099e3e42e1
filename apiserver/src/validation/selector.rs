//! `metav1.LabelSelector`s in specs: `ValidateLabelSelector` through capstan-labels.

use serde_json::Value;

use crate::field_error::FieldError;
use crate::selector::label_selector_of;

/// `ValidateLabelSelector` on a selector in JSON (nothing to check when absent).
pub(super) fn validate_label_selector(sel: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let Some(sel) = label_selector_of(sel) else {
        return;
    };
    errs.extend(
        capstan_labels::validation::validate_label_selector(&sel, field)
            .into_iter()
            .map(FieldError::from),
    );
}
