//! `/openapi/v3`: the index of group-versions and one OpenAPI 3.0 document per
//! group-version, built from k8s-openapi's `schemars` schemas for built-in kinds and from
//! CRD schemas for custom resources. kubectl reads these to decide whether the server
//! does field validation (the `patch` operation's `fieldValidation` parameter, found by
//! `x-kubernetes-group-version-kind`) and for `kubectl explain` (component schemas
//! carrying `x-kubernetes-group-version-kind`).
//!
//! The documents deliberately do not list `application/strategic-merge-patch+json` in a
//! patch operation's request body: k8s-openapi's schemas carry no
//! `x-kubernetes-patch-merge-key` metadata, so kubectl's client-side apply would compute
//! list-replacing patches from them; without it kubectl falls back to its compiled-in
//! patch metadata for built-in kinds and to merge patches for custom resources, as it
//! does against real clusters whose documents it cannot use.
//!
//! Documents are cached per group-version and rebuilt when the kinds served there change;
//! each carries a `?hash=` (SHA-256 of the document) in the index.

pub mod decode;
pub mod fields;
mod paths;
pub mod schemas;
#[cfg(test)]
mod testing;
pub mod v2;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use k8s_openapi::schemars::generate::SchemaSettings;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::kinds::{KindInfo, Registry};

use self::paths::{add_kind_paths, group_camel};
use self::schemas::{
    DELETE_OPTIONS, PATCH, STATUS, SubresourceBody, custom_schema, custom_schema_name,
    find_kind_schema, gvk_ext, list_schema, subresource_body, tag_gvk,
};

/// A built group-version document with its hash.
#[derive(Debug, Clone)]
pub struct OpenApiDocument {
    /// The OpenAPI 3.0 document.
    pub document: Arc<Value>,
    /// Uppercase hex SHA-256 of the serialized document (the `?hash=` value and a good
    /// `ETag`).
    pub hash: String,
    /// The document serialized as JSON, ready to send.
    pub bytes: Arc<Vec<u8>>,
    /// Component schema name of each built-in kind in the document, by kind.
    schema_names: Arc<HashMap<String, String>>,
}

struct CacheEntry {
    fingerprint: u64,
    doc: OpenApiDocument,
}

