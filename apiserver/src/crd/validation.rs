//! `ValidateCustomResourceDefinition` and its update rules.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{str_at, strings_at};
use crate::names::{is_dns1035_label, is_dns1123_subdomain};

pub(super) fn dns1035(value: &str, field: &str, errs: &mut Vec<FieldError>) {
    for m in is_dns1035_label(value) {
        errs.push(FieldError::invalid(field, json!(value), &m));
    }
}

/// [`validate_crd`] as the CRD kind's validator.
pub fn validate(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    errs.extend(validate_crd(new, old));
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
pub(super) fn check_structural(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::testing::defaulted_crd;

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
}
