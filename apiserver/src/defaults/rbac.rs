//! `rbac.authorization.k8s.io/v1`.

use serde_json::{Value, json};

use crate::json::{array_mut, set_default};

/// `SetDefaults_RoleBinding`/`ClusterRoleBinding` and `SetDefaults_Subject`: the RBAC API
/// group on the role reference, and on User and Group subjects.
pub(crate) fn default_role_binding(binding: &mut Value) {
    set_default(
        binding,
        &["roleRef", "apiGroup"],
        json!("rbac.authorization.k8s.io"),
    );
    for subject in array_mut(binding, &["subjects"]) {
        let group = match subject.get("kind").and_then(|k| k.as_str()) {
            Some("User" | "Group") => "rbac.authorization.k8s.io",
            _ => "",
        };
        set_default(subject, &["apiGroup"], json!(group));
    }
}
