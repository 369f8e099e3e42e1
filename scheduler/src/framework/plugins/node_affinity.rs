//! NodeAffinity: `nodeSelector` and required node affinity as a filter (with the
//! `metadata.name` shortcut in PreFilter), preferred node affinity as a score.

use std::collections::BTreeSet;
use std::sync::Arc;

use capstan_labels::set_matches;
use k8s_openapi::api::core::v1::{Node, NodeSelector, Pod, PreferredSchedulingTerm};

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
    default_normalize_score,
};
use crate::labels::{CompiledNodeSelector, node_selector_matches, node_selector_term_matches};

/// Plugin name.
pub const NAME: &str = "NodeAffinity";
/// Rejection reason.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Reason when the terms' `metadata.name` fields cannot all hold.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";
const PRE_FILTER_KEY: &str = "PreFilterNodeAffinity";
const PRE_SCORE_KEY: &str = "PreScoreNodeAffinity";

/// A pod's required node placement: `nodeSelector` and required node affinity
/// (upstream `nodeaffinity.RequiredNodeAffinity`).
#[derive(Debug, Clone, Default)]
pub struct RequiredNodeAffinity {
    node_selector: Option<std::collections::BTreeMap<String, String>>,
    required: Option<NodeSelector>,
    compiled: CompiledNodeSelector,
}

impl RequiredNodeAffinity {
    /// Extracts it from a pod.
    pub fn of(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let node_selector = spec
            .and_then(|s| s.node_selector.clone())
            .filter(|m| !m.is_empty());
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .clone()
            });
        RequiredNodeAffinity {
            compiled: CompiledNodeSelector::new(node_selector.as_ref(), required.as_ref()),
            node_selector,
            required,
        }
    }

    /// [`RequiredNodeAffinity::matches`] on a node info, through its label
    /// hashes (same result, fewer reads of the node's label strings).
    pub fn matches_node_info(&self, node: &NodeInfo) -> bool {
        self.compiled.matches(&node.label_view())
    }

    /// Whether the node satisfies both.
    pub fn matches(&self, node: &Node) -> bool {
        if let Some(sel) = &self.node_selector
            && !set_matches(sel, &node.metadata.labels)
        {
            return false;
        }
        self.required
            .as_ref()
            .is_none_or(|r| node_selector_matches(r, node))
    }
}

/// The NodeAffinity filter and scorer.
#[derive(Debug, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads the pod, the node and the profile's `addedAffinity`.
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
        )]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
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

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let req = RequiredNodeAffinity::of(&pod.pod);
        if req.node_selector.is_none() && req.required.is_none() {
            return (None, Status::code_only(Code::Skip));
        }
        let terms = req.required.as_ref().map(|r| r.node_selector_terms.clone());
        state.write(PRE_FILTER_KEY, req);
        let Some(terms) = terms else {
            return (None, Status::success());
        };
        let mut names: Option<BTreeSet<String>> = None;
        for t in &terms {
            let mut term_names: Option<BTreeSet<String>> = None;
            for r in t.match_fields.iter().flatten() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let s: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                    term_names = Some(match term_names {
                        None => s,
                        Some(prev) => prev.intersection(&s).cloned().collect(),
                    });
                }
            }
            let Some(term_names) = term_names else {
                return (None, Status::success());
            };
            names.get_or_insert_with(BTreeSet::new).extend(term_names);
        }
        match names {
            Some(n) if n.is_empty() => (
                None,
                Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_CONFLICT),
            ),
            Some(n) => (
                Some(PreFilterResult {
                    node_names: Some(n),
                }),
                Status::success(),
            ),
            None => (None, Status::success()),
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.node().is_none() {
            return Status::error("node not found");
        }
        let ok = match state.read::<RequiredNodeAffinity>(PRE_FILTER_KEY) {
            Some(req) => req.matches_node_info(node),
            None => RequiredNodeAffinity::of(&pod.pod).matches_node_info(node),
        };
        if ok {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_POD)
        }
    }
}

