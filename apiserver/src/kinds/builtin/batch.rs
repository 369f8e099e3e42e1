//! `batch/v1`.

use k8s_openapi::api::batch::v1 as api;

use crate::defaults::batch::{default_cronjob, default_job};
use crate::kinds::Subresource::Status;
use crate::kinds::descriptor::{
    CreateStatus, DeleteRules, Generation, KindDescriptor, RustType, Scope, empty_status,
};
use crate::table;
use crate::validation::batch::{validate_cronjob, validate_job};

/// `batch/v1` Jobs.
pub static JOB: KindDescriptor = KindDescriptor {
    categories: &["all"],
    subresources: &[Status],
    defaults: Some(default_job),
    validate: Some(validate_job),
    table: Some(table::batch::JOB),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    delete: DeleteRules {
        orphans_dependents: true,
        ..DeleteRules::DEFAULT
    },
    selectable_fields: &["status.successful"],
    ..KindDescriptor::new(
        "batch",
        "Job",
        "jobs",
        Scope::Namespaced,
        RustType::of::<api::Job>(),
    )
};

/// `batch/v1` CronJobs: names leave room for the suffix of their Jobs' names.
pub static CRON_JOB: KindDescriptor = KindDescriptor {
    short_names: &["cj"],
    categories: &["all"],
    subresources: &[Status],
    defaults: Some(default_cronjob),
    max_name_length: Some(52),
    validate: Some(validate_cronjob),
    table: Some(table::batch::CRON_JOB),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    ..KindDescriptor::new(
        "batch",
        "CronJob",
        "cronjobs",
        Scope::Namespaced,
        RustType::of::<api::CronJob>(),
    )
};
