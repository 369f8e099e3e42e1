//! CustomResourceDefinitions: the kinds a CRD serves ([`kinds_from_crd`]); CRD defaulting
//! ([`defaults`]) and validation ([`validation`]); the status the server writes for a CRD
//! ([`status`]); custom resources' structural-schema defaulting, validation and pruning
//! ([`schema`]).

pub mod defaults;
pub mod schema;
pub mod status;
#[cfg(test)]
mod testing;
pub mod validation;

use std::sync::Arc;

use serde_json::Value;

use crate::json::{str_at, strings_at};
use crate::kinds::{CustomKind, KindInfo, KindSource, PrinterColumn, ScalePaths, Subresource};

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
            descriptor: None,
        });
    }
    if out.is_empty() {
        return Err(CrdError::NoServedVersion);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::testing::defaulted_crd;
    use serde_json::json;

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
}
