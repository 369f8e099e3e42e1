//! The API server's side of PATCH: picks the patch algorithm of `capstan-patch` for a
//! request's content type and the schema of the kind (built-in patch metadata, or the
//! CRD's OpenAPI schema), and maps the library's errors onto Kubernetes `Status`es.
//! No patch semantics live here.

use capstan_patch::apply::{ApplyError, Conflict};
use capstan_patch::schema::{NoMeta, OpenApiMeta};
use capstan_patch::{PatchMeta, json_patch, merge, strategic};
use serde_json::{Value, json};

use super::request::BodyFormat;
use crate::kinds::KindInfo;
use crate::status::ApiError;

/// The patch schema of a kind: built-in struct tags, a CRD's OpenAPI schema, or none.
pub enum KindSchema {
    /// A built-in kind's transcribed patch metadata.
    Builtin(&'static dyn PatchMeta),
    /// A custom resource's `openAPIV3Schema`.
    Custom(Box<OpenApiMeta>),
    /// No metadata (lists atomic, objects merged).
    Untyped,
}

impl KindSchema {
    /// The schema of `kind` (its CRD schema for custom resources).
    pub fn of(kind: &KindInfo) -> KindSchema {
        if let Some(custom) = kind.custom.as_ref() {
            return match custom.schema.as_ref() {
                Some(s) => KindSchema::Custom(Box::new(OpenApiMeta::from_schema(s))),
                None => KindSchema::Untyped,
            };
        }
        match capstan_patch::builtin_meta::builtin_patch_meta(&kind.group, &kind.kind) {
            Some(m) => KindSchema::Builtin(m),
            None => KindSchema::Untyped,
        }
    }

    /// The `autoscaling/v1` `Scale` schema.
    pub fn scale() -> KindSchema {
        match capstan_patch::builtin_meta::builtin_patch_meta("autoscaling", "Scale") {
            Some(m) => KindSchema::Builtin(m),
            None => KindSchema::Untyped,
        }
    }

    /// The lookup the patch algorithms take.
    pub fn meta(&self) -> &dyn PatchMeta {
        match self {
            KindSchema::Builtin(m) => *m,
            KindSchema::Custom(m) => m.as_ref(),
            KindSchema::Untyped => &NoMeta,
        }
    }

    /// Whether strategic merge patch is served (built-in kinds only, as upstream).
    fn strategic(&self) -> bool {
        !matches!(self, KindSchema::Custom(_)) && !matches!(self, KindSchema::Untyped)
    }
}

/// Applies a merge, JSON or strategic merge patch in `format` to `target`.
/// Server-side apply goes through [`apply_error`]'s caller instead.
pub fn apply(
    format: BodyFormat,
    target: &Value,
    patch: &Value,
    schema: &KindSchema,
) -> Result<Value, ApiError> {
    match format {
        BodyFormat::MergePatch => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            Ok(merge::apply(target, patch))
        }
        BodyFormat::StrategicMergePatch => {
            if !schema.strategic() {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic::apply(target, patch, schema.meta()).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })
        }
        BodyFormat::JsonPatch => json_patch::apply(target, patch).map_err(|e| match e {
            json_patch::JsonPatchError::Malformed(_) => ApiError::bad_request(format!(
                "the server rejected our request due to an error in our request: {e}"
            )),
            json_patch::JsonPatchError::Op { .. } => ApiError::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {e}"),
            ),
        }),
        BodyFormat::ApplyPatch => Err(ApiError::unsupported_media("application/apply-patch+yaml")),
        BodyFormat::Json | BodyFormat::Yaml | BodyFormat::Protobuf => {
            Err(ApiError::unsupported_media("application/json"))
        }
    }
}

/// Maps a server-side apply or managed-fields error onto upstream's `Status`: conflicts
/// are `409 Conflict` with one `FieldManagerConflict` cause per field.
pub fn apply_error(e: ApplyError, kind: &KindInfo, name: &str) -> ApiError {
    match e {
        ApplyError::Conflicts(ref conflicts) => {
            let mut err = ApiError::new(409, "Conflict", e.to_string());
            err.details = Some(json!({
                "name": name,
                "group": kind.group,
                "kind": kind.plural,
                "causes": conflicts.iter().map(cause).collect::<Vec<_>>(),
            }));
            err
        }
        ApplyError::Invalid(msg) => ApiError::new(422, "Invalid", msg),
    }
}

fn cause(c: &Conflict) -> Value {
    json!({
        "reason": "FieldManagerConflict",
        "message": c.cause_message(),
        "field": c.field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> KindSchema {
        KindSchema::Builtin(
            capstan_patch::builtin_meta::builtin_patch_meta("apps", "Deployment").unwrap(),
        )
    }

    #[test]
    fn content_types_map_to_statuses() {
        let t = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let p = json!({"metadata": {"labels": {"a": null, "c": "3"}}});
        let r = apply(BodyFormat::MergePatch, &t, &p, &deployment()).unwrap();
        assert_eq!(r["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        let p = json!([{"op": "test", "path": "/spec/replicas", "value": 9}]);
        let e = apply(BodyFormat::JsonPatch, &t, &p, &deployment()).unwrap_err();
        assert_eq!(e.code, 422);
        let e = apply(BodyFormat::JsonPatch, &t, &json!({}), &deployment()).unwrap_err();
        assert_eq!(e.code, 400);
        let e = apply(BodyFormat::MergePatch, &t, &json!([1]), &deployment()).unwrap_err();
        assert_eq!(e.code, 400);
        let crd = KindSchema::Custom(Box::new(OpenApiMeta::from_schema(&json!({}))));
        let e = apply(BodyFormat::StrategicMergePatch, &t, &json!({}), &crd).unwrap_err();
        assert_eq!(e.code, 415);
    }

    #[test]
    fn strategic_patch_uses_builtin_merge_keys() {
        let t = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]}
        ]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx:2"}
        ]}}}});
        let r = apply(BodyFormat::StrategicMergePatch, &t, &p, &deployment()).unwrap();
        let c = &r["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2");
        assert_eq!(c["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn every_builtin_kind_serves_strategic_merge_patch() {
        for k in crate::kinds::builtin_kinds() {
            assert!(
                matches!(KindSchema::of(&k), KindSchema::Builtin(_)),
                "{}/{} has no patch metadata",
                k.group,
                k.kind
            );
        }
    }

    #[test]
    fn conflicts_become_409_with_causes() {
        let kinds = crate::kinds::builtin_kinds();
        let kind = kinds.iter().find(|k| k.kind == "Deployment").unwrap();
        let e = apply_error(
            ApplyError::Conflicts(vec![Conflict {
                manager: "\"a\"".into(),
                field: ".spec.replicas".into(),
            }]),
            kind,
            "web",
        );
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        let d = e.details.unwrap();
        assert_eq!(d["causes"][0]["reason"], "FieldManagerConflict");
        assert_eq!(d["causes"][0]["field"], ".spec.replicas");
        assert_eq!(d["kind"], "deployments");
    }
}
