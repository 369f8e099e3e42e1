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

/// API groups whose messages are vendored only for the key order of the JSON the server
/// writes ([`crate::wire`]), not decoded from protobuf bodies, and the protobuf package
/// prefix of each (a version is appended). Moving a group to [`GROUPS`] turns decoding on.
const ORDER_ONLY_GROUPS: &[(&str, &str)] = &[
    (
        "apiextensions.k8s.io",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions",
    ),
    ("apidiscovery.k8s.io", "k8s.io.api.apidiscovery"),
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

/// The message of a kind for writing its JSON: [`message_for`]'s, and also the kinds of the
/// groups vendored for their key order only (CustomResourceDefinitions, aggregated
/// discovery documents, CertificateSigningRequests, TokenRequests).
pub fn json_message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    message_for(api_version, kind).or_else(|| {
        let (group, version) = api_version.split_once('/')?;
        let (_, package) = ORDER_ONLY_GROUPS.iter().find(|(g, _)| *g == group)?;
        if kind.contains('.') || version.contains('.') {
            return None;
        }
        message(&format!("{package}.{version}.{kind}"))
    })
}

/// The API groups with vendored messages (`""` is the core group).
pub fn vendored_groups() -> impl Iterator<Item = &'static str> {
    GROUPS
        .iter()
        .chain(ORDER_ONLY_GROUPS)
        .map(|(group, _)| *group)
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
        // Order-only groups are written, never decoded.
        let json_name =
            |av: &str, k: &str| json_message_for(av, k).map(|m| m.full_name().to_string());
        assert_eq!(
            json_name("apiextensions.k8s.io/v1", "CustomResourceDefinition").as_deref(),
            Some(
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
            )
        );
        assert_eq!(
            json_name("certificates.k8s.io/v1", "CertificateSigningRequest").as_deref(),
            Some("k8s.io.api.certificates.v1.CertificateSigningRequest")
        );
        assert_eq!(
            json_name("apps/v1", "Deployment").as_deref(),
            Some("k8s.io.api.apps.v1.Deployment")
        );
        assert_eq!(json_name("example.com/v1", "Widget"), None);
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
