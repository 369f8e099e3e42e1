//! CustomResourceDefinitions: the kinds a CRD serves ([`kinds_from_crd`]), CRD defaulting
//! and validation, the status the server writes for a CRD ([`crd_status`]), and custom
//! resources' structural-schema defaulting, validation and pruning.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{str_at, strings_at};
use crate::kinds::{
    CustomKind, KindInfo, KindSource, PrinterColumn, Registry, ScalePaths, Subresource,
};
use crate::names::{is_dns1035_label, is_dns1123_subdomain};

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

fn default_node(schema: &Value, obj: &mut Value, root: bool) {
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

// ---------------------------------------------------------------------------------------
// Kinds served by a CRD

/// Why a CRD cannot be turned into served kinds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CrdError {
    /// A field the kinds need is missing or has the wrong type.
    #[error("customresourcedefinition is missing {0}")]
    Missing(&'static str),
    /// The CRD marks no version as served.
    #[error("customresourcedefinition serves no version")]
    NoServedVersion,
}

/// The CRD's storage version (the version with `storage: true`), if any.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(|s| s.as_bool()) == Some(true))
        .and_then(|v| v.get("name")?.as_str().map(String::from))
}

/// The kinds a CRD makes served: one [`KindInfo`] per version with `served: true`, carrying
/// names, scope, subresources, schema and printer columns.
pub fn kinds_from_crd(crd: &Value) -> Result<Vec<KindInfo>, CrdError> {
    let crd_name = str_at(crd, &["metadata", "name"]);
    let group = str_at(crd, &["spec", "group"]);
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let plural = str_at(crd, &["spec", "names", "plural"]);
    if group.is_empty() {
        return Err(CrdError::Missing("spec.group"));
    }
    if kind.is_empty() {
        return Err(CrdError::Missing("spec.names.kind"));
    }
    if plural.is_empty() {
        return Err(CrdError::Missing("spec.names.plural"));
    }
    let singular = match str_at(crd, &["spec", "names", "singular"]) {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let list_kind = match str_at(crd, &["spec", "names", "listKind"]) {
        "" => format!("{kind}List"),
        s => s.to_string(),
    };
    let namespaced = str_at(crd, &["spec", "scope"]) != "Cluster";
    let storage = storage_version(crd).unwrap_or_default();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(|v| v.as_array())
        .ok_or(CrdError::Missing("spec.versions"))?;
    let mut out = Vec::new();
    for v in versions {
        if v.get("served").and_then(|s| s.as_bool()) != Some(true) {
            continue;
        }
        let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if name.is_empty() {
            return Err(CrdError::Missing("spec.versions[].name"));
        }
        let mut subresources = Vec::new();
        if v.pointer("/subresources/status")
            .is_some_and(|s| s.is_object())
        {
            subresources.push(Subresource::Status);
        }
        let scale = v
            .pointer("/subresources/scale")
            .filter(|s| s.is_object())
            .map(|s| ScalePaths {
                spec_replicas_path: str_at(s, &["specReplicasPath"]).to_string(),
                status_replicas_path: str_at(s, &["statusReplicasPath"]).to_string(),
                label_selector_path: s
                    .get("labelSelectorPath")
                    .and_then(|p| p.as_str())
                    .map(String::from),
            });
        if scale.is_some() {
            subresources.push(Subresource::Scale);
        }
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(|c| c.as_array())
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: str_at(c, &["name"]).to_string(),
                        type_: str_at(c, &["type"]).to_string(),
                        format: str_at(c, &["format"]).to_string(),
                        description: str_at(c, &["description"]).to_string(),
                        priority: c.get("priority").and_then(|p| p.as_i64()).unwrap_or(0),
                        json_path: str_at(c, &["jsonPath"]).to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(KindInfo {
            group: group.to_string(),
            version: name.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            namespaced,
            short_names: strings_at(crd, &["spec", "names", "shortNames"]),
            categories: strings_at(crd, &["spec", "names", "categories"]),
            subresources,
            source: KindSource::Custom {
                crd_name: crd_name.to_string(),
            },
            custom: Some(Arc::new(CustomKind {
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                printer_columns,
                storage_version: storage.clone(),
                scale,
                list_kind: list_kind.clone(),
                deprecated: v.get("deprecated").and_then(|d| d.as_bool()) == Some(true),
                deprecation_warning: v
                    .get("deprecationWarning")
                    .and_then(|d| d.as_str())
                    .map(String::from),
                selectable_fields: v
                    .get("selectableFields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect(),
            })),
        });
    }
    if out.is_empty() {
        return Err(CrdError::NoServedVersion);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// CRD object validation

fn dns1035(value: &str, field: &str, errs: &mut Vec<FieldError>) {
    for m in is_dns1035_label(value) {
        errs.push(FieldError::invalid(field, json!(value), &m));
    }
}

/// `ValidateCustomResourceDefinition` (+ update rules): the name is `<plural>.<group>`, the
/// group a dotted domain, names well-formed, scope known, exactly one storage version,
/// a structural schema per version, scale paths and printer columns well-formed; on update
/// group and scope are immutable and stored versions stay declared.
pub fn validate_crd(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = str_at(crd, &["spec", "group"]);
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let name = str_at(crd, &["metadata", "name"]);
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else {
        for m in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid("spec.group", json!(group), &m));
        }
        if group.split('.').count() < 2 {
            errs.push(FieldError::invalid(
                "spec.group",
                json!(group),
                "should be a domain with at least one dot",
            ));
        }
    }
    match str_at(crd, &["spec", "scope"]) {
        "Cluster" | "Namespaced" => {}
        "" => errs.push(FieldError::required("spec.scope", "")),
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    // Names.
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    } else {
        dns1035(plural, "spec.names.plural", &mut errs);
    }
    let singular = str_at(crd, &["spec", "names", "singular"]);
    if !singular.is_empty() {
        dns1035(singular, "spec.names.singular", &mut errs);
    }
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let list_kind = str_at(crd, &["spec", "names", "listKind"]);
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if list_kind.is_empty() {
        errs.push(FieldError::required("spec.names.listKind", ""));
    } else if list_kind == kind {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            json!(list_kind),
            "kind and listKind cannot be the same",
        ));
    }
    for (i, s) in strings_at(crd, &["spec", "names", "shortNames"])
        .iter()
        .enumerate()
    {
        dns1035(s, &format!("spec.names.shortNames[{i}]"), &mut errs);
    }
    for (i, s) in strings_at(crd, &["spec", "names", "categories"])
        .iter()
        .enumerate()
    {
        dns1035(s, &format!("spec.names.categories[{i}]"), &mut errs);
    }
    // Versions.
    let versions = crd
        .pointer("/spec/versions")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required("spec.versions", ""));
    }
    let storage_count = versions
        .iter()
        .filter(|v| v.get("storage").and_then(|s| s.as_bool()) == Some(true))
        .count();
    if !versions.is_empty() && storage_count != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!(versions.len()),
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions.is_empty()
        && !versions
            .iter()
            .any(|v| v.get("served").and_then(|s| s.as_bool()) == Some(true))
    {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!(versions.len()),
            "must have at least one version marked as served",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        let path = format!("spec.versions[{i}]");
        let vname = str_at(v, &["name"]);
        if vname.is_empty() {
            errs.push(FieldError::required(&format!("{path}.name"), ""));
        } else {
            dns1035(vname, &format!("{path}.name"), &mut errs);
            if !seen.insert(vname.to_string()) {
                errs.push(FieldError::duplicate(&format!("{path}.name"), json!(vname)));
            }
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None | Some(Value::Null) => errs.push(FieldError::required(
                &format!("{path}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
            Some(schema) => {
                let spath = format!("{path}.schema.openAPIV3Schema");
                if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                    errs.push(FieldError::invalid(
                        &format!("{spath}.type"),
                        schema.get("type").cloned().unwrap_or(json!("")),
                        "must be object at the root",
                    ));
                }
                check_structural(schema, &spath, &mut errs);
            }
        }
        if let Some(scale) = v.pointer("/subresources/scale").filter(|s| s.is_object()) {
            let sp = str_at(scale, &["specReplicasPath"]);
            if !sp.starts_with(".spec.") && sp != ".spec" {
                errs.push(FieldError::invalid(
                    &format!("{path}.subresources.scale.specReplicasPath"),
                    json!(sp),
                    "should be a json path under .spec",
                ));
            }
            let st = str_at(scale, &["statusReplicasPath"]);
            if !st.starts_with(".status.") {
                errs.push(FieldError::invalid(
                    &format!("{path}.subresources.scale.statusReplicasPath"),
                    json!(st),
                    "should be a json path under .status",
                ));
            }
            if let Some(ls) = scale.get("labelSelectorPath").and_then(|l| l.as_str())
                && !ls.starts_with(".spec.")
                && !ls.starts_with(".status.")
            {
                errs.push(FieldError::invalid(
                    &format!("{path}.subresources.scale.labelSelectorPath"),
                    json!(ls),
                    "should be a json path under either .spec or .status",
                ));
            }
        }
        for (j, c) in v
            .get("additionalPrinterColumns")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cpath = format!("{path}.additionalPrinterColumns[{j}]");
            if str_at(c, &["name"]).is_empty() {
                errs.push(FieldError::required(&format!("{cpath}.name"), ""));
            }
            let t = str_at(c, &["type"]);
            let types = ["integer", "number", "string", "boolean", "date"];
            if !types.contains(&t) {
                errs.push(FieldError::not_supported(
                    &format!("{cpath}.type"),
                    json!(t),
                    &types,
                ));
            }
            if str_at(c, &["jsonPath"]).is_empty() {
                errs.push(FieldError::required(&format!("{cpath}.jsonPath"), ""));
            }
        }
    }
    if let Some(old) = old {
        for (path, field) in [
            (&["spec", "group"], "spec.group"),
            (&["spec", "scope"], "spec.scope"),
        ] {
            let (n, o) = (str_at(crd, path), str_at(old, path));
            if n != o {
                errs.push(FieldError::invalid(field, json!(n), "field is immutable"));
            }
        }
        for (i, sv) in strings_at(crd, &["status", "storedVersions"])
            .iter()
            .enumerate()
        {
            if !versions.iter().any(|v| str_at(v, &["name"]) == sv) {
                errs.push(FieldError::invalid(
                    &format!("status.storedVersions[{i}]"),
                    json!(sv),
                    "must appear in spec.versions",
                ));
            }
        }
    }
    errs
}

