//! ResourceQuotas and LimitRanges (`ValidateResourceQuota`, `ValidateLimitRange`):
//! quantities well-formed and non-negative, counts whole, scopes known and not
//! contradicting each other, limit types known and not repeated, and a LimitRange's
//! min ≤ default request ≤ default ≤ max.

use std::collections::{BTreeMap, BTreeSet};

use capstan_quota::Quantity;
use capstan_quota::scope::{
    BEST_EFFORT, CROSS_NAMESPACE_POD_AFFINITY, NOT_BEST_EFFORT, NOT_TERMINATING, PRIORITY_CLASS,
    TERMINATING,
};
use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};

use super::pod::QUANTITY_FORMAT;

/// Quota resources whose values must be whole (`IsIntegerResourceName`'s standard set).
const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// The scopes a quota may name.
const SCOPES: &[&str] = &[
    TERMINATING,
    NOT_TERMINATING,
    BEST_EFFORT,
    NOT_BEST_EFFORT,
    PRIORITY_CLASS,
    CROSS_NAMESPACE_POD_AFFINITY,
    "VolumeAttributesClass",
];

/// The limit types a LimitRange may name.
const LIMIT_TYPES: &[&str] = &["Pod", "Container", "PersistentVolumeClaim"];

/// Reads a map of quantities at `path` (`spec.hard`), reporting malformed and
/// negative values under `field[name]`.
fn quantities(
    obj: &Value,
    path: &[&str],
    field: &str,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    for (name, v) in at(obj, path).as_object().into_iter().flatten() {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let path = format!("{field}[{name}]");
        match Quantity::parse(&text) {
            Err(_) => errs.push(FieldError::invalid(&path, json!(text), QUANTITY_FORMAT)),
            Ok(q) if q.signum() < 0 => errs.push(FieldError::invalid(
                &path,
                json!(q.to_string()),
                "must be greater than or equal to 0",
            )),
            Ok(q) => {
                out.insert(name.clone(), q);
            }
        }
    }
    out
}

/// `v1` ResourceQuota: hard limits, scopes and the scope selector.
pub(crate) fn validate_resource_quota(
    new: &Value,
    _old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let hard = quantities(new, &["spec", "hard"], "spec.hard", errs);
    for (name, q) in &hard {
        if INTEGER_RESOURCES.contains(&name.as_str()) && q.milli_value() % 1000 != 0 {
            errs.push(FieldError::invalid(
                &format!("spec.hard[{name}]"),
                json!(q.to_string()),
                "must be an integer",
            ));
        }
    }
    quantities(new, &["status", "hard"], "status.hard", errs);
    quantities(new, &["status", "used"], "status.used", errs);
    let mut named = BTreeSet::new();
    for (i, scope) in array_at(new, &["spec", "scopes"]).iter().enumerate() {
        let s = scope.as_str().unwrap_or("");
        if !SCOPES.contains(&s) {
            errs.push(FieldError::not_supported(
                &format!("spec.scopes[{i}]"),
                json!(s),
                &[],
            ));
        }
        named.insert(s.to_string());
    }
    for (i, e) in array_at(new, &["spec", "scopeSelector", "matchExpressions"])
        .iter()
        .enumerate()
    {
        let path = format!("spec.scopeSelector.matchExpressions[{i}]");
        let scope = str_at(e, &["scopeName"]);
        if !SCOPES.contains(&scope) {
            errs.push(FieldError::not_supported(
                &format!("{path}.scopeName"),
                json!(scope),
                &[],
            ));
        }
        let op = str_at(e, &["operator"]);
        let values = array_at(e, &["values"]);
        match op {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                &format!("{path}.values"),
                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::invalid(
                &format!("{path}.values"),
                json!(values),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                &format!("{path}.operator"),
                json!(other),
                "not a valid selector operator",
            )),
        }
        if op == "Exists" {
            named.insert(scope.to_string());
        }
    }
    for (a, b) in [
        (TERMINATING, NOT_TERMINATING),
        (BEST_EFFORT, NOT_BEST_EFFORT),
    ] {
        if named.contains(a) && named.contains(b) {
            errs.push(FieldError::invalid(
                "spec.scopes",
                json!(named.iter().collect::<Vec<_>>()),
                "conflicting scopes",
            ));
        }
    }
}

