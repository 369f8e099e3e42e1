//! The descriptors of the vendored Kubernetes `.proto` files (compiled by `build.rs`),
//! the message of each group-version-kind, and the one gogoproto option that matters
//! for JSON: `nullable = false`, a field Go holds by value.

use std::collections::HashSet;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, ExtensionDescriptor, FieldDescriptor, MessageDescriptor};

static FDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds"));

/// The package of `runtime.Unknown`, the envelope of every body.
pub const RUNTIME: &str = "k8s.io.apimachinery.pkg.runtime";
/// The package of `meta/v1` (`DeleteOptions`, `ObjectMeta`, `Time`, …).
pub const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// API groups and the `k8s.io/api/<package>` directory that defines their protobuf
/// messages (only those vendored under `proto/`).
const GROUPS: &[(&str, &str)] = &[
    ("", "core"),
    ("apps", "apps"),
    ("authentication.k8s.io", "authentication"),
    ("autoscaling", "autoscaling"),
    ("batch", "batch"),
    ("certificates.k8s.io", "certificates"),
    ("coordination.k8s.io", "coordination"),
    ("discovery.k8s.io", "discovery"),
    ("events.k8s.io", "events"),
    ("policy", "policy"),
    ("rbac.authorization.k8s.io", "rbac"),
    ("scheduling.k8s.io", "scheduling"),
    ("storage.k8s.io", "storage"),
];

/// Option kinds upstream registers in every group-version (and in `meta.k8s.io/v1`);
/// their messages live in `meta/v1`.
const META_KINDS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
    "Status",
];

struct Descriptors {
    pool: DescriptorPool,
    /// Full names of the fields marked `(gogoproto.nullable) = false`.
    by_value: HashSet<String>,
}

static DESCRIPTORS: LazyLock<Descriptors> = LazyLock::new(|| {
    // The set is produced by protox in build.rs from files in this crate; a failure
    // here is a build defect, caught by every test that decodes a body.
    let pool = DescriptorPool::decode(FDS).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the compiled Kubernetes descriptors do not load");
        DescriptorPool::new()
    });
    let by_value = match pool.get_extension_by_name("gogoproto.nullable") {
        Some(ext) => pool
            .all_messages()
            .flat_map(|m| m.fields().collect::<Vec<_>>())
            .filter(|f| not_nullable(f, &ext))
            .map(|f| f.full_name().to_string())
            .collect(),
        None => HashSet::new(),
    };
    Descriptors { pool, by_value }
});

fn not_nullable(field: &FieldDescriptor, ext: &ExtensionDescriptor) -> bool {
    let options = field.options();
    options.has_extension(ext) && options.get_extension(ext).as_bool() == Some(false)
}

/// The descriptor pool.
pub fn pool() -> &'static DescriptorPool {
    &DESCRIPTORS.pool
}

/// A message by its full name (`k8s.io.api.core.v1.Pod`).
pub fn message(full_name: &str) -> Option<MessageDescriptor> {
    DESCRIPTORS.pool.get_message_by_name(full_name)
}

/// The message of a kind as the envelope names it (`apiVersion` `apps/v1`, kind
/// `Deployment` → `k8s.io.api.apps.v1.Deployment`); `None` for kinds without one
/// (custom resources, groups not vendored).
pub fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if kind.is_empty() || version.is_empty() || kind.contains('.') || version.contains('.') {
        return None;
    }
    if META_KINDS.contains(&kind) && version == "v1" {
        let known_group = group == "meta.k8s.io" || GROUPS.iter().any(|(g, _)| *g == group);
        return known_group
            .then(|| message(&format!("{META_V1}.{kind}")))
            .flatten();
    }
    let (_, package) = GROUPS.iter().find(|(g, _)| *g == group)?;
    message(&format!("k8s.io.api.{package}.{version}.{kind}"))
}

/// Whether Go holds the field by value (`(gogoproto.nullable) = false`): a zero value
/// on the wire then means "unset", as Go cannot tell them apart.
pub fn by_value(field: &FieldDescriptor) -> bool {
    DESCRIPTORS.by_value.contains(field.full_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_messages() {
        let name = |av: &str, k: &str| message_for(av, k).map(|m| m.full_name().to_string());
        assert_eq!(
            name("v1", "ConfigMap").as_deref(),
            Some("k8s.io.api.core.v1.ConfigMap")
        );
        assert_eq!(
            name("apps/v1", "Deployment").as_deref(),
            Some("k8s.io.api.apps.v1.Deployment")
        );
        assert_eq!(
            name("rbac.authorization.k8s.io/v1", "Role").as_deref(),
            Some("k8s.io.api.rbac.v1.Role")
        );
        assert_eq!(
            name("policy/v1", "Eviction").as_deref(),
            Some("k8s.io.api.policy.v1.Eviction")
        );
        assert_eq!(
            name("authentication.k8s.io/v1", "TokenRequest").as_deref(),
            Some("k8s.io.api.authentication.v1.TokenRequest")
        );
        assert_eq!(
            name("v1", "DeleteOptions").as_deref(),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        assert_eq!(
            name("meta.k8s.io/v1", "DeleteOptions").as_deref(),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        // A custom group that happens to share a built-in group's first label.
        assert_eq!(name("apps.example.com/v1", "Deployment"), None);
        assert_eq!(
            name("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            None
        );
        assert_eq!(name("v1", "Widget"), None);
        assert_eq!(name("apps/v1beta1", "Deployment"), None);
    }

    #[test]
    fn nullable_option_is_read() {
        let cm = message("k8s.io.api.core.v1.ConfigMap").unwrap();
        assert!(by_value(&cm.get_field_by_name("metadata").unwrap()));
        assert!(!by_value(&cm.get_field_by_name("immutable").unwrap()));
        let spec = message("k8s.io.api.apps.v1.DeploymentSpec").unwrap();
        assert!(!by_value(&spec.get_field_by_name("replicas").unwrap()));
        assert!(by_value(&spec.get_field_by_name("template").unwrap()));
    }
}
