//! `scheduling.k8s.io/v1`.

use k8s_openapi::api::scheduling::v1 as api;

use crate::defaults::scheduling::default_priority_class;
use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::table;
use crate::validation::scheduling::validate_priority_class;

/// `scheduling.k8s.io/v1` PriorityClasses.
pub static PRIORITY_CLASS: KindDescriptor = KindDescriptor {
    short_names: &["pc"],
    defaults: Some(default_priority_class),
    validate: Some(validate_priority_class),
    table: Some(table::scheduling::PRIORITY_CLASS),
    ..KindDescriptor::new(
        "scheduling.k8s.io",
        "PriorityClass",
        "priorityclasses",
        Scope::Cluster,
        RustType::of::<api::PriorityClass>(),
    )
};
