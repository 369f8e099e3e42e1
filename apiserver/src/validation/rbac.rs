//! `rbac.authorization.k8s.io/v1`: RoleBindings and ClusterRoleBindings.

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{array_at, at, str_at};

pub(crate) fn validate_role_binding(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let role_ref = at(new, &["roleRef"]);
    let kind = str_at(role_ref, &["kind"]);
    let cluster = str_at(new, &["kind"]) == "ClusterRoleBinding"
        || at(new, &["metadata", "namespace"]).is_null();
    let allowed: &[&str] = if cluster {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if str_at(role_ref, &["apiGroup"]) != "rbac.authorization.k8s.io" {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            json!(str_at(role_ref, &["apiGroup"])),
            &["rbac.authorization.k8s.io"],
        ));
    }
    if !allowed.contains(&kind) {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            json!(kind),
            allowed,
        ));
    }
    if str_at(role_ref, &["name"]).is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for (i, subj) in array_at(new, &["subjects"]).iter().enumerate() {
        let path = format!("subjects[{i}]");
        let k = str_at(subj, &["kind"]);
        if !["ServiceAccount", "User", "Group"].contains(&k) {
            errs.push(FieldError::not_supported(
                &format!("{path}.kind"),
                json!(k),
                &["ServiceAccount", "User", "Group"],
            ));
        }
        if str_at(subj, &["name"]).is_empty() {
            errs.push(FieldError::required(&format!("{path}.name"), ""));
        }
        if k == "ServiceAccount" && cluster && str_at(subj, &["namespace"]).is_empty() {
            errs.push(FieldError::required(&format!("{path}.namespace"), ""));
        }
    }
    if let Some(old) = old
        && at(new, &["roleRef"]) != at(old, &["roleRef"])
    {
        errs.push(FieldError::invalid(
            "roleRef",
            role_ref.clone(),
            "cannot change roleRef",
        ));
    }
}
