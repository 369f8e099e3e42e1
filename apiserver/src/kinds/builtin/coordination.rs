//! `coordination.k8s.io/v1`.

use k8s_openapi::api::coordination::v1 as api;

use crate::kinds::descriptor::{KindDescriptor, RustType, Scope};
use crate::table;

/// `coordination.k8s.io/v1` Leases.
pub static LEASE: KindDescriptor = KindDescriptor {
    table: Some(table::discovery::LEASE),
    ..KindDescriptor::new(
        "coordination.k8s.io",
        "Lease",
        "leases",
        Scope::Namespaced,
        RustType::of::<api::Lease>(),
    )
};
