//! Defaulting for CRDs (`SetDefaults_CustomResourceDefinition`) and, from a version's
//! structural schema, for custom resources.

use serde_json::{Value, json};

/// `SetDefaults_CustomResourceDefinition` (apiextensions v1): `names.singular` from the
/// kind, `names.listKind` = `<Kind>List`, `conversion.strategy: None`, webhook service
/// port 443.
pub fn default_crd(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let kind = spec
        .pointer("/names/kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    if let Some(names) = spec.get_mut("names").and_then(|n| n.as_object_mut()) {
        if names
            .get("singular")
            .and_then(|s| s.as_str())
            .is_none_or(|s| s.is_empty())
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if !kind.is_empty()
            && names
                .get("listKind")
                .and_then(|s| s.as_str())
                .is_none_or(|s| s.is_empty())
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let conversion = spec
        .entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
    if conversion.is_null() {
        *conversion = json!({"strategy": "None"});
    }
    if let Some(service) = conversion.pointer_mut("/webhook/clientConfig/service")
        && let Some(svc) = service.as_object_mut()
    {
        svc.entry("port").or_insert(json!(443));
    }
}

/// Applies the `default` values of a structural schema to `obj` wherever the field is
/// absent (or null without `nullable: true`), recursing through `properties`, `items` and
/// `additionalProperties`, as apiextensions-apiserver's structural defaulting does.
/// `metadata` is left alone.
pub fn apply_schema_defaults(schema: &Value, obj: &mut Value) {
    default_node(schema, obj, true);
}

pub(super) fn default_node(schema: &Value, obj: &mut Value, root: bool) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (name, prop) in props {
                    if root && name == "metadata" {
                        continue;
                    }
                    let nullable = prop.get("nullable").and_then(|n| n.as_bool()) == Some(true);
                    let needs_default = match map.get(name) {
                        None => true,
                        Some(Value::Null) => !nullable,
                        Some(_) => false,
                    };
                    if needs_default && let Some(d) = prop.get("default") {
                        map.insert(name.clone(), d.clone());
                    }
                    if let Some(child) = map.get_mut(name) {
                        default_node(prop, child, false);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    default_node(ap, child, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    default_node(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::kinds_from_crd;
    use crate::crd::testing::{defaulted_crd, schema};

    #[test]
    fn crd_defaults() {
        let crd = defaulted_crd();
        assert_eq!(crd["spec"]["names"]["singular"], "widget");
        assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    }

    #[test]
    fn schema_defaults_fill_missing_fields() {
        let mut obj = json!({"metadata": {"name": "w"}, "spec": {}});
        apply_schema_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["size"], 3);
        assert_eq!(obj["spec"]["nested"], json!({"flag": false}));
        let mut obj = json!({"spec": {"size": 5, "nested": {"flag": true}}});
        apply_schema_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["size"], 5);
        assert_eq!(obj["spec"]["nested"]["flag"], true);
        // Defaulting goes through kinds' apply_defaults for custom kinds.
        let kinds = kinds_from_crd(&defaulted_crd()).unwrap();
        let mut obj = json!({"spec": {}});
        crate::defaults::apply_defaults(&kinds[0], &mut obj);
        assert_eq!(obj["spec"]["size"], 3);
    }
}
