//! `apiextensions.k8s.io/v1`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as api;

use crate::crd::defaults::default_crd;
use crate::crd::validation::validate;
use crate::kinds::Subresource::Status;
use crate::kinds::descriptor::{
    CreateStatus, Generation, KindDescriptor, Lifecycle, RustType, Scope,
};

/// `apiextensions.k8s.io/v1` CustomResourceDefinitions: the server writes their status.
pub static CUSTOM_RESOURCE_DEFINITION: KindDescriptor = KindDescriptor {
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    subresources: &[Status],
    defaults: Some(default_crd),
    validate: Some(validate),
    create_status: CreateStatus::Dropped,
    generation: Generation::Spec,
    lifecycle: Some(Lifecycle::CustomResourceDefinition),
    ..KindDescriptor::new(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        Scope::Cluster,
        RustType::of::<api::CustomResourceDefinition>(),
    )
};