fn preferred_terms(pod: &Pod) -> Vec<PreferredSchedulingTerm> {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .clone()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.weight != 0)
        .collect()
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
    ) -> Status {
        let terms = preferred_terms(&pod.pod);
        if terms.is_empty() {
            return Status::code_only(Code::Skip);
        }
        state.write(PRE_SCORE_KEY, terms);
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let Some(n) = node.node() else {
            return Err(Status::error("node not found"));
        };
        let owned;
        let terms = match state.read::<Vec<PreferredSchedulingTerm>>(PRE_SCORE_KEY) {
            Some(t) => t,
            None => {
                owned = preferred_terms(&pod.pod);
                &owned
            }
        };
        Ok(terms
            .iter()
            .filter(|t| node_selector_term_matches(&t.preference, n))
            .map(|t| t.weight as i64)
            .sum())
    }

    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn run_filter(pod: &PodInfo, node: &NodeInfo) -> Status {
        let mut st = CycleState::new();
        let (_, s) = NodeAffinity.pre_filter(&mut st, pod, &Snapshot::default());
        if s.is_skip() {
            return Status::success();
        }
        assert!(s.is_success(), "{s}");
        NodeAffinity.filter(&st, pod, node)
    }

    #[test]
    fn node_selector_must_match_all_labels() {
        let node = NodeInfo::new(
            NodeBuilder::new("n")
                .label("disk", "ssd")
                .label("zone", "a")
                .build(),
        );
        let ok = PodInfo::new(PodBuilder::new("p").node_selector("disk", "ssd").build());
        assert!(run_filter(&ok, &node).is_success());
        let bad = PodInfo::new(PodBuilder::new("p").node_selector("disk", "hdd").build());
        let st = run_filter(&bad, &node);
        assert_eq!(
            (st.code(), st.message().as_str()),
            (Code::UnschedulableAndUnresolvable, ERR_REASON_POD)
        );
    }

    #[test]
    fn required_terms_are_ored_and_requirements_anded() {
        let node = NodeInfo::new(
            NodeBuilder::new("n")
                .label("gpus", "8")
                .label("zone", "a")
                .build(),
        );
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .node_affinity_required(vec![
                    vec![("zone", "In", vec!["b"])],
                    vec![("gpus", "Gt", vec!["4"]), ("zone", "NotIn", vec!["c"])],
                ])
                .build(),
        );
        assert!(run_filter(&pod, &node).is_success());
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .node_affinity_required(vec![vec![("gpus", "Lt", vec!["4"])]])
                .build(),
        );
        assert!(!run_filter(&pod, &node).is_success());
    }

    #[test]
    fn metadata_name_fields_restrict_nodes_in_pre_filter() {
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .node_affinity_required_fields(vec![vec![(
                    "metadata.name",
                    "In",
                    vec!["n1", "n2"],
                )]])
                .build(),
        );
        let mut st = CycleState::new();
        let (res, s) = NodeAffinity.pre_filter(&mut st, &pod, &Snapshot::default());
        assert!(s.is_success());
        assert_eq!(res.unwrap().node_names.unwrap().len(), 2);
        let n1 = NodeInfo::new(NodeBuilder::new("n1").build());
        let n3 = NodeInfo::new(NodeBuilder::new("n3").build());
        assert!(NodeAffinity.filter(&st, &pod, &n1).is_success());
        assert!(!NodeAffinity.filter(&st, &pod, &n3).is_success());
        let conflict = PodInfo::new(
            PodBuilder::new("p")
                .node_affinity_required_fields(vec![vec![
                    ("metadata.name", "In", vec!["n1"]),
                    ("metadata.name", "In", vec!["n2"]),
                ]])
                .build(),
        );
        let (_, s) =
            NodeAffinity.pre_filter(&mut CycleState::new(), &conflict, &Snapshot::default());
        assert_eq!(s.message(), ERR_REASON_CONFLICT);
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .node_affinity_preferred(10, vec![("zone", "In", vec!["a"])])
                .node_affinity_preferred(30, vec![("disk", "Exists", vec![])])
                .build(),
        );
        let nodes = [
            NodeInfo::new(
                NodeBuilder::new("both")
                    .label("zone", "a")
                    .label("disk", "ssd")
                    .build(),
            ),
            NodeInfo::new(NodeBuilder::new("zone").label("zone", "a").build()),
            NodeInfo::new(NodeBuilder::new("none").build()),
        ];
        let snap = Snapshot::default();
        let mut st = CycleState::new();
        assert!(
            NodeAffinity
                .pre_score(&mut st, &pod, &[], &snap)
                .is_success()
        );
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.node_name(),
                score: NodeAffinity.score(&st, &pod, n, &snap).unwrap(),
            })
            .collect();
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            [40, 10, 0]
        );
        NodeAffinity.normalize_score(&st, &pod, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            [100, 25, 0]
        );
    }
}
