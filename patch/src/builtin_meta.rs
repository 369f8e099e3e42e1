//! Patch metadata of the built-in kinds, transcribed from the struct tags of
//! `k8s.io/api` (`patchStrategy`/`patchMergeKey`, `+listType`/`+listMapKey`,
//! `+mapType`/`+structType`). Only fields whose behaviour differs from the defaults
//! (merge objects, replace + atomic lists) or that lead to such fields are listed.

use crate::schema::{FieldMeta, Keys, ListType, MapKind, PatchMeta, PatchStrategy};

/// Compiled-in schema of one API type.
#[derive(Debug)]
pub struct TypeMeta {
    /// Go type name, for diagnostics.
    pub name: &'static str,
    fields: &'static [(&'static str, F)],
    /// Fields with a default that matters to patching (list-map keys): `+default=`.
    defaults: &'static [(&'static str, &'static str)],
}

/// One field of a [`TypeMeta`].
#[derive(Debug, Clone, Copy)]
struct F {
    strategy: PatchStrategy,
    merge_key: Option<&'static str>,
    list_type: ListType,
    keys: &'static [&'static str],
    map_kind: MapKind,
    schema: Option<&'static TypeMeta>,
}

const PLAIN: F = F {
    strategy: PatchStrategy::NONE,
    merge_key: None,
    list_type: ListType::Atomic,
    keys: &[],
    map_kind: MapKind::Struct,
    schema: None,
};

/// A struct-valued field (or a list of structs with default semantics).
const fn s(t: &'static TypeMeta) -> F {
    F {
        schema: Some(t),
        ..PLAIN
    }
}
/// A struct owned as a whole (`+structType=atomic`).
const fn atomic_struct() -> F {
    F {
        map_kind: MapKind::Atomic,
        ..PLAIN
    }
}
/// `map[string]string` and friends: keys owned individually.
const fn gmap() -> F {
    F {
        map_kind: MapKind::Granular,
        ..PLAIN
    }
}
/// `+mapType=atomic` map.
const fn amap() -> F {
    F {
        map_kind: MapKind::Atomic,
        ..PLAIN
    }
}
/// `patchStrategy=merge` list of maps by `mk`, `+listType=map` with `keys`.
const fn merge_by(
    mk: &'static str,
    keys: &'static [&'static str],
    t: Option<&'static TypeMeta>,
) -> F {
    F {
        strategy: PatchStrategy::MERGE,
        merge_key: Some(mk),
        list_type: ListType::Map,
        keys,
        schema: t,
        ..PLAIN
    }
}
/// `patchStrategy=merge,retainKeys` list of maps by `mk`, `+listType=map`.
const fn merge_retain_by(
    mk: &'static str,
    keys: &'static [&'static str],
    t: Option<&'static TypeMeta>,
) -> F {
    F {
        strategy: PatchStrategy::MERGE_RETAIN_KEYS,
        ..merge_by(mk, keys, t)
    }
}
/// `patchStrategy=merge` list of maps by `mk` whose list type is atomic.
const fn merge_atomic_by(mk: &'static str) -> F {
    F {
        strategy: PatchStrategy::MERGE,
        merge_key: Some(mk),
        ..PLAIN
    }
}
/// `patchStrategy=merge` primitive list, `+listType=set`.
const fn merge_set() -> F {
    F {
        strategy: PatchStrategy::MERGE,
        list_type: ListType::Set,
        ..PLAIN
    }
}
/// `+listType=set` without a patch strategy.
const fn set() -> F {
    F {
        list_type: ListType::Set,
        ..PLAIN
    }
}
/// `+listType=map` without a patch strategy (strategic patches replace it).
const fn map_list(keys: &'static [&'static str], t: Option<&'static TypeMeta>) -> F {
    F {
        list_type: ListType::Map,
        keys,
        schema: t,
        ..PLAIN
    }
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];

impl PatchMeta for TypeMeta {
    fn field(&self, name: &str) -> Option<FieldMeta<'_>> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| FieldMeta {
                strategy: f.strategy,
                merge_key: f.merge_key,
                list_type: f.list_type,
                list_map_keys: Keys::Static(f.keys),
                map_kind: f.map_kind,
                schema: f.schema.map(|t| t as &dyn PatchMeta),
            })
    }

    fn default_of(&self, name: &str) -> Option<serde_json::Value> {
        self.defaults
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| serde_json::Value::String((*v).to_owned()))
    }
}

macro_rules! ty {
    ($id:ident, $name:literal, [$(($f:literal, $v:expr)),* $(,)?]) => {
        #[doc = concat!("Patch metadata of `", $name, "`.")]
        pub static $id: TypeMeta = TypeMeta { name: $name, fields: &[$(($f, $v)),*], defaults: &[] };
    };
}