static CACHE: LazyLock<Mutex<HashMap<(String, String), CacheEntry>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The index path of a group-version (`api/v1`, `apis/apps/v1`).
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}}`
/// for every served group-version.
pub fn openapi_v3_index(registry: &Registry) -> Value {
    let mut gvs: Vec<(String, String)> = registry
        .all()
        .iter()
        .map(|k| (k.group.clone(), k.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    let mut paths = Map::new();
    for (g, v) in gvs {
        if let Some(doc) = openapi_v3(registry, &g, &v) {
            let path = gv_path(&g, &v);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)}),
            );
        }
    }
    json!({"paths": paths})
}

/// The OpenAPI 3.0 document for `group`/`version` (`None` when nothing is served there).
pub fn openapi_v3_document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    openapi_v3(registry, group, version).map(|d| (*d.document).clone())
}

/// The cached document for `group`/`version` with its hash and serialized bytes, built
/// on first use and rebuilt when the kinds served there change.
pub fn openapi_v3(registry: &Registry, group: &str, version: &str) -> Option<OpenApiDocument> {
    // Every write with field validation reads the document: the registry keeps the
    // fingerprint of each group-version, so a cache hit costs a lookup.
    let fingerprint = registry.fingerprint(group, version)?;
    let key = (group.to_string(), version.to_string());
    if let Some(entry) = CACHE.lock().get(&key)
        && entry.fingerprint == fingerprint
    {
        return Some(entry.doc.clone());
    }
    let kinds = registry.kinds_in(group, version);
    if kinds.is_empty() {
        return None;
    }
    let document = build_document(group, version, &kinds);
    let bytes = serde_json::to_vec(&document).unwrap_or_default();
    let hash = hex_upper(&Sha256::digest(&bytes));
    let schema_names = document
        .pointer("/components/schemas")
        .map(|schemas| {
            kinds
                .iter()
                .filter(|k| !k.is_custom())
                .filter_map(|k| Some((k.kind.clone(), find_kind_schema(schemas, k)?)))
                .collect()
        })
        .unwrap_or_default();
    let doc = OpenApiDocument {
        document: Arc::new(document),
        hash,
        bytes: Arc::new(bytes),
        schema_names: Arc::new(schema_names),
    };
    CACHE.lock().insert(
        key,
        CacheEntry {
            fingerprint,
            doc: doc.clone(),
        },
    );
    Some(doc)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl OpenApiDocument {
    /// The component schema of a built-in kind (looked up once, when the document
    /// was built).
    fn schema_name(&self, schemas: &Value, kind: &KindInfo) -> Option<String> {
        match self.schema_names.get(&kind.kind) {
            Some(n) => Some(n.clone()),
            None => find_kind_schema(schemas, kind),
        }
    }
}

/// Builds (uncached) the document for one group-version from the kinds served there;
/// [`openapi_v3`] caches its result.
pub fn build_document(group: &str, version: &str, kinds: &[Arc<KindInfo>]) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    // Types every document references.
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>();
    let mut roots: Vec<(String, &KindInfo)> = Vec::new();
    let mut custom: Vec<(String, Value, &KindInfo)> = Vec::new();
    let mut bodies: Vec<SubresourceBody> = Vec::new();
    for kind in kinds {
        for body in kind
            .subresources
            .iter()
            .filter_map(|s| subresource_body(*s))
        {
            if !bodies.iter().any(|b| b.gvk == body.gvk) {
                bodies.push(body);
            }
        }
        if kind.is_custom() {
            custom.push((custom_schema_name(kind), custom_schema(kind), kind));
        } else if let Some(d) = kind.descriptor {
            roots.push(((d.rust_type.schema)(&mut generator), kind));
        } else {
            // A built-in kind without a compiled schema: describe it loosely.
            let name = format!(
                "io.capstan.{}.{}.{}",
                group_camel(&kind.group).to_lowercase(),
                kind.version,
                kind.kind
            );
            custom.push((
                name,
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                kind,
            ));
        }
    }
    let body_names: Vec<(String, (&str, &str, &str))> = bodies
        .iter()
        .map(|b| ((b.rust_type.schema)(&mut generator), b.gvk))
        .collect();
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        PATCH.into(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    for (name, schema, _) in &custom {
        schemas.insert(name.clone(), schema.clone());
    }
    let mut paths = Map::new();
    let mut all: Vec<(String, &KindInfo)> = roots;
    all.extend(custom.iter().map(|(n, _, k)| (n.clone(), *k)));
    all.sort_by(|a, b| a.1.plural.cmp(&b.1.plural));
    for (name, kind) in &all {
        let list_kind = kind.list_kind();
        let list_name = match name.rsplit_once('.') {
            Some((prefix, _)) => format!("{prefix}.{list_kind}"),
            None => list_kind.clone(),
        };
        schemas.insert(
            list_name.clone(),
            list_schema(name, &format!("{list_kind} is a list of {}", kind.kind)),
        );
        tag_gvk(
            &mut schemas,
            name,
            gvk_ext(&kind.group, &kind.version, &kind.kind),
        );
        tag_gvk(
            &mut schemas,
            &list_name,
            gvk_ext(&kind.group, &kind.version, &list_kind),
        );
        add_kind_paths(&mut paths, kind, name, &list_name);
    }
    for (name, (g, v, k)) in &body_names {
        tag_gvk(&mut schemas, name, gvk_ext(g, v, k));
    }
    tag_gvk(&mut schemas, STATUS, gvk_ext("", "v1", "Status"));
    tag_gvk(
        &mut schemas,
        DELETE_OPTIONS,
        gvk_ext(group, version, "DeleteOptions"),
    );
    // Deterministic order for a stable hash.
    let schemas: BTreeMap<String, Value> = schemas.into_iter().collect();
    let paths: BTreeMap<String, Value> = paths.into_iter().collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}
            }
        },
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schemas::{REF_PREFIX, resolve};
    use crate::openapi::testing::{widget, widget_schema};

    /// What kubectl's QueryParamVerifierV3 does: find the PATCH operation for the GVK and
    /// look for the fieldValidation parameter.
    fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let want = gvk_ext(group, version, kind);
        doc["paths"].as_object().unwrap().values().any(|p| {
            p.get("patch").is_some_and(|op| {
                op["x-kubernetes-group-version-kind"] == want
                    && op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x["name"] == "fieldValidation")
            })
        })
    }

    #[test]
    fn index_lists_every_group_version_with_hash() {
        let r = Registry::with_builtins();
        let index = openapi_v3_index(&r);
        let paths = index["paths"].as_object().unwrap();
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/apiextensions.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
        ] {
            let url = paths[gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
            assert_eq!(url.len(), format!("/openapi/v3/{gv}?hash=").len() + 64);
        }
        assert!(!paths.contains_key("apis/example.com/v1"));
    }

    #[test]
    fn documents_support_field_validation_for_every_builtin_kind() {
        let r = Registry::with_builtins();
        for k in r.all() {
            let doc = openapi_v3_document(&r, &k.group, &k.version).unwrap();
            assert_eq!(doc["openapi"], "3.0.0");
            // Kinds computed on read (ComponentStatuses) have no patch operation.
            assert_eq!(
                supports_field_validation(&doc, &k.group, &k.version, &k.kind),
                !k.read_only(),
                "{}",
                k.kind
            );
            // The kind's component schema carries its GVK, as kubectl explain looks it up.
            let schemas = &doc["components"]["schemas"];
            let name =
                find_kind_schema(schemas, &k).unwrap_or_else(|| panic!("no schema for {}", k.kind));
            assert!(schemas[&name]["properties"].is_object(), "{name}");
            // Patch bodies never advertise strategic merge patch (see the module docs).
            for p in doc["paths"].as_object().unwrap().values() {
                if let Some(op) = p.get("patch") {
                    assert!(
                        op["requestBody"]["content"]
                            .get("application/strategic-merge-patch+json")
                            .is_none()
                    );
                }
            }
        }
    }

    /// Resolves the schema kubectl explain would show for a field path.
    fn explain<'a>(doc: &'a Value, gvk: &Value, path: &[&str]) -> &'a Value {
        let schemas = &doc["components"]["schemas"];
        let mut s = schemas
            .as_object()
            .unwrap()
            .values()
            .find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|a| a.contains(gvk))
            })
            .expect("kind schema");
        for field in path {
            s = resolve(schemas, s);
            s = &s["properties"][*field];
            assert!(!s.is_null(), "field {field} missing");
        }
        resolve(schemas, s)
    }

    #[test]
    fn explain_deployment_spec_resolves_through_refs() {
        let r = Registry::with_builtins();
        let doc = openapi_v3_document(&r, "apps", "v1").unwrap();
        // The path kubectl explain's template searches carries the GVK.
        let gvk = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]["x-kubernetes-group-version-kind"];
        assert_eq!(
            *gvk,
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        let spec = explain(&doc, gvk, &["spec"]);
        assert!(
            spec["description"]
                .as_str()
                .unwrap()
                .starts_with("DeploymentSpec")
        );
        for f in ["replicas", "selector", "template", "strategy"] {
            assert!(spec["properties"].get(f).is_some(), "{f}");
        }
        let containers = explain(&doc, gvk, &["spec", "template", "spec", "containers"]);
        assert_eq!(containers["type"], "array");
        // Refs with siblings are wrapped in allOf as in kube-apiserver's documents.
        let raw =
            &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"];
        assert!(
            raw["allOf"][0]["$ref"]
                .as_str()
                .unwrap()
                .starts_with(REF_PREFIX)
        );
        // Every $ref resolves within the document.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let name = target
                .strip_prefix(REF_PREFIX)
                .unwrap_or_else(|| panic!("bad ref {target}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling {name}"
            );
        }
        // Subresources: scale answers with autoscaling/v1 Scale.
        let scale =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
        assert!(doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
    }

    #[test]
    fn core_document_has_pod_subresources_and_cluster_scoped_paths() {
        let r = Registry::with_builtins();
        let doc = openapi_v3_document(&r, "", "v1").unwrap();
        let paths = &doc["paths"];
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]["x-kubernetes-group-version-kind"]
                ["kind"],
            "Binding"
        );
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]["x-kubernetes-group-version-kind"]
                ["group"],
            "policy"
        );
        assert!(paths["/api/v1/nodes/{name}"]["patch"].is_object());
        assert!(paths["/api/v1/pods"]["get"].is_object());
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["operationId"],
            "patchCoreV1NamespacedPod"
        );
        let list = &doc["components"]["schemas"]["io.k8s.api.core.v1.PodList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "PodList"
        );
    }

    #[test]
    fn custom_resources_get_documents_and_hash_changes_with_schema() {
        let r = Registry::with_builtins();
        r.insert(widget(widget_schema("color")));
        let first = openapi_v3(&r, "example.com", "v1").unwrap();
        let doc = &first.document;
        assert!(supports_field_validation(
            doc,
            "example.com",
            "v1",
            "Widget"
        ));
        let schema = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            schema["x-kubernetes-group-version-kind"][0],
            gvk_ext("example.com", "v1", "Widget")
        );
        assert!(schema["properties"]["metadata"].is_object());
        assert_eq!(
            doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"]["get"]
                ["x-kubernetes-group-version-kind"]["kind"],
            "Scale"
        );
        // Cached: same hash while nothing changes.
        assert_eq!(
            openapi_v3(&r, "example.com", "v1").unwrap().hash,
            first.hash
        );
        r.insert(widget(widget_schema("shade")));
        let second = openapi_v3(&r, "example.com", "v1").unwrap();
        assert_ne!(second.hash, first.hash);
        let index = openapi_v3_index(&r);
        assert!(
            index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .ends_with(&second.hash)
        );
    }
}
