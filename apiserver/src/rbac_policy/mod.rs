//! Upstream's bootstrap RBAC policy (kube-apiserver's `bootstrappolicy`) and the two
//! jobs upstream does with it:
//!
//! - the policy itself is data, `policy-v1.33.yaml` beside this file (Kubernetes v1.33's
//!   objects with its default feature gates), read once per process by [`data`]: the
//!   user-facing `cluster-admin`, `admin`, `edit`, `view` (the last three aggregated),
//!   the `system:*` roles and bindings, one `system:controller:<name>` role and binding
//!   per kube-controller-manager controller, and the Roles and RoleBindings in
//!   `kube-system` and `kube-public`;
//! - [`reconcile`]: what the server writes at start to an object that already exists
//!   (upstream's `reconciliation` package: missing rules, selectors, subjects, labels
//!   and annotations are added, nothing is removed, and an object annotated
//!   `rbac.authorization.kubernetes.io/autoupdate: "false"` is left alone);
//! - [`aggregation`]: the rules an aggregated ClusterRole should hold (what upstream's
//!   clusterrole-aggregation controller computes); [`controller`] runs it inside the
//!   server whenever a ClusterRole changes.
//!
//! The pure parts ([`data`], [`reconcile`], [`aggregation`]) take and return JSON
//! objects; [`controller`] and [`crate::bootstrap`] read and write the store.

pub mod aggregation;
pub mod controller;
pub mod data;
pub mod reconcile;

pub use aggregation::aggregate;
pub use data::{BootstrapPolicy, PolicyError, bootstrap_policy};

/// The label every bootstrap RBAC object carries.
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
/// The annotation telling the server it may reconcile the object.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// The Kubernetes release whose bootstrap policy `policy-v1.33.yaml` holds.
pub const POLICY_VERSION: &str = "v1.33";
/// The API group of every RBAC object.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
