//! The API server's side of PATCH: picks the patch algorithm of `capstan-patch` for a
//! request's content type and the schema of the kind ([`KindSchema`]), and maps the
//! library's errors onto Kubernetes `Status`es. No patch semantics live here; server-side
//! apply is [`crate::ops::Cluster::apply`].

use capstan_patch::{json_patch, merge, strategic};
use serde_json::Value;

use super::request::BodyFormat;
use crate::ops::kind_schema::KindSchema;
use crate::status::ApiError;

/// Applies a merge, JSON or strategic merge patch in `format` to `target`.
/// Server-side apply goes through [`crate::ops::Cluster::apply`] instead.
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

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_patch::schema::OpenApiMeta;
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
}
