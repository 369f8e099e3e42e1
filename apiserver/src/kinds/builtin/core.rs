//! The core (legacy) group, `v1`.

use k8s_openapi::api::core::v1 as api;

use crate::defaults::core::{
    default_endpoints, default_namespace, default_node, default_pv, default_pvc,
    default_replication_controller, default_secret, default_service, namespace_status,
    pending_status, service_status,
};
use crate::defaults::limit_range::default_limit_range;
use crate::defaults::pod::{default_pod, pod_initial_status};
use crate::kinds::Subresource::{
    Attach, Binding, EphemeralContainers, Eviction, Exec, Log, PortForward, Proxy, Scale, Status,
    Token,
};
use crate::kinds::descriptor::{
    Admission, Backing, CreateStatus, DeleteRules, Deletion, Generation, KindDescriptor, Lifecycle,
    RustType, Scope, SelectorForm, empty_status,
};
use crate::names::NameRule;
use crate::table;
use crate::validation::core::{
    validate_config_map, validate_pv, validate_pvc, validate_replication_controller,
    validate_secret, validate_service,
};
use crate::validation::pod::validate_pod;
use crate::validation::quota::{validate_limit_range, validate_resource_quota};

/// `v1` Namespaces.
pub static NAMESPACE: KindDescriptor = KindDescriptor {
    short_names: &["ns"],
    subresources: &[Status],
    defaults: Some(default_namespace),
    name_rule: NameRule::Label,
    table: Some(table::core::NAMESPACE),
    create_status: CreateStatus::Initial(namespace_status),
    delete: DeleteRules {
        deletion: Deletion::Namespace,
        returns_object: true,
        ..DeleteRules::DEFAULT
    },
    selectable_fields: &["status.phase"],
    ..KindDescriptor::new(
        "",
        "Namespace",
        "namespaces",
        Scope::Cluster,
        RustType::of::<api::Namespace>(),
    )
};

/// `v1` Pods.
pub static POD: KindDescriptor = KindDescriptor {
    short_names: &["po"],
    categories: &["all"],
    subresources: &[
        Status,
        Binding,
        Eviction,
        EphemeralContainers,
        Log,
        Exec,
        Attach,
        PortForward,
    ],
    defaults: Some(default_pod),
    validate: Some(validate_pod),
    table: Some(table::pod::POD),
    create_status: CreateStatus::Initial(pod_initial_status),
    delete: DeleteRules {
        deletion: Deletion::Graceful,
        returns_object: true,
        ..DeleteRules::DEFAULT
    },
    admission: &[
        Admission::LimitRanger,
        Admission::ServiceAccount,
        Admission::Priority,
        Admission::DefaultTolerationSeconds,
    ],
    selectable_fields: &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ],
    ..KindDescriptor::new(
        "",
        "Pod",
        "pods",
        Scope::Namespaced,
        RustType::of::<api::Pod>(),
    )
};

/// `v1` Nodes: their agent reports status when it registers them.
pub static NODE: KindDescriptor = KindDescriptor {
    short_names: &["no"],
    subresources: &[Status, Proxy],
    defaults: Some(default_node),
    table: Some(table::core::NODE),
    admission: &[Admission::TaintNodesByCondition],
    selectable_fields: &["spec.unschedulable"],
    ..KindDescriptor::new(
        "",
        "Node",
        "nodes",
        Scope::Cluster,
        RustType::of::<api::Node>(),
    )
};

/// `v1` Services.
pub static SERVICE: KindDescriptor = KindDescriptor {
    short_names: &["svc"],
    categories: &["all"],
    subresources: &[Status],
    defaults: Some(default_service),
    name_rule: NameRule::Dns1035,
    validate: Some(validate_service),
    table: Some(table::core::SERVICE),
    create_status: CreateStatus::Initial(service_status),
    delete: DeleteRules {
        returns_object: true,
        ..DeleteRules::DEFAULT
    },
    lifecycle: Some(Lifecycle::ServiceAddresses),
    ..KindDescriptor::new(
        "",
        "Service",
        "services",
        Scope::Namespaced,
        RustType::of::<api::Service>(),
    )
};

/// `v1` Endpoints.
pub static ENDPOINTS: KindDescriptor = KindDescriptor {
    short_names: &["ep"],
    defaults: Some(default_endpoints),
    table: Some(table::core::ENDPOINTS),
    create_on_update: true,
    ..KindDescriptor::new(
        "",
        "Endpoints",
        "endpoints",
        Scope::Namespaced,
        RustType::of::<api::Endpoints>(),
    )
};

/// `v1` ConfigMaps.
pub static CONFIG_MAP: KindDescriptor = KindDescriptor {
    short_names: &["cm"],
    validate: Some(validate_config_map),
    table: Some(table::core::CONFIG_MAP),
    ..KindDescriptor::new(
        "",
        "ConfigMap",
        "configmaps",
        Scope::Namespaced,
        RustType::of::<api::ConfigMap>(),
    )
};

