//! PodTopologySpread: `DoNotSchedule` constraints as a filter (maxSkew, minDomains,
//! node inclusion policies) and `ScheduleAnyway` plus the system default
//! constraints as a score.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use capstan_labels::{Requirement, Selector, set_matches};
use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use serde::{Deserialize, Serialize};

use super::node_affinity::RequiredNodeAffinity;
use crate::cache::{NodeInfo, PodInfo, Snapshot, pod_namespace};
use crate::framework::{
    ActionType, ClusterEvent, ClusterLister, Code, CycleState, EventResource, FilterPlugin,
    MAX_NODE_SCORE, NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    ScorePlugin, Status,
};
use crate::labels::find_untolerated_taint;

/// Plugin name.
pub const NAME: &str = "PodTopologySpread";
/// Rejection when the skew would be exceeded.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Rejection when the node lacks a topology label.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";
const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";
const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// How default constraints are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DefaultingType {
    /// The system defaults (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway).
    #[default]
    System,
    /// `defaultConstraints` from the arguments.
    List,
}

/// `PodTopologySpreadArgs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTopologySpreadArgs {
    /// Constraints for pods that have none (with `defaultingType: List`).
    #[serde(default)]
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// System or List.
    #[serde(default)]
    pub defaulting_type: DefaultingType,
}

/// The system default constraints.
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    vec![
        TopologySpreadConstraint {
            max_skew: 3,
            topology_key: HOSTNAME.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            ..Default::default()
        },
        TopologySpreadConstraint {
            max_skew: 5,
            topology_key: ZONE.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            ..Default::default()
        },
    ]
}

/// A parsed constraint.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    fn matches_node_inclusion(&self, pod: &Pod, node: &Node, req: &RequiredNodeAffinity) -> bool {
        if self.honor_node_affinity && !req.matches(node) {
            return false;
        }
        if self.honor_node_taints {
            let taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or(&[]);
            let tols = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or(&[]);
            if find_untolerated_taint(taints, tols, |t| {
                t.effect == "NoSchedule" || t.effect == "NoExecute"
            })
            .is_some()
            {
                return false;
            }
        }
        true
    }
}

fn node_has_all_keys(node: &Node, cs: &[Constraint]) -> bool {
    let labels = node.metadata.labels.as_ref();
    cs.iter()
        .all(|c| labels.is_some_and(|l| l.contains_key(&c.topology_key)))
}

fn count_matching(pods: &[Arc<PodInfo>], selector: &Selector, ns: &str) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    pods.iter()
        .filter(|p| {
            p.pod.metadata.deletion_timestamp.is_none()
                && pod_namespace(&p.pod) == ns
                && selector.matches(&p.pod.metadata.labels)
        })
        .count() as i64
}

#[derive(Debug, Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    tp_value_to_match_num: Vec<HashMap<String, i64>>,
    min_match: Vec<i64>,
    required: RequiredNodeAffinity,
}

impl PreFilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min_match[i] = self.tp_value_to_match_num[i]
            .values()
            .copied()
            .min()
            .unwrap_or(0);
    }

    fn update_with_pod(&mut self, updated: &Pod, preemptor: &Pod, node: Option<&Node>, delta: i64) {
        let Some(node) = node else { return };
        if pod_namespace(updated) != pod_namespace(preemptor)
            || !node_has_all_keys(node, &self.constraints)
        {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(&updated.metadata.labels)
                || !c.matches_node_inclusion(preemptor, node, &self.required)
            {
                continue;
            }
            let v = node
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(&c.topology_key))
                .cloned()
                .unwrap_or_default();
            *self.tp_value_to_match_num[i].entry(v).or_default() += delta;
            self.recompute_min(i);
        }
    }
}

#[derive(Debug, Clone)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    ignored_nodes: HashSet<String>,
    tp_value_to_pod_counts: Vec<HashMap<String, i64>>,
    normalizing_weight: Vec<f64>,
}

/// The PodTopologySpread filter and scorer.
pub struct PodTopologySpread {
    default_constraints: Vec<TopologySpreadConstraint>,
    system_defaulted: bool,
    lister: Arc<dyn ClusterLister>,
}

impl std::fmt::Debug for PodTopologySpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodTopologySpread")
            .field("system_defaulted", &self.system_defaulted)
            .finish()
    }
}

