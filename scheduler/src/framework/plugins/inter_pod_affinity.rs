//! InterPodAffinity: required pod affinity/anti-affinity (the incoming pod's and
//! existing pods' anti-affinity) as a filter, preferred terms as a score.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::{Deserialize, Serialize};

use crate::cache::{
    AffinityTerm, NodeInfo, PodInfo, Snapshot, WeightedAffinityTerm, pod_namespace,
};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};
use crate::labels::Selector;

/// Plugin name.
pub const NAME: &str = "InterPodAffinity";
/// Rejection: an existing pod's anti-affinity forbids the incoming pod.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Rejection: the incoming pod's affinity is not satisfied.
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Rejection: the incoming pod's anti-affinity is not satisfied.
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";
const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// `InterPodAffinityArgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterPodAffinityArgs {
    /// Weight given to existing pods' required affinity terms matching the incoming pod.
    #[serde(default = "default_hard_weight")]
    pub hard_pod_affinity_weight: i32,
    /// Skip existing pods' preferred terms when the incoming pod has none.
    #[serde(default)]
    pub ignore_preferred_terms_of_existing_pods: bool,
}

fn default_hard_weight() -> i32 {
    1
}

impl Default for InterPodAffinityArgs {
    fn default() -> Self {
        InterPodAffinityArgs {
            hard_pod_affinity_weight: 1,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

type TopologyCounts = HashMap<(String, String), i64>;

fn update_count(m: &mut TopologyCounts, node: &Node, key: &str, delta: i64) {
    if let Some(v) = node.metadata.labels.as_ref().and_then(|l| l.get(key)) {
        let k = (key.to_string(), v.clone());
        let e = m.entry(k.clone()).or_default();
        *e += delta;
        if *e == 0 {
            m.remove(&k);
        }
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

/// Resolves namespace selectors into namespace lists, as upstream's
/// `mergeAffinityTermNamespacesIfNotEmpty`.
fn merge_namespaces(terms: &mut [AffinityTerm], snapshot: &Snapshot) {
    for t in terms {
        if matches!(t.namespace_selector, Selector::Nothing) || t.namespace_selector.is_empty() {
            continue;
        }
        for (ns, labels) in snapshot.namespaces() {
            if t.namespace_selector.matches(labels) {
                t.namespaces.insert(ns.clone());
            }
        }
        t.namespace_selector = Selector::Nothing;
    }
}

#[derive(Debug, Clone)]
struct PreFilterState {
    pod: Arc<Pod>,
    affinity_terms: Vec<AffinityTerm>,
    anti_affinity_terms: Vec<AffinityTerm>,
    namespace_labels: Option<BTreeMap<String, String>>,
    existing_anti_affinity_counts: TopologyCounts,
    affinity_counts: TopologyCounts,
    anti_affinity_counts: TopologyCounts,
}

impl PreFilterState {
    fn update_with_pod(&mut self, other: &PodInfo, node: Option<&Node>, delta: i64) {
        let Some(node) = node else { return };
        for t in &other.required_anti_affinity_terms {
            if t.matches(&self.pod, self.namespace_labels.as_ref()) {
                update_count(
                    &mut self.existing_anti_affinity_counts,
                    node,
                    &t.topology_key,
                    delta,
                );
            }
        }
        if matches_all(&self.affinity_terms, &other.pod) {
            for t in &self.affinity_terms {
                update_count(&mut self.affinity_counts, node, &t.topology_key, delta);
            }
        }
        for t in &self.anti_affinity_terms {
            if t.matches(&other.pod, None) {
                update_count(&mut self.anti_affinity_counts, node, &t.topology_key, delta);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct PreScoreState {
    topology_score: HashMap<String, HashMap<String, i64>>,
}

/// The InterPodAffinity filter and scorer.
#[derive(Debug, Clone, Default)]
pub struct InterPodAffinity {
    args: InterPodAffinityArgs,
}

impl InterPodAffinity {
    /// Builds the plugin from its arguments.
    pub fn new(args: InterPodAffinityArgs) -> Self {
        InterPodAffinity { args }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
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

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        if !pod.parse_errors.is_empty() {
            return (
                None,
                Status::new(
                    Code::UnschedulableAndUnresolvable,
                    format!("parsing pod: {}", pod.parse_errors.join("; ")),
                ),
            );
        }
        let mut affinity_terms = pod.required_affinity_terms.clone();
        let mut anti_affinity_terms = pod.required_anti_affinity_terms.clone();
        merge_namespaces(&mut affinity_terms, snapshot);
        merge_namespaces(&mut anti_affinity_terms, snapshot);
        let namespace_labels = snapshot.namespace_labels(pod_namespace(&pod.pod)).cloned();
        let mut s = PreFilterState {
            pod: pod.pod.clone(),
            affinity_terms,
            anti_affinity_terms,
            namespace_labels,
            existing_anti_affinity_counts: HashMap::new(),
            affinity_counts: HashMap::new(),
            anti_affinity_counts: HashMap::new(),
        };
        for ni in snapshot.have_pods_with_required_anti_affinity() {
            let Some(node) = ni.node() else { continue };
            for existing in ni.pods_with_required_anti_affinity() {
                for t in &existing.required_anti_affinity_terms {
                    if t.matches(&pod.pod, s.namespace_labels.as_ref()) {
                        update_count(
                            &mut s.existing_anti_affinity_counts,
                            node,
                            &t.topology_key,
                            1,
                        );
                    }
                }
            }
        }
        if !s.affinity_terms.is_empty() || !s.anti_affinity_terms.is_empty() {
            for ni in snapshot.list() {
                let Some(node) = ni.node() else { continue };
                for existing in ni.pods() {
                    if matches_all(&s.affinity_terms, &existing.pod) {
                        for t in &s.affinity_terms {
                            update_count(&mut s.affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                    for t in &s.anti_affinity_terms {
                        if t.matches(&existing.pod, None) {
                            update_count(&mut s.anti_affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                }
            }
        }
        if s.existing_anti_affinity_counts.is_empty()
            && s.affinity_terms.is_empty()
            && s.anti_affinity_terms.is_empty()
        {
            return (None, Status::code_only(Code::Skip));
        }
        state.write(PRE_FILTER_KEY, s);
        (None, Status::success())
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        _pod: &PodInfo,
        to_add: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update_with_pod(to_add, node.node(), 1);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        _pod: &PodInfo,
        to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update_with_pod(to_remove, node.node(), -1);
        }
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::success();
        };
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let labels = node.labels().unwrap_or(&EMPTY);
        // Incoming pod's required affinity.
        let mut pods_exist = true;
        for t in &s.affinity_terms {
            match labels.get(&t.topology_key) {
                Some(v) => {
                    if s.affinity_counts
                        .get(&(t.topology_key.clone(), v.clone()))
                        .copied()
                        .unwrap_or(0)
                        <= 0
                    {
                        pods_exist = false;
                    }
                }
                None => {
                    return Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_AFFINITY);
                }
            }
        }
        // The first pod of a group with affinity to itself may go anywhere with the topology.
        let first_of_group = s.affinity_counts.is_empty() && matches_all(&s.affinity_terms, &s.pod);
        if !(pods_exist || first_of_group) {
            return Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_AFFINITY);
        }
        if !s.anti_affinity_counts.is_empty() {
            for t in &s.anti_affinity_terms {
                if let Some(v) = labels.get(&t.topology_key)
                    && s.anti_affinity_counts
                        .get(&(t.topology_key.clone(), v.clone()))
                        .copied()
                        .unwrap_or(0)
                        > 0
                {
                    return Status::new(Code::Unschedulable, ERR_REASON_ANTI_AFFINITY);
                }
            }
        }
        if !s.existing_anti_affinity_counts.is_empty() {
            for (k, v) in labels {
                if s.existing_anti_affinity_counts
                    .get(&(k.clone(), v.clone()))
                    .copied()
                    .unwrap_or(0)
                    > 0
                {
                    return Status::new(Code::Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY);
                }
            }
        }
        Status::success()
    }
}

fn process_term(
    m: &mut HashMap<String, HashMap<String, i64>>,
    term: &AffinityTerm,
    weight: i64,
    pod: &Pod,
    ns_labels: Option<&BTreeMap<String, String>>,
    node: &Node,
    multiplier: i64,
) {
    if term.matches(pod, ns_labels)
        && let Some(v) = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(&term.topology_key))
    {
        *m.entry(term.topology_key.clone())
            .or_default()
            .entry(v.clone())
            .or_default() += weight * multiplier;
    }
}

fn process_weighted(
    m: &mut HashMap<String, HashMap<String, i64>>,
    terms: &[WeightedAffinityTerm],
    pod: &Pod,
    ns_labels: Option<&BTreeMap<String, String>>,
    node: &Node,
    multiplier: i64,
) {
    for t in terms {
        process_term(
            m,
            &t.term,
            t.weight as i64,
            pod,
            ns_labels,
            node,
            multiplier,
        );
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        let has_constraints = !pod.preferred_affinity_terms.is_empty()
            || !pod.preferred_anti_affinity_terms.is_empty();
        if self.args.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::code_only(Code::Skip);
        }
        let mut preferred_affinity = pod.preferred_affinity_terms.clone();
        let mut preferred_anti = pod.preferred_anti_affinity_terms.clone();
        for t in preferred_affinity
            .iter_mut()
            .chain(preferred_anti.iter_mut())
        {
            merge_namespaces(std::slice::from_mut(&mut t.term), snapshot);
        }
        let ns_labels = snapshot.namespace_labels(pod_namespace(&pod.pod)).cloned();
        let mut m: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let nodes: Vec<&Arc<NodeInfo>> = if has_constraints {
            snapshot.list().iter().collect()
        } else {
            snapshot.have_pods_with_affinity().collect()
        };
        let hard = self.args.hard_pod_affinity_weight as i64;
        for ni in nodes {
            let Some(node) = ni.node() else { continue };
            if node.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                continue;
            }
            let pods = if has_constraints {
                ni.pods()
            } else {
                ni.pods_with_affinity()
            };
            for existing in pods {
                process_weighted(&mut m, &preferred_affinity, &existing.pod, None, node, 1);
                process_weighted(&mut m, &preferred_anti, &existing.pod, None, node, -1);
                if hard > 0 {
                    for t in &existing.required_affinity_terms {
                        process_term(&mut m, t, hard, &pod.pod, ns_labels.as_ref(), node, 1);
                    }
                }
                process_weighted(
                    &mut m,
                    &existing.preferred_affinity_terms,
                    &pod.pod,
                    ns_labels.as_ref(),
                    node,
                    1,
                );
                process_weighted(
                    &mut m,
                    &existing.preferred_anti_affinity_terms,
                    &pod.pod,
                    ns_labels.as_ref(),
                    node,
                    -1,
                );
            }
        }
        m.retain(|_, v| {
            v.retain(|_, s| *s != 0);
            !v.is_empty()
        });
        if m.is_empty() {
            return Status::code_only(Code::Skip);
        }
        state.write(PRE_SCORE_KEY, PreScoreState { topology_score: m });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error("reading PreScoreInterPodAffinity from cycle state"))?;
        let labels = node.labels();
        Ok(s.topology_score
            .iter()
            .filter_map(|(k, vals)| labels.and_then(|l| l.get(k)).and_then(|v| vals.get(v)))
            .sum())
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        if state.read::<PreScoreState>(PRE_SCORE_KEY).is_none() {
            return Status::success();
        }
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            s.score = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn snap(nodes: &[(&str, &str, Vec<k8s_openapi::api::core::v1::Pod>)]) -> Snapshot {
        Snapshot::new(
            nodes
                .iter()
                .map(|(name, zone, pods)| {
                    let mut ni = NodeInfo::new(
                        NodeBuilder::new(name)
                            .label("kubernetes.io/hostname", name)
                            .label("topology.kubernetes.io/zone", zone)
                            .build(),
                    );
                    for p in pods {
                        ni.add_pod(Arc::new(PodInfo::new(p.clone())));
                    }
                    ni
                })
                .collect(),
        )
    }

    fn feasible(pod: &PodInfo, snap: &Snapshot) -> Vec<(String, Status)> {
        let pl = InterPodAffinity::default();
        let mut st = CycleState::new();
        let (_, s) = pl.pre_filter(&mut st, pod, snap);
        snap.list()
            .iter()
            .map(|n| {
                let status = if s.is_skip() {
                    Status::success()
                } else {
                    pl.filter(&st, pod, n)
                };
                (n.node_name().to_string(), status)
            })
            .collect()
    }

    #[test]
    fn required_anti_affinity_avoids_matching_pods_in_topology() {
        let s = snap(&[
            (
                "a1",
                "a",
                vec![PodBuilder::new("x").label("app", "db").build()],
            ),
            ("a2", "a", vec![]),
            ("b1", "b", vec![]),
        ]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .anti_affinity_required(&[("app", "db")], "topology.kubernetes.io/zone")
                .build(),
        );
        let r = feasible(&pod, &s);
        assert_eq!(r[0].1.message(), ERR_REASON_ANTI_AFFINITY);
        assert_eq!(r[0].1.code(), Code::Unschedulable);
        assert!(!r[1].1.is_success());
        assert!(r[2].1.is_success());
    }

    #[test]
    fn existing_pods_anti_affinity_is_honoured() {
        let guard = PodBuilder::new("g")
            .anti_affinity_required(&[("app", "web")], "kubernetes.io/hostname")
            .build();
        let s = snap(&[("a1", "a", vec![guard]), ("a2", "a", vec![])]);
        let pod = PodInfo::new(PodBuilder::new("p").label("app", "web").build());
        let r = feasible(&pod, &s);
        assert_eq!(r[0].1.message(), ERR_REASON_EXISTING_ANTI_AFFINITY);
        assert!(r[1].1.is_success());
        // A pod the guard does not select is unaffected.
        let other = PodInfo::new(PodBuilder::new("q").label("app", "api").build());
        assert!(feasible(&other, &s).iter().all(|(_, st)| st.is_success()));
    }

    #[test]
    fn required_affinity_needs_a_matching_pod_in_the_domain() {
        let s = snap(&[
            (
                "a1",
                "a",
                vec![PodBuilder::new("c").label("app", "cache").build()],
            ),
            ("a2", "a", vec![]),
            ("b1", "b", vec![]),
        ]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .affinity_required(&[("app", "cache")], "topology.kubernetes.io/zone")
                .build(),
        );
        let r = feasible(&pod, &s);
        assert!(r[0].1.is_success() && r[1].1.is_success());
        assert_eq!(
            (r[2].1.code(), r[2].1.message().as_str()),
            (Code::UnschedulableAndUnresolvable, ERR_REASON_AFFINITY)
        );
    }

    #[test]
    fn first_pod_with_affinity_to_itself_may_go_anywhere() {
        let s = snap(&[("a1", "a", vec![]), ("b1", "b", vec![])]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .label("app", "cache")
                .affinity_required(&[("app", "cache")], "topology.kubernetes.io/zone")
                .build(),
        );
        assert!(feasible(&pod, &s).iter().all(|(_, st)| st.is_success()));
        let other = PodInfo::new(
            PodBuilder::new("p")
                .affinity_required(&[("app", "cache")], "topology.kubernetes.io/zone")
                .build(),
        );
        assert!(feasible(&other, &s).iter().all(|(_, st)| !st.is_success()));
    }

    #[test]
    fn preferred_affinity_scores_domains_with_matching_pods() {
        let s = snap(&[
            (
                "a1",
                "a",
                vec![PodBuilder::new("c").label("app", "cache").build()],
            ),
            ("b1", "b", vec![]),
        ]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .affinity_preferred(50, &[("app", "cache")], "topology.kubernetes.io/zone")
                .build(),
        );
        let pl = InterPodAffinity::default();
        let mut st = CycleState::new();
        assert!(pl.pre_score(&mut st, &pod, s.list(), &s).is_success());
        let mut scores: Vec<NodeScore> = s
            .list()
            .iter()
            .map(|n| NodeScore {
                name: n.node_name().into(),
                score: pl.score(&st, &pod, n, &s).unwrap(),
            })
            .collect();
        assert_eq!(scores[0].score, 50);
        pl.normalize_score(&st, &pod, &mut scores);
        assert_eq!((scores[0].score, scores[1].score), (100, 0));
    }

    #[test]
    fn add_and_remove_pod_update_the_state() {
        let victim = PodBuilder::new("v").label("app", "db").build();
        let s = snap(&[("a1", "a", vec![victim.clone()])]);
        let pod = PodInfo::new(
            PodBuilder::new("p")
                .anti_affinity_required(&[("app", "db")], "kubernetes.io/hostname")
                .build(),
        );
        let pl = InterPodAffinity::default();
        let mut st = CycleState::new();
        pl.pre_filter(&mut st, &pod, &s);
        let node = &s.list()[0];
        assert!(!pl.filter(&st, &pod, node).is_success());
        let vi = Arc::new(PodInfo::new(victim));
        pl.remove_pod(&mut st, &pod, &vi, node);
        assert!(pl.filter(&st, &pod, node).is_success());
        pl.add_pod(&mut st, &pod, &vi, node);
        assert!(!pl.filter(&st, &pod, node).is_success());
    }

    #[test]
    fn namespace_selectors_resolve_through_namespace_labels() {
        let mut other_ns = PodBuilder::new("c")
            .namespace("team-a")
            .label("app", "cache")
            .build();
        other_ns.metadata.uid = Some("c".into());
        let s = snap(&[("a1", "a", vec![other_ns]), ("b1", "b", vec![])]).with_namespaces(
            [(
                "team-a".to_string(),
                [("team".to_string(), "a".to_string())].into(),
            )]
            .into(),
        );
        let mut pod = PodBuilder::new("p")
            .affinity_required(&[("app", "cache")], "topology.kubernetes.io/zone")
            .build();
        // Same-namespace term: the cache pod in team-a is not seen.
        let r = feasible(&PodInfo::new(pod.clone()), &s);
        assert!(r.iter().all(|(_, st)| !st.is_success()));
        let term = &mut pod
            .spec
            .as_mut()
            .unwrap()
            .affinity
            .as_mut()
            .unwrap()
            .pod_affinity
            .as_mut()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_mut()
            .unwrap()[0];
        term.namespace_selector = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                match_labels: Some([("team".to_string(), "a".to_string())].into()),
                match_expressions: None,
            },
        );
        let r = feasible(&PodInfo::new(pod), &s);
        assert!(r[0].1.is_success(), "{:?}", r[0].1);
        assert!(!r[1].1.is_success());
    }

    #[test]
    fn existing_pods_required_affinity_attracts_with_hard_weight() {
        // An existing pod that requires affinity to app=web pulls web pods to its zone.
        let lover = PodBuilder::new("l")
            .affinity_required(&[("app", "web")], "topology.kubernetes.io/zone")
            .build();
        let s = snap(&[("a1", "a", vec![lover]), ("b1", "b", vec![])]);
        let pod = PodInfo::new(PodBuilder::new("p").label("app", "web").build());
        let pl = InterPodAffinity::new(InterPodAffinityArgs {
            hard_pod_affinity_weight: 5,
            ..Default::default()
        });
        let mut st = CycleState::new();
        assert!(pl.pre_score(&mut st, &pod, s.list(), &s).is_success());
        assert_eq!(pl.score(&st, &pod, &s.list()[0], &s).unwrap(), 5);
        assert_eq!(pl.score(&st, &pod, &s.list()[1], &s).unwrap(), 0);
        // With weight 0 the term is ignored and nothing is left to score.
        let pl = InterPodAffinity::new(InterPodAffinityArgs {
            hard_pod_affinity_weight: 0,
            ..Default::default()
        });
        assert!(
            pl.pre_score(&mut CycleState::new(), &pod, s.list(), &s)
                .is_skip()
        );
    }
}
