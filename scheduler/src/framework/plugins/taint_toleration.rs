//! TaintToleration: rejects nodes with an untolerated NoSchedule/NoExecute taint and
//! prefers nodes with fewer untolerated PreferNoSchedule taints.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Toleration;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PreScorePlugin, ScorePlugin, Status, default_normalize_score,
};
use crate::labels::{find_untolerated_taint, tolerations_tolerate};

/// Plugin name.
pub const NAME: &str = "TaintToleration";
const PRE_SCORE_KEY: &str = "PreScoreTaintToleration";

/// The TaintToleration filter and scorer.
#[derive(Debug, Default)]
pub struct TaintToleration;

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

impl Plugin for TaintToleration {
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
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let taints = node.taints();
        match find_untolerated_taint(taints, tolerations(pod), |t| {
            t.effect == "NoSchedule" || t.effect == "NoExecute"
        }) {
            None => Status::success(),
            Some(t) => Status::new(
                Code::UnschedulableAndUnresolvable,
                format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key,
                    t.value.as_deref().unwrap_or("")
                ),
            ),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
    ) -> Status {
        let prefer: Vec<Toleration> = tolerations(pod)
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(PRE_SCORE_KEY, prefer);
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let tols = state
            .read::<Vec<Toleration>>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error("reading PreScoreTaintToleration from cycle state"))?;
        let taints = node.taints();
        Ok(taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerations_tolerate(tols, t))
            .count() as i64)
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
        out: &mut [NodeScore],
    ) -> Result<(), Status> {
        let tols = state
            .read::<Vec<Toleration>>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error("reading PreScoreTaintToleration from cycle state"))?;
        for (slot, node) in out.iter_mut().zip(nodes) {
            slot.score = node
                .taints()
                .iter()
                .filter(|t| t.effect == "PreferNoSchedule" && !tolerations_tolerate(tols, t))
                .count() as i64;
        }
        Ok(())
    }

    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn untolerated_no_schedule_taint_rejects_with_upstream_message() {
        let node = NodeInfo::new(
            NodeBuilder::new("n")
                .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                .build(),
        );
        let pod = PodInfo::new(PodBuilder::new("p").build());
        let st = TaintToleration.filter(&CycleState::new(), &pod, &node);
        assert_eq!(st.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            st.message(),
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
        );
        let tolerant = PodInfo::new(
            PodBuilder::new("p")
                .toleration("node-role.kubernetes.io/control-plane", "Exists", "", "")
                .build(),
        );
        assert!(
            TaintToleration
                .filter(&CycleState::new(), &tolerant, &node)
                .is_success()
        );
        let soft = NodeInfo::new(
            NodeBuilder::new("n")
                .taint("k", "v", "PreferNoSchedule")
                .build(),
        );
        assert!(
            TaintToleration
                .filter(&CycleState::new(), &pod, &soft)
                .is_success()
        );
        let exec = NodeInfo::new(NodeBuilder::new("n").taint("k", "v", "NoExecute").build());
        assert_eq!(
            TaintToleration
                .filter(&CycleState::new(), &pod, &exec)
                .message(),
            "node(s) had untolerated taint {k: v}"
        );
    }

    #[test]
    fn prefer_no_schedule_taints_lower_the_score() {
        let nodes = [
            NodeInfo::new(NodeBuilder::new("clean").build()),
            NodeInfo::new(
                NodeBuilder::new("one")
                    .taint("a", "1", "PreferNoSchedule")
                    .build(),
            ),
            NodeInfo::new(
                NodeBuilder::new("two")
                    .taint("a", "1", "PreferNoSchedule")
                    .taint("b", "1", "PreferNoSchedule")
                    .build(),
            ),
            NodeInfo::new(
                NodeBuilder::new("tolerated")
                    .taint("t", "1", "PreferNoSchedule")
                    .build(),
            ),
        ];
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .toleration("t", "Equal", "1", "PreferNoSchedule")
                .build(),
        );
        let snap = Snapshot::default();
        let mut state = CycleState::new();
        assert!(
            TaintToleration
                .pre_score(&mut state, &pod, &[], &snap)
                .is_success()
        );
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.node_name(),
                score: TaintToleration.score(&state, &pod, n, &snap).unwrap(),
            })
            .collect();
        TaintToleration.normalize_score(&state, &pod, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            [100, 50, 0, 100]
        );
    }
}
