//! `node-lifecycle-controller` (upstream `pkg/controller/nodelifecycle`'s
//! `Controller`, without the taint-based pod eviction, which upstream moved to the
//! separate `taint-eviction-controller` in 1.29).
//!
//! Three loops, as upstream:
//!
//! 1. **Monitor** (`monitorNodeHealth`, every `--node-monitor-period`): for each node,
//!    [`health::observe`] decides from its status heartbeat and its Lease in
//!    `kube-node-lease` whether it was heard from within `--node-monitor-grace-period`
//!    (`--node-startup-grace-period` before its first `Ready` condition); past it,
//!    the kubelet's conditions are written `Unknown` (`NodeStatusUnknown`, "Kubelet
//!    stopped posting node status."). A node whose observed `Ready` is not `True` is
//!    queued in its zone's NoExecute tainter, or gets the opposite NoExecute taint
//!    swapped at once ([`taints::no_execute_step`]); a Ready one loses both. On the
//!    pass its `Ready` leaves `True`, its pods get `Ready=False` ([`pods`]). Then
//!    the zones' states set each tainter's rate ([`zones::handle_disruption`]).
//! 2. **NoExecute tainting** (`doNoExecuteTaintingPass`, every 100 ms): each zone's
//!    [`limiter::TimedQueue`] lets nodes through at its rate; each gets
//!    `node.kubernetes.io/unreachable` or `not-ready` `NoExecute` by its current
//!    `Ready` status.
//! 3. **Work queue**: a cluster-scoped key is a node whose NoSchedule condition
//!    taints are brought in line (`doNoScheduleTaintingPass`, on every node event);
//!    a namespaced key is a pod just bound, marked not Ready when its node is not
//!    (`processPod`).
//!
//! The cores are pure ([`health`], [`taints`], [`zones`], [`limiter`], [`pods`]);
//! [`controller`] performs them. Time comes from the manager's clock.

pub mod controller;
pub mod health;
pub mod limiter;
pub mod pods;
pub mod taints;
pub mod zones;

use std::time::Duration;

pub use controller::{
    NodeLifecycle, NodeLifecycleController, NodeLifecycleError, node_lifecycle_controller,
};

/// Upstream name of the node lifecycle controller (`--controllers`).
pub const NODE_LIFECYCLE_CONTROLLER: &str = "node-lifecycle-controller";
/// The component its Events are reported by (upstream's recorder name).
pub const EVENT_COMPONENT: &str = "node-controller";
/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node lifecycle controller's settings (kube-controller-manager's flags of the
/// same names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeLifecycleConfig {
    /// `--node-monitor-period`: how often node health is checked (5 s).
    pub node_monitor_period: Duration,
    /// `--node-monitor-grace-period`: how long a node may be silent before it is
    /// marked `Unknown` (50 s).
    pub node_monitor_grace_period: Duration,
    /// `--node-startup-grace-period`: the same for a node that never posted a `Ready`
    /// condition (60 s).
    pub node_startup_grace_period: Duration,
    /// `--node-eviction-rate`: nodes tainted NoExecute per second per healthy zone
    /// (0.1).
    pub node_eviction_rate: f64,
    /// `--secondary-node-eviction-rate`: the same in an unhealthy zone of a large
    /// cluster (0.01).
    pub secondary_node_eviction_rate: f64,
    /// `--unhealthy-zone-threshold`: the fraction of not-Ready nodes (at least 3)
    /// that makes a zone unhealthy (0.55).
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold`: zones of more nodes than this are large
    /// (50); tainting stops in small unhealthy ones.
    pub large_cluster_size_threshold: usize,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        Self {
            node_monitor_period: Duration::from_secs(5),
            // 50 s since upstream 1.32 (kubernetes/kubernetes#126287; 40 s before).
            node_monitor_grace_period: Duration::from_secs(50),
            node_startup_grace_period: Duration::from_secs(60),
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
        }
    }
}

impl NodeLifecycleConfig {
    /// The grace periods of [`health::observe`].
    pub fn grace_periods(&self) -> health::GracePeriods {
        health::GracePeriods {
            monitor: self.node_monitor_grace_period,
            startup: self.node_startup_grace_period,
        }
    }

    /// The rates and thresholds of [`zones::handle_disruption`].
    pub fn disruption_policy(&self) -> zones::DisruptionPolicy {
        zones::DisruptionPolicy {
            eviction_qps: self.node_eviction_rate,
            secondary_eviction_qps: self.secondary_node_eviction_rate,
            unhealthy_zone_threshold: self.unhealthy_zone_threshold,
            large_cluster_threshold: self.large_cluster_size_threshold,
        }
    }
}
