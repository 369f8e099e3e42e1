//! The registry of served kinds: what each resource is called (plural, singular, short
//! names, categories), whether it is namespaced, which subresources it has. Routing,
//! discovery, OpenAPI and tables all read it; CustomResourceDefinitions add to it at run time.
//!
//! Built-in kinds are registered here from their [`KindDescriptor`]s ([`builtin`]): the
//! [`KindInfo`] routing finds for a request carries its kind's descriptor, so every layer
//! reads what it needs about the kind from there.

pub mod builtin;
pub mod descriptor;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

pub use descriptor::KindDescriptor;
use descriptor::{Deletion, Lifecycle};

/// A subresource the server serves beneath an object (`/pods/x/status`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subresource {
    /// `status`: writes change only `.status`.
    Status,
    /// `scale`: an `autoscaling/v1` `Scale` view of the replicas.
    Scale,
    /// `pods/binding`: assigns a node to a pod.
    Binding,
    /// `pods/eviction`: a PodDisruptionBudget-checked delete.
    Eviction,
    /// `pods/ephemeralcontainers`: writes change only `spec.ephemeralContainers`.
    EphemeralContainers,
    /// `serviceaccounts/token`: a TokenRequest answered with a signed token.
    Token,
    /// `certificatesigningrequests/approval`: writes change only the `Approved` and
    /// `Denied` conditions.
    Approval,
    /// `pods/log`: the container's log, read from the node's kubelet.
    Log,
    /// `nodes/proxy`: requests passed to the node's kubelet.
    Proxy,
    /// `pods/exec`: a command run in a container, its streams over an upgraded
    /// connection to the node's kubelet.
    Exec,
    /// `pods/attach`: a running container's streams, over an upgraded connection.
    Attach,
    /// `pods/portforward`: TCP streams to the pod's ports, over an upgraded connection.
    PortForward,
}

impl Subresource {
    /// The URL path segment naming this subresource.
    pub fn as_str(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::EphemeralContainers => "ephemeralcontainers",
            Subresource::Token => "token",
            Subresource::Approval => "approval",
            Subresource::Log => "log",
            Subresource::Proxy => "proxy",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
        }
    }

    /// Whether writes through this subresource change the object's status only, as
    /// `status` does (`approval` writes the conditions in it).
    pub fn writes_status(self) -> bool {
        matches!(self, Subresource::Status | Subresource::Approval)
    }

    /// Whether this subresource streams over an upgraded connection to a kubelet
    /// (`exec`, `attach`, `portforward`: upstream's connect verbs, GET or POST).
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Subresource::Exec | Subresource::Attach | Subresource::PortForward
        )
    }

    /// Parses a URL path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "status" => Subresource::Status,
            "scale" => Subresource::Scale,
            "binding" => Subresource::Binding,
            "eviction" => Subresource::Eviction,
            "ephemeralcontainers" => Subresource::EphemeralContainers,
            "token" => Subresource::Token,
            "approval" => Subresource::Approval,
            "log" => Subresource::Log,
            "proxy" => Subresource::Proxy,
            "exec" => Subresource::Exec,
            "attach" => Subresource::Attach,
            "portforward" => Subresource::PortForward,
            _ => return None,
        })
    }
}

/// Where a kind comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindSource {
    /// Compiled into the server (core/v1, apps/v1, …).
    BuiltIn,
    /// Served because of the named CustomResourceDefinition.
    Custom {
        /// The CRD's `metadata.name` (`<plural>.<group>`).
        crd_name: String,
    },
}

/// One served resource type at one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    /// API group; empty for the core (legacy) group.
    pub group: String,
    /// API version within the group (`v1`).
    pub version: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Lowercase plural resource name used in URLs (`deployments`).
    pub plural: String,
    /// Lowercase singular name (`deployment`).
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names kubectl accepts (`deploy`).
    pub short_names: Vec<String>,
    /// Categories the resource belongs to (`all`).
    pub categories: Vec<String>,
    /// Served subresources.
    pub subresources: Vec<Subresource>,
    /// Built in or from a CRD.
    pub source: KindSource,
    /// What a CustomResourceDefinition says about this version of a custom resource
    /// (schema, printer columns, scale paths); `None` for built-in kinds.
    pub custom: Option<Arc<CustomKind>>,
    /// Everything else the server knows about a built-in kind (defaulting, validation,
    /// table, type); `None` for custom resources.
    pub descriptor: Option<&'static KindDescriptor>,
}

