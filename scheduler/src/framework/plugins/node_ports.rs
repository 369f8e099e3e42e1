//! NodePorts: rejects nodes where a wanted host port is already in use.

use crate::cache::{HostPort, NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, Plugin,
    PreFilterPlugin, PreFilterResult, Status,
};

/// Plugin name.
pub const NAME: &str = "NodePorts";
/// Rejection reason.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";
const PRE_FILTER_KEY: &str = "PreFilterNodePorts";

/// The NodePorts filter.
#[derive(Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod and the node.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            ClusterEvent::new(EventResource::Node, ActionType::ADD | ActionType::UPDATE),
        ]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let ports = pod.host_ports();
        if ports.is_empty() {
            return (None, Status::code_only(Code::Skip));
        }
        state.write(PRE_FILTER_KEY, ports);
        (None, Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let owned;
        let wanted = match state.read::<Vec<HostPort>>(PRE_FILTER_KEY) {
            Some(w) => w,
            None => {
                owned = pod.host_ports();
                &owned
            }
        };
        if wanted.iter().any(|hp| node.used_ports().conflicts(hp)) {
            Status::new(Code::Unschedulable, ERR_REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use std::sync::Arc;

    #[test]
    fn used_host_port_rejects() {
        let mut node = NodeInfo::new(NodeBuilder::new("n").build());
        node.add_pod(Arc::new(PodInfo::new(
            PodBuilder::new("a").host_port(8080).build(),
        )));
        let pod = PodInfo::new(PodBuilder::new("p").host_port(8080).build());
        let mut st = CycleState::new();
        assert!(
            NodePorts
                .pre_filter(&mut st, &pod, &Snapshot::default())
                .1
                .is_success()
        );
        let s = NodePorts.filter(&st, &pod, &node);
        assert_eq!(
            (s.code(), s.message().as_str()),
            (Code::Unschedulable, ERR_REASON)
        );
        let other = PodInfo::new(PodBuilder::new("p").host_port(9090).build());
        let mut st = CycleState::new();
        NodePorts.pre_filter(&mut st, &other, &Snapshot::default());
        assert!(NodePorts.filter(&st, &other, &node).is_success());
        let none = PodInfo::new(PodBuilder::new("p").build());
        assert!(
            NodePorts
                .pre_filter(&mut CycleState::new(), &none, &Snapshot::default())
                .1
                .is_skip()
        );
    }
}
