//! Validation of served objects as kube-apiserver does it (`pkg/apis/*/validation`),
//! reporting `field.Error`s with upstream's wording, and the `422 Invalid` `Status` built
//! from them (`apierrors.NewInvalid`).
//!
//! Custom resources get metadata validation here; their schema validation and pruning is
//! [`crate::crd::schema::validate_and_prune`].

pub(crate) mod apiregistration;
pub(crate) mod apps;
pub(crate) mod batch;
pub(crate) mod certificates;
pub(crate) mod core;
pub(crate) mod discovery;
mod meta;
pub(crate) mod pod;
pub(crate) mod policy;
pub(crate) mod quota;
pub(crate) mod rbac;
mod rules;
pub(crate) mod scheduling;
mod selector;
pub(crate) mod storage;
#[cfg(test)]
mod testing;
mod workloads;

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::field_error::{FieldError, go_quote};
use crate::kinds::{KindInfo, Subresource};
use crate::names::NameRule;
use crate::status::ApiError;

use meta::validate_object_meta;

/// The `422 Unprocessable Entity` `Status` for `errors` on the object `name` of `kind`
/// (`Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: …`), with one
/// `details.causes` entry per error.
pub fn invalid_status(kind: &KindInfo, name: &str, errors: &[FieldError]) -> Value {
    invalid_status_of(&kind.kind, &kind.group, name, errors)
}

/// The 422 error for `errors` on the object `name` of `kind` in `group`, for objects
/// that are not a served kind (a subresource's body, such as a `TokenRequest`).
pub fn invalid_error(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let st = invalid_status_of(kind, group, name, errors);
    ApiError {
        code: 422,
        reason: "Invalid",
        message: st["message"].as_str().unwrap_or("invalid").to_string(),
        details: st.get("details").cloned(),
    }
}

/// [`invalid_status`] of a kind given by name and group.
fn invalid_status_of(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Value {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut seen = HashSet::new();
    let messages: Vec<String> = errors
        .iter()
        .map(|e| e.to_string())
        .filter(|m| seen.insert(m.clone()))
        .collect();
    let message = match messages.len() {
        0 => format!("{qualified} {} is invalid", go_quote(name)),
        1 => format!("{qualified} {} is invalid: {}", go_quote(name), messages[0]),
        _ => format!(
            "{qualified} {} is invalid: [{}]",
            go_quote(name),
            messages.join(", ")
        ),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.kind.cause(), "message": e.body(), "field": e.field}))
        .collect();
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
    details.insert("causes".into(), Value::Array(causes));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

/// The name rule kube-apiserver applies to `kind`.
pub fn name_rule(kind: &KindInfo) -> NameRule {
    kind.descriptor.map_or(NameRule::Subdomain, |d| d.name_rule)
}

/// Validates `new` as an object of `kind`: a create when `old` is `None`, an update of
/// `old` otherwise (adding immutability rules), through the subresource `sub` (for kinds
/// whose subresources validate by their own rules). Returns every problem found; empty
/// means valid. Expects defaults to have been applied.
pub fn validate(
    kind: &KindInfo,
    new: &Value,
    old: Option<&Value>,
    sub: Option<Subresource>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_object_meta(kind, new, old, &mut errs);
    let descriptor = kind.descriptor;
    match (descriptor.and_then(|d| d.update_rules), sub, old) {
        (Some(rules), Some(sub), Some(old)) => {
            (rules.validate_subresource)(sub, new, old, &mut errs)
        }
        _ => {
            if let Some(validate) = descriptor.and_then(|d| d.validate) {
                validate(new, old, &mut errs);
            }
        }
    }
    errs
}

/// Validates a write through `pods/ephemeralcontainers`: `new` is `old` with other
/// ephemeral containers (`ValidatePodEphemeralContainersUpdate`).
pub fn validate_ephemeral_containers(kind: &KindInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_object_meta(kind, new, Some(old), &mut errs);
    pod::validate_ephemeral_containers_update(new, old, &mut errs);
    errs
}

#[cfg(test)]
mod tests {
    use super::testing::{check, check_update, deployment, kind};
    use super::*;

