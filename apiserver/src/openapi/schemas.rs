//! Component schemas: k8s-openapi's `schemars` schemas of built-in kinds and of the bodies
//! of their subresources, CRD schemas of custom resources, list schemas, and the lookups
//! through `$ref`s and `x-kubernetes-group-version-kind`.

use std::sync::LazyLock;

use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::kinds::descriptor::RustType;
use crate::kinds::{KindInfo, Subresource};

pub(super) const REF_PREFIX: &str = "#/components/schemas/";

pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// The body a subresource takes and answers with when it is not the kind itself: the
/// `autoscaling/v1` `Scale` of `scale`, the `v1` `Binding` of `binding`, the
/// `policy/v1` `Eviction` of `eviction`, the `authentication.k8s.io/v1` `TokenRequest`
/// of `token`.
pub(super) struct SubresourceBody {
    /// Group, version and kind of the body.
    pub gvk: (&'static str, &'static str, &'static str),
    /// Its k8s-openapi type.
    pub rust_type: RustType,
}

/// The body of `sub` (`None` for `status`, `approval` and `ephemeralcontainers`, whose
/// body is the kind).
pub(super) fn subresource_body(sub: Subresource) -> Option<SubresourceBody> {
    use k8s_openapi::api;
    let (gvk, rust_type) = match sub {
        Subresource::Status
        | Subresource::EphemeralContainers
        | Subresource::Approval
        | Subresource::Log
        | Subresource::Proxy
        | Subresource::Exec
        | Subresource::Attach
        | Subresource::PortForward => {
            return None;
        }
        Subresource::Scale => (
            ("autoscaling", "v1", "Scale"),
            RustType::of::<api::autoscaling::v1::Scale>(),
        ),
        Subresource::Binding => (
            ("", "v1", "Binding"),
            RustType::of::<api::core::v1::Binding>(),
        ),
        Subresource::Eviction => (
            ("policy", "v1", "Eviction"),
            RustType::of::<api::policy::v1::Eviction>(),
        ),
        Subresource::Token => (
            ("authentication.k8s.io", "v1", "TokenRequest"),
            RustType::of::<api::authentication::v1::TokenRequest>(),
        ),
    };
    Some(SubresourceBody { gvk, rust_type })
}

/// The k8s-openapi schemas of every built-in kind and of the bodies of their
/// subresources and deletes (`Binding`, `Eviction`, `Scale`, `TokenRequest`,
/// `DeleteOptions`), with
/// everything they reference, by component name (`io.k8s.api.core.v1.PodSpec`). Built
/// once.
pub fn builtin_definitions() -> &'static Map<String, Value> {
    static DEFS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
        let mut generator = SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
        for d in crate::kinds::builtin::ALL {
            (d.rust_type.schema)(&mut generator);
        }
        for sub in [
            Subresource::Binding,
            Subresource::Eviction,
            Subresource::Scale,
            Subresource::Token,
        ] {
            if let Some(body) = subresource_body(sub) {
                (body.rust_type.schema)(&mut generator);
            }
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