/// `ContainerPort`: `protocol` (a list-map key) defaults to `TCP`.
pub static CONTAINER_PORT: TypeMeta = TypeMeta {
    name: "ContainerPort",
    fields: &[],
    defaults: &[("protocol", "TCP")],
};

/// `ServicePort`: `protocol` (a list-map key) defaults to `TCP`.
pub static SERVICE_PORT: TypeMeta = TypeMeta {
    name: "ServicePort",
    fields: &[],
    defaults: &[("protocol", "TCP")],
};

// ---- meta/v1 ----
ty!(OWNER_REFERENCE, "OwnerReference", []);
ty!(
    OBJECT_META,
    "ObjectMeta",
    [
        ("labels", gmap()),
        ("annotations", gmap()),
        ("finalizers", merge_set()),
        (
            "ownerReferences",
            F {
                map_kind: MapKind::Atomic,
                ..merge_by("uid", &["uid"], Some(&OWNER_REFERENCE))
            }
        ),
    ]
);
ty!(LABEL_SELECTOR, "LabelSelector", [("matchLabels", gmap())]);
/// `metav1.Condition`-style lists and core conditions: merge by `type`.
const CONDITIONS: F = merge_by("type", TYPE, None);
ty!(
    STATUS_WITH_CONDITIONS,
    "Status",
    [("conditions", CONDITIONS)]
);

const SELECTOR: F = F {
    map_kind: MapKind::Atomic,
    ..s(&LABEL_SELECTOR)
};

// ---- core/v1 pod ----
ty!(
    ENV_VAR_SOURCE,
    "EnvVarSource",
    [
        ("configMapKeyRef", atomic_struct()),
        ("secretKeyRef", atomic_struct()),
        ("fieldRef", atomic_struct()),
        ("resourceFieldRef", atomic_struct()),
    ]
);
ty!(ENV_VAR, "EnvVar", [("valueFrom", s(&ENV_VAR_SOURCE))]);
ty!(
    RESOURCE_REQUIREMENTS,
    "ResourceRequirements",
    [
        ("limits", gmap()),
        ("requests", gmap()),
        ("claims", map_list(NAME, None)),
    ]
);
ty!(
    CONTAINER,
    "Container",
    [
        (
            "ports",
            merge_by(
                "containerPort",
                &["containerPort", "protocol"],
                Some(&CONTAINER_PORT)
            )
        ),
        ("env", merge_by("name", NAME, Some(&ENV_VAR))),
        ("resources", s(&RESOURCE_REQUIREMENTS)),
        ("volumeMounts", merge_by("mountPath", &["mountPath"], None)),
        (
            "volumeDevices",
            merge_by("devicePath", &["devicePath"], None)
        ),
    ]
);
ty!(VOLUME, "Volume", [("ephemeral", s(&EPHEMERAL_VOLUME)),]);
ty!(
    EPHEMERAL_VOLUME,
    "EphemeralVolumeSource",
    [("volumeClaimTemplate", s(&PVC_TEMPLATE))]
);
ty!(
    PVC_TEMPLATE,
    "PersistentVolumeClaimTemplate",
    [("metadata", s(&OBJECT_META)), ("spec", s(&PVC_SPEC))]
);
ty!(
    NODE_AFFINITY,
    "NodeAffinity",
    [(
        "requiredDuringSchedulingIgnoredDuringExecution",
        atomic_struct()
    )]
);
ty!(AFFINITY, "Affinity", [("nodeAffinity", s(&NODE_AFFINITY))]);
ty!(
    TOPOLOGY_SPREAD,
    "TopologySpreadConstraint",
    [("labelSelector", SELECTOR)]
);
ty!(
    POD_SPEC,
    "PodSpec",
    [
        ("volumes", merge_retain_by("name", NAME, Some(&VOLUME))),
        ("initContainers", merge_by("name", NAME, Some(&CONTAINER))),
        ("containers", merge_by("name", NAME, Some(&CONTAINER))),
        (
            "ephemeralContainers",
            merge_by("name", NAME, Some(&CONTAINER))
        ),
        (
            "imagePullSecrets",
            F {
                map_kind: MapKind::Atomic,
                ..merge_by("name", NAME, None)
            }
        ),
        ("hostAliases", merge_by("ip", &["ip"], None)),
        ("nodeSelector", amap()),
        ("affinity", s(&AFFINITY)),
        (
            "topologySpreadConstraints",
            merge_by(
                "topologyKey",
                &["topologyKey", "whenUnsatisfiable"],
                Some(&TOPOLOGY_SPREAD)
            )
        ),
        ("overhead", gmap()),
        ("schedulingGates", merge_by("name", NAME, None)),
        ("resourceClaims", merge_retain_by("name", NAME, None)),
    ]
);
ty!(
    POD_TEMPLATE_SPEC,
    "PodTemplateSpec",
    [("metadata", s(&OBJECT_META)), ("spec", s(&POD_SPEC))]
);
ty!(
    POD_STATUS,
    "PodStatus",
    [
        ("conditions", CONDITIONS),
        ("podIPs", merge_by("ip", &["ip"], None)),
        ("hostIPs", merge_by("ip", &["ip"], None)),
        ("resourceClaimStatuses", merge_retain_by("name", NAME, None)),
    ]
);
ty!(
    POD,
    "Pod",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&POD_SPEC)),
        ("status", s(&POD_STATUS))
    ]
);
ty!(
    POD_TEMPLATE,
    "PodTemplate",
    [
        ("metadata", s(&OBJECT_META)),
        ("template", s(&POD_TEMPLATE_SPEC))
    ]
);

