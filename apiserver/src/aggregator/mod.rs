//! `apiregistration.k8s.io`: what kube-aggregator does for the APIServices of an API
//! server that serves every group itself — the priorities of the built-in group-versions
//! ([`priorities`]), which APIServices should exist for them and for CRDs
//! ([`registration`]), and whether each is available ([`availability`]). These are pure;
//! [`crate::ops::Cluster::sync_apiservices`] and
//! [`crate::ops::Cluster::refresh_apiservice_availability`] perform them.
//!
//! APIServices are stored objects, kept in line by the server as upstream's controllers
//! keep them: written for the local group-versions when the server starts, for a CRD's
//! group-versions when it is written (and removed when the CRD goes), their availability
//! judged when they are written and by the bootstrap reconciler every 10 s. A user may
//! create an APIService of their own; it is validated and stored and its availability
//! judged against its Service, but no request is proxied to it.

pub mod availability;
pub mod priorities;
pub mod registration;
