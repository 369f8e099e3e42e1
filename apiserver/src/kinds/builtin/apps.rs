//! `apps/v1`.

use k8s_openapi::api::apps::v1 as api;

use crate::defaults::apps::{
    default_daemonset, default_deployment, default_replica_set, default_statefulset,
    prepare_daemonset_update,
};
use crate::field_error::FieldError;
use crate::kinds::Subresource;
use crate::kinds::Subresource::{Scale, Status};
use crate::kinds::descriptor::{
    CreateStatus, Generation, KindDescriptor, RustType, Scope, UpdateRules, empty_status,
};
use crate::table;
use crate::validation::apps::{
    validate_daemonset, validate_deployment, validate_replica_set, validate_statefulset,
};

/// `apps/v1` Deployments.
pub static DEPLOYMENT: KindDescriptor = KindDescriptor {
    short_names: &["deploy"],
    categories: &["all"],
    subresources: &[Status, Scale],
    defaults: Some(default_deployment),
    validate: Some(validate_deployment),
    table: Some(table::apps::DEPLOYMENT),
    create_status: CreateStatus::Initial(empty_status),
    status_writes_annotations: true,
    generation: Generation::SpecAndAnnotations,
    ..KindDescriptor::new(
        "apps",
        "Deployment",
        "deployments",
        Scope::Namespaced,
        RustType::of::<api::Deployment>(),
    )
};

/// `apps/v1` ReplicaSets.
pub static REPLICA_SET: KindDescriptor = KindDescriptor {
    short_names: &["rs"],
    categories: &["all"],
    subresources: &[Status, Scale],
    defaults: Some(default_replica_set),
    validate: Some(validate_replica_set),
    table: Some(table::apps::REPLICA_SET),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    selectable_fields: &["status.replicas"],
    ..KindDescriptor::new(
        "apps",
        "ReplicaSet",
        "replicasets",
        Scope::Namespaced,
        RustType::of::<api::ReplicaSet>(),
    )
};

/// `apps/v1` StatefulSets.
pub static STATEFUL_SET: KindDescriptor = KindDescriptor {
    short_names: &["sts"],
    categories: &["all"],
    subresources: &[Status, Scale],
    defaults: Some(default_statefulset),
    validate: Some(validate_statefulset),
    table: Some(table::apps::STATEFUL_SET),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    ..KindDescriptor::new(
        "apps",
        "StatefulSet",
        "statefulsets",
        Scope::Namespaced,
        RustType::of::<api::StatefulSet>(),
    )
};

/// A DaemonSet's writes through a subresource validate as its other writes do.
fn validate_daemonset_subresource(
    _sub: Subresource,
    new: &serde_json::Value,
    old: &serde_json::Value,
    errs: &mut Vec<FieldError>,
) {
    validate_daemonset(new, Some(old), errs);
}

/// `apps/v1` DaemonSets: the template generation annotation kept by the server.
pub static DAEMON_SET: KindDescriptor = KindDescriptor {
    short_names: &["ds"],
    update_rules: Some(UpdateRules {
        prepare: prepare_daemonset_update,
        validate_subresource: validate_daemonset_subresource,
    }),
    categories: &["all"],
    subresources: &[Status],
    defaults: Some(default_daemonset),
    validate: Some(validate_daemonset),
    table: Some(table::apps::DAEMON_SET),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    ..KindDescriptor::new(
        "apps",
        "DaemonSet",
        "daemonsets",
        Scope::Namespaced,
        RustType::of::<api::DaemonSet>(),
    )
};

/// `apps/v1` ControllerRevisions.
pub static CONTROLLER_REVISION: KindDescriptor = KindDescriptor {
    table: Some(table::apps::CONTROLLER_REVISION),
    ..KindDescriptor::new(
        "apps",
        "ControllerRevision",
        "controllerrevisions",
        Scope::Namespaced,
        RustType::of::<api::ControllerRevision>(),
    )
};
