//! `apiregistration.k8s.io/v1`: APIServices (kube-aggregator's `ValidateAPIService`).

use base64::Engine as _;
use serde_json::{Value, json};

use crate::aggregator::registration::apiservice_name;
use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};
use crate::names::{NameRule, is_dns1035_label, is_dns1123_subdomain, name_errors};

pub(crate) fn validate_api_service(new: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let group = str_at(new, &["spec", "group"]);
    let version = str_at(new, &["spec", "version"]);
    let name = str_at(new, &["metadata", "name"]);
    let required = apiservice_name(group, version);
    // The name rule's own problems are reported by metadata validation; only a valid
    // path segment is compared with the group-version.
    if !name.is_empty()
        && name_errors(NameRule::PathSegment, name, false).is_empty()
        && name != required
    {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            &format!("must be `spec.version+\".\"+spec.group`: {required:?}"),
        ));
    }
    if group.is_empty() && version != "v1" {
        errs.push(FieldError::required(
            "spec.group",
            "only v1 may have an empty group and it better be legacy kube",
        ));
    }
    if !group.is_empty() {
        for m in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid("spec.group", json!(group), &m));
        }
    }
    for m in is_dns1035_label(version) {
        errs.push(FieldError::invalid("spec.version", json!(version), &m));
    }
    let group_priority = at(new, &["spec", "groupPriorityMinimum"])
        .as_i64()
        .unwrap_or(0);
    if group_priority <= 0 || group_priority > 20000 {
        errs.push(FieldError::invalid(
            "spec.groupPriorityMinimum",
            json!(group_priority),
            "must be positive and less than 20000",
        ));
    }
    let version_priority = at(new, &["spec", "versionPriority"]).as_i64().unwrap_or(0);
    if version_priority <= 0 || version_priority > 1000 {
        errs.push(FieldError::invalid(
            "spec.versionPriority",
            json!(version_priority),
            "must be positive and less than 1000",
        ));
    }
    let ca_bundle = base64::engine::general_purpose::STANDARD
        .decode(str_at(new, &["spec", "caBundle"]))
        .map_or(0, |b| b.len());
    let insecure = at(new, &["spec", "insecureSkipTLSVerify"]).as_bool() == Some(true);
    let service = at(new, &["spec", "service"]);
    if !service.is_object() {
        if ca_bundle != 0 {
            errs.push(FieldError::invalid(
                "spec.caBundle",
                json!(format!("{ca_bundle} bytes")),
                "local APIServices may not have a caBundle",
            ));
        }
        if insecure {
            errs.push(FieldError::invalid(
                "spec.insecureSkipTLSVerify",
                json!(true),
                "local APIServices may not have insecureSkipTLSVerify",
            ));
        }
    } else {
        if str_at(service, &["namespace"]).is_empty() {
            errs.push(FieldError::required("spec.service.namespace", ""));
        }
        if str_at(service, &["name"]).is_empty() {
            errs.push(FieldError::required("spec.service.name", ""));
        }
        if insecure && ca_bundle > 0 {
            errs.push(FieldError::invalid(
                "spec.insecureSkipTLSVerify",
                json!(true),
                "may not be true if caBundle is present",
            ));
        }
    }
    for (i, c) in array_at(new, &["status", "conditions"]).iter().enumerate() {
        let status = str_at(c, &["status"]);
        if !matches!(status, "True" | "False" | "Unknown") {
            errs.push(FieldError::not_supported(
                &format!("status.conditions[{i}].status"),
                json!(status),
                &["True", "False", "Unknown"],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;
    use serde_json::json;

    const G: &str = "apiregistration.k8s.io";

    fn apiservice(name: &str, spec: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": name}, "spec": spec})
    }

    #[test]
    fn local_and_remote_apiservices_pass() {
        let local = apiservice(
            "v1.example.com",
            json!({"group": "example.com", "version": "v1", "groupPriorityMinimum": 1000, "versionPriority": 100}),
        );
        assert_eq!(check(G, "apiservices", local), Vec::<String>::new());
        let core = apiservice(
            "v1.",
            json!({"version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}),
        );
        assert_eq!(check(G, "apiservices", core), Vec::<String>::new());
        let remote = apiservice(
            "v1beta1.metrics.k8s.io",
            json!({"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                   "versionPriority": 100, "insecureSkipTLSVerify": true,
                   "service": {"name": "metrics-server", "namespace": "kube-system"}}),
        );
        assert_eq!(check(G, "apiservices", remote), Vec::<String>::new());
    }

    #[test]
    fn upstreams_rules_and_words() {
        let bad = apiservice(
            "v1.wrong.com",
            json!({"group": "example.com", "version": "v1", "groupPriorityMinimum": 0, "versionPriority": 1001,
                   "caBundle": "AAEC", "insecureSkipTLSVerify": true}),
        );
        assert_eq!(
            check(G, "apiservices", bad),
            [
                "metadata.name: Invalid value: \"v1.wrong.com\": must be `spec.version+\".\"+spec.group`: \"v1.example.com\"",
                "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
                "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000",
                "spec.caBundle: Invalid value: \"3 bytes\": local APIServices may not have a caBundle",
                "spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
            ]
        );
        let no_group = apiservice(
            "v2.",
            json!({"version": "v2", "groupPriorityMinimum": 1, "versionPriority": 1}),
        );
        assert_eq!(
            check(G, "apiservices", no_group),
            [
                "spec.group: Required value: only v1 may have an empty group and it better be legacy kube"
            ]
        );
        let remote = apiservice(
            "v1.example.com",
            json!({"group": "example.com", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1,
                   "service": {}}),
        );
        assert_eq!(
            check(G, "apiservices", remote),
            [
                "spec.service.namespace: Required value",
                "spec.service.name: Required value"
            ]
        );
    }
}
