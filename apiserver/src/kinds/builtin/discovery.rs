//! `discovery.k8s.io/v1`.

use k8s_openapi::api::discovery::v1 as api;

use crate::defaults::discovery::default_endpoint_slice;
use crate::kinds::descriptor::{Generation, KindDescriptor, RustType, Scope};
use crate::table;
use crate::validation::discovery::validate_endpoint_slice;

/// `discovery.k8s.io/v1` EndpointSlices.
pub static ENDPOINT_SLICE: KindDescriptor = KindDescriptor {
    defaults: Some(default_endpoint_slice),
    validate: Some(validate_endpoint_slice),
    table: Some(table::discovery::ENDPOINT_SLICE),
    // Upstream's strategy: set on create, bumped by any change but other metadata (the
    // EndpointSlice controller tells its own writes from a lagging cache by it).
    generation: Generation::SpecAndLabels,
    ..KindDescriptor::new(
        "discovery.k8s.io",
        "EndpointSlice",
        "endpointslices",
        Scope::Namespaced,
        RustType::of::<api::EndpointSlice>(),
    )
};
