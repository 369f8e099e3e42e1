//! `discovery.k8s.io/v1`: EndpointSlices.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, str_at};

use super::rules::validate_immutable;

pub(crate) fn validate_endpoint_slice(
    new: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let at_ = str_at(new, &["addressType"]);
    let types = ["FQDN", "IPv4", "IPv6"];
    if at_.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !types.contains(&at_) {
        errs.push(FieldError::not_supported("addressType", json!(at_), &types));
    }
    let endpoints = array_at(new, &["endpoints"]);
    if endpoints.len() > 1000 {
        errs.push(FieldError::too_many("endpoints", endpoints.len(), 1000));
    }
    for (i, e) in endpoints.iter().enumerate() {
        let addrs = array_at(e, &["addresses"]);
        if addrs.is_empty() || addrs.len() > 100 {
            errs.push(FieldError::invalid(
                &format!("endpoints[{i}].addresses"),
                json!(addrs.len()),
                "must contain at least 1 address but not more than 100",
            ));
        }
    }
    if let Some(old) = old {
        validate_immutable(new, old, &["addressType"], errs);
    }
}
