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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::kinds::{KindInfo, Registry, Subresource};

const REF_PREFIX: &str = "#/components/schemas/";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

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

// ---------------------------------------------------------------------------------------
// Schemas

/// Registers the k8s-openapi schema of a built-in kind (and what it references) with
/// `generator`; returns its component name.
fn register_builtin(
    generator: &mut SchemaGenerator,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<String> {
    use k8s_openapi::api;
    fn reg<T: JsonSchema>(generator: &mut SchemaGenerator) -> Option<String> {
        generator.subschema_for::<T>();
        Some(T::schema_name().into_owned())
    }
    match (group, version, kind) {
        ("", "v1", "Namespace") => reg::<api::core::v1::Namespace>(generator),
        ("", "v1", "Pod") => reg::<api::core::v1::Pod>(generator),
        ("", "v1", "Node") => reg::<api::core::v1::Node>(generator),
        ("", "v1", "Service") => reg::<api::core::v1::Service>(generator),
        ("", "v1", "Endpoints") => reg::<api::core::v1::Endpoints>(generator),
        ("", "v1", "ConfigMap") => reg::<api::core::v1::ConfigMap>(generator),
        ("", "v1", "Secret") => reg::<api::core::v1::Secret>(generator),
        ("", "v1", "ServiceAccount") => reg::<api::core::v1::ServiceAccount>(generator),
        ("", "v1", "Event") => reg::<api::core::v1::Event>(generator),
        ("", "v1", "PersistentVolumeClaim") => reg::<api::core::v1::PersistentVolumeClaim>(generator),
        ("", "v1", "PersistentVolume") => reg::<api::core::v1::PersistentVolume>(generator),
        ("", "v1", "ReplicationController") => reg::<api::core::v1::ReplicationController>(generator),
        ("", "v1", "Binding") => reg::<api::core::v1::Binding>(generator),
        ("apps", "v1", "Deployment") => reg::<api::apps::v1::Deployment>(generator),
        ("apps", "v1", "ReplicaSet") => reg::<api::apps::v1::ReplicaSet>(generator),
        ("apps", "v1", "StatefulSet") => reg::<api::apps::v1::StatefulSet>(generator),
        ("apps", "v1", "DaemonSet") => reg::<api::apps::v1::DaemonSet>(generator),
        ("apps", "v1", "ControllerRevision") => reg::<api::apps::v1::ControllerRevision>(generator),
        ("batch", "v1", "Job") => reg::<api::batch::v1::Job>(generator),
        ("batch", "v1", "CronJob") => reg::<api::batch::v1::CronJob>(generator),
        ("discovery.k8s.io", "v1", "EndpointSlice") => reg::<api::discovery::v1::EndpointSlice>(generator),
        ("coordination.k8s.io", "v1", "Lease") => reg::<api::coordination::v1::Lease>(generator),
        ("events.k8s.io", "v1", "Event") => reg::<api::events::v1::Event>(generator),
        ("policy", "v1", "PodDisruptionBudget") => reg::<api::policy::v1::PodDisruptionBudget>(generator),
        ("policy", "v1", "Eviction") => reg::<api::policy::v1::Eviction>(generator),
        ("scheduling.k8s.io", "v1", "PriorityClass") => reg::<api::scheduling::v1::PriorityClass>(generator),
        ("storage.k8s.io", "v1", "StorageClass") => reg::<api::storage::v1::StorageClass>(generator),
        ("rbac.authorization.k8s.io", "v1", "Role") => reg::<api::rbac::v1::Role>(generator),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => reg::<api::rbac::v1::RoleBinding>(generator),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => reg::<api::rbac::v1::ClusterRole>(generator),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => {
            reg::<api::rbac::v1::ClusterRoleBinding>(generator)
        }
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => reg::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(generator),
        ("autoscaling", "v1", "Scale") => reg::<api::autoscaling::v1::Scale>(generator),
        _ => None,
    }
}

/// The k8s-openapi schemas of every built-in kind and of the bodies of their
/// subresources and deletes (`Binding`, `Eviction`, `Scale`, `DeleteOptions`), with
/// everything they reference, by component name (`io.k8s.api.core.v1.PodSpec`). Built
/// once.
pub fn builtin_definitions() -> &'static Map<String, Value> {
    static DEFS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
        let mut generator = SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
        for kind in crate::kinds::builtin_kinds() {
            register_builtin(&mut generator, &kind.group, &kind.version, &kind.kind);
        }
        for (g, v, k) in [
            ("", "v1", "Binding"),
            ("policy", "v1", "Eviction"),
            ("autoscaling", "v1", "Scale"),
        ] {
            register_builtin(&mut generator, g, v, k);
        }
        generator.take_definitions(true)
    });
    &DEFS
}