/// `v1` Secrets.
pub static SECRET: KindDescriptor = KindDescriptor {
    defaults: Some(default_secret),
    validate: Some(validate_secret),
    table: Some(table::core::SECRET),
    selectable_fields: &["type"],
    ..KindDescriptor::new(
        "",
        "Secret",
        "secrets",
        Scope::Namespaced,
        RustType::of::<api::Secret>(),
    )
};

/// `v1` ServiceAccounts.
pub static SERVICE_ACCOUNT: KindDescriptor = KindDescriptor {
    short_names: &["sa"],
    subresources: &[Token],
    table: Some(table::core::SERVICE_ACCOUNT),
    ..KindDescriptor::new(
        "",
        "ServiceAccount",
        "serviceaccounts",
        Scope::Namespaced,
        RustType::of::<api::ServiceAccount>(),
    )
};

/// The fields Events of both groups are selected by (`involvedObject.*` read from
/// `regarding` in `events.k8s.io/v1`).
pub(super) const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// `v1` Events.
pub static EVENT: KindDescriptor = KindDescriptor {
    short_names: &["ev"],
    table: Some(table::events::CORE_EVENT),
    create_on_update: true,
    selectable_fields: EVENT_FIELDS,
    ..KindDescriptor::new(
        "",
        "Event",
        "events",
        Scope::Namespaced,
        RustType::of::<api::Event>(),
    )
};

/// `v1` PersistentVolumeClaims.
pub static PERSISTENT_VOLUME_CLAIM: KindDescriptor = KindDescriptor {
    short_names: &["pvc"],
    subresources: &[Status],
    defaults: Some(default_pvc),
    validate: Some(validate_pvc),
    table: Some(table::core::PVC),
    create_status: CreateStatus::Initial(pending_status),
    admission: &[
        Admission::LimitRanger,
        Admission::DefaultStorageClass,
        Admission::StorageObjectInUseProtection,
    ],
    ..KindDescriptor::new(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Scope::Namespaced,
        RustType::of::<api::PersistentVolumeClaim>(),
    )
};

/// `v1` PersistentVolumes.
pub static PERSISTENT_VOLUME: KindDescriptor = KindDescriptor {
    short_names: &["pv"],
    subresources: &[Status],
    defaults: Some(default_pv),
    validate: Some(validate_pv),
    table: Some(table::core::PV),
    create_status: CreateStatus::Initial(pending_status),
    admission: &[Admission::StorageObjectInUseProtection],
    ..KindDescriptor::new(
        "",
        "PersistentVolume",
        "persistentvolumes",
        Scope::Cluster,
        RustType::of::<api::PersistentVolume>(),
    )
};

/// `v1` ReplicationControllers.
pub static REPLICATION_CONTROLLER: KindDescriptor = KindDescriptor {
    short_names: &["rc"],
    categories: &["all"],
    subresources: &[Status, Scale],
    defaults: Some(default_replication_controller),
    validate: Some(validate_replication_controller),
    table: Some(table::core::REPLICATION_CONTROLLER),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    selector_form: SelectorForm::LabelMap,
    selectable_fields: &["status.replicas"],
    ..KindDescriptor::new(
        "",
        "ReplicationController",
        "replicationcontrollers",
        Scope::Namespaced,
        RustType::of::<api::ReplicationController>(),
    )
};

/// `v1` ComponentStatuses: computed on every read from the components' health
/// ([`crate::component_status`]); read-only, deprecated upstream since 1.19.
pub static COMPONENT_STATUS: KindDescriptor = KindDescriptor {
    short_names: &["cs"],
    table: Some(table::component_status::COMPONENT_STATUS),
    backing: Backing::ComponentHealth,
    deprecation: Some("v1 ComponentStatus is deprecated in v1.19+"),
    ..KindDescriptor::new(
        "",
        "ComponentStatus",
        "componentstatuses",
        Scope::Cluster,
        RustType::of::<api::ComponentStatus>(),
    )
};

/// `v1` ResourceQuotas: hard limits per namespace, their usage kept in `status` by
/// quota admission and the resource quota controller.
pub static RESOURCE_QUOTA: KindDescriptor = KindDescriptor {
    short_names: &["quota"],
    subresources: &[Status],
    validate: Some(validate_resource_quota),
    table: Some(table::quota::RESOURCE_QUOTA),
    create_status: CreateStatus::Initial(empty_status),
    ..KindDescriptor::new(
        "",
        "ResourceQuota",
        "resourcequotas",
        Scope::Namespaced,
        RustType::of::<api::ResourceQuota>(),
    )
};

/// `v1` LimitRanges: per-container, per-pod and per-claim bounds and defaults that
/// the `LimitRanger` admission step applies.
pub static LIMIT_RANGE: KindDescriptor = KindDescriptor {
    short_names: &["limits"],
    defaults: Some(default_limit_range),
    validate: Some(validate_limit_range),
    ..KindDescriptor::new(
        "",
        "LimitRange",
        "limitranges",
        Scope::Namespaced,
        RustType::of::<api::LimitRange>(),
    )
};
