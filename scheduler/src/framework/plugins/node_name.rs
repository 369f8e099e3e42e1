//! NodeName: a pod with `spec.nodeName` only fits that node.

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, Plugin, Status,
};

/// Plugin name.
pub const NAME: &str = "NodeName";
/// Rejection reason.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName filter.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod and the node.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(EventResource::Node, ActionType::ADD)]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(want) if !want.is_empty() && want != node.node_name() => {
                Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON)
            }
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn only_the_named_node_fits() {
        let n1 = NodeInfo::new(NodeBuilder::new("n1").build());
        let n2 = NodeInfo::new(NodeBuilder::new("n2").build());
        let pod = PodInfo::new(PodBuilder::new("p").node_name("n1").build());
        assert!(NodeName.filter(&CycleState::new(), &pod, &n1).is_success());
        let st = NodeName.filter(&CycleState::new(), &pod, &n2);
        assert_eq!(
            (st.code(), st.message().as_str()),
            (Code::UnschedulableAndUnresolvable, ERR_REASON)
        );
        let any = PodInfo::new(PodBuilder::new("p").build());
        assert!(NodeName.filter(&CycleState::new(), &any, &n2).is_success());
    }
}
