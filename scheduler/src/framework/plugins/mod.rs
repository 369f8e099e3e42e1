//! The in-tree plugins and the registry that builds them by name.

pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_unschedulable;
pub mod noderesources;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

use std::sync::Arc;

use super::{ClusterLister, FrameworkError, Plugin};

/// The DefaultPreemption PostFilter plugin's name (implemented in [`crate::preemption`]).
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";
/// The PrioritySort queue-sort plugin's name (implemented by [`crate::queue`]).
pub const PRIORITY_SORT: &str = "PrioritySort";
/// The DefaultBinder plugin's name (binding is done by the shell).
pub const DEFAULT_BINDER: &str = "DefaultBinder";
/// The SchedulingGates PreEnqueue plugin's name (implemented by [`crate::queue`]).
pub const SCHEDULING_GATES: &str = "SchedulingGates";

/// Upstream's v1 default MultiPoint plugins in order, with score weights (0: not a
/// scorer or default weight 1). Plugins upstream enables that capstan does not
/// implement (VolumeRestrictions, NodeVolumeLimits, VolumeZone, DynamicResources)
/// are left out.
pub const DEFAULT_PLUGINS: &[(&str, i32)] = &[
    (SCHEDULING_GATES, 0),
    (PRIORITY_SORT, 0),
    (node_unschedulable::NAME, 0),
    (node_name::NAME, 0),
    (taint_toleration::NAME, 3),
    (node_affinity::NAME, 2),
    (node_ports::NAME, 0),
    (noderesources::FIT_NAME, 1),
    (volume_binding::NAME, 0),
    (pod_topology_spread::NAME, 2),
    (inter_pod_affinity::NAME, 2),
    (DEFAULT_PREEMPTION, 0),
    (noderesources::BALANCED_NAME, 1),
    (image_locality::NAME, 1),
    (DEFAULT_BINDER, 0),
];

/// Plugins handled outside the framework's filter/score machinery.
pub fn is_builtin_non_framework(name: &str) -> bool {
    matches!(
        name,
        DEFAULT_PREEMPTION | PRIORITY_SORT | DEFAULT_BINDER | SCHEDULING_GATES
    )
}

fn parse_args<T: serde::de::DeserializeOwned + Default>(
    name: &str,
    args: Option<&serde_json::Value>,
) -> Result<T, FrameworkError> {
    match args {
        None => Ok(T::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| FrameworkError::InvalidArgs {
            plugin: name.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Builds an in-tree plugin by name with its `pluginConfig` arguments.
pub fn new_plugin(
    name: &str,
    args: Option<&serde_json::Value>,
    lister: Arc<dyn ClusterLister>,
) -> Result<Arc<dyn Plugin>, FrameworkError> {
    Ok(match name {
        node_unschedulable::NAME => Arc::new(node_unschedulable::NodeUnschedulable),
        node_name::NAME => Arc::new(node_name::NodeName),
        taint_toleration::NAME => Arc::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Arc::new(node_affinity::NodeAffinity),
        node_ports::NAME => Arc::new(node_ports::NodePorts),
        noderesources::FIT_NAME => Arc::new(noderesources::NodeResourcesFit::new(parse_args(
            name, args,
        )?)),
        noderesources::BALANCED_NAME => Arc::new(noderesources::BalancedAllocation::new(
            parse_args(name, args)?,
        )),
        volume_binding::NAME => Arc::new(volume_binding::VolumeBinding::with_args(
            lister,
            parse_args(name, args)?,
        )),
        pod_topology_spread::NAME => Arc::new(pod_topology_spread::PodTopologySpread::new(
            parse_args(name, args)?,
            lister,
        )),
        inter_pod_affinity::NAME => Arc::new(inter_pod_affinity::InterPodAffinity::new(
            parse_args(name, args)?,
        )),
        image_locality::NAME => Arc::new(image_locality::ImageLocality),
        other => return Err(FrameworkError::UnknownPlugin(other.to_string())),
    })
}
