//! `apiregistration.k8s.io/v1`.

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as api;

use crate::defaults::apiregistration::{api_service_initial_status, default_api_service};
use crate::kinds::Subresource::Status;
use crate::kinds::descriptor::{CreateStatus, KindDescriptor, Lifecycle, RustType, Scope};
use crate::names::NameRule;
use crate::table;
use crate::validation::apiregistration::validate_api_service;

/// `apiregistration.k8s.io/v1` APIServices: named `<version>.<group>`, available at
/// once when local (see [`crate::aggregator`]).
pub static API_SERVICE: KindDescriptor = KindDescriptor {
    categories: &["api-extensions"],
    subresources: &[Status],
    defaults: Some(default_api_service),
    name_rule: NameRule::PathSegment,
    validate: Some(validate_api_service),
    table: Some(table::apiregistration::API_SERVICE),
    create_status: CreateStatus::Initial(api_service_initial_status),
    lifecycle: Some(Lifecycle::ApiService),
    ..KindDescriptor::new(
        "apiregistration.k8s.io",
        "APIService",
        "apiservices",
        Scope::Cluster,
        RustType::of::<api::APIService>(),
    )
};
