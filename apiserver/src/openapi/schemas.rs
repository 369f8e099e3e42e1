//! Component schemas: k8s-openapi's `schemars` schemas of built-in kinds and of the bodies
//! of their subresources, CRD schemas of custom resources, list schemas, and the lookups
//! through `$ref`s and `x-kubernetes-group-version-kind`.

use std::sync::LazyLock;

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::kinds::KindInfo;

pub(super) const REF_PREFIX: &str = "#/components/schemas/";

pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// Registers the k8s-openapi schema of a built-in kind (and what it references) with
/// `generator`; returns its component name.
pub(super) fn register_builtin(
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
        ("", "v1", "Binding") => reg::<api::core::v1::Binding>(generator),
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
            match kind.descriptor {
                Some(d) => {
                    (d.rust_type.schema)(&mut generator);
                }
                None => {
                    register_builtin(&mut generator, &kind.group, &kind.version, &kind.kind);
                }
            }
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

pub(super) fn gvk_ext(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

/// Adds `x-kubernetes-group-version-kind` to the component `name`.
pub(super) fn tag_gvk(schemas: &mut Map<String, Value>, name: &str, gvk: Value) {
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
pub(super) fn custom_schema(kind: &KindInfo) -> Value {
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
pub(super) fn list_schema(kind_ref: &str, description: &str) -> Value {
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

pub(super) fn find_kind_schema(schemas: &Value, kind: &KindInfo) -> Option<String> {
    let want = gvk_ext(&kind.group, &kind.version, &kind.kind);
    schemas.as_object()?.iter().find_map(|(name, s)| {
        s.get("x-kubernetes-group-version-kind")
            .and_then(|g| g.as_array())
            .filter(|a| a.contains(&want))
            .map(|_| name.clone())
    })
}

/// Follows `$ref` and single-element `allOf` wrappers.
pub(super) fn resolve<'a>(schemas: &'a Value, mut schema: &'a Value) -> &'a Value {
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