impl PodTopologySpread {
    /// Builds the plugin; `lister` supplies the Services/ReplicaSets/… behind the
    /// default selector.
    pub fn new(args: PodTopologySpreadArgs, lister: Arc<dyn ClusterLister>) -> Self {
        let (default_constraints, system_defaulted) = match args.defaulting_type {
            DefaultingType::System => (system_default_constraints(), true),
            DefaultingType::List => (args.default_constraints, false),
        };
        PodTopologySpread {
            default_constraints,
            system_defaulted,
            lister,
        }
    }

    fn parse(
        &self,
        cs: &[TopologySpreadConstraint],
        pod: &Pod,
        action: &str,
    ) -> Result<Vec<Constraint>, String> {
        let pod_labels = pod.metadata.labels.as_ref();
        let mut out = Vec::new();
        for c in cs.iter().filter(|c| c.when_unsatisfiable == action) {
            let mut selector = Selector::from_label_selector(c.label_selector.as_ref())
                .map_err(|e| e.to_string())?;
            for key in c.match_label_keys.iter().flatten() {
                if let Some(v) = pod_labels.and_then(|l| l.get(key)) {
                    selector.add(Requirement::equals(key.clone(), v.clone()));
                }
            }
            out.push(Constraint {
                max_skew: c.max_skew as i64,
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: c.min_domains.unwrap_or(1) as i64,
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            });
        }
        Ok(out)
    }

    /// The selector of the Services, ReplicationController, ReplicaSet or
    /// StatefulSet the pod belongs to (upstream `helper.DefaultSelector`).
    fn default_selector(&self, pod: &Pod) -> Selector {
        let ns = pod_namespace(pod);
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        for svc in self.lister.services(ns) {
            let Some(sel) = svc
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            if set_matches(sel, &labels) {
                set.extend(sel.clone());
            }
        }
        let mut reqs: Vec<Requirement> = set
            .iter()
            .map(|(k, v)| Requirement::equals(k.clone(), v.clone()))
            .collect();
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        if let Some(owner) = owner {
            let group = owner.api_version.split('/').next().unwrap_or("");
            let extra = match (group, owner.kind.as_str()) {
                ("v1", "ReplicationController") => self
                    .lister
                    .replication_controllers(ns)
                    .into_iter()
                    .find(|rc| rc.metadata.name.as_deref() == Some(owner.name.as_str()))
                    .and_then(|rc| rc.spec.as_ref().and_then(|s| s.selector.clone()))
                    .map(|sel| {
                        // The RC's selector merges into the services' label set.
                        set.extend(sel);
                        reqs.clear();
                        set.iter()
                            .map(|(k, v)| Requirement::equals(k.clone(), v.clone()))
                            .collect::<Vec<_>>()
                    }),
                ("apps", "ReplicaSet") => self
                    .lister
                    .replica_sets(ns)
                    .into_iter()
                    .find(|rs| rs.metadata.name.as_deref() == Some(owner.name.as_str()))
                    .and_then(|rs| rs.spec.as_ref().map(|s| s.selector.clone()))
                    .and_then(|sel| Selector::from_label_selector(Some(&sel)).ok())
                    .and_then(|sel| sel.requirements().map(<[Requirement]>::to_vec)),
                ("apps", "StatefulSet") => self
                    .lister
                    .stateful_sets(ns)
                    .into_iter()
                    .find(|ss| ss.metadata.name.as_deref() == Some(owner.name.as_str()))
                    .and_then(|ss| ss.spec.as_ref().map(|s| s.selector.clone()))
                    .and_then(|sel| Selector::from_label_selector(Some(&sel)).ok())
                    .and_then(|sel| sel.requirements().map(<[Requirement]>::to_vec)),
                _ => None,
            };
            if let Some(extra) = extra {
                reqs.extend(extra);
            }
        }
        Selector::from_requirements(reqs)
    }

