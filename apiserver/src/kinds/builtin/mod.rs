//! The built-in kinds, one [`KindDescriptor`] each, by API group, with the names, scopes,
//! short names, categories and subresources a real v1.33 cluster reports for them.

mod apiextensions;
mod apps;
mod batch;
mod coordination;
mod core;
mod discovery;
mod events;
mod policy;
mod rbac;
mod scheduling;
mod storage;

use super::KindDescriptor;

/// Every built-in kind, in the order discovery was first written in.
pub static ALL: &[&KindDescriptor] = &[
    &core::NAMESPACE,
    &core::POD,
    &core::NODE,
    &core::SERVICE,
    &core::ENDPOINTS,
    &core::CONFIG_MAP,
    &core::SECRET,
    &core::SERVICE_ACCOUNT,
    &core::EVENT,
    &core::PERSISTENT_VOLUME_CLAIM,
    &core::PERSISTENT_VOLUME,
    &core::REPLICATION_CONTROLLER,
    &apps::DEPLOYMENT,
    &apps::REPLICA_SET,
    &apps::STATEFUL_SET,
    &apps::DAEMON_SET,
    &apps::CONTROLLER_REVISION,
    &batch::JOB,
    &batch::CRON_JOB,
    &discovery::ENDPOINT_SLICE,
    &coordination::LEASE,
    &events::EVENT,
    &policy::POD_DISRUPTION_BUDGET,
    &scheduling::PRIORITY_CLASS,
    &storage::STORAGE_CLASS,
    &rbac::ROLE,
    &rbac::ROLE_BINDING,
    &rbac::CLUSTER_ROLE,
    &rbac::CLUSTER_ROLE_BINDING,
    &apiextensions::CUSTOM_RESOURCE_DEFINITION,
];