    #[test]
    fn invalid_status_shape() {
        let k = kind("apps", "deployments");
        let errs = vec![FieldError::invalid(
            "spec.replicas",
            json!(-1),
            "must be greater than or equal to 0",
        )];
        let st = invalid_status(&k, "x", &errs);
        assert_eq!(st["kind"], "Status");
        assert_eq!(st["code"], 422);
        assert_eq!(st["reason"], "Invalid");
        assert_eq!(st["status"], "Failure");
        assert_eq!(
            st["message"],
            "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(st["details"]["group"], "apps");
        assert_eq!(st["details"]["kind"], "Deployment");
        assert_eq!(st["details"]["name"], "x");
        assert_eq!(
            st["details"]["causes"][0],
            json!({"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0", "field": "spec.replicas"})
        );
        let pod = kind("", "pods");
        let errs = vec![
            FieldError::required("spec.containers[0].image", ""),
            FieldError::required("spec.containers[0].image", ""),
            FieldError::required("spec.containers[0].name", ""),
        ];
        let st = invalid_status(&pod, "p", &errs);
        assert!(st["details"].get("group").is_none());
        assert_eq!(
            st["message"],
            "Pod \"p\" is invalid: [spec.containers[0].image: Required value, spec.containers[0].name: Required value]"
        );
        assert_eq!(st["details"]["causes"][2]["reason"], "FieldValueRequired");
        // kube-rs decodes error bodies as Status.
        let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::Status =
            serde_json::from_value(st).unwrap();
        assert_eq!(typed.code, Some(422));
        assert_eq!(typed.details.unwrap().causes.unwrap().len(), 3);
    }

    #[test]
    fn valid_objects_pass() {
        assert_eq!(
            check("apps", "deployments", deployment()),
            Vec::<String>::new()
        );
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"name": "data", "mountPath": "/d"}]}], "volumes": [{"name": "data"}]}});
        assert_eq!(check("", "pods", pod), Vec::<String>::new());
        let svc = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "https", "port": 443}]}});
        assert_eq!(check("", "services", svc), Vec::<String>::new());
        let job = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}});
        assert_eq!(check("batch", "jobs", job), Vec::<String>::new());
        let cj = json!({"metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        assert_eq!(check("batch", "cronjobs", cj), Vec::<String>::new());
        for (g, p, obj) in [
            ("", "namespaces", json!({"metadata": {"name": "team-a"}})),
            (
                "",
                "configmaps",
                json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a.b": "1"}}),
            ),
            (
                "",
                "secrets",
                json!({"metadata": {"name": "s", "namespace": "d"}, "data": {"k": "dg=="}}),
            ),
            (
                "rbac.authorization.k8s.io",
                "clusterroles",
                json!({"metadata": {"name": "system:controller:x"}}),
            ),
            (
                "scheduling.k8s.io",
                "priorityclasses",
                json!({"metadata": {"name": "high"}, "value": 1000}),
            ),
            (
                "storage.k8s.io",
                "storageclasses",
                json!({"metadata": {"name": "s"}, "provisioner": "p"}),
            ),
            (
                "discovery.k8s.io",
                "endpointslices",
                json!({"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.0.0.1"]}]}),
            ),
            (
                "policy",
                "poddisruptionbudgets",
                json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1}}),
            ),
        ] {
            assert_eq!(check(g, p, obj), Vec::<String>::new(), "{p}");
        }
    }

    #[test]
    fn other_kinds_rules() {
        let pvc = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {}});
        assert_eq!(
            check("", "persistentvolumeclaims", pvc),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
        let pdb = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1, "maxUnavailable": 1}});
        assert!(
            check("policy", "poddisruptionbudgets", pdb)[0]
                .ends_with("minAvailable and maxUnavailable cannot be both set")
        );
        let pc = json!({"metadata": {"name": "huge"}, "value": 2_000_000_000});
        assert_eq!(
            check("scheduling.k8s.io", "priorityclasses", pc),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let old = json!({"metadata": {"name": "pc"}, "value": 1});
        let new = json!({"metadata": {"name": "pc"}, "value": 2});
        assert_eq!(
            check_update("scheduling.k8s.io", "priorityclasses", old, new),
            ["value: Forbidden: may not be changed in an update."]
        );
        let old = json!({"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "a"}});
        let new = json!({"metadata": {"name": "rb", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "b"}});
        let errs = check_update("rbac.authorization.k8s.io", "rolebindings", old, new);
        assert!(
            errs[0].starts_with("roleRef: Invalid value:")
                && errs[0].ends_with("cannot change roleRef")
        );
        let crb = json!({"metadata": {"name": "crb"}, "roleRef": {"kind": "Role", "name": "a"}});
        assert_eq!(
            check("rbac.authorization.k8s.io", "clusterrolebindings", crb),
            ["roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""]
        );
        let slice = json!({"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPX"});
        assert!(
            check("discovery.k8s.io", "endpointslices", slice)[0]
                .starts_with("addressType: Unsupported value: \"IPX\"")
        );
        let sc_old = json!({"metadata": {"name": "s"}, "provisioner": "a"});
        let sc_new = json!({"metadata": {"name": "s"}, "provisioner": "b"});
        assert_eq!(
            check_update("storage.k8s.io", "storageclasses", sc_old, sc_new),
            ["provisioner: Forbidden: updates to provisioner are forbidden."]
        );
    }
}
