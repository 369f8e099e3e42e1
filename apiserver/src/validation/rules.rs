//! Field rules several kinds share: non-negative numbers, immutable fields,
//! int-or-percent values.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::at;
use crate::names::is_dns1123_label;

pub(super) fn validate_nonnegative(v: &Value, field: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = v.as_i64()
        && n < 0
    {
        errs.push(FieldError::invalid(
            field,
            json!(n),
            "must be greater than or equal to 0",
        ));
    }
}

pub(super) fn validate_immutable(
    new: &Value,
    old: &Value,
    path: &[&str],
    errs: &mut Vec<FieldError>,
) {
    let (n, o) = (at(new, path), at(old, path));
    if n != o {
        errs.push(FieldError::invalid(
            &path.join("."),
            n.clone(),
            "field is immutable",
        ));
    }
}

fn parse_int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s.strip_suffix('%')?.parse().ok().map(|n| (n, true)),
        _ => None,
    }
}

pub(super) fn validate_int_or_percent(
    v: &Value,
    field: &str,
    errs: &mut Vec<FieldError>,
) -> Option<i64> {
    if v.is_null() {
        return None;
    }
    match parse_int_or_percent(v) {
        None => {
            errs.push(FieldError::invalid(
                field,
                v.clone(),
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            ));
            None
        }
        Some((n, pct)) => {
            if n < 0 {
                errs.push(FieldError::invalid(
                    field,
                    v.clone(),
                    "must be greater than or equal to 0",
                ));
            }
            if pct && n > 100 {
                errs.push(FieldError::invalid(
                    field,
                    v.clone(),
                    "must not be greater than 100%",
                ));
            }
            Some(n)
        }
    }
}

/// A rolling update's `maxUnavailable` and `maxSurge` at `field`
/// (`spec.strategy.rollingUpdate`): each an int or a percentage, not both 0.
pub(super) fn validate_rolling_update(ru: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let max_unavailable = at(ru, &["maxUnavailable"]);
    let mu = validate_int_or_percent(max_unavailable, &format!("{field}.maxUnavailable"), errs);
    let ms = validate_int_or_percent(at(ru, &["maxSurge"]), &format!("{field}.maxSurge"), errs);
    if mu == Some(0) && ms == Some(0) {
        errs.push(FieldError::invalid(
            &format!("{field}.maxUnavailable"),
            max_unavailable.clone(),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

/// A name that must be a DNS label unique among its siblings (container names, a
/// Service's port names), at `field`; `names` collects the names seen so far.
pub(super) fn validate_unique_label(
    name: &str,
    field: &str,
    names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    for m in is_dns1123_label(name) {
        errs.push(FieldError::invalid(field, json!(name), &m));
    }
    if !names.insert(name.to_string()) {
        errs.push(FieldError::duplicate(field, json!(name)));
    }
}
