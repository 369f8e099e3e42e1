//! Selectors in requests and stored objects: the `labelSelector` query parameter and
//! `metav1.LabelSelector`s read from JSON objects (both matched with capstan-labels),
//! and field selectors (`metadata.name=x,spec.nodeName!=`), parsed from query strings
//! as upstream's `fields.ParseSelector` accepts them, plus the per-kind selectable
//! fields upstream registers (pods `spec.nodeName`, events `involvedObject.*`, …).

use capstan_labels::field::go_quote;
use capstan_labels::{Labels, Selector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde_json::Value;

use crate::status::ApiError;

/// Parses the `labelSelector` query parameter (`labels.Parse`); a malformed one is a
/// `400 BadRequest` carrying upstream's parser message and the parameter.
pub fn parse_label_selector(s: &str) -> Result<Selector, ApiError> {
    Selector::parse(s)
        .map_err(|e| ApiError::bad_request(format!("{e} (labelSelector {})", go_quote(s))))
}

/// A `metav1.LabelSelector` read from a JSON object as Go's decoder reads it: absent
/// fields are empty (`None` when the value is not an object).
pub fn label_selector_of(v: &Value) -> Option<LabelSelector> {
    let obj = v.as_object()?;
    let str_of = |v: &Value| v.as_str().unwrap_or("").to_string();
    let match_labels = obj
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), str_of(v))).collect());
    let match_expressions = obj
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(|exprs| {
            exprs
                .iter()
                .map(|e| LabelSelectorRequirement {
                    key: e.get("key").map(str_of).unwrap_or_default(),
                    operator: e.get("operator").map(str_of).unwrap_or_default(),
                    values: e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|vs| vs.iter().map(str_of).collect()),
                })
                .collect()
        });
    Some(LabelSelector {
        match_labels,
        match_expressions,
    })
}

/// A JSON label map (`metadata.labels`) as a label set to match, without copying;
/// non-string values read as absent.
#[derive(Debug, Clone, Copy)]
pub struct JsonLabels<'a>(pub &'a Value);

impl Labels for JsonLabels<'_> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }
}

/// A parsed field selector: a conjunction of `field=value` / `field!=value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` parameter, rejecting fields `allowed` does not list
    /// (besides `metadata.name` and `metadata.namespace`) with upstream's message.
    pub fn parse(s: &str, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector { reqs });
        }
        for part in s.split(',') {
            let p = part.trim();
            let (k, eq, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = p.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{p}'"
                )));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" && !allowed.contains(&k) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The value required for `field` by an `=` requirement, if any (used to narrow a
    /// lookup to one name).
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.reqs
            .iter()
            .find(|(k, eq, _)| *eq && k == field)
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether an object with these name, namespace and extra fields matches. A field
    /// the object lacks reads as the empty string, as upstream's field sets do.
    pub fn matches<F: AsRef<str>>(
        &self,
        name: &str,
        namespace: &str,
        fields: &[(F, String)],
    ) -> bool {
        self.reqs.iter().all(|(k, eq, v)| {
            let actual = match k.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace,
                other => fields
                    .iter()
                    .find(|(f, _)| f.as_ref() == other)
                    .map(|(_, x)| x.as_str())
                    .unwrap_or(""),
            };
            (actual == v) == *eq
        })
    }

    /// Whether the selector has a requirement on a field other than `metadata.name` and
    /// `metadata.namespace`.
    pub fn has_other_fields(&self) -> bool {
        self.reqs
            .iter()
            .any(|(k, _, _)| k != "metadata.name" && k != "metadata.namespace")
    }
}

/// A custom resource's `selectableFields` values (`spec.color` → the scalar at
/// `.spec.color`, as a string; `""` when absent), computed from the object as upstream's
/// custom resource strategy does.
pub fn custom_field_values(paths: &[String], obj: &Value) -> Vec<(String, String)> {
    paths
        .iter()
        .map(|p| {
            let ptr = format!("/{}", p.replace('.', "/"));
            (p.clone(), scalar(obj.pointer(&ptr)))
        })
        .collect()
}