// ---- core/v1 others ----
ty!(
    SERVICE_SPEC,
    "ServiceSpec",
    [
        (
            "ports",
            merge_by("port", &["port", "protocol"], Some(&SERVICE_PORT))
        ),
        ("selector", amap()),
    ]
);
ty!(
    SERVICE,
    "Service",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&SERVICE_SPEC)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);
ty!(PLAIN_OBJECT, "Object", [("metadata", s(&OBJECT_META))]);
ty!(
    CONFIG_MAP,
    "ConfigMap",
    [
        ("metadata", s(&OBJECT_META)),
        ("data", gmap()),
        ("binaryData", gmap())
    ]
);
ty!(
    SECRET,
    "Secret",
    [
        ("metadata", s(&OBJECT_META)),
        ("data", gmap()),
        ("stringData", gmap())
    ]
);
ty!(
    SERVICE_ACCOUNT,
    "ServiceAccount",
    [
        ("metadata", s(&OBJECT_META)),
        ("secrets", merge_by("name", NAME, None))
    ]
);
ty!(NODE_SPEC, "NodeSpec", [("podCIDRs", merge_set())]);
ty!(
    NODE_STATUS,
    "NodeStatus",
    [
        ("capacity", gmap()),
        ("allocatable", gmap()),
        ("conditions", merge_atomic_by("type")),
        ("addresses", merge_atomic_by("type")),
    ]
);
ty!(
    NODE,
    "Node",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&NODE_SPEC)),
        ("status", s(&NODE_STATUS))
    ]
);
ty!(
    PVC_SPEC,
    "PersistentVolumeClaimSpec",
    [
        ("selector", SELECTOR),
        ("resources", s(&RESOURCE_REQUIREMENTS))
    ]
);
ty!(
    PVC_STATUS,
    "PersistentVolumeClaimStatus",
    [
        ("capacity", gmap()),
        ("conditions", CONDITIONS),
        ("allocatedResources", gmap()),
        ("allocatedResourceStatuses", amap()),
    ]
);
ty!(
    PVC,
    "PersistentVolumeClaim",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&PVC_SPEC)),
        ("status", s(&PVC_STATUS))
    ]
);
ty!(
    PV_SPEC,
    "PersistentVolumeSpec",
    [("capacity", gmap()), ("claimRef", PLAIN)]
);
ty!(
    PV,
    "PersistentVolume",
    [("metadata", s(&OBJECT_META)), ("spec", s(&PV_SPEC))]
);
ty!(
    NAMESPACE_STATUS,
    "NamespaceStatus",
    [("conditions", CONDITIONS)]
);
ty!(
    NAMESPACE,
    "Namespace",
    [
        ("metadata", s(&OBJECT_META)),
        ("status", s(&NAMESPACE_STATUS))
    ]
);
ty!(
    EVENT,
    "Event",
    [
        ("metadata", s(&OBJECT_META)),
        ("involvedObject", atomic_struct())
    ]
);

// ---- apps/v1 ----
ty!(
    DEPLOYMENT_SPEC,
    "DeploymentSpec",
    [
        ("selector", SELECTOR),
        ("template", s(&POD_TEMPLATE_SPEC)),
        (
            "strategy",
            F {
                strategy: PatchStrategy::RETAIN_KEYS,
                ..PLAIN
            }
        ),
    ]
);
ty!(
    DEPLOYMENT,
    "Deployment",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&DEPLOYMENT_SPEC)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);
