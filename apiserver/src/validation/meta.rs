//! `ValidateObjectMeta`: name or generateName by the kind's name rule, namespace by
//! scope, labels and annotations, and what an update may not change.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};
use crate::kinds::KindInfo;
use crate::names::{is_dns1123_label, is_qualified_name, name_errors};

use super::name_rule;

/// `ValidateObjectMeta` (+ `ValidateObjectMetaUpdate`): name or generateName, namespace
/// presence by scope, labels, annotations, and on update unchanged name/namespace/uid.
pub(super) fn validate_object_meta(
    kind: &KindInfo,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let meta = at(obj, &["metadata"]);
    let rule = name_rule(kind);
    let name = str_at(meta, &["name"]);
    let generate = str_at(meta, &["generateName"]);
    if !generate.is_empty() {
        for m in name_errors(rule, generate, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                json!(generate),
                &m,
            ));
        }
    }
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in name_errors(rule, name, false) {
            errs.push(FieldError::invalid("metadata.name", json!(name), &m));
        }
    }
    if let Some(max) = kind.descriptor.and_then(|d| d.max_name_length)
        && name.len() > max
    {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            &format!("must be no more than {max} characters"),
        ));
    }
    let ns = str_at(meta, &["namespace"]);
    if kind.namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for m in is_dns1123_label(ns) {
                errs.push(FieldError::invalid("metadata.namespace", json!(ns), &m));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    validate_labels(at(meta, &["labels"]), "metadata.labels", errs);
    validate_annotations(at(meta, &["annotations"]), "metadata.annotations", errs);
    if let Some(old) = old {
        let old_meta = at(old, &["metadata"]);
        for field in ["name", "namespace", "uid"] {
            let (n, o) = (str_at(meta, &[field]), str_at(old_meta, &[field]));
            if !o.is_empty() && n != o {
                errs.push(FieldError::invalid(
                    &format!("metadata.{field}"),
                    json!(n),
                    "field is immutable",
                ));
            }
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values valid label values.
pub(super) fn validate_labels(labels: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = labels.as_object() else {
        return;
    };
    let labels = map
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")));
    errs.extend(
        capstan_labels::validation::validate_labels(labels, field)
            .into_iter()
            .map(FieldError::from),
    );
}

/// Upstream's limit on the total size of an object's annotations.
pub(super) const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), total size at
/// most 256 KiB.
pub(super) fn validate_annotations(annotations: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = annotations.as_object() else {
        return;
    };
    let mut total = 0;
    for (k, v) in map {
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(field, json!(k), &m));
        }
        total += k.len() + v.as_str().map(|s| s.len()).unwrap_or(0);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::check;

    #[test]
    fn names_per_kind() {
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"name": "Bad_Name", "namespace": "d"}}),
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"));
        assert!(errs[0].ends_with(r"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
        // Namespaces are labels: dots are not allowed.
        let errs = check("", "namespaces", json!({"metadata": {"name": "a.b"}}));
        assert!(errs[0].contains("a lowercase RFC 1123 label must consist of"));
        assert!(errs[0].contains("(e.g. 'my-name',  or '123-abc', regex"));
        // Services are DNS-1035 labels: must start with a letter.
        let svc = json!({"metadata": {"name": "1web", "namespace": "d"}, "spec": {"ports": [{"port": 80}]}});
        let errs = check("", "services", svc);
        assert!(
            errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
            "{errs:?}"
        );
        // RBAC names are path segments.
        let errs = check(
            "rbac.authorization.k8s.io",
            "roles",
            json!({"metadata": {"name": "a/b", "namespace": "d"}}),
        );
        assert_eq!(
            errs,
            ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
        // Missing name; generateName prefix is checked with its dash masked.
        let errs = check("", "configmaps", json!({"metadata": {"namespace": "d"}}));
        assert_eq!(
            errs,
            ["metadata.name: Required value: name or generateName is required"]
        );
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "d"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        let long = "a".repeat(254);
        let errs = check(
            "",
            "configmaps",
            json!({"metadata": {"name": long, "namespace": "d"}}),
        );
        assert!(errs[0].ends_with("must be no more than 253 characters"));
        // Scope.
        let errs = check("", "configmaps", json!({"metadata": {"name": "c"}}));
        assert_eq!(errs, ["metadata.namespace: Required value"]);
        let errs = check(
            "",
            "namespaces",
            json!({"metadata": {"name": "n", "namespace": "x"}}),
        );
        assert_eq!(
            errs,
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
        // CronJob names are limited to 52 characters.
        let cj = json!({"metadata": {"name": "c".repeat(53), "namespace": "d"}, "spec": {"schedule": "@hourly",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}});
        assert!(check("batch", "cronjobs", cj)[0].ends_with("must be no more than 52 characters"));
    }

    #[test]
    fn labels_and_annotations() {
        let obj = json!({"metadata": {"name": "c", "namespace": "d",
            "labels": {"bad key": "v", "ok": "bad value!", "example.com/x": "y", "/x": "y"}}});
        let errs = check("", "configmaps", obj);
        assert!(errs.iter().any(|e| e.starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters")));
        assert!(errs.iter().any(|e| e.starts_with(
            "metadata.labels: Invalid value: \"bad value!\": a valid label must be an empty string"
        )));
        assert!(
            errs.iter()
                .any(|e| e
                    == "metadata.labels: Invalid value: \"/x\": prefix part must be non-empty")
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let obj = json!({"metadata": {"name": "c", "namespace": "d", "annotations": {"a": big, "Example.COM/Upper": ""}}});
        assert_eq!(
            check("", "configmaps", obj),
            ["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }
}
