//! The built-in kinds, one [`KindDescriptor`] each, by API group, with the names, scopes,
//! short names, categories and subresources a real v1.33 cluster reports for them.

mod apps;
mod batch;
mod core;

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
];
