//! `rbac.authorization.k8s.io/v1`: object names are path segments; the two binding kinds
//! share defaulting, validation and table.

use k8s_openapi::api::rbac::v1 as api;

use crate::defaults::rbac::default_role_binding;
use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::names::NameRule;
use crate::table;
use crate::validation::rbac::validate_role_binding;

/// `rbac.authorization.k8s.io/v1` Roles.
pub static ROLE: KindDescriptor = rbac(
    "Role",
    "roles",
    Scope::Namespaced,
    RustType::of::<api::Role>(),
);

/// `rbac.authorization.k8s.io/v1` RoleBindings.
pub static ROLE_BINDING: KindDescriptor = binding(
    "RoleBinding",
    "rolebindings",
    Scope::Namespaced,
    RustType::of::<api::RoleBinding>(),
);

/// `rbac.authorization.k8s.io/v1` ClusterRoles.
pub static CLUSTER_ROLE: KindDescriptor = rbac(
    "ClusterRole",
    "clusterroles",
    Scope::Cluster,
    RustType::of::<api::ClusterRole>(),
);

/// `rbac.authorization.k8s.io/v1` ClusterRoleBindings.
pub static CLUSTER_ROLE_BINDING: KindDescriptor = binding(
    "ClusterRoleBinding",
    "clusterrolebindings",
    Scope::Cluster,
    RustType::of::<api::ClusterRoleBinding>(),
);

/// A kind of the group: names are path segments.
const fn rbac(
    kind: &'static str,
    plural: &'static str,
    scope: Scope,
    rust_type: RustType,
) -> KindDescriptor {
    KindDescriptor {
        name_rule: NameRule::PathSegment,
        ..KindDescriptor::new("rbac.authorization.k8s.io", kind, plural, scope, rust_type)
    }
}

/// A binding kind of the group: role reference and subjects defaulted and validated, and
/// `kubectl get` showing the role and (wide) the subjects.
const fn binding(
    kind: &'static str,
    plural: &'static str,
    scope: Scope,
    rust_type: RustType,
) -> KindDescriptor {
    KindDescriptor {
        defaults: Some(default_role_binding),
        validate: Some(validate_role_binding),
        table: Some(table::rbac::ROLE_BINDING),
        ..rbac(kind, plural, scope, rust_type)
    }
}