    fn constraints_for(&self, pod: &Pod, action: &str) -> Result<Vec<Constraint>, String> {
        let own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or(&[]);
        if !own.is_empty() {
            return self.parse(own, pod, action);
        }
        let mut cs = self.parse(&self.default_constraints, pod, action)?;
        if cs.is_empty() {
            return Ok(cs);
        }
        let sel = self.default_selector(pod);
        if sel.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut cs {
            c.selector = sel.clone();
        }
        Ok(cs)
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Spreading counts the matching pods per topology domain, which every
    /// placement can change: only a pod with no constraint at all (its own, or
    /// the defaults with a non-empty default selector) can be batched.
    fn batchable(&self, pod: &PodInfo) -> bool {
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .is_some_and(|c| !c.is_empty());
        if own {
            return false;
        }
        let mut defaults_apply = false;
        for action in ["DoNotSchedule", "ScheduleAnyway"] {
            match self.parse(&self.default_constraints, &pod.pod, action) {
                Ok(cs) => defaults_apply |= !cs.is_empty(),
                Err(_) => return false,
            }
        }
        // The defaults apply through the default selector only (`constraints_for`
        // drops them when it is empty): one lookup answers for both actions.
        !defaults_apply || self.default_selector(&pod.pod).is_empty()
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD
                    | ActionType::DELETE
                    | ActionType::UPDATE_NODE_LABEL
                    | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
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

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let constraints = match self.constraints_for(&pod.pod, "DoNotSchedule") {
            Ok(c) => c,
            Err(e) => return (None, Status::error(e)),
        };
        if constraints.is_empty() {
            return (None, Status::code_only(Code::Skip));
        }
        let required = RequiredNodeAffinity::of(&pod.pod);
        let ns = pod_namespace(&pod.pod);
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for ni in snapshot.list() {
            let Some(node) = ni.node() else { continue };
            if !node_has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.matches_node_inclusion(&pod.pod, node, &required) {
                    continue;
                }
                let v = ni
                    .labels()
                    .and_then(|l| l.get(&c.topology_key))
                    .cloned()
                    .unwrap_or_default();
                *counts[i].entry(v).or_default() += count_matching(ni.pods(), &c.selector, ns);
            }
        }
        let mut s = PreFilterState {
            min_match: vec![0; constraints.len()],
            constraints,
            tp_value_to_match_num: counts,
            required,
        };
        for i in 0..s.constraints.len() {
            s.recompute_min(i);
        }
        state.write(PRE_FILTER_KEY, s);
        (None, Status::success())
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_add: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update_with_pod(&to_add.pod, &pod.pod, node.node(), 1);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update_with_pod(&to_remove.pod, &pod.pod, node.node(), -1);
        }
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::success();
        };
        let labels = node.labels();
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = labels.and_then(|l| l.get(&c.topology_key)) else {
                return Status::new(
                    Code::UnschedulableAndUnresolvable,
                    ERR_REASON_NODE_LABEL_NOT_MATCH,
                );
            };
            let domains = s.tp_value_to_match_num[i].len() as i64;
            let min = if domains < c.min_domains {
                0
            } else {
                s.min_match[i]
            };
            let self_match = i64::from(c.selector.matches(&pod.pod.metadata.labels));
            let matched = s.tp_value_to_match_num[i].get(value).copied().unwrap_or(0);
            if matched + self_match - min > c.max_skew {
                return Status::new(Code::Unschedulable, ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() || snapshot.is_empty() {
            return Status::code_only(Code::Skip);
        }
        let constraints = match self.constraints_for(&pod.pod, "ScheduleAnyway") {
            Ok(c) => c,
            Err(e) => return Status::error(e),
        };
        if constraints.is_empty() {
            return Status::code_only(Code::Skip);
        }
        let has_own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let require_all = has_own || !self.system_defaulted;
        let mut ignored = HashSet::new();
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        let mut topo_size = vec![0usize; constraints.len()];
        for ni in nodes {
            let Some(node) = ni.node() else { continue };
            if require_all && !node_has_all_keys(node, &constraints) {
                ignored.insert(ni.node_name().to_string());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME {
                    continue;
                }
                let v = ni
                    .labels()
                    .and_then(|l| l.get(&c.topology_key))
                    .cloned()
                    .unwrap_or_default();
                if let std::collections::hash_map::Entry::Vacant(e) = counts[i].entry(v) {
                    e.insert(0);
                    topo_size[i] += 1;
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let sz = if c.topology_key == HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    topo_size[i]
                };
                ((sz + 2) as f64).ln()
            })
            .collect();
        let required = RequiredNodeAffinity::of(&pod.pod);
        let ns = pod_namespace(&pod.pod);
        for ni in snapshot.list() {
            let Some(node) = ni.node() else { continue };
            if require_all && !node_has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.matches_node_inclusion(&pod.pod, node, &required) {
                    continue;
                }
                let Some(v) = ni.labels().and_then(|l| l.get(&c.topology_key)) else {
                    continue;
                };
                if let Some(slot) = counts[i].get_mut(v) {
                    *slot += count_matching(ni.pods(), &c.selector, ns);
                }
            }
        }
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                constraints,
                ignored_nodes: ignored,
                tp_value_to_pod_counts: counts,
                normalizing_weight: weights,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error("reading PreScorePodTopologySpread from cycle state"))?;
        if s.ignored_nodes.contains(node.node_name()) {
            return Ok(0);
        }
        let ns = pod_namespace(&pod.pod);
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.labels().and_then(|l| l.get(&c.topology_key)) else {
                continue;
            };
            let cnt = if c.topology_key == HOSTNAME {
                count_matching(node.pods(), &c.selector, ns)
            } else {
                s.tp_value_to_pod_counts[i].get(v).copied().unwrap_or(0)
            };
            score += cnt as f64 * s.normalizing_weight[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return Status::success();
        };
        let mut min = i64::MAX;
        let mut max = 0i64;
        for sc in scores.iter() {
            if s.ignored_nodes.contains(sc.name) {
                continue;
            }
            min = min.min(sc.score);
            max = max.max(sc.score);
        }
        for sc in scores.iter_mut() {
            if s.ignored_nodes.contains(sc.name) {
                sc.score = 0;
            } else if max == 0 {
                sc.score = MAX_NODE_SCORE;
            } else {
                sc.score = MAX_NODE_SCORE * (max + min - sc.score) / max;
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::StaticLister;
    use crate::testing::*;

    fn plugin() -> PodTopologySpread {
        PodTopologySpread::new(
            PodTopologySpreadArgs::default(),
            Arc::new(StaticLister::default()),
        )
    }

    /// Nodes in zones with `placed` pods labelled app=web on each.
    fn cluster(nodes: &[(&str, &str, usize)]) -> Snapshot {
        let infos = nodes
            .iter()
            .map(|(name, zone, placed)| {
                let mut ni = NodeInfo::new(
                    NodeBuilder::new(name)
                        .label("topology.kubernetes.io/zone", zone)
                        .label(HOSTNAME, name)
                        .build(),
                );
                for i in 0..*placed {
                    ni.add_pod(Arc::new(PodInfo::new(
                        PodBuilder::new(&format!("{name}-{i}"))
                            .label("app", "web")
                            .node_name(name)
                            .build(),
                    )));
                }
                ni
            })
            .collect();
        Snapshot::new(infos)
    }

    fn feasible(pl: &PodTopologySpread, pod: &PodInfo, snap: &Snapshot) -> Vec<String> {
        let mut st = CycleState::new();
        let (_, s) = pl.pre_filter(&mut st, pod, snap);
        if s.is_skip() {
            return snap
                .list()
                .iter()
                .map(|n| n.node_name().to_string())
                .collect();
        }
        snap.list()
            .iter()
            .filter(|n| pl.filter(&st, pod, n).is_success())
            .map(|n| n.node_name().to_string())
            .collect()
    }

    #[test]
    fn do_not_schedule_respects_max_skew_per_zone() {
        let snap = cluster(&[
            ("a1", "a", 2),
            ("a2", "a", 1),
            ("b1", "b", 1),
            ("c1", "c", 0),
        ]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "web")
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "DoNotSchedule",
                    &[("app", "web")],
                )
                .build(),
        );
        // zone counts a=3, b=1, c=0: only zone c keeps skew ≤ 1.
        assert_eq!(feasible(&plugin(), &pod, &snap), ["c1"]);
        let pod2 = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "web")
                .spread(
                    "topology.kubernetes.io/zone",
                    2,
                    "DoNotSchedule",
                    &[("app", "web")],
                )
                .build(),
        );
        assert_eq!(feasible(&plugin(), &pod2, &snap), ["b1", "c1"]);
    }

    #[test]
    fn missing_topology_label_is_unresolvable() {
        let mut infos = vec![NodeInfo::new(NodeBuilder::new("nolabel").build())];
        infos.push(NodeInfo::new(
            NodeBuilder::new("z")
                .label("topology.kubernetes.io/zone", "a")
                .build(),
        ));
        let snap = Snapshot::new(infos);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "web")
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "DoNotSchedule",
                    &[("app", "web")],
                )
                .build(),
        );
        let pl = plugin();
        let mut st = CycleState::new();
        pl.pre_filter(&mut st, &pod, &snap);
        let s = pl.filter(&st, &pod, &snap.list()[0]);
        assert_eq!(
            (s.code(), s.message().as_str()),
            (
                Code::UnschedulableAndUnresolvable,
                ERR_REASON_NODE_LABEL_NOT_MATCH
            )
        );
    }

    #[test]
    fn min_domains_treats_global_minimum_as_zero() {
        // Two zones with 1 pod each; minDomains 3 → min is 0, so a zone with 1 + self = 2 > maxSkew 1.
        let snap = cluster(&[("a1", "a", 1), ("b1", "b", 1)]);
        let mut p = PodBuilder::new("p")
            .label("app", "web")
            .spread(
                "topology.kubernetes.io/zone",
                1,
                "DoNotSchedule",
                &[("app", "web")],
            )
            .build();
        assert_eq!(
            feasible(&plugin(), &PodInfo::new(p.clone()), &snap).len(),
            2
        );
        p.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .min_domains = Some(3);
        assert!(feasible(&plugin(), &PodInfo::new(p), &snap).is_empty());
    }

    #[test]
    fn node_affinity_policy_honor_excludes_unmatched_nodes_from_counts() {
        // Zone b has many pods but the pod's nodeSelector excludes it; with the
        // default Honor policy it does not count toward the minimum.
        let mut infos = Vec::new();
        for (name, zone, n, pool) in [
            ("a1", "a", 1, "x"),
            ("b1", "b", 0, "y"),
            ("c1", "c", 0, "x"),
        ] {
            let mut ni = NodeInfo::new(
                NodeBuilder::new(name)
                    .label("topology.kubernetes.io/zone", zone)
                    .label("pool", pool)
                    .build(),
            );
            for i in 0..n {
                ni.add_pod(Arc::new(PodInfo::new(
                    PodBuilder::new(&format!("{name}{i}"))
                        .label("app", "web")
                        .build(),
                )));
            }
            infos.push(ni);
        }
        let snap = Snapshot::new(infos);
        let mut p = PodBuilder::new("p")
            .label("app", "web")
            .node_selector("pool", "x")
            .spread(
                "topology.kubernetes.io/zone",
                1,
                "DoNotSchedule",
                &[("app", "web")],
            )
            .build();
        // Counting domains a=1, c=0 (b excluded): a1 has skew 2, c1 fits.
        let f = feasible(&plugin(), &PodInfo::new(p.clone()), &snap);
        assert!(f.contains(&"c1".to_string()) && !f.contains(&"a1".to_string()));
        // With Ignore, b (0) counts too; the result for a1/c1 is the same, but b1 passes
        // the spread filter (node affinity is another plugin's job).
        p.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .node_affinity_policy = Some("Ignore".into());
        let f = feasible(&plugin(), &PodInfo::new(p), &snap);
        assert_eq!(f, ["b1", "c1"]);
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let snap = cluster(&[("a1", "a", 3), ("b1", "b", 1), ("c1", "c", 0)]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "web")
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "ScheduleAnyway",
                    &[("app", "web")],
                )
                .build(),
        );
        let pl = plugin();
        let mut st = CycleState::new();
        assert!(pl.pre_score(&mut st, &pod, snap.list(), &snap).is_success());
        let mut scores: Vec<NodeScore> = snap
            .list()
            .iter()
            .map(|n| NodeScore {
                name: n.node_name(),
                score: pl.score(&st, &pod, n, &snap).unwrap(),
            })
            .collect();
        pl.normalize_score(&st, &pod, &mut scores);
        let v: Vec<i64> = scores.iter().map(|s| s.score).collect();
        assert!(v[2] > v[1] && v[1] > v[0], "{v:?}");
        assert_eq!(v[2], 100);
    }

    #[test]
    fn system_defaults_apply_only_with_an_owning_workload() {
        let snap = cluster(&[("a1", "a", 2), ("b1", "b", 0)]);
        let pod = PodInfo::new(PodBuilder::new("p").label("app", "web").build());
        let pl = plugin();
        assert!(
            pl.pre_score(&mut CycleState::new(), &pod, snap.list(), &snap)
                .is_skip()
        );
        // No constraint applies: pods alike may share their per-node results.
        assert!(pl.batchable(&pod));
        let own = PodInfo::new(
            PodBuilder::new("q")
                .label("app", "web")
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "ScheduleAnyway",
                    &[("app", "web")],
                )
                .build(),
        );
        assert!(!pl.batchable(&own));
        let mut lister = StaticLister::default();
        let mut svc = k8s_openapi::api::core::v1::Service::default();
        svc.metadata.namespace = Some("default".into());
        svc.spec = Some(k8s_openapi::api::core::v1::ServiceSpec {
            selector: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        });
        lister.services.push(Arc::new(svc));
        let pl = PodTopologySpread::new(PodTopologySpreadArgs::default(), Arc::new(lister));
        // A Service selects the pod: the default constraints count its pods.
        assert!(!pl.batchable(&pod));
        let mut st = CycleState::new();
        assert!(pl.pre_score(&mut st, &pod, snap.list(), &snap).is_success());
        let a = pl.score(&st, &pod, &snap.list()[0], &snap).unwrap();
        let b = pl.score(&st, &pod, &snap.list()[1], &snap).unwrap();
        assert!(
            a > b,
            "more matching pods → higher raw score (reversed in normalisation)"
        );
    }

    #[test]
    fn node_taints_policy_honor_excludes_tainted_nodes_from_domains() {
        // Zone b exists only on a tainted node. With Ignore (default) it is a domain
        // with 0 pods, so zone a (1 pod) + self = 2 exceeds maxSkew 1; with Honor zone
        // b is not counted and zone a is the minimum.
        let infos = vec![
            {
                let mut ni = NodeInfo::new(
                    NodeBuilder::new("a1")
                        .label("topology.kubernetes.io/zone", "a")
                        .build(),
                );
                ni.add_pod(Arc::new(PodInfo::new(
                    PodBuilder::new("x").label("app", "web").build(),
                )));
                ni
            },
            NodeInfo::new(
                NodeBuilder::new("b1")
                    .label("topology.kubernetes.io/zone", "b")
                    .taint("dedicated", "gpu", "NoSchedule")
                    .build(),
            ),
        ];
        let snap = Snapshot::new(infos);
        let mut p = PodBuilder::new("p")
            .label("app", "web")
            .spread(
                "topology.kubernetes.io/zone",
                1,
                "DoNotSchedule",
                &[("app", "web")],
            )
            .build();
        let f = feasible(&plugin(), &PodInfo::new(p.clone()), &snap);
        assert_eq!(f, ["b1"]);
        p.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .node_taints_policy = Some("Honor".into());
        let f = feasible(&plugin(), &PodInfo::new(p), &snap);
        assert!(f.contains(&"a1".to_string()), "{f:?}");
    }

    #[test]
    fn match_label_keys_narrow_the_selector_to_the_pods_revision() {
        // Two revisions of app=web; only the pod's own revision counts.
        let mut a = NodeInfo::new(
            NodeBuilder::new("a1")
                .label("topology.kubernetes.io/zone", "a")
                .build(),
        );
        for i in 0..2 {
            a.add_pod(Arc::new(PodInfo::new(
                PodBuilder::new(&format!("old{i}"))
                    .label("app", "web")
                    .label("rev", "1")
                    .build(),
            )));
        }
        let b = NodeInfo::new(
            NodeBuilder::new("b1")
                .label("topology.kubernetes.io/zone", "b")
                .build(),
        );
        let snap = Snapshot::new(vec![a, b]);
        let mut p = PodBuilder::new("p")
            .label("app", "web")
            .label("rev", "2")
            .spread(
                "topology.kubernetes.io/zone",
                1,
                "DoNotSchedule",
                &[("app", "web")],
            )
            .build();
        assert_eq!(feasible(&plugin(), &PodInfo::new(p.clone()), &snap), ["b1"]);
        p.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .match_label_keys = Some(vec!["rev".into()]);
        assert_eq!(feasible(&plugin(), &PodInfo::new(p), &snap), ["a1", "b1"]);
    }
}