/// The fields besides `metadata.name`/`metadata.namespace` upstream lets clients select
/// on, per (group, resource): the built-in kind's descriptor's.
pub fn selectable_fields(group: &str, resource: &str) -> &'static [&'static str] {
    crate::kinds::builtin::by_resource(group, resource).map_or(&[], |d| d.selectable_fields)
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Extracts the selectable field values of an object, at write time, so lists and
/// watches never re-parse objects to filter them.
pub fn extract_fields(group: &str, resource: &str, obj: &Value) -> Vec<(&'static str, String)> {
    let names = selectable_fields(group, resource);
    if names.is_empty() {
        return Vec::new();
    }
    let events_v1 = group == "events.k8s.io";
    names
        .iter()
        .map(|&f| {
            let value = match f {
                // Upstream's field labels for events read the source component and
                // the defaulted booleans.
                "source" if events_v1 => scalar(obj.pointer("/deprecatedSource/component")),
                "source" => scalar(obj.pointer("/source/component")),
                "spec.hostNetwork" => {
                    let b = obj
                        .pointer("/spec/hostNetwork")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    b.to_string()
                }
                "spec.unschedulable" => {
                    let b = obj
                        .pointer("/spec/unschedulable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    b.to_string()
                }
                other if events_v1 && other.starts_with("involvedObject.") => {
                    let rest = &other["involvedObject.".len()..];
                    scalar(obj.pointer(&format!("/regarding/{rest}")))
                }
                "reportingComponent" if events_v1 => scalar(obj.get("reportingController")),
                "status.successful" => scalar(Some(
                    obj.pointer("/status/succeeded").unwrap_or(&Value::from(0)),
                )),
                "status.replicas" => scalar(Some(
                    obj.pointer("/status/replicas").unwrap_or(&Value::from(0)),
                )),
                other => {
                    let ptr = format!("/{}", other.replace('.', "/"));
                    scalar(obj.pointer(&ptr))
                }
            };
            (f, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_read_from_json_as_go_decodes_them() {
        let sel = label_selector_of(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x"}]
        }))
        .unwrap();
        assert_eq!(sel.match_labels.unwrap()["app"], "web");
        let exprs = sel.match_expressions.unwrap();
        assert_eq!(
            exprs[0].values.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
        // A missing operator is Go's zero value, for validation to report.
        assert_eq!(
            (exprs[1].key.as_str(), exprs[1].operator.as_str()),
            ("x", "")
        );
        assert_eq!(exprs[1].values, None);
        assert_eq!(label_selector_of(&Value::Null), None);

        let pod_labels = json!({"app": "web", "n": 1});
        let s = Selector::parse("app=web,!n").unwrap();
        assert!(s.matches(&JsonLabels(&pod_labels)));
        assert!(
            !Selector::parse("app=db")
                .unwrap()
                .matches(&JsonLabels(&pod_labels))
        );

        let err = parse_label_selector("a==b=c").unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "found '=', expected: ',' or 'end of string' (labelSelector \"a==b=c\")"
        );
    }

    #[test]
    fn field_selectors_per_kind() {
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let f = extract_fields("", "pods", &pod);
        let s = FieldSelector::parse(
            "spec.nodeName=n1,status.phase!=Failed",
            selectable_fields("", "pods"),
        )
        .unwrap();
        assert!(s.matches("p", "ns", &f));
        let s = FieldSelector::parse("spec.nodeName=", selectable_fields("", "pods")).unwrap();
        assert!(!s.matches("p", "ns", &f));
        let err = FieldSelector::parse("spec.bogus=x", selectable_fields("", "pods")).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("spec.bogus"));
        let s = FieldSelector::parse("metadata.name=p", &[]).unwrap();
        assert_eq!(s.exact("metadata.name"), Some("p"));
        assert!(s.matches::<&str>("p", "", &[]));
    }

    #[test]
    fn custom_resource_selectable_fields() {
        let obj = serde_json::json!({"spec": {"color": "red", "size": 3, "on": true}});
        let paths = ["spec.color", "spec.size", "spec.on", "spec.missing"].map(String::from);
        let values = custom_field_values(&paths, &obj);
        let s = FieldSelector::parse(
            "spec.color=red,spec.size=3,spec.on=true,spec.missing=",
            &["spec.color", "spec.size", "spec.on", "spec.missing"],
        )
        .unwrap();
        assert!(s.has_other_fields());
        assert!(s.matches("o", "", &values));
        let s = FieldSelector::parse("spec.color!=red", &["spec.color"]).unwrap();
        assert!(!s.matches("o", "", &values));
    }
}