/// One `additionalPrinterColumns` entry of a CRD version: a column of `kubectl get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header (`Replicas`).
    pub name: String,
    /// OpenAPI type of the cells: `integer`, `number`, `string`, `boolean` or `date`.
    pub type_: String,
    /// OpenAPI format hint (`int32`, `name`, …); empty when unset.
    pub format: String,
    /// Human readable description of the column; empty when unset.
    pub description: String,
    /// 0 for normal columns, greater for `-o wide` only columns.
    pub priority: i64,
    /// Simple JSONPath evaluated against each object (`.spec.replicas`).
    pub json_path: String,
}

/// The `scale` subresource's paths into a custom resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// `.spec.replicas` or wherever the desired replica count lives.
    pub spec_replicas_path: String,
    /// `.status.replicas` or wherever the observed replica count lives.
    pub status_replicas_path: String,
    /// Where the serialized label selector lives in status, if anywhere.
    pub label_selector_path: Option<String>,
}

/// Per-version details of a custom resource taken from its CRD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomKind {
    /// The version's `schema.openAPIV3Schema`, if any.
    pub schema: Option<serde_json::Value>,
    /// `additionalPrinterColumns`; empty means the default `NAME AGE` table.
    pub printer_columns: Vec<PrinterColumn>,
    /// The CRD's storage version (for `storageVersionHash`).
    pub storage_version: String,
    /// The `scale` subresource paths when the version serves `scale`.
    pub scale: Option<ScalePaths>,
    /// `names.listKind` (defaults to `<Kind>List`).
    pub list_kind: String,
    /// Whether this version is marked deprecated.
    pub deprecated: bool,
    /// The version's `deprecationWarning`, if any.
    pub deprecation_warning: Option<String>,
    /// `selectableFields` as field-selector names (`spec.color` for `.spec.color`).
    pub selectable_fields: Vec<String>,
}

/// The verbs every served resource supports, as discovery lists them.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of kinds computed on read (ComponentStatuses).
pub const READ_VERBS: &[&str] = &["get", "list"];

impl KindInfo {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The list kind (`DeploymentList`, or a CRD's `names.listKind`).
    pub fn list_kind(&self) -> String {
        match &self.custom {
            Some(c) if !c.list_kind.is_empty() => c.list_kind.clone(),
            _ => format!("{}List", self.kind),
        }
    }

    /// The version objects of this kind are stored in (a CRD's storage version; the
    /// served version for built-in kinds).
    pub fn storage_version(&self) -> &str {
        match &self.custom {
            Some(c) if !c.storage_version.is_empty() => &c.storage_version,
            _ => &self.version,
        }
    }

    /// Whether clients may only read this kind (`get`, `list`): its objects are computed
    /// on every read.
    pub fn read_only(&self) -> bool {
        self.descriptor.is_some_and(|d| d.read_only())
    }

    /// The verbs discovery lists for this kind.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.read_only() {
            READ_VERBS
        } else {
            STANDARD_VERBS
        }
    }

    /// Whether `sub` is served for this kind.
    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether this kind is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.source, KindSource::Custom { .. })
    }

    /// How deletes of this kind proceed (immediately for custom resources).
    pub fn deletion(&self) -> Deletion {
        self.descriptor
            .map_or(Deletion::Immediate, |d| d.delete.deletion)
    }

    /// The work beyond storage this kind's writes and deletes carry (none for custom
    /// resources).
    pub fn lifecycle(&self) -> Option<Lifecycle> {
        self.descriptor.and_then(|d| d.lifecycle)
    }

    /// The served kind a built-in descriptor describes.
    pub fn from_descriptor(d: &'static KindDescriptor) -> KindInfo {
        KindInfo {
            group: d.group.to_string(),
            version: d.version.to_string(),
            kind: d.kind.to_string(),
            plural: d.plural.to_string(),
            singular: d.kind.to_ascii_lowercase(),
            namespaced: d.namespaced(),
            short_names: d.short_names.iter().map(|s| s.to_string()).collect(),
            categories: d.categories.iter().map(|s| s.to_string()).collect(),
            subresources: d.subresources.to_vec(),
            source: KindSource::BuiltIn,
            custom: None,
            descriptor: Some(d),
        }
    }
}

/// Every kind compiled into the server, from the descriptors in [`builtin`].
pub fn builtin_kinds() -> Vec<KindInfo> {
    builtin::ALL
        .iter()
        .map(|d| KindInfo::from_descriptor(d))
        .collect()
}

/// The set of kinds currently served, shared by every request handler. Lookups take a
/// read lock on small maps; CRD changes take the write lock.
#[derive(Debug)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (group, version, plural) → kind.
    by_resource: BTreeMap<(String, String, String), Arc<KindInfo>>,
    /// (group, version) → a hash of everything served there, recomputed when a
    /// kind of that group-version changes (documents built from them are cached
    /// under it).
    fingerprints: BTreeMap<(String, String), u64>,
}

