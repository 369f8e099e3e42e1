//! `endpointslice-controller` (upstream `pkg/controller/endpointslice` over the
//! reconciler of `staging/src/k8s.io/endpointslice`): every Service with a selector,
//! other than `ExternalName`, gets EndpointSlices listing the pods its selector
//! picks, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned
//! by the Service (so the garbage collector removes them with it).
//!
//! Slices hold at most `--max-endpoints-per-slice` endpoints (100 by default, up to
//! 1,000), one IP family and one resolved port set each; an endpoint is a pod with
//! its `ready` (Ready and not terminating, or always with
//! `publishNotReadyAddresses`), `serving` (Ready) and `terminating` conditions —
//! terminating pods stay listed — its `nodeName`, its node's
//! `topology.kubernetes.io/zone` and, when its `subdomain` names the Service, its
//! hostname. A Service with nothing to publish keeps one empty placeholder slice.
//! [`reconcile`] is the pure core (upstream's churn-minimising reconciliation: it
//! fills existing slices before creating new ones and never rewrites a slice that
//! did not change); [`tracker`] keeps the cache's lag from undoing writes;
//! [`controller`] is the shell.
//!
//! Not here: the EndpointSlice *mirroring* controller (upstream
//! `endpointslicemirroring-controller`, which copies the Endpoints of Services
//! without a selector into slices), and topology-aware hints (`hints.forZones`).

pub mod controller;
pub mod reconcile;
pub mod tracker;

pub use controller::{EndpointSliceConfig, EndpointSliceController, endpointslice_controller};

/// Upstream name of the EndpointSlice controller (`--controllers`).
pub const ENDPOINTSLICE_CONTROLLER: &str = "endpointslice-controller";
/// Its work queue's name (upstream's `endpoint_slice`).
pub const ENDPOINTSLICE_QUEUE: &str = "endpoint_slice";
/// The label naming the Service a slice belongs to (upstream
/// `discovery.LabelServiceName`).
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller managing a slice (upstream
/// `discovery.LabelManagedBy`).
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`LABEL_MANAGED_BY`] (upstream `ControllerName`).
pub const MANAGED_BY_VALUE: &str = "endpointslice-controller.k8s.io";
/// The node label giving an endpoint its zone (upstream `v1.LabelTopologyZone`).
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// The default of `--max-endpoints-per-slice`.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The most `--max-endpoints-per-slice` may be (upstream's validation).
pub const MAX_ENDPOINTS_PER_SLICE_LIMIT: usize = 1000;
