//! Unknown fields of a request body, for `fieldValidation=Strict|Warn`.

use serde_json::Value;

use crate::kinds::{KindInfo, Registry};

use super::openapi_v3;
use super::schemas::{custom_schema_name, resolve};

/// Paths (`spec.replicass`, `spec.template.spec.containers[0].imagee`) of the fields in
/// `obj` that the schema of `kind` does not declare, for `fieldValidation=Strict|Warn`.
/// Fields under `x-kubernetes-preserve-unknown-fields`, int-or-string and free-form
/// objects are never unknown.
pub fn unknown_fields(registry: &Registry, kind: &KindInfo, obj: &Value) -> Vec<String> {
    let Some(doc) = openapi_v3(registry, &kind.group, &kind.version) else {
        return Vec::new();
    };
    let Some(schemas) = doc.document.pointer("/components/schemas") else {
        return Vec::new();
    };
    let name = if kind.is_custom() {
        custom_schema_name(kind)
    } else {
        match doc.schema_name(schemas, kind) {
            Some(n) => n,
            None => return Vec::new(),
        }
    };
    let Some(root) = schemas.get(&name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk_unknown(schemas, root, obj, "", &mut out, 0);
    out
}

pub(super) fn walk_unknown(
    schemas: &Value,
    schema: &Value,
    v: &Value,
    path: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schemas, schema);
    let flag = |k: &str| schema.get(k).and_then(|b| b.as_bool()) == Some(true);
    if flag("x-kubernetes-preserve-unknown-fields") || flag("x-kubernetes-int-or-string") {
        return;
    }
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && additional.is_none() {
                return; // free-form object
            }
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(cs) = props.and_then(|p| p.get(key)) {
                    walk_unknown(schemas, cs, child, &child_path, out, depth + 1);
                } else if let Some(ap) = additional {
                    walk_unknown(schemas, ap, child, &child_path, out, depth + 1);
                } else if !(path.is_empty() && (key == "apiVersion" || key == "kind")) {
                    out.push(child_path);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk_unknown(
                        schemas,
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        out,
                        depth + 1,
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::testing::{widget, widget_schema};
    use serde_json::json;

    #[test]
    fn unknown_fields_for_builtin_and_custom_kinds() {
        let r = Registry::with_builtins();
        let deploy = r.lookup("apps", "v1", "deployments").unwrap();
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"any": "thing"}, "bogus": 1},
            "spec": {"replicass": 2, "selector": {"matchLabels": {"a": "b"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                    {"name": "c", "image": "i", "imagee": "typo", "resources": {"limits": {"cpu": "1"}}}]}}}});
        assert_eq!(
            unknown_fields(&r, &deploy, &obj),
            [
                "metadata.bogus",
                "spec.replicass",
                "spec.template.spec.containers[0].imagee"
            ]
        );
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert!(unknown_fields(&r, &r.lookup("", "v1", "configmaps").unwrap(), &ok).is_empty());
        let w = widget(widget_schema("color"));
        r.insert(w.clone());
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "colour": "red", "free": {"x": 1}}, "extra": true});
        assert_eq!(unknown_fields(&r, &w, &obj), ["extra", "spec.colour"]);
    }
}