/// Structural schema rules: every specified field has a type, unless it is
/// int-or-string or preserves unknown fields.
fn check_structural(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let flag = |s: &Value, k: &str| s.get(k).and_then(|b| b.as_bool()) == Some(true);
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props {
            let ppath = format!("{path}.properties[{name}]");
            let has_type = prop
                .get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| !t.is_empty());
            if !has_type
                && !flag(prop, "x-kubernetes-int-or-string")
                && !flag(prop, "x-kubernetes-preserve-unknown-fields")
            {
                errs.push(FieldError::required(
                    &format!("{ppath}.type"),
                    "must not be empty for specified object fields",
                ));
            }
            check_structural(prop, &ppath, errs);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        let has_type = items
            .get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.is_empty());
        if !has_type
            && !flag(items, "x-kubernetes-int-or-string")
            && !flag(items, "x-kubernetes-preserve-unknown-fields")
        {
            errs.push(FieldError::required(
                &format!("{path}.items.type"),
                "must not be empty for specified array items",
            ));
        }
        check_structural(items, &format!("{path}.items"), errs);
    }
    if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        if schema.get("properties").is_some() {
            errs.push(FieldError::forbidden(
                &format!("{path}.additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        check_structural(ap, &format!("{path}.additionalProperties"), errs);
    }
}

// ---------------------------------------------------------------------------------------
// Custom resource validation and pruning

/// Validates a custom resource against its version's structural `schema` and prunes
/// fields the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`),
/// including null values of non-nullable fields. `apiVersion`, `kind` and `metadata` at
/// the root are never pruned. Returns the problems found, with upstream's wording.
pub fn validate_and_prune(schema: &Value, obj: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    prune(schema, obj, true);
    validate_node(schema, obj, "", &mut errs);
    errs
}

/// Removes unknown fields from `obj` per `schema`; returns nothing, edits in place.
pub fn prune(schema: &Value, obj: &mut Value, root: bool) {
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(|b| b.as_bool())
        == Some(true);
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(|b| b.as_bool())
        == Some(true);
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let keep_meta = (root || embedded)
                    && (key == "apiVersion" || key == "kind" || key == "metadata");
                let child_schema = props.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(cs) => {
                        let nullable = cs.get("nullable").and_then(|n| n.as_bool()) == Some(true);
                        if map.get(&key).is_some_and(|v| v.is_null()) && !nullable && !keep_meta {
                            map.remove(&key);
                            continue;
                        }
                        if let Some(child) = map.get_mut(&key) {
                            prune(cs, child, false);
                        }
                    }
                    None if keep_meta || preserve => {}
                    None => {
                        map.remove(&key);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn child_path(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

fn validate_node(schema: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    let flag = |k: &str| schema.get(k).and_then(|b| b.as_bool()) == Some(true);
    if v.is_null() {
        if !flag("nullable") && schema.get("type").is_some() {
            errs.push(FieldError::type_invalid(
                shown,
                json!("null"),
                &format!(
                    "{shown} in body must be of type {}: \"null\"",
                    schema.get("type").and_then(|t| t.as_str()).unwrap_or("")
                ),
            ));
        }
        return;
    }
    let declared = schema.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let type_ok = if flag("x-kubernetes-int-or-string") {
        v.is_string() || v.as_i64().is_some() || v.as_u64().is_some()
    } else {
        match declared {
            "" => true,
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => {
                v.as_i64().is_some()
                    || v.as_u64().is_some()
                    || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => true,
        }
    };
    if !type_ok {
        let expected = if flag("x-kubernetes-int-or-string") {
            "integer,string".to_string()
        } else {
            declared.to_string()
        };
        errs.push(FieldError::type_invalid(
            shown,
            json!(json_type_name(v)),
            &format!(
                "{shown} in body must be of type {expected}: \"{}\"",
                json_type_name(v)
            ),
        ));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(|e| e.as_array())
        && !values.contains(v)
    {
        let supported: Vec<String> = values
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        let refs: Vec<&str> = supported.iter().map(|s| s.as_str()).collect();
        errs.push(FieldError::not_supported(shown, v.clone(), &refs));
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let excl_min = schema.get("exclusiveMinimum").and_then(|b| b.as_bool()) == Some(true);
            let excl_max = schema.get("exclusiveMaximum").and_then(|b| b.as_bool()) == Some(true);
            if let Some(min) = schema.get("minimum").and_then(|m| m.as_f64()) {
                let bad = if excl_min { x <= min } else { x < min };
                if bad {
                    let rel = if excl_min {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should be {rel} {}", schema["minimum"]),
                    ));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(|m| m.as_f64()) {
                let bad = if excl_max { x >= max } else { x > max };
                if bad {
                    let rel = if excl_max {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should be {rel} {}", schema["maximum"]),
                    ));
                }
            }
            if let Some(m) = schema.get("multipleOf").and_then(|m| m.as_f64())
                && m > 0.0
                && (x / m).fract() != 0.0
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    &format!(
                        "{shown} in body should be a multiple of {}",
                        schema["multipleOf"]
                    ),
                ));
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(|m| m.as_u64())
                && len < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    &format!("{shown} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = schema.get("maxLength").and_then(|m| m.as_u64())
                && len > max
            {
                errs.push(FieldError::too_long_chars(shown, max));
            }
            if let Some(p) = schema.get("pattern").and_then(|p| p.as_str()) {
                match cached_regex(p) {
                    Some(re) if !re.is_match(s) => errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        &format!("{shown} in body should match '{p}'"),
                    )),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(|m| m.as_u64())
                && n < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    json!(n),
                    &format!("{shown} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(|m| m.as_u64())
                && n > max
            {
                errs.push(FieldError::too_many(shown, n as usize, max as usize));
            }
            let list_type = schema
                .get("x-kubernetes-list-type")
                .and_then(|t| t.as_str());
            if list_type == Some("set") {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        errs.push(FieldError::duplicate(
                            &format!("{shown}[{i}]"),
                            item.clone(),
                        ));
                    }
                }
            }
            if list_type == Some("map") {
                let keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(|k| k.as_array())
                    .cloned()
                    .unwrap_or_default();
                let key_of = |item: &Value| -> Vec<Value> {
                    keys.iter()
                        .map(|k| {
                            k.as_str()
                                .and_then(|k| item.get(k))
                                .cloned()
                                .unwrap_or(Value::Null)
                        })
                        .collect()
                };
                for (i, item) in items.iter().enumerate() {
                    let k = key_of(item);
                    if items[..i].iter().any(|o| key_of(o) == k) {
                        let shown_key = if k.len() == 1 {
                            k[0].clone()
                        } else {
                            Value::Array(k)
                        };
                        errs.push(FieldError::duplicate(&format!("{shown}[{i}]"), shown_key));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            for r in schema
                .get("required")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
            {
                if !map.contains_key(r) {
                    errs.push(FieldError::required(&child_path(path, r), ""));
                }
            }
            if let Some(min) = schema.get("minProperties").and_then(|m| m.as_u64())
                && (map.len() as u64) < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    json!(map.len()),
                    &format!("{shown} in body should have at least {min} properties"),
                ));
            }
            if let Some(max) = schema.get("maxProperties").and_then(|m| m.as_u64())
                && (map.len() as u64) > max
            {
                errs.push(FieldError::too_many(shown, map.len(), max as usize));
            }
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(|b| b.as_bool())
                == Some(true);
            if embedded {
                for f in ["apiVersion", "kind"] {
                    if map
                        .get(f)
                        .and_then(|x| x.as_str())
                        .is_none_or(|x| x.is_empty())
                    {
                        errs.push(FieldError::required(
                            &child_path(path, f),
                            "must not be empty",
                        ));
                    }
                }
            }
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                if path.is_empty() && (key == "metadata" || key == "apiVersion" || key == "kind") {
                    continue;
                }
                if let Some(cs) = props.and_then(|p| p.get(key)) {
                    validate_node(cs, child, &child_path(path, key), errs);
                } else if let Some(ap) = additional {
                    validate_node(ap, child, &format!("{shown}[{key}]"), errs);
                }
            }
        }
        _ => {}
    }
}

/// Compiled schema `pattern`s, kept so each is compiled once (bounded; cleared when full).
static PATTERNS: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>,
> = std::sync::LazyLock::new(Default::default);

fn cached_regex(pattern: &str) -> Option<regex::Regex> {
    let mut cache = PATTERNS.lock();
    if let Some(re) = cache.get(pattern) {
        return re.clone();
    }
    if cache.len() >= 1024 {
        cache.clear();
    }
    let re = regex::Regex::new(pattern).ok();
    cache.insert(pattern.to_string(), re.clone());
    re
}

// ---------------------------------------------------------------------------------------
// CRD status

/// The `status` the server should write for `crd`: `acceptedNames` (its names, unless
/// they clash with another served kind in the same group), `storedVersions` (the existing
/// ones plus the current storage version) and the `NamesAccepted` and `Established`
/// conditions with upstream's reasons. `now` stamps changed conditions.
pub fn crd_status(crd: &Value, registry: &Registry, now: &str) -> Value {
    let crd_name = str_at(crd, &["metadata", "name"]);
    let group = str_at(crd, &["spec", "group"]);
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let singular = str_at(crd, &["spec", "names", "singular"]);
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let list_kind = str_at(crd, &["spec", "names", "listKind"]);
    let short_names = strings_at(crd, &["spec", "names", "shortNames"]);

    let others: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|k| k.group == group)
        .filter(|k| !matches!(&k.source, KindSource::Custom { crd_name: n } if n == crd_name))
        .collect();
    let conflict = if others.iter().any(|k| k.plural == plural) {
        Some(("PluralConflict", format!("{plural:?} is already in use")))
    } else if others
        .iter()
        .any(|k| k.singular == singular || k.plural == singular)
    {
        Some((
            "SingularConflict",
            format!("{singular:?} is already in use"),
        ))
    } else if let Some(s) = short_names
        .iter()
        .find(|s| others.iter().any(|k| k.short_names.contains(s)))
    {
        Some(("ShortNamesConflict", format!("{s:?} is already in use")))
    } else if others.iter().any(|k| k.kind == kind) {
        Some(("KindConflict", format!("{kind:?} is already in use")))
    } else if others.iter().any(|k| k.list_kind() == list_kind) {
        Some((
            "ListKindConflict",
            format!("{list_kind:?} is already in use"),
        ))
    } else {
        None
    };

    let old_conditions = crd
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = old_conditions
            .iter()
            .find(|c| str_at(c, &["type"]) == type_ && str_at(c, &["status"]) == status)
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        json!({"type": type_, "status": status, "lastTransitionTime": since,
               "reason": reason, "message": message})
    };
    let (accepted_names, conditions) = match &conflict {
        None => (
            names,
            vec![
                condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            ],
        ),
        Some((reason, message)) => (
            crd.pointer("/status/acceptedNames")
                .cloned()
                .unwrap_or_else(|| json!({"plural": "", "kind": ""})),
            vec![
                condition("NamesAccepted", "False", reason, message),
                condition(
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                ),
            ],
        ),
    };
    let mut stored = strings_at(crd, &["status", "storedVersions"]);
    if let Some(sv) = storage_version(crd)
        && !stored.contains(&sv)
    {
        stored.push(sv);
    }
    json!({
        "acceptedNames": accepted_names,
        "storedVersions": stored,
        "conditions": conditions,
    })
}

/// Whether a CRD's status says it is established (its kinds should be served).
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| str_at(c, &["type"]) == "Established" && str_at(c, &["status"]) == "True")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "required": ["size"], "properties": {
                             "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                             "color": {"type": "string", "enum": ["red", "blue"]},
                             "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                             "port": {"x-kubernetes-int-or-string": true},
                             "tags": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                             "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                             "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                             "maybe": {"type": "string", "nullable": true},
                             "nested": {"type": "object", "properties": {"flag": {"type": "boolean", "default": false}}, "default": {}},
                             "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
                         }},
                         "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                     }}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.replicas"}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v1beta1", "served": true, "storage": false, "deprecated": true,
                     "deprecationWarning": "use v1",
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    {"name": "v1alpha1", "served": false, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]
            }
        })
    }

    fn schema() -> Value {
        widget_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    fn defaulted_crd() -> Value {
        let mut crd = widget_crd();
        default_crd(&mut crd);
        crd
    }

    #[test]
    fn crd_defaults() {
        let crd = defaulted_crd();
        assert_eq!(crd["spec"]["names"]["singular"], "widget");
        assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    }

    #[test]
    fn kinds_for_every_served_version() {
        let kinds = kinds_from_crd(&defaulted_crd()).unwrap();
        assert_eq!(kinds.len(), 2);
        let v1 = &kinds[0];
        assert_eq!(
            (v1.group.as_str(), v1.version.as_str()),
            ("example.com", "v1")
        );
        assert_eq!(v1.kind, "Widget");
        assert_eq!(v1.plural, "widgets");
        assert_eq!(v1.singular, "widget");
        assert!(v1.namespaced);
        assert_eq!(v1.short_names, ["wd"]);
        assert_eq!(v1.categories, ["all"]);
        assert_eq!(v1.subresources, [Subresource::Status, Subresource::Scale]);
        assert_eq!(
            v1.source,
            KindSource::Custom {
                crd_name: "widgets.example.com".into()
            }
        );
        let custom = v1.custom.as_ref().unwrap();
        assert_eq!(custom.storage_version, "v1");
        assert_eq!(custom.list_kind, "WidgetList");
        assert_eq!(custom.printer_columns[0].json_path, ".spec.size");
        assert_eq!(
            custom.scale.as_ref().unwrap().spec_replicas_path,
            ".spec.size"
        );
        assert_eq!(v1.list_kind(), "WidgetList");
        let beta = &kinds[1];
        assert_eq!(beta.version, "v1beta1");
        assert!(beta.subresources.is_empty());
        assert!(beta.custom.as_ref().unwrap().deprecated);
        assert_eq!(beta.storage_version(), "v1");

        let mut cluster = defaulted_crd();
        cluster["spec"]["scope"] = json!("Cluster");
        assert!(!kinds_from_crd(&cluster).unwrap()[0].namespaced);
        let mut none = defaulted_crd();
        for v in none["spec"]["versions"].as_array_mut().unwrap() {
            v["served"] = json!(false);
        }
        assert_eq!(kinds_from_crd(&none), Err(CrdError::NoServedVersion));
        assert_eq!(
            kinds_from_crd(&json!({})),
            Err(CrdError::Missing("spec.group"))
        );
    }

    #[test]
    fn valid_crd_passes_and_bad_ones_are_named() {
        assert_eq!(
            validate_crd(&defaulted_crd(), None),
            Vec::<FieldError>::new()
        );
        let mut bad = defaulted_crd();
        bad["metadata"]["name"] = json!("widget.example.com");
        bad["spec"]["group"] = json!("example");
        bad["spec"]["scope"] = json!("Global");
        bad["spec"]["names"]["shortNames"] = json!(["Bad_Name"]);
        bad["spec"]["versions"][1]["storage"] = json!(true);
        bad["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] =
            json!(".status.x");
        bad["spec"]["versions"][0]["additionalPrinterColumns"][0]["type"] = json!("float");
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["untyped"] = json!({});
        let msgs: Vec<String> = validate_crd(&bad, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        for expected in [
            "metadata.name: Invalid value: \"widget.example.com\": must be spec.names.plural+\".\"+spec.group",
            "spec.group: Invalid value: \"example\": should be a domain with at least one dot",
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            "spec.versions: Invalid value: 3: must have exactly one version marked as storage version",
            "spec.versions[0].subresources.scale.specReplicasPath: Invalid value: \".status.x\": should be a json path under .spec",
            "spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: \"float\": supported values: \"integer\", \"number\", \"string\", \"boolean\", \"date\"",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[untyped].type: Required value: must not be empty for specified object fields",
        ] {
            assert!(
                msgs.iter().any(|m| m == expected),
                "missing {expected}\n{msgs:#?}"
            );
        }
        assert!(msgs.iter().any(|m| m.starts_with(
            "spec.names.shortNames[0]: Invalid value: \"Bad_Name\": a DNS-1035 label"
        )));
        let mut no_schema = defaulted_crd();
        no_schema["spec"]["versions"][0]
            .as_object_mut()
            .unwrap()
            .remove("schema");
        let msgs: Vec<String> = validate_crd(&no_schema, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            msgs,
            ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]
        );
    }

    #[test]
    fn crd_update_rules() {
        let old = defaulted_crd();
        let mut new = old.clone();
        new["spec"]["scope"] = json!("Cluster");
        new["status"] = json!({"storedVersions": ["v0"]});
        let msgs: Vec<String> = validate_crd(&new, Some(&old))
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            msgs,
            [
                "spec.scope: Invalid value: \"Cluster\": field is immutable",
                "status.storedVersions[0]: Invalid value: \"v0\": must appear in spec.versions"
            ]
        );
    }

    fn errors(obj: &mut Value) -> Vec<String> {
        validate_and_prune(&schema(), obj)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_resource_is_pruned_of_unknown_fields() {
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "d", "labels": {"a": "b"}},
            "spec": {"size": 2, "unknown": 1, "port": "http", "labels": {"x": "y"},
                     "free": {"anything": {"goes": [1]}}, "maybe": null,
                     "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 1}},
            "status": {"replicas": 1, "extra": true},
            "topLevelJunk": "x"
        });
        assert_eq!(errors(&mut obj), Vec::<String>::new());
        assert!(obj["spec"].get("unknown").is_none());
        assert!(obj.get("topLevelJunk").is_none());
        assert!(obj["status"].get("extra").is_none());
        assert_eq!(obj["spec"]["free"], json!({"anything": {"goes": [1]}}));
        assert_eq!(obj["spec"]["maybe"], Value::Null);
        assert_eq!(obj["metadata"]["labels"], json!({"a": "b"}));
        assert_eq!(obj["spec"]["template"]["metadata"], json!({"name": "p"}));
        assert!(obj["spec"]["template"].get("junk").is_none());
    }

    #[test]
    fn schema_violations_use_upstream_wording() {
        let mut obj = json!({"spec": {"size": "big"}});
        assert_eq!(
            errors(&mut obj),
            [
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
            ]
        );
        let mut obj = json!({"spec": {"size": 11, "color": "pink", "name": "ABCDEFG", "tags": ["a", "a", "b"], "port": 1.5}});
        let errs = errors(&mut obj);
        for expected in [
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
            "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\"",
            "spec.name: Too long: may not be more than 5 bytes",
            "spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
            "spec.tags: Too many: 3: must have at most 2 items",
            "spec.tags[1]: Duplicate value: \"a\"",
            "spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\"",
        ] {
            assert!(
                errs.iter().any(|e| e == expected),
                "missing {expected}\n{errs:#?}"
            );
        }
        let mut obj = json!({"spec": {"size": 0, "name": "a"}});
        let errs = errors(&mut obj);
        assert!(errs.contains(&"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1".to_string()));
        assert!(errs.contains(&"spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long".to_string()));
        let mut obj = json!({"spec": {"color": "red"}});
        assert_eq!(errors(&mut obj), ["spec.size: Required value"]);
        // A null for a non-nullable field is pruned, then required applies.
        let mut obj = json!({"spec": {"size": null}});
        assert_eq!(errors(&mut obj), ["spec.size: Required value"]);
        let mut obj = json!({"spec": {"size": 1, "template": {"spec": {}}}});
        let errs = errors(&mut obj);
        assert!(
            errs.contains(
                &"spec.template.apiVersion: Required value: must not be empty".to_string()
            ),
            "{errs:?}"
        );
        let mut obj = json!({"spec": {"size": 1, "labels": {"k": 5}}});
        assert_eq!(
            errors(&mut obj),
            [
                "spec.labels[k]: Invalid value: \"integer\": spec.labels[k] in body must be of type string: \"integer\""
            ]
        );
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

    #[test]
    fn status_accepts_names_and_records_storage_version() {
        let registry = Registry::with_builtins();
        let crd = defaulted_crd();
        let status = crd_status(&crd, &registry, "2024-01-01T00:00:00Z");
        assert_eq!(status["acceptedNames"]["plural"], "widgets");
        assert_eq!(status["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(status["storedVersions"], json!(["v1"]));
        let conds = status["conditions"].as_array().unwrap();
        assert_eq!(
            conds[0],
            json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
                   "reason": "NoConflicts", "message": "no conflicts found"})
        );
        assert_eq!(conds[1]["type"], "Established");
        assert_eq!(conds[1]["reason"], "InitialNamesAccepted");
        assert_eq!(conds[1]["message"], "the initial names have been accepted");
        // Serving its own kinds is not a conflict, and transition times are kept.
        for k in kinds_from_crd(&crd).unwrap() {
            registry.insert(k);
        }
        let mut with_status = crd.clone();
        with_status["status"] = status.clone();
        assert!(is_established(&with_status));
        let again = crd_status(&with_status, &registry, "2025-01-01T00:00:00Z");
        assert_eq!(again, status);
        // Stored versions accumulate.
        with_status["spec"]["versions"][0]["storage"] = json!(false);
        with_status["spec"]["versions"][1]["storage"] = json!(true);
        let moved = crd_status(&with_status, &registry, "2025-01-01T00:00:00Z");
        assert_eq!(moved["storedVersions"], json!(["v1", "v1beta1"]));
    }

    #[test]
    fn conflicting_names_are_not_accepted() {
        let registry = Registry::with_builtins();
        for k in kinds_from_crd(&defaulted_crd()).unwrap() {
            registry.insert(k);
        }
        let mut other = defaulted_crd();
        other["metadata"]["name"] = json!("gadgets.example.com");
        other["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                                         "listKind": "GadgetList", "shortNames": ["wd"]});
        let status = crd_status(&other, &registry, "t");
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["reason"], "ShortNamesConflict");
        assert_eq!(
            status["conditions"][0]["message"],
            "\"wd\" is already in use"
        );
        assert_eq!(status["conditions"][1]["status"], "False");
        assert_eq!(status["conditions"][1]["reason"], "NotAccepted");
        assert!(!is_established(&json!({"status": status})));
    }
}
