//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors
//! (`metadata.name=x,spec.nodeName!=`), parsed from query strings as upstream's
//! `labels.Parse` and `fields.ParseSelector` accept them, plus the per-kind selectable
//! fields upstream registers (pods `spec.nodeName`, events `involvedObject.*`, …).

use serde_json::Value;

use crate::status::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<LabelReq>,
}

fn valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "unable to parse requirement: {why} (labelSelector {s:?})"
            ))
        };
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                return Err(bad("found '', expected: identifier"));
            }
            let set_op = |p: &str, op: &str| -> Option<(String, Vec<String>)> {
                let idx = p.find(op)?;
                let key = p[..idx].trim();
                let rest = p[idx + op.len()..].trim();
                let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
                let vals = inner
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                Some((key.to_string(), vals))
            };
            let req = if let Some(k) = p.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_string())
            } else if p.contains(" notin ") || p.contains(" notin(") {
                let (k, v) = set_op(p, " notin").ok_or_else(|| bad("bad notin set"))?;
                LabelReq::NotIn(k, v)
            } else if p.contains(" in ") || p.contains(" in(") {
                let (k, v) = set_op(p, " in").ok_or_else(|| bad("bad in set"))?;
                LabelReq::In(k, v)
            } else if let Some((k, v)) = p.split_once("!=") {
                LabelReq::NotEq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = p.split_once("==") {
                LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = p.split_once('=') {
                LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
            } else {
                LabelReq::Exists(p.to_string())
            };
            let (key, vals): (&str, Vec<&String>) = match &req {
                LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => (k, vec![v]),
                LabelReq::In(k, v) | LabelReq::NotIn(k, v) => (k, v.iter().collect()),
                LabelReq::Exists(k) | LabelReq::NotExists(k) => (k, vec![]),
            };
            if !valid_label_key(key) {
                return Err(bad(&format!("invalid label key {key:?}")));
            }
            if let Some(v) = vals.iter().find(|v| !valid_label_value(v)) {
                return Err(bad(&format!("invalid label value {v:?}")));
            }
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// Builds a selector from a `metav1.LabelSelector` object (`matchLabels` and
    /// `matchExpressions`); `None` when the object is malformed.
    pub fn from_object(sel: &Value) -> Option<Self> {
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(LabelReq::Eq(k.clone(), v.as_str()?.to_string()));
            }
        }
        if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in me {
                let key = e.get("key")?.as_str()?.to_string();
                let vals: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e.get("operator")?.as_str()? {
                    "In" => LabelReq::In(key, vals),
                    "NotIn" => LabelReq::NotIn(key, vals),
                    "Exists" => LabelReq::Exists(key),
                    "DoesNotExist" => LabelReq::NotExists(key),
                    _ => return None,
                });
            }
        }
        Some(LabelSelector { reqs })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether labels (sorted or not) satisfy every requirement.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v);
        self.reqs.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v),
            LabelReq::NotEq(k, v) => get(k) != Some(v),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }

    /// The string form (`a=b,c in (d)`), as `Scale.status.selector` carries it.
    pub fn to_query(&self) -> String {
        self.reqs
            .iter()
            .map(|r| match r {
                LabelReq::Eq(k, v) => format!("{k}={v}"),
                LabelReq::NotEq(k, v) => format!("{k}!={v}"),
                LabelReq::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                LabelReq::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                LabelReq::Exists(k) => k.clone(),
                LabelReq::NotExists(k) => format!("!{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
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
/// on, per (group, resource).
pub fn selectable_fields(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") | ("events.k8s.io", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "persistentvolumeclaims") => &[],
        ("", "replicationcontrollers") => &["status.replicas"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    }
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

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier in (front)", true),
            ("app=web,tier=back", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a=b=c").is_err());
        assert!(LabelSelector::parse("a,,b").is_err());
    }

    #[test]
    fn label_selector_from_object() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert_eq!(s.to_query(), "app=web,tier in (a,b)");
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
