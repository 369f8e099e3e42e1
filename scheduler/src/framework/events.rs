//! Cluster events that may make an unschedulable pod schedulable (upstream
//! `framework.ClusterEvent`), and how node and pod updates map to action types.

use std::ops::BitOr;

use k8s_openapi::api::core::v1::{Node, Pod};

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A pod bound to a node (assigned pod).
    Pod,
    /// A pending pod itself (its own update).
    UnscheduledPod,
    /// A node.
    Node,
    /// A PersistentVolume.
    PersistentVolume,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A StorageClass.
    StorageClass,
    /// Any resource (timeouts, forced moves).
    WildCard,
}

/// A set of actions (bit flags), as upstream's `ActionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionType(pub u32);

impl ActionType {
    /// Object added.
    pub const ADD: ActionType = ActionType(1);
    /// Object deleted.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// Node allocatable changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// Node labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// Node taints or `spec.unschedulable` changed.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// Node conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// Node annotations changed.
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    /// Pod labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// Pod requests went down.
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    /// Pod tolerations changed.
    pub const UPDATE_POD_TOLERATION: ActionType = ActionType(1 << 9);
    /// Pod scheduling gates all removed.
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// Any other update.
    pub const UPDATE_OTHER: ActionType = ActionType(1 << 11);
    /// Any update.
    pub const UPDATE: ActionType = ActionType(((1 << 12) - 1) & !3);
    /// Anything.
    pub const ALL: ActionType = ActionType((1 << 12) - 1);

    /// Whether the two sets share an action.
    pub fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for ActionType {
    type Output = ActionType;
    fn bitor(self, rhs: ActionType) -> ActionType {
        ActionType(self.0 | rhs.0)
    }
}

/// An event: a resource and the actions that happened (or are of interest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// The resource.
    pub resource: EventResource,
    /// The actions.
    pub action: ActionType,
}

impl ClusterEvent {
    /// An event.
    pub const fn new(resource: EventResource, action: ActionType) -> Self {
        ClusterEvent { resource, action }
    }

    /// Pods left unschedulable longer than the flush interval (moves everything).
    pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent =
        ClusterEvent::new(EventResource::WildCard, ActionType::ALL);

    /// Whether this registered interest matches an incoming event.
    pub fn matches(&self, incoming: &ClusterEvent) -> bool {
        self.resource == EventResource::WildCard
            || incoming.resource == EventResource::WildCard
            || (self.resource == incoming.resource && self.action.intersects(incoming.action))
    }
}

/// Which aspects of a node changed (upstream `nodeSchedulingPropertiesChange`).
pub fn node_update_actions(old: &Node, new: &Node) -> ActionType {
    let mut a = ActionType(0);
    let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    if alloc(old) != alloc(new) {
        a = a | ActionType::UPDATE_NODE_ALLOCATABLE;
    }
    if old.metadata.labels != new.metadata.labels {
        a = a | ActionType::UPDATE_NODE_LABEL;
    }
    let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
    let unsched = |n: &Node| {
        n.spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    };
    if taints(old) != taints(new) || unsched(old) != unsched(new) {
        a = a | ActionType::UPDATE_NODE_TAINT;
    }
    let conds = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect::<Vec<_>>()
            })
    };
    if conds(old) != conds(new) {
        a = a | ActionType::UPDATE_NODE_CONDITION;
    }
    if old.metadata.annotations != new.metadata.annotations {
        a = a | ActionType::UPDATE_NODE_ANNOTATION;
    }
    a
}

/// Which aspects of a pod changed (upstream `podSchedulingPropertiesChange`).
pub fn pod_update_actions(old: &Pod, new: &Pod) -> ActionType {
    let mut a = ActionType(0);
    if old.metadata.labels != new.metadata.labels {
        a = a | ActionType::UPDATE_POD_LABEL;
    }
    let old_req = crate::resource::pod_requests(old);
    let new_req = crate::resource::pod_requests(new);
    if new_req.milli_cpu < old_req.milli_cpu
        || new_req.memory < old_req.memory
        || new_req.ephemeral_storage < old_req.ephemeral_storage
        || old_req.scalar.iter().any(|(k, v)| new_req.scalar(k) < *v)
    {
        a = a | ActionType::UPDATE_POD_SCALE_DOWN;
    }
    let tol = |p: &Pod| p.spec.as_ref().and_then(|s| s.tolerations.clone());
    if tol(old) != tol(new) {
        a = a | ActionType::UPDATE_POD_TOLERATION;
    }
    let gated = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty())
    };
    if gated(old) && !gated(new) {
        a = a | ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED;
    }
    if a.0 == 0 {
        a = ActionType::UPDATE_OTHER;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn node_updates_are_classified() {
        let old = NodeBuilder::new("n").capacity("1", "1Gi", 10).build();
        let new = NodeBuilder::new("n")
            .capacity("2", "1Gi", 10)
            .label("a", "b")
            .build();
        let a = node_update_actions(&old, &new);
        assert!(a.intersects(ActionType::UPDATE_NODE_ALLOCATABLE));
        assert!(a.intersects(ActionType::UPDATE_NODE_LABEL));
        assert!(!a.intersects(ActionType::UPDATE_NODE_TAINT));
        let tainted = NodeBuilder::new("n")
            .capacity("1", "1Gi", 10)
            .unschedulable()
            .build();
        assert_eq!(
            node_update_actions(&old, &tainted),
            ActionType::UPDATE_NODE_TAINT
        );
    }

    #[test]
    fn event_matching() {
        let reg = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
        );
        assert!(reg.matches(&ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_LABEL
        )));
        assert!(!reg.matches(&ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_TAINT
        )));
        assert!(!reg.matches(&ClusterEvent::new(EventResource::Pod, ActionType::ADD)));
        assert!(reg.matches(&ClusterEvent::UNSCHEDULABLE_TIMEOUT));
    }

    #[test]
    fn pod_updates_are_classified() {
        let old = PodBuilder::new("p").container(&[("cpu", "2")]).build();
        let new = PodBuilder::new("p")
            .container(&[("cpu", "1")])
            .label("a", "b")
            .build();
        let a = pod_update_actions(&old, &new);
        assert!(a.intersects(ActionType::UPDATE_POD_SCALE_DOWN));
        assert!(a.intersects(ActionType::UPDATE_POD_LABEL));
        assert_eq!(pod_update_actions(&old, &old), ActionType::UPDATE_OTHER);
    }
}