ty!(
    REPLICA_SET_SPEC,
    "ReplicaSetSpec",
    [("selector", SELECTOR), ("template", s(&POD_TEMPLATE_SPEC))]
);
ty!(
    REPLICA_SET,
    "ReplicaSet",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&REPLICA_SET_SPEC)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);
ty!(
    STATEFUL_SET_SPEC,
    "StatefulSetSpec",
    [("selector", SELECTOR), ("template", s(&POD_TEMPLATE_SPEC))]
);
ty!(
    STATEFUL_SET,
    "StatefulSet",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&STATEFUL_SET_SPEC)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);
ty!(
    DAEMON_SET,
    "DaemonSet",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&REPLICA_SET_SPEC)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);

// ---- batch/v1 ----
ty!(
    JOB_STATUS,
    "JobStatus",
    [("conditions", merge_atomic_by("type"))]
);
ty!(
    JOB_SPEC,
    "JobSpec",
    [("selector", SELECTOR), ("template", s(&POD_TEMPLATE_SPEC))]
);
ty!(
    JOB,
    "Job",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&JOB_SPEC)),
        ("status", s(&JOB_STATUS))
    ]
);
ty!(
    JOB_TEMPLATE,
    "JobTemplateSpec",
    [("metadata", s(&OBJECT_META)), ("spec", s(&JOB_SPEC))]
);
ty!(
    CRON_JOB_SPEC,
    "CronJobSpec",
    [("jobTemplate", s(&JOB_TEMPLATE))]
);
ty!(
    CRON_JOB,
    "CronJob",
    [("metadata", s(&OBJECT_META)), ("spec", s(&CRON_JOB_SPEC))]
);

// ---- discovery, coordination, policy, scheduling, storage, rbac, apiextensions ----
ty!(
    ENDPOINT,
    "Endpoint",
    [("addresses", set()), ("deprecatedTopology", gmap())]
);
ty!(
    ENDPOINT_SLICE,
    "EndpointSlice",
    [("metadata", s(&OBJECT_META)), ("endpoints", s(&ENDPOINT))]
);
ty!(
    PDB_SPEC,
    "PodDisruptionBudgetSpec",
    [("selector", SELECTOR)]
);
ty!(
    PDB_STATUS,
    "PodDisruptionBudgetStatus",
    [("conditions", CONDITIONS), ("disruptedPods", gmap())]
);
ty!(
    PDB,
    "PodDisruptionBudget",
    [
        ("metadata", s(&OBJECT_META)),
        ("spec", s(&PDB_SPEC)),
        ("status", s(&PDB_STATUS))
    ]
);
ty!(
    STORAGE_CLASS,
    "StorageClass",
    [("metadata", s(&OBJECT_META)), ("parameters", gmap())]
);
ty!(
    ROLE_BINDING,
    "RoleBinding",
    [("metadata", s(&OBJECT_META)), ("roleRef", atomic_struct())]
);
ty!(
    CRD_STATUS,
    "CustomResourceDefinitionStatus",
    [
        ("conditions", map_list(TYPE, None)),
        ("storedVersions", PLAIN)
    ]
);
ty!(
    CRD,
    "CustomResourceDefinition",
    [("metadata", s(&OBJECT_META)), ("status", s(&CRD_STATUS))]
);

// ---- apiregistration, certificates ----
ty!(
    API_SERVICE,
    "APIService",
    [
        ("metadata", s(&OBJECT_META)),
        ("status", s(&STATUS_WITH_CONDITIONS))
    ]
);
ty!(
    CSR_STATUS,
    "CertificateSigningRequestStatus",
    [("conditions", map_list(TYPE, None))]
);
ty!(
    CSR,
    "CertificateSigningRequest",
    [("metadata", s(&OBJECT_META)), ("status", s(&CSR_STATUS))]
);