/// The component name of a custom resource's schema (`com.example.v1.Widget`): the
/// group reversed, then version and kind, as kube-apiserver names them.
pub fn custom_schema_name(kind: &KindInfo) -> String {
    let mut parts: Vec<&str> = kind.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), kind.version, kind.kind)
}

fn gvk_ext(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

/// Adds `x-kubernetes-group-version-kind` to the component `name`.
fn tag_gvk(schemas: &mut Map<String, Value>, name: &str, gvk: Value) {
    if let Some(Value::Object(s)) = schemas.get_mut(name) {
        let list = s
            .entry("x-kubernetes-group-version-kind")
            .or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut()
            && !a.contains(&gvk)
        {
            a.push(gvk);
        }
    }
}

/// A custom resource's component schema: the CRD schema with `apiVersion`, `kind` and
/// `metadata` (ObjectMeta) declared.
fn custom_schema(kind: &KindInfo) -> Value {
    let mut schema = kind
        .custom
        .as_ref()
        .and_then(|c| c.schema.clone())
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("type").or_insert(json!("object"));
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert(
                "apiVersion".into(),
                json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
            );
            p.insert(
                "kind".into(),
                json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
            );
            p.insert(
                "metadata".into(),
                json!({"allOf": [reference(OBJECT_META)], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
            );
        }
    }
    schema
}

/// The schema of a `<Kind>List`.
fn list_schema(kind_ref: &str, description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "items": {"type": "array", "items": reference(kind_ref), "description": "List of objects."},
            "metadata": {"allOf": [reference(LIST_META)], "description": "Standard list metadata."},
        },
    })
}

// ---------------------------------------------------------------------------------------
// Paths

