//! Decoding a built-in kind's object into its k8s-openapi type, as kube-apiserver decodes
//! every body into the Go type before it validates or stores it: a field of the wrong
//! JSON type (`"replicas": "two"`, a number as a ConfigMap value, bad base64 in a
//! Secret) is a `400 BadRequest` naming the field, never stored where typed clients
//! could not read it back.
//!
//! The typed decode is the fast check. k8s-openapi also insists on fields upstream's
//! OpenAPI marks required, which Go's decoder does not (validation answers those with a
//! 422 naming the field, or accepts them), so when the typed decode fails the object's
//! OpenAPI schema decides: only a JSON type that Go's decoder would refuse is an error.

use serde_json::Value;

use crate::kinds::{KindInfo, Registry};
use crate::openapi::decode::{TypeMismatch, type_mismatch};
use crate::status::ApiError;

/// Decodes `obj` as the k8s-openapi type of `kind`; `None` for kinds without one
/// (custom resources). The error is serde's message.
fn typed_decode(kind: &KindInfo, obj: &Value) -> Option<Result<(), String>> {
    kind.descriptor.map(|d| (d.rust_type.decode)(obj))
}

/// Upstream's decode error: `Deployment in version "v1" cannot be handled as a
/// Deployment: json: cannot unmarshal string into Go struct field
/// DeploymentSpec.spec.replicas of type int32`.
fn decode_error(kind: &KindInfo, m: &TypeMismatch) -> ApiError {
    ApiError::bad_request(format!(
        "{k} in version \"{v}\" cannot be handled as a {k}: {e}",
        k = kind.kind,
        v = kind.version,
        e = m.message()
    ))
}

/// The first field Go's decoder would refuse in `obj`, if any (see the module docs).
fn mismatch(registry: &Registry, kind: &KindInfo, obj: &Value) -> Option<TypeMismatch> {
    match typed_decode(kind, obj) {
        None | Some(Ok(())) => None,
        Some(Err(e)) => {
            let m = type_mismatch(registry, kind, obj);
            if m.is_none() {
                tracing::trace!(kind = %kind.kind, error = %e, "typed decode refused what Go accepts");
            }
            m
        }
    }
}

/// Checks that a request body decodes as its built-in kind's type; a 400 naming the
/// first field Go's decoder would refuse otherwise.
pub fn check(registry: &Registry, kind: &KindInfo, obj: &Value) -> Result<(), ApiError> {
    match mismatch(registry, kind, obj) {
        Some(m) => Err(decode_error(kind, &m)),
        None => Ok(()),
    }
}

/// Checks the result of a merge, JSON or strategic merge patch as [`check`] does; upstream
/// answers a patched object its type refuses with a 422 on the field `patch` carrying
/// the patched JSON.
pub fn check_patched(registry: &Registry, kind: &KindInfo, obj: &Value) -> Result<(), ApiError> {
    let Some(m) = mismatch(registry, kind, obj) else {
        return Ok(());
    };
    let patched = serde_json::to_string(obj).unwrap_or_default();
    let quoted = serde_json::to_string(&patched).unwrap_or_default();
    Err(ApiError::invalid(
        "",
        "",
        "",
        vec![(
            "FieldValueInvalid".into(),
            "patch".into(),
            format!("Invalid value: {quoted}: {}", m.message()),
        )],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_of(group: &str, plural: &str, obj: Value) -> Result<(), ApiError> {
        let registry = Registry::with_builtins();
        let k = registry.lookup(group, "v1", plural).unwrap();
        check(&registry, &k, &obj)
    }

    fn deployment(replicas: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}}}})
    }

    #[test]
    fn wrong_json_types_are_400_naming_the_field() {
        let e = check_of("apps", "deployments", deployment(json!("two"))).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        let e = check_of(
            "",
            "configmaps",
            json!({"metadata": {"name": "c", "labels": {"a": true}}}),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"),
            "{}",
            e.message
        );
        let e = check_of(
            "",
            "configmaps",
            json!({"metadata": {"name": "c"}, "data": {"k": 1}}),
        )
        .unwrap_err();
        assert!(
            e.message.ends_with(
                "cannot unmarshal number into Go struct field ConfigMap.data of type string"
            ),
            "{}",
            e.message
        );
        let e = check_of(
            "",
            "pods",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80.5}]}]}}),
        )
        .unwrap_err();
        assert!(
            e.message.contains(
                "cannot unmarshal number 80.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"
            ),
            "{}",
            e.message
        );
        let e = check_of(
            "",
            "secrets",
            json!({"metadata": {"name": "s"}, "data": {"k": "not base64!"}}),
        )
        .unwrap_err();
        assert!(e.message.contains("illegal base64 data"), "{}", e.message);
    }

    #[test]
    fn a_patched_object_of_the_wrong_type_is_422_on_patch() {
        let registry = Registry::with_builtins();
        let k = registry.lookup("apps", "v1", "deployments").unwrap();
        let e = check_patched(&registry, &k, &deployment(json!("two"))).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let cause = &e.details.as_ref().unwrap()["causes"][0];
        assert_eq!(cause["field"], "patch");
        assert!(
            e.message
                .starts_with(" \"\" is invalid: patch: Invalid value: \"{\\\"apiVersion"),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            ),
            "{}",
            e.message
        );
        check_patched(&registry, &k, &deployment(json!(2))).unwrap();
    }

    #[test]
    fn what_go_decodes_passes() {
        // Numeric quantities, int-or-string, nulls, unknown fields, missing "required".
        check_of("apps", "deployments", deployment(json!(2))).unwrap();
        // k8s-openapi refuses a container without its required name; Go decodes it (the
        // 422 is validation's), and a fractional numeric quantity with it.
        check_of(
            "",
            "pods",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"image": "x",
                "resources": {"limits": {"cpu": 0.5}}}]}}),
        )
        .unwrap();
        check_of("apps", "deployments", deployment(Value::Null)).unwrap();
        check_of(
            "apps",
            "deployments",
            json!({"metadata": {"name": "d"}, "spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}}}),
        )
        .unwrap();
        // A CRD k8s-openapi refuses (no scope) whose schema holds free-form JSON values.
        check_of(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            json!({"metadata": {"name": "a.b.c"}, "spec": {"group": "b.c",
                "names": {"plural": "a", "kind": "A"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "additionalProperties": true,
                        "properties": {"n": {"type": "integer", "default": 5, "enum": [5, 6]}}}}}]}}),
        )
        .unwrap();
        check_of(
            "apps",
            "controllerrevisions",
            json!({"metadata": {"name": "r"}, "revision": 1, "data": "raw"}),
        )
        .unwrap();
        check_of(
            "discovery.k8s.io",
            "endpointslices",
            json!({"metadata": {"name": "e"}, "addressType": "IPv4"}),
        )
        .unwrap();
        check_of(
            "",
            "secrets",
            json!({"metadata": {"name": "s"}, "data": {"k": "YWJj\nZGVm"}}),
        )
        .unwrap();
    }
}