/// The patch metadata of a built-in kind by API group (`""` for core) and kind, or
/// `None` for kinds that are not built in (custom resources: strategic merge patch
/// is rejected for them, and server-side apply takes list types from the CRD schema
/// via [`crate::schema::OpenApiMeta`]).
pub fn builtin_patch_meta(group: &str, kind: &str) -> Option<&'static dyn PatchMeta> {
    let t: &'static TypeMeta = match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "Service") => &SERVICE,
        ("", "Endpoints") => &PLAIN_OBJECT,
        ("", "Node") => &NODE,
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Secret") => &SECRET,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Event") | ("events.k8s.io", "Event") => &EVENT,
        ("", "PersistentVolumeClaim") => &PVC,
        ("", "PersistentVolume") => &PV,
        ("", "Namespace") => &NAMESPACE,
        ("", "ReplicationController") => &REPLICA_SET,
        ("", "ResourceQuota" | "LimitRange") => &PLAIN_OBJECT,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICA_SET,
        ("apps", "StatefulSet") => &STATEFUL_SET,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("apps", "ControllerRevision") => &PLAIN_OBJECT,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        ("coordination.k8s.io", "Lease") => &PLAIN_OBJECT,
        ("policy", "PodDisruptionBudget") => &PDB,
        ("scheduling.k8s.io", "PriorityClass") => &PLAIN_OBJECT,
        ("storage.k8s.io", "StorageClass") => &STORAGE_CLASS,
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => &PLAIN_OBJECT,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => &ROLE_BINDING,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &CRD,
        ("autoscaling", "Scale") => &PLAIN_OBJECT,
        ("apiregistration.k8s.io", "APIService") => &API_SERVICE,
        ("certificates.k8s.io", "CertificateSigningRequest") => &CSR,
        _ => return None,
    };
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path<'a>(mut m: &'a dyn PatchMeta, p: &[&str]) -> FieldMeta<'a> {
        let (last, init) = p.split_last().unwrap();
        for f in init {
            m = m
                .field(f)
                .unwrap_or_else(|| panic!("no {f}"))
                .schema
                .unwrap_or_else(|| panic!("{f} has no schema"));
        }
        crate::schema::lookup(Some(m), last)
    }

    #[test]
    fn upstream_struct_tags() {
        let d = builtin_patch_meta("apps", "Deployment").unwrap();
        let c = path(d, &["spec", "template", "spec", "containers"]);
        assert!(c.strategy.merge);
        assert_eq!((c.merge_key, c.list_type), (Some("name"), ListType::Map));
        let ports = path(d, &["spec", "template", "spec", "containers", "ports"]);
        assert_eq!(ports.merge_key, Some("containerPort"));
        assert_eq!(
            ports.list_map_keys.iter().collect::<Vec<_>>(),
            vec!["containerPort", "protocol"]
        );
        assert_eq!(
            path(
                d,
                &["spec", "template", "spec", "containers", "volumeMounts"]
            )
            .merge_key,
            Some("mountPath")
        );
        assert_eq!(
            path(d, &["spec", "template", "spec", "containers", "env"]).merge_key,
            Some("name")
        );
        let vols = path(d, &["spec", "template", "spec", "volumes"]);
        assert!(vols.strategy.merge && vols.strategy.retain_keys);
        assert_eq!(
            path(d, &["spec", "template", "spec", "imagePullSecrets"]).merge_key,
            Some("name")
        );
        assert!(
            path(d, &["spec", "template", "spec", "tolerations"])
                .merge_key
                .is_none()
        );
        assert_eq!(path(d, &["spec", "selector"]).map_kind, MapKind::Atomic);
        assert!(path(d, &["spec", "strategy"]).strategy.retain_keys);
        let fin = path(d, &["metadata", "finalizers"]);
        assert!(fin.strategy.merge);
        assert_eq!(fin.list_type, ListType::Set);
        let owners = path(d, &["metadata", "ownerReferences"]);
        assert_eq!(owners.merge_key, Some("uid"));
        assert_eq!(path(d, &["metadata", "labels"]).map_kind, MapKind::Granular);
        assert_eq!(path(d, &["status", "conditions"]).merge_key, Some("type"));
        let svc = builtin_patch_meta("", "Service").unwrap();
        assert_eq!(
            path(svc, &["spec", "ports"])
                .list_map_keys
                .iter()
                .collect::<Vec<_>>(),
            vec!["port", "protocol"]
        );
        assert_eq!(path(svc, &["spec", "selector"]).map_kind, MapKind::Atomic);
        let cj = builtin_patch_meta("batch", "CronJob").unwrap();
        assert_eq!(
            path(
                cj,
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers"
                ]
            )
            .merge_key,
            Some("name")
        );
        let node = builtin_patch_meta("", "Node").unwrap();
        assert_eq!(path(node, &["spec", "podCIDRs"]).list_type, ListType::Set);
        assert!(builtin_patch_meta("example.com", "Widget").is_none());
        for (g, k) in [
            ("", "Endpoints"),
            ("coordination.k8s.io", "Lease"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("policy", "PodDisruptionBudget"),
            ("storage.k8s.io", "StorageClass"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("apps", "ControllerRevision"),
            ("", "Event"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "Namespace"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("discovery.k8s.io", "EndpointSlice"),
        ] {
            let m = builtin_patch_meta(g, k).unwrap_or_else(|| panic!("{g}/{k}"));
            assert!(m.field("metadata").is_some(), "{g}/{k}");
        }
    }
}
