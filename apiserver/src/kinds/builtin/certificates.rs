//! `certificates.k8s.io/v1`.

use k8s_openapi::api::certificates::v1 as api;

use crate::defaults::certificates::{csr_initial_status, prepare_csr_update, record_csr_requester};
use crate::kinds::Subresource::{Approval, Status};
use crate::kinds::descriptor::{CreateStatus, KindDescriptor, RustType, Scope, UpdateRules};
use crate::names::NameRule;
use crate::table;
use crate::validation::certificates::{validate_csr, validate_csr_subresource};

/// `certificates.k8s.io/v1` CertificateSigningRequests: the requester recorded on
/// create, `spec` immutable, approval through `approval`, the certificate through
/// `status`.
pub static CERTIFICATE_SIGNING_REQUEST: KindDescriptor = KindDescriptor {
    short_names: &["csr"],
    subresources: &[Status, Approval],
    name_rule: NameRule::Any,
    validate: Some(validate_csr),
    table: Some(table::certificates::CERTIFICATE_SIGNING_REQUEST),
    create_status: CreateStatus::Initial(csr_initial_status),
    selectable_fields: &["spec.signerName"],
    update_rules: Some(UpdateRules {
        prepare: prepare_csr_update,
        validate_subresource: validate_csr_subresource,
    }),
    records_requester: Some(record_csr_requester),
    ..KindDescriptor::new(
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        Scope::Cluster,
        RustType::of::<api::CertificateSigningRequest>(),
    )
};
