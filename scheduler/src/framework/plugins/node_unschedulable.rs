//! NodeUnschedulable: rejects nodes with `spec.unschedulable` unless the pod
//! tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::cache::{NodeInfo, PodInfo};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, Plugin, Status,
};
use crate::labels::tolerations_tolerate;

/// Plugin name.
pub const NAME: &str = "NodeUnschedulable";
/// Rejection reason.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Rejection reason when the node object is unknown.
pub const ERR_REASON_UNKNOWN_CONDITION: &str = "node(s) had unknown conditions";

/// The NodeUnschedulable filter.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod and the node.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
            ),
            ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_TOLERATION,
            ),
        ]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.node().is_none() {
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                ERR_REASON_UNKNOWN_CONDITION,
            );
        }
        if !node.unschedulable() {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            value: None,
            time_added: None,
        };
        let tolerations = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        if tolerations_tolerate(tolerations, &taint) {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn unschedulable_nodes_are_rejected_unless_tolerated() {
        let node = NodeInfo::new(NodeBuilder::new("n").unschedulable().build());
        let pod = PodInfo::new(PodBuilder::new("p").build());
        let st = NodeUnschedulable.filter(&CycleState::new(), &pod, &node);
        assert_eq!(st.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(st.message(), ERR_REASON_UNSCHEDULABLE);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .toleration(
                    "node.kubernetes.io/unschedulable",
                    "Exists",
                    "",
                    "NoSchedule",
                )
                .build(),
        );
        assert!(
            NodeUnschedulable
                .filter(&CycleState::new(), &pod, &node)
                .is_success()
        );
        let ok = NodeInfo::new(NodeBuilder::new("n").build());
        let pod = PodInfo::new(PodBuilder::new("p").build());
        assert!(
            NodeUnschedulable
                .filter(&CycleState::new(), &pod, &ok)
                .is_success()
        );
    }
}