/// `v1` LimitRange: each item's type and quantities, and their order.
pub(crate) fn validate_limit_range(new: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let mut types = BTreeSet::new();
    for (i, item) in array_at(new, &["spec", "limits"]).iter().enumerate() {
        let path = format!("spec.limits[{i}]");
        let kind = str_at(item, &["type"]);
        if kind.is_empty() {
            errs.push(FieldError::required(&format!("{path}.type"), ""));
        } else if !LIMIT_TYPES.contains(&kind) {
            errs.push(FieldError::not_supported(
                &format!("{path}.type"),
                json!(kind),
                LIMIT_TYPES,
            ));
        }
        if !types.insert(kind) {
            errs.push(FieldError::duplicate(&format!("{path}.type"), json!(kind)));
        }
        let read = |f: &str, errs: &mut Vec<FieldError>| {
            quantities(item, &[f], &format!("{path}.{f}"), errs)
        };
        let (max, min) = (read("max", errs), read("min", errs));
        let (default, request) = (read("default", errs), read("defaultRequest", errs));
        let ratio = read("maxLimitRequestRatio", errs);
        if kind == "Pod" {
            for f in ["default", "defaultRequest"] {
                if at(item, &[f]).as_object().is_some_and(|m| !m.is_empty()) {
                    errs.push(FieldError::forbidden(
                        &format!("{path}.{f}"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        }
        if kind == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errs.push(FieldError::required(
                &format!("{path}.limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let names: BTreeSet<&String> = [&max, &min, &default, &request, &ratio]
            .iter()
            .flat_map(|m| m.keys())
            .collect();
        for k in names {
            // (lower name, lower, upper name, upper, the field reported, its value)
            let (mn, mx) = (min.get(k), max.get(k));
            let (df, dr) = (default.get(k), request.get(k));
            let pairs = [
                ("min", mn, "max", mx, "min", mn),
                ("min", mn, "default request", dr, "defaultRequest", dr),
                ("default request", dr, "max", mx, "defaultRequest", dr),
                (
                    "default request",
                    dr,
                    "default limit",
                    df,
                    "defaultRequest",
                    dr,
                ),
                ("min", mn, "default", df, "default", df),
                ("default", df, "max", mx, "default", df),
            ];
            for (ln, lower, un, upper, field, value) in pairs {
                if let (Some(l), Some(u), Some(v)) = (lower, upper, value)
                    && l > u
                {
                    errs.push(FieldError::invalid(
                        &format!("{path}.{field}[{k}]"),
                        json!(v.to_string()),
                        &format!("{ln} value {l} is greater than {un} value {u}"),
                    ));
                }
            }
            if let Some(r) = ratio.get(k)
                && *r < Quantity::new(1, capstan_quota::Format::DecimalSi)
            {
                errs.push(FieldError::invalid(
                    &format!("{path}.maxLimitRequestRatio[{k}]"),
                    json!(r.to_string()),
                    &format!("ratio {r} is less than 1"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(f: fn(&Value, Option<&Value>, &mut Vec<FieldError>), obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        f(&obj, None, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn quotas_take_non_negative_whole_counts_and_known_scopes() {
        let ok = json!({"spec": {"hard": {"pods": "2", "requests.cpu": "500m"}, "scopes": ["BestEffort"]}});
        assert!(errors(validate_resource_quota, ok).is_empty());
        let bad = json!({"spec": {
            "hard": {"pods": "1500m", "cpu": "-1", "memory": "x"},
            "scopes": ["Terminating", "NotTerminating", "Nope"]
        }});
        assert_eq!(
            errors(validate_resource_quota, bad),
            [
                "spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.hard[memory]: Invalid value: \"x\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.hard[pods]: Invalid value: \"1500m\": must be an integer",
                "spec.scopes[2]: Unsupported value: \"Nope\"",
                "spec.scopes: Invalid value: []string{\"Nope\", \"NotTerminating\", \"Terminating\"}: conflicting scopes",
            ]
        );
    }

    #[test]
    fn limit_ranges_keep_min_below_defaults_below_max() {
        let bad = json!({"spec": {"limits": [
            {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
            {"type": "Pod", "default": {"cpu": "1"}},
            {"type": "PersistentVolumeClaim"},
            {"type": "Container"}
        ]}});
        assert_eq!(
            errors(validate_limit_range, bad),
            [
                "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1",
                "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[2].limits: Required value: either minimum or maximum storage value is required, but neither was provided",
                "spec.limits[3].type: Duplicate value: \"Container\"",
            ]
        );
    }
}