fn camel(s: &str) -> String {
    s.split(['.', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn group_camel(group: &str) -> String {
    if group.is_empty() {
        "Core".into()
    } else {
        camel(group.trim_end_matches(".k8s.io"))
    }
}

fn query_param(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description,
           "schema": {"type": type_, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true,
           "schema": {"type": "string", "uniqueItems": true}})
}

fn dry_run() -> Value {
    query_param(
        "dryRun",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

fn field_manager() -> Value {
    query_param(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        "string",
    )
}

fn field_validation() -> Value {
    query_param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        "string",
    )
}

fn json_content(schema_ref: &str) -> Value {
    let schema = reference(schema_ref);
    json!({
        "application/json": {"schema": schema},
        "application/yaml": {"schema": schema},
        "application/vnd.kubernetes.protobuf": {"schema": schema},
    })
}

fn response(schema_ref: &str, codes: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    for (code, desc) in codes {
        r.insert(
            code.to_string(),
            json!({"description": desc, "content": json_content(schema_ref)}),
        );
    }
    r.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(r)
}

struct OpSpec<'a> {
    verb: &'a str,
    action: &'a str,
    id: String,
    description: String,
    gvk: Value,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
    tag: &'a str,
}

fn operation(op: OpSpec<'_>) -> Value {
    let mut m = Map::new();
    m.insert("tags".into(), json!([op.tag]));
    m.insert("description".into(), json!(op.description));
    m.insert("operationId".into(), json!(op.id));
    if !op.params.is_empty() {
        m.insert("parameters".into(), Value::Array(op.params));
    }
    if let Some(body) = op.body {
        m.insert("requestBody".into(), body);
    }
    m.insert("responses".into(), op.responses);
    m.insert("x-kubernetes-action".into(), json!(op.action));
    m.insert("x-kubernetes-group-version-kind".into(), op.gvk);
    let _ = op.verb;
    Value::Object(m)
}

fn body_of(schema_ref: &str) -> Value {
    json!({"content": {"*/*": {"schema": reference(schema_ref)}}, "required": true})
}

fn patch_body() -> Value {
    let patch = reference(PATCH);
    json!({"content": {
        "application/apply-patch+yaml": {"schema": patch},
        "application/json-patch+json": {"schema": patch},
        "application/merge-patch+json": {"schema": patch},
    }, "required": true})
}

/// Adds every path of `kind` (collection, item, subresources) to `paths`.
fn add_kind_paths(paths: &mut Map<String, Value>, kind: &KindInfo, kind_ref: &str, list_ref: &str) {
    let (g, v, k) = (
        kind.group.as_str(),
        kind.version.as_str(),
        kind.kind.as_str(),
    );
    let prefix = if g.is_empty() {
        format!("/api/{v}")
    } else {
        format!("/apis/{g}/{v}")
    };
    let tag_owned = format!("{}_{}", group_camel(g).to_lowercase(), v);
    let tag = tag_owned.as_str();
    let ns = if kind.namespaced { "Namespaced" } else { "" };
    let idbase = format!("{}{}", group_camel(g), camel(v));
    let gvk = gvk_ext(g, v, k);
    let (collection, item) = if kind.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", kind.plural),
        )
    } else {
        (
            format!("{prefix}/{}", kind.plural),
            format!("{prefix}/{}/{{name}}", kind.plural),
        )
    };
    let mut scope_params = vec![query_param(
        "pretty",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
        "string",
    )];
    if kind.namespaced {
        scope_params.insert(
            0,
            path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ),
        );
    }
    let list_params = vec![
        query_param(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
            "boolean",
        ),
        query_param(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
        ),
        query_param(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        query_param(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        query_param(
            "limit",
            "limit is a maximum number of responses to return for a list call.",
            "integer",
        ),
        query_param(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        ),
        query_param(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
            "string",
        ),
        query_param(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
            "boolean",
        ),
        query_param(
            "timeoutSeconds",
            "Timeout for the list/watch call.",
            "integer",
        ),
        query_param(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
    ];
    let write_params = vec![dry_run(), field_manager(), field_validation()];
    let mut patch_params = write_params.clone();
    patch_params.push(query_param(
        "force",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        "boolean",
    ));
    let delete_params = vec![
        dry_run(),
        query_param(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted.",
            "integer",
        ),
        query_param(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.",
            "string",
        ),
    ];

    let mut coll = Map::new();
    coll.insert(
        "get".into(),
        operation(OpSpec {
            verb: "get",
            action: "list",
            id: format!("list{idbase}{ns}{k}"),
            description: format!("list or watch objects of kind {k}"),
            gvk: gvk.clone(),
            params: list_params.clone(),
            body: None,
            responses: response(list_ref, &[("200", "OK")]),
            tag,
        }),
    );
    coll.insert(
        "post".into(),
        operation(OpSpec {
            verb: "post",
            action: "post",
            id: format!("create{idbase}{ns}{k}"),
            description: format!("create a {k}"),
            gvk: gvk.clone(),
            params: write_params.clone(),
            body: Some(body_of(kind_ref)),
            responses: response(
                kind_ref,
                &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            ),
            tag,
        }),
    );
    coll.insert(
        "delete".into(),
        operation(OpSpec {
            verb: "delete",
            action: "deletecollection",
            id: format!("deletecollection{idbase}{ns}{k}"),
            description: format!("delete collection of {k}"),
            gvk: gvk.clone(),
            params: delete_params.clone(),
            body: Some(json!({"content": {"*/*": {"schema": reference(DELETE_OPTIONS)}}})),
            responses: response(STATUS, &[("200", "OK")]),
            tag,
        }),
    );
    coll.insert("parameters".into(), Value::Array(scope_params.clone()));
    paths.insert(collection, Value::Object(coll));

    let mut item_params = vec![path_param("name", &format!("name of the {k}"))];
    item_params.extend(scope_params.iter().cloned());
    let mut it = Map::new();
    it.insert(
        "get".into(),
        operation(OpSpec {
            verb: "get",
            action: "get",
            id: format!("read{idbase}{ns}{k}"),
            description: format!("read the specified {k}"),
            gvk: gvk.clone(),
            params: vec![],
            body: None,
            responses: response(kind_ref, &[("200", "OK")]),
            tag,
        }),
    );
    it.insert(
        "put".into(),
        operation(OpSpec {
            verb: "put",
            action: "put",
            id: format!("replace{idbase}{ns}{k}"),
            description: format!("replace the specified {k}"),
            gvk: gvk.clone(),
            params: write_params.clone(),
            body: Some(body_of(kind_ref)),
            responses: response(kind_ref, &[("200", "OK"), ("201", "Created")]),
            tag,
        }),
    );
    it.insert(
        "patch".into(),
        operation(OpSpec {
            verb: "patch",
            action: "patch",
            id: format!("patch{idbase}{ns}{k}"),
            description: format!("partially update the specified {k}"),
            gvk: gvk.clone(),
            params: patch_params.clone(),
            body: Some(patch_body()),
            responses: response(kind_ref, &[("200", "OK"), ("201", "Created")]),
            tag,
        }),
    );
    it.insert(
        "delete".into(),
        operation(OpSpec {
            verb: "delete",
            action: "delete",
            id: format!("delete{idbase}{ns}{k}"),
            description: format!("delete a {k}"),
            gvk: gvk.clone(),
            params: delete_params,
            body: Some(json!({"content": {"*/*": {"schema": reference(DELETE_OPTIONS)}}})),
            responses: response(STATUS, &[("200", "OK"), ("202", "Accepted")]),
            tag,
        }),
    );
    it.insert("parameters".into(), Value::Array(item_params.clone()));
    paths.insert(item.clone(), Value::Object(it));

    if kind.namespaced {
        let mut all = Map::new();
        all.insert(
            "get".into(),
            operation(OpSpec {
                verb: "get",
                action: "list",
                id: format!("list{idbase}{k}ForAllNamespaces"),
                description: format!("list or watch objects of kind {k}"),
                gvk: gvk.clone(),
                params: list_params,
                body: None,
                responses: response(list_ref, &[("200", "OK")]),
                tag,
            }),
        );
        paths.insert(format!("{prefix}/{}", kind.plural), Value::Object(all));
    }

    for sub in &kind.subresources {
        let sub_path = format!("{item}/{}", sub.as_str());
        let mut m = Map::new();
        let suffix = camel(sub.as_str());
        match sub {
            Subresource::Status | Subresource::Scale => {
                let (sub_ref, sub_gvk) = if *sub == Subresource::Scale {
                    (
                        "io.k8s.api.autoscaling.v1.Scale".to_string(),
                        gvk_ext("autoscaling", "v1", "Scale"),
                    )
                } else {
                    (kind_ref.to_string(), gvk.clone())
                };
                for (verb, action, id, desc, params, body, codes) in [
                    (
                        "get",
                        "get",
                        "read",
                        "read",
                        vec![],
                        None,
                        &[("200", "OK")][..],
                    ),
                    (
                        "put",
                        "put",
                        "replace",
                        "replace",
                        write_params.clone(),
                        Some(body_of(&sub_ref)),
                        &[("200", "OK"), ("201", "Created")][..],
                    ),
                    (
                        "patch",
                        "patch",
                        "patch",
                        "partially update",
                        patch_params.clone(),
                        Some(patch_body()),
                        &[("200", "OK"), ("201", "Created")][..],
                    ),
                ] {
                    m.insert(
                        verb.into(),
                        operation(OpSpec {
                            verb,
                            action,
                            id: format!("{id}{idbase}{ns}{k}{suffix}"),
                            description: format!("{desc} {} of the specified {k}", sub.as_str()),
                            gvk: sub_gvk.clone(),
                            params,
                            body,
                            responses: response(&sub_ref, codes),
                            tag,
                        }),
                    );
                }
            }
            Subresource::Binding | Subresource::Eviction => {
                let (sub_ref, sub_gvk) = if *sub == Subresource::Binding {
                    ("io.k8s.api.core.v1.Binding", gvk_ext("", "v1", "Binding"))
                } else {
                    (
                        "io.k8s.api.policy.v1.Eviction",
                        gvk_ext("policy", "v1", "Eviction"),
                    )
                };
                m.insert(
                    "post".into(),
                    operation(OpSpec {
                        verb: "post",
                        action: "post",
                        id: format!("create{idbase}{ns}{k}{suffix}"),
                        description: format!("create {} of a {k}", sub.as_str()),
                        gvk: sub_gvk,
                        params: write_params.clone(),
                        body: Some(body_of(sub_ref)),
                        responses: response(
                            sub_ref,
                            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                        ),
                        tag,
                    }),
                );
            }
        }
        let mut params = vec![path_param(
            "name",
            &format!("name of the {}", sub_gvk_name(*sub, k)),
        )];
        params.extend(scope_params.iter().cloned());
        m.insert("parameters".into(), Value::Array(params));
        paths.insert(sub_path, Value::Object(m));
    }
}

fn sub_gvk_name(sub: Subresource, kind: &str) -> String {
    match sub {
        Subresource::Scale => "Scale".into(),
        Subresource::Binding => "Binding".into(),
        Subresource::Eviction => "Eviction".into(),
        Subresource::Status => kind.to_string(),
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
    let mut needs_scale = false;
    let mut extra: Vec<(&str, &str, &str)> = Vec::new();
    for kind in kinds {
        needs_scale |= kind.has_subresource(Subresource::Scale);
        if kind.has_subresource(Subresource::Binding) {
            extra.push(("", "v1", "Binding"));
        }
        if kind.has_subresource(Subresource::Eviction) {
            extra.push(("policy", "v1", "Eviction"));
        }
        if kind.is_custom() {
            custom.push((custom_schema_name(kind), custom_schema(kind), kind));
        } else if let Some(name) =
            register_builtin(&mut generator, &kind.group, &kind.version, &kind.kind)
        {
            roots.push((name, kind));
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
    if needs_scale {
        register_builtin(&mut generator, "autoscaling", "v1", "Scale");
    }
    for (g, v, k) in &extra {
        register_builtin(&mut generator, g, v, k);
    }
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
    if needs_scale {
        tag_gvk(
            &mut schemas,
            "io.k8s.api.autoscaling.v1.Scale",
            gvk_ext("autoscaling", "v1", "Scale"),
        );
    }
    for (g, v, k) in extra {
        let name = if k == "Binding" {
            "io.k8s.api.core.v1.Binding"
        } else {
            "io.k8s.api.policy.v1.Eviction"
        };
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

// ---------------------------------------------------------------------------------------
// OpenAPI v2

/// The content type `/openapi/v2` answers with (what kube-apiserver sends for the
/// protobuf document; Go's MIME parser rejects the `@` form clients ask for).
pub const OPENAPI_V2_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` (and `/swagger-2.0.0.pb-v1`): a protobuf `openapi_v2.Document` (gnostic)
/// with `swagger: "2.0"`, `info` and no definitions. kubectl 1.27 and 1.28 download it
/// before every `create`/`apply`/`explain` and fail without it; with no definitions they
/// use the v3 documents for field validation and explain, and their compiled-in patch
/// metadata for client-side apply, which is what they should use.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, b"v1.33.0");
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    field(&mut doc, 8, &[]);
    doc
}

// ---------------------------------------------------------------------------------------
// Unknown fields

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

fn find_kind_schema(schemas: &Value, kind: &KindInfo) -> Option<String> {
    let want = gvk_ext(&kind.group, &kind.version, &kind.kind);
    schemas.as_object()?.iter().find_map(|(name, s)| {
        s.get("x-kubernetes-group-version-kind")
            .and_then(|g| g.as_array())
            .filter(|a| a.contains(&want))
            .map(|_| name.clone())
    })
}

/// Follows `$ref` and single-element `allOf` wrappers.
fn resolve<'a>(schemas: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            match r.strip_prefix(REF_PREFIX).and_then(|n| schemas.get(n)) {
                Some(s) => schema = s,
                None => return schema,
            }
        } else if schema.get("properties").is_none()
            && let Some([only]) = schema
                .get("allOf")
                .and_then(|a| a.as_array())
                .map(|a| a.as_slice())
        {
            schema = only;
        } else {
            return schema;
        }
    }
    schema
}

fn walk_unknown(
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

/// A value Go's JSON decoder refuses for the built-in type it is decoded into.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeMismatch {
    /// `json: cannot unmarshal {value} into Go struct field {field} of type {go_type}`.
    Type {
        /// The JSON value's kind as Go names it (`string`, `number`, `number 2.5`, …).
        value: String,
        /// `DeploymentSpec.spec.replicas`: the enclosing struct and the field's path.
        field: String,
        /// The Go type (`int32`, `string`, `[]v1.Container`, `map[string]string`).
        go_type: String,
    },
    /// A `format: byte` string that is not base64.
    Base64 {
        /// The offending byte's offset.
        offset: usize,
    },
}

impl TypeMismatch {
    /// The message upstream's decoder gives.
    pub fn message(&self) -> String {
        match self {
            TypeMismatch::Type {
                value,
                field,
                go_type,
            } => format!(
                "json: cannot unmarshal {value} into Go struct field {field} of type {go_type}"
            ),
            TypeMismatch::Base64 { offset } => {
                format!("illegal base64 data at input byte {offset}")
            }
        }
    }
}

/// The first field of `obj` whose JSON type the schema of built-in `kind` (and so Go's
/// decoder) refuses: a string for an integer, a number for a string, an object for a
/// list, bad base64. `null` decodes as the zero value anywhere; quantities and
/// int-or-strings take numbers and strings; free-form fields take anything.
pub fn type_mismatch(registry: &Registry, kind: &KindInfo, obj: &Value) -> Option<TypeMismatch> {
    let doc = openapi_v3(registry, &kind.group, &kind.version)?;
    let schemas = doc.document.pointer("/components/schemas")?;
    let name = doc.schema_name(schemas, kind)?;
    let root = schemas.get(&name)?;
    let mut walk = TypeWalk {
        schemas,
        path: Vec::new(),
    };
    walk.check(root, obj, short_type_name(&name), 0)
}

fn short_type_name(component: &str) -> &str {
    component.rsplit('.').next().unwrap_or(component)
}

struct TypeWalk<'a> {
    schemas: &'a Value,
    /// Property names from the root (Go's error path leaves out indices and map keys).
    path: Vec<&'a str>,
}

impl<'a> TypeWalk<'a> {
    /// The Go type a schema decodes into, as Go's error names it.
    fn go_type(&self, schema: &'a Value, depth: usize) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(REF_PREFIX).unwrap_or(r);
            let target = self.schemas.get(name).unwrap_or(&Value::Null);
            if target.get("properties").is_some() {
                let package = name.rsplit('.').nth(1).unwrap_or("v1");
                return format!("{package}.{}", short_type_name(name));
            }
        }
        let schema = resolve(self.schemas, schema);
        if depth > 8 {
            return "interface {}".into();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => match schema.get("format").and_then(Value::as_str) {
                Some("int32") => "int32".into(),
                Some("int64") => "int64".into(),
                _ => "int".into(),
            },
            Some("number") => "float64".into(),
            Some("boolean") => "bool".into(),
            Some("string") if schema.get("format").and_then(Value::as_str) == Some("byte") => {
                "[]uint8".into()
            }
            Some("string") => "string".into(),
            Some("array") => match schema.get("items") {
                Some(items) => format!("[]{}", self.go_type(items, depth + 1)),
                None => "[]interface {}".into(),
            },
            Some("object") => match schema.get("additionalProperties").filter(|a| a.is_object()) {
                Some(ap) => format!("map[string]{}", self.go_type(ap, depth + 1)),
                None => "map[string]interface {}".into(),
            },
            _ => "interface {}".into(),
        }
    }

    fn mismatch(&self, value: String, strukt: &str, schema: &'a Value) -> Option<TypeMismatch> {
        Some(TypeMismatch::Type {
            value,
            field: format!("{strukt}.{}", self.path.join(".")),
            go_type: self.go_type(schema, 0),
        })
    }

    fn check(
        &mut self,
        schema_in: &'a Value,
        v: &'a Value,
        strukt: &str,
        depth: usize,
    ) -> Option<TypeMismatch> {
        if depth > 64 || v.is_null() {
            return None;
        }
        let own_ref = schema_in
            .get("$ref")
            .or_else(|| {
                schema_in
                    .get("allOf")
                    .and_then(|a| a.get(0))
                    .and_then(|a| a.get("$ref"))
            })
            .and_then(Value::as_str);
        if own_ref.is_some_and(|r| r.ends_with(".api.resource.Quantity")) {
            // Quantity.UnmarshalJSON takes a string or any number (`cpu: 0.5`).
            return match v {
                Value::String(_) | Value::Number(_) => None,
                other => self.mismatch(json_kind(other).into(), strukt, schema_in),
            };
        }
        let schema = resolve(self.schemas, schema_in);
        let flag = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
        if flag("x-kubernetes-int-or-string") {
            return match v {
                Value::String(_) => None,
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::Number(n) => self.mismatch(format!("number {n}"), strukt, schema_in),
                other => self.mismatch(json_kind(other).into(), strukt, schema_in),
            };
        }
        let kind_name = |v: &Value| json_kind(v).to_string();
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                Value::Number(n) => self.mismatch(format!("number {n}"), strukt, schema_in),
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("number") => match v {
                Value::Number(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("boolean") => match v {
                Value::Bool(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("string") => match v {
                Value::String(s)
                    if schema.get("format").and_then(Value::as_str) == Some("byte") =>
                {
                    base64_error(s).map(|offset| TypeMismatch::Base64 { offset })
                }
                Value::String(_) => None,
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("array") => match v {
                Value::Array(items) => {
                    let item_schema = schema.get("items")?;
                    items
                        .iter()
                        .find_map(|item| self.check(item_schema, item, strukt, depth + 1))
                }
                other => self.mismatch(kind_name(other), strukt, schema_in),
            },
            Some("object") | None => {
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                let Value::Object(map) = v else {
                    if props.is_some() || additional.is_some() {
                        return self.mismatch(kind_name(v), strukt, schema_in);
                    }
                    // Free-form (RawExtension, apiextensions JSON): Go keeps any JSON.
                    return None;
                };
                // The struct a property error names is this schema's Go type.
                let own = own_ref.map(short_type_name).unwrap_or(strukt).to_string();
                for (key, child) in map {
                    if let Some(cs) = props.and_then(|p| p.get(key)) {
                        self.path.push(key.as_str());
                        let found = self.check(cs, child, &own, depth + 1);
                        self.path.pop();
                        if found.is_some() {
                            return found;
                        }
                    } else if let Some(ap) = additional
                        && let Some(m) = self.check(ap, child, strukt, depth + 1)
                    {
                        return Some(m);
                    }
                }
                None
            }
            _ => None,
        }
    }
}

/// Go's JSON names for a value's kind.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where Go's `base64.StdEncoding` (which skips `\r` and `\n`) fails on `s`, if it does.
fn base64_error(s: &str) -> Option<usize> {
    use base64::Engine;
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    match base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()) {
        Ok(_) => None,
        Err(base64::DecodeError::InvalidByte(offset, _))
        | Err(base64::DecodeError::InvalidLastSymbol(offset, _)) => Some(offset),
        Err(_) => Some(clean.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{CustomKind, KindSource};

    fn widget(schema: Value) -> KindInfo {
        KindInfo {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            subresources: vec![Subresource::Status, Subresource::Scale],
            source: KindSource::Custom {
                crd_name: "widgets.example.com".into(),
            },
            custom: Some(Arc::new(CustomKind {
                schema: Some(schema),
                printer_columns: vec![],
                storage_version: "v1".into(),
                scale: None,
                list_kind: "WidgetList".into(),
                deprecated: false,
                deprecation_warning: None,
                selectable_fields: Vec::new(),
            })),
        }
    }

    fn widget_schema(extra: &str) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer"}, extra: {"type": "string"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}})
    }

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
            assert!(
                supports_field_validation(&doc, &k.group, &k.version, &k.kind),
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

    #[test]
    fn openapi_v2_is_a_minimal_gnostic_document() {
        // Decode the protobuf by hand: (tag, bytes) pairs of length-delimited fields.
        fn fields(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
            let mut out = Vec::new();
            while !b.is_empty() {
                let tag = b[0];
                let len = b[1] as usize;
                out.push((tag, b[2..2 + len].to_vec()));
                b = &b[2 + len..];
            }
            out
        }
        let doc = fields(&openapi_v2_protobuf());
        assert_eq!(doc[0], (0x0a, b"2.0".to_vec()));
        assert_eq!(doc[1].0, 0x12);
        assert_eq!(
            fields(&doc[1].1),
            [(0x0a, b"Kubernetes".to_vec()), (0x12, b"v1.33.0".to_vec())]
        );
        assert_eq!(doc[2], (0x42, vec![]));
        assert!(!OPENAPI_V2_CONTENT_TYPE.contains('@'));
    }
}
