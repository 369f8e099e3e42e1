//! `storage.k8s.io/v1`.

use k8s_openapi::api::storage::v1 as api;

use crate::defaults::storage::default_storage_class;
use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::table;
use crate::validation::storage::validate_storage_class;

/// `storage.k8s.io/v1` StorageClasses.
pub static STORAGE_CLASS: KindDescriptor = KindDescriptor {
    short_names: &["sc"],
    defaults: Some(default_storage_class),
    validate: Some(validate_storage_class),
    table: Some(table::storage::STORAGE_CLASS),
    ..KindDescriptor::new(
        "storage.k8s.io",
        "StorageClass",
        "storageclasses",
        Scope::Cluster,
        RustType::of::<api::StorageClass>(),
    )
};