impl Inner {
    fn refresh_fingerprint(&mut self, group: &str, version: &str) {
        let kinds: Vec<&Arc<KindInfo>> = self
            .by_resource
            .values()
            .filter(|k| k.group == group && k.version == version)
            .collect();
        let key = (group.to_string(), version.to_string());
        if kinds.is_empty() {
            self.fingerprints.remove(&key);
            return;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&format!("{kinds:?}"), &mut hasher);
        self.fingerprints
            .insert(key, std::hash::Hasher::finish(&hasher));
    }
}

impl Registry {
    /// A registry holding [`builtin_kinds`].
    pub fn with_builtins() -> Self {
        let registry = Registry {
            inner: RwLock::new(Inner::default()),
        };
        for kind in builtin_kinds() {
            registry.insert(kind);
        }
        registry
    }

    /// Adds or replaces a kind.
    pub fn insert(&self, kind: KindInfo) {
        let key = (
            kind.group.clone(),
            kind.version.clone(),
            kind.plural.clone(),
        );
        let mut inner = self.inner.write();
        inner.by_resource.insert(key.clone(), Arc::new(kind));
        inner.refresh_fingerprint(&key.0, &key.1);
    }

    /// Removes every kind served because of the CRD `crd_name`.
    pub fn remove_custom(&self, crd_name: &str) {
        let mut inner = self.inner.write();
        let mut touched = std::collections::BTreeSet::new();
        inner.by_resource.retain(|_, k| {
            let keep = match &k.source {
                KindSource::Custom { crd_name: n } => n != crd_name,
                KindSource::BuiltIn => true,
            };
            if !keep {
                touched.insert((k.group.clone(), k.version.clone()));
            }
            keep
        });
        for (group, version) in touched {
            inner.refresh_fingerprint(&group, &version);
        }
    }

    /// A hash of the kinds served in `group/version` (`None` when none is): it
    /// changes whenever one of them does.
    pub fn fingerprint(&self, group: &str, version: &str) -> Option<u64> {
        self.inner
            .read()
            .fingerprints
            .get(&(group.to_string(), version.to_string()))
            .copied()
    }

    /// The kinds served in `group/version`, ordered by plural.
    pub fn kinds_in(&self, group: &str, version: &str) -> Vec<Arc<KindInfo>> {
        self.inner
            .read()
            .by_resource
            .values()
            .filter(|k| k.group == group && k.version == version)
            .cloned()
            .collect()
    }

    /// The kind served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<KindInfo>> {
        self.inner
            .read()
            .by_resource
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The kind with `kind` in `group/version`.
    pub fn lookup_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<KindInfo>> {
        self.inner
            .read()
            .by_resource
            .values()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
            .cloned()
    }

    /// Every served kind, ordered by group, version and plural.
    pub fn all(&self) -> Vec<Arc<KindInfo>> {
        self.inner.read().by_resource.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_found_by_resource_and_kind() {
        let r = Registry::with_builtins();
        let deploy = r.lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.kind, "Deployment");
        assert!(deploy.has_subresource(Subresource::Scale));
        assert_eq!(r.lookup_kind("", "v1", "Pod").unwrap().plural, "pods");
        assert!(r.lookup("apps", "v1", "pods").is_none());
    }

    #[test]
    fn a_group_versions_fingerprint_follows_its_kinds() {
        let r = Registry::with_builtins();
        let core = r.fingerprint("", "v1").unwrap();
        let apps = r.fingerprint("apps", "v1").unwrap();
        assert!(r.fingerprint("example.com", "v1").is_none());
        let mut custom = (*r.lookup("apps", "v1", "deployments").unwrap()).clone();
        custom.group = "example.com".into();
        custom.kind = "Widget".into();
        custom.plural = "widgets".into();
        custom.source = KindSource::Custom {
            crd_name: "widgets.example.com".into(),
        };
        r.insert(custom.clone());
        let widgets = r.fingerprint("example.com", "v1").unwrap();
        assert_eq!(r.kinds_in("example.com", "v1").len(), 1);
        // Other group-versions keep theirs; a changed kind changes it.
        assert_eq!(r.fingerprint("", "v1"), Some(core));
        assert_eq!(r.fingerprint("apps", "v1"), Some(apps));
        custom.namespaced = !custom.namespaced;
        r.insert(custom);
        assert_ne!(r.fingerprint("example.com", "v1"), Some(widgets));
        r.remove_custom("widgets.example.com");
        assert!(r.fingerprint("example.com", "v1").is_none());
        assert!(r.kinds_in("example.com", "v1").is_empty());
    }
}
