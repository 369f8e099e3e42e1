//! `events.k8s.io/v1`.

use k8s_openapi::api::events::v1 as api;

use super::core::EVENT_FIELDS;
use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::table;

/// `events.k8s.io/v1` Events.
pub static EVENT: KindDescriptor = KindDescriptor {
    short_names: &["ev"],
    table: Some(table::events::EVENT),
    create_on_update: true,
    selectable_fields: EVENT_FIELDS,
    ..KindDescriptor::new(
        "events.k8s.io",
        "Event",
        "events",
        Scope::Namespaced,
        RustType::of::<api::Event>(),
    )
};
