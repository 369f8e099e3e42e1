//! `policy/v1`.

use k8s_openapi::api::policy::v1 as api;

use crate::kinds::Subresource::Status;
use crate::kinds::descriptor::{
    CreateStatus, Generation, KindDescriptor, RustType, Scope, empty_status,
};
use crate::table;
use crate::validation::policy::validate_pdb;

/// `policy/v1` PodDisruptionBudgets.
pub static POD_DISRUPTION_BUDGET: KindDescriptor = KindDescriptor {
    short_names: &["pdb"],
    subresources: &[Status],
    validate: Some(validate_pdb),
    table: Some(table::policy::POD_DISRUPTION_BUDGET),
    create_status: CreateStatus::Initial(empty_status),
    generation: Generation::Spec,
    ..KindDescriptor::new(
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        Scope::Namespaced,
        RustType::of::<api::PodDisruptionBudget>(),
    )
};
