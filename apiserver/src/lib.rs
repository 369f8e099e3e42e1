//! # capstan-apiserver
//!
//! An embedded, in-process, in-memory Kubernetes-compatible API server: real HTTP(S),
//! discovery, watch, subresources, defaulting and validation, so controllers and `kubectl`
//! run against it unchanged.

#![warn(missing_docs)]

pub mod admission;
pub mod aggregator;
pub mod authn;
pub mod bootstrap;
pub mod component_status;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod field_error;
pub mod http;
pub mod json;
pub mod kinds;
pub mod kubelet;
pub mod names;
pub mod openapi;
pub mod ops;
pub mod protobuf;
pub mod rbac_policy;
pub mod selector;
pub mod server;
pub mod serviceaccount;
pub mod status;
pub mod storage;
pub mod table;
pub mod typed;

pub mod validation;
pub mod watch;
pub mod wire;

pub use admission::AdmissionConfig;
pub use kinds::descriptor::Admission;
pub use kubelet::KubeletClientConfig;
pub use server::{ApiServer, ServerConfig, ServerError, TestServer};
