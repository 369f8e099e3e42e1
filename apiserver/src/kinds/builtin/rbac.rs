//! `rbac.authorization.k8s.io/v1`: object names are path segments.

use k8s_openapi::api::rbac::v1 as api;

use crate::defaults::rbac::default_role_binding;
use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::names::NameRule;
use crate::table;
use crate::validation::rbac::validate_role_binding;

/// `rbac.authorization.k8s.io/v1` Roles.
pub static ROLE: KindDescriptor = KindDescriptor {
    name_rule: NameRule::PathSegment,
    ..KindDescriptor::new(
        "rbac.authorization.k8s.io",
        "Role",
        "roles",
        Scope::Namespaced,
        RustType::of::<api::Role>(),
    )
};

/// `rbac.authorization.k8s.io/v1` RoleBindings.
pub static ROLE_BINDING: KindDescriptor = KindDescriptor {
    name_rule: NameRule::PathSegment,
    defaults: Some(default_role_binding),
    validate: Some(validate_role_binding),
    table: Some(table::rbac::ROLE_BINDING),
    ..KindDescriptor::new(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        Scope::Namespaced,
        RustType::of::<api::RoleBinding>(),
    )
};

/// `rbac.authorization.k8s.io/v1` ClusterRoles.
pub static CLUSTER_ROLE: KindDescriptor = KindDescriptor {
    name_rule: NameRule::PathSegment,
    ..KindDescriptor::new(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        Scope::Cluster,
        RustType::of::<api::ClusterRole>(),
    )
};

/// `rbac.authorization.k8s.io/v1` ClusterRoleBindings.
pub static CLUSTER_ROLE_BINDING: KindDescriptor = KindDescriptor {
    name_rule: NameRule::PathSegment,
    defaults: Some(default_role_binding),
    validate: Some(validate_role_binding),
    table: Some(table::rbac::ROLE_BINDING),
    ..KindDescriptor::new(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
        Scope::Cluster,
        RustType::of::<api::ClusterRoleBinding>(),
    )
};
