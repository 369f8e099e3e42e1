//! InterPodAffinity: required pod affinity/anti-affinity (the incoming pod's and
//! existing pods' anti-affinity) as a filter, preferred terms as a score.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::{Deserialize, Serialize};

use crate::cache::{AffinityTerm, NodeCounts, NodeInfo, PodInfo, Snapshot, TermUse, pod_namespace};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status,
};

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

/// Counts per topology key, then per topology value.
type TopologyCounts = HashMap<String, HashMap<String, i64>>;

/// Adds `delta` to the count of the node's value of `key` (nothing when the node
/// lacks the label); counts that reach zero are dropped.
fn add_count(
    m: &mut TopologyCounts,
    labels: Option<&BTreeMap<String, String>>,
    key: &str,
    delta: i64,
) {
    let Some(value) = labels.and_then(|l| l.get(key)) else {
        return;
    };
    let values = match m.get_mut(key) {
        Some(values) => values,
        None => m.entry(key.to_string()).or_default(),
    };
    let now = match values.get_mut(value.as_str()) {
        Some(n) => {
            *n += delta;
            *n
        }
        None => {
            values.insert(value.clone(), delta);
            delta
        }
    };
    if now == 0 {
        values.remove(value.as_str());
        if values.is_empty() {
            m.remove(key);
        }
    }
}

fn count_of(m: &TopologyCounts, key: &str, value: &str) -> i64 {
    m.get(key)
        .and_then(|values| values.get(value))
        .copied()
        .unwrap_or(0)
}

fn update_count(m: &mut TopologyCounts, node: &Node, key: &str, delta: i64) {
    add_count(m, node.metadata.labels.as_ref(), key, delta);
}

fn matches_all(terms: &[AffinityTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

/// The labels of the placed nodes among `nodes` (by name), with their pod counts.
fn placed_nodes<'a>(
    snapshot: &'a Snapshot,
    nodes: &'a NodeCounts,
) -> impl Iterator<Item = (&'a BTreeMap<String, String>, i64)> + 'a {
    nodes.iter().filter_map(|(name, count)| {
        let labels = snapshot.get(name)?.node()?.metadata.labels.as_ref()?;
        Some((labels, *count as i64))
    })
}

/// Resolves namespace selectors into namespace lists, as upstream's
/// `mergeAffinityTermNamespacesIfNotEmpty`.
fn merge_namespaces(terms: &mut [AffinityTerm], snapshot: &Snapshot) {
    for t in terms {
        if t.namespace_selector.is_nothing() || t.namespace_selector.is_empty() {
            continue;
        }
        for (ns, labels) in snapshot.namespaces() {
            if t.namespace_selector.matches(labels) {
                t.namespaces.insert(ns.clone());
            }
        }
        t.namespace_selector = Selector::nothing();
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

    /// Counts, per topology domain, the placed pods whose required anti-affinity
    /// selects the incoming pod (upstream `getExistingAntiAffinityCounts`), one
    /// match per distinct term, whose pods the index already counts per domain.
    fn count_existing_anti_affinity(&mut self, snapshot: &Snapshot) {
        for (term, uses) in snapshot.affinity_index().terms() {
            let Some((_, values)) = uses
                .iter()
                .find(|(u, _)| *u == TermUse::RequiredAntiAffinity)
            else {
                continue;
            };
            if !term.matches(&self.pod, self.namespace_labels.as_ref()) {
                continue;
            }
            let counts = self
                .existing_anti_affinity_counts
                .entry_ref(term.topology_key.as_str())
                .or_default();
            for (value, count) in values {
                *counts.entry_ref(value.as_str()).or_default() += count;
            }
            counts.retain(|_, c| *c != 0);
            if counts.is_empty() {
                self.existing_anti_affinity_counts
                    .remove(term.topology_key.as_str());
            }
        }
    }

    /// Counts, per topology domain, the placed pods the incoming pod's required
    /// affinity (all terms) and anti-affinity (each term) select (upstream
    /// `getIncomingAffinityAntiAffinityCounts`), one match per distinct label set.
    fn count_incoming_terms(&mut self, snapshot: &Snapshot) {
        let mut anti_match = vec![false; self.anti_affinity_terms.len()];
        for set in snapshot.affinity_index().label_sets() {
            let selects =
                |t: &AffinityTerm| t.matches_labels(&set.namespace, Some(&set.labels), None);
            let affinity =
                !self.affinity_terms.is_empty() && self.affinity_terms.iter().all(selects);
            let mut any_anti = false;
            for (m, t) in anti_match.iter_mut().zip(&self.anti_affinity_terms) {
                *m = selects(t);
                any_anti |= *m;
            }
            if !affinity && !any_anti {
                continue;
            }
            for (labels, count) in placed_nodes(snapshot, &set.nodes) {
                if affinity {
                    for t in &self.affinity_terms {
                        add_count(
                            &mut self.affinity_counts,
                            Some(labels),
                            &t.topology_key,
                            count,
                        );
                    }
                }
                for (m, t) in anti_match.iter().zip(&self.anti_affinity_terms) {
                    if *m {
                        add_count(
                            &mut self.anti_affinity_counts,
                            Some(labels),
                            &t.topology_key,
                            count,
                        );
                    }
                }
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
    /// A pod without (anti-)affinity terms is judged by the terms of the pods
    /// already placed, which change only with the cache's epoch. A pod with terms
    /// counts the pods that match them, which every placement can change.
    fn batchable(&self, pod: &PodInfo) -> bool {
        !pod.has_affinity() && pod.parse_errors.is_empty()
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
        s.count_existing_anti_affinity(snapshot);
        if !s.affinity_terms.is_empty() || !s.anti_affinity_terms.is_empty() {
            s.count_incoming_terms(snapshot);
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
                    if count_of(&s.affinity_counts, &t.topology_key, v) <= 0 {
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
                    && count_of(&s.anti_affinity_counts, &t.topology_key, v) > 0
                {
                    return Status::new(Code::Unschedulable, ERR_REASON_ANTI_AFFINITY);
                }
            }
        }
        // Any node label (key, value) with an existing pod's anti-affinity counted.
        for (key, values) in &s.existing_anti_affinity_counts {
            if let Some(v) = labels.get(key)
                && values.get(v).copied().unwrap_or(0) > 0
            {
                return Status::new(Code::Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY);
            }
        }
        Status::success()
    }
}

fn add_score(
    m: &mut HashMap<String, HashMap<String, i64>>,
    labels: &BTreeMap<String, String>,
    key: &str,
    amount: i64,
) {
    let Some(v) = labels.get(key) else { return };
    let values = match m.get_mut(key) {
        Some(values) => values,
        None => m.entry(key.to_string()).or_default(),
    };
    match values.get_mut(v.as_str()) {
        Some(n) => *n += amount,
        None => {
            values.insert(v.clone(), amount);
        }
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
        let ns_labels = snapshot.namespace_labels(pod_namespace(&pod.pod));
        let mut m: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let hard = self.args.hard_pod_affinity_weight as i64;
        let index = snapshot.affinity_index();
        // Placed pods' required affinity (with the hard weight) and preferred
        // terms that select the incoming pod, one match per distinct term.
        for (term, uses) in index.terms() {
            let weight = |u: &TermUse| match *u {
                TermUse::RequiredAffinity if hard > 0 => Some(hard),
                TermUse::PreferredAffinity(w) => Some(w as i64),
                TermUse::PreferredAntiAffinity(w) => Some(-(w as i64)),
                _ => None,
            };
            if !uses.iter().any(|(u, _)| weight(u).is_some()) || !term.matches(&pod.pod, ns_labels)
            {
                continue;
            }
            for (usage, values) in uses {
                let Some(w) = weight(usage) else { continue };
                let scores = m.entry_ref(term.topology_key.as_str()).or_default();
                for (value, count) in values {
                    *scores.entry_ref(value.as_str()).or_default() += w * count;
                }
            }
        }
        // The incoming pod's preferred terms over the placed pods, one match per
        // distinct label set.
        if has_constraints {
            let weighted = preferred_affinity
                .iter()
                .map(|t| (t, 1))
                .chain(preferred_anti.iter().map(|t| (t, -1)));
            for (t, sign) in weighted {
                for set in index.label_sets() {
                    if !t
                        .term
                        .matches_labels(&set.namespace, Some(&set.labels), None)
                    {
                        continue;
                    }
                    for (labels, count) in placed_nodes(snapshot, &set.nodes) {
                        add_score(
                            &mut m,
                            labels,
                            &t.term.topology_key,
                            sign * t.weight as i64 * count,
                        );
                    }
                }
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
                name: n.node_name(),
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

    /// The counts as upstream computes them: a walk over every placed pod.
    mod reference {
        use super::*;

        fn bump(m: &mut TopologyCounts, node: &Node, key: &str, d: i64) {
            update_count(m, node, key, d);
        }

        /// Whether the pod fits the node, and the reason when not.
        pub fn filter(pod: &PodInfo, snap: &Snapshot, node: &NodeInfo) -> Option<&'static str> {
            let ns_labels = snap.namespace_labels(pod_namespace(&pod.pod));
            let (mut existing, mut aff, mut anti) = (
                TopologyCounts::new(),
                TopologyCounts::new(),
                TopologyCounts::new(),
            );
            for ni in snap.list() {
                let n = ni.node().unwrap();
                for e in ni.pods() {
                    for t in &e.required_anti_affinity_terms {
                        if t.matches(&pod.pod, ns_labels) {
                            bump(&mut existing, n, &t.topology_key, 1);
                        }
                    }
                    if matches_all(&pod.required_affinity_terms, &e.pod) {
                        for t in &pod.required_affinity_terms {
                            bump(&mut aff, n, &t.topology_key, 1);
                        }
                    }
                    for t in &pod.required_anti_affinity_terms {
                        if t.matches(&e.pod, None) {
                            bump(&mut anti, n, &t.topology_key, 1);
                        }
                    }
                }
            }
            let labels = node.labels().cloned().unwrap_or_default();
            let value = |k: &str| labels.get(k).map(String::as_str);
            let mut pods_exist = true;
            for t in &pod.required_affinity_terms {
                let Some(v) = value(&t.topology_key) else {
                    return Some(ERR_REASON_AFFINITY);
                };
                pods_exist &= count_of(&aff, &t.topology_key, v) > 0;
            }
            if !(pods_exist
                || aff.is_empty() && matches_all(&pod.required_affinity_terms, &pod.pod))
            {
                return Some(ERR_REASON_AFFINITY);
            }
            for t in &pod.required_anti_affinity_terms {
                if value(&t.topology_key).is_some_and(|v| count_of(&anti, &t.topology_key, v) > 0) {
                    return Some(ERR_REASON_ANTI_AFFINITY);
                }
            }
            for (k, v) in &labels {
                if count_of(&existing, k, v) > 0 {
                    return Some(ERR_REASON_EXISTING_ANTI_AFFINITY);
                }
            }
            None
        }

        /// Raw topology scores, as upstream's PreScore (hard weight 1).
        pub fn scores(pod: &PodInfo, snap: &Snapshot) -> Vec<i64> {
            let ns_labels = snap.namespace_labels(pod_namespace(&pod.pod));
            let mut m: HashMap<String, HashMap<String, i64>> = HashMap::new();
            let mut add = |n: &Node, key: &str, w: i64| {
                if let Some(v) = n.metadata.labels.as_ref().and_then(|l| l.get(key)) {
                    *m.entry(key.to_string())
                        .or_default()
                        .entry(v.clone())
                        .or_default() += w;
                }
            };
            for ni in snap.list() {
                let n = ni.node().unwrap();
                for e in ni.pods() {
                    for w in &pod.preferred_affinity_terms {
                        if w.term.matches(&e.pod, None) {
                            add(n, &w.term.topology_key, w.weight as i64);
                        }
                    }
                    for w in &pod.preferred_anti_affinity_terms {
                        if w.term.matches(&e.pod, None) {
                            add(n, &w.term.topology_key, -(w.weight as i64));
                        }
                    }
                    for t in &e.required_affinity_terms {
                        if t.matches(&pod.pod, ns_labels) {
                            add(n, &t.topology_key, 1);
                        }
                    }
                    for w in &e.preferred_affinity_terms {
                        if w.term.matches(&pod.pod, ns_labels) {
                            add(n, &w.term.topology_key, w.weight as i64);
                        }
                    }
                    for w in &e.preferred_anti_affinity_terms {
                        if w.term.matches(&pod.pod, ns_labels) {
                            add(n, &w.term.topology_key, -(w.weight as i64));
                        }
                    }
                }
            }
            snap.list()
                .iter()
                .map(|ni| {
                    let l = ni.labels();
                    m.iter()
                        .filter_map(|(k, vals)| l.and_then(|l| l.get(k)).and_then(|v| vals.get(v)))
                        .sum()
                })
                .collect()
        }
    }

    fn random_pod(rng: &mut rand::rngs::StdRng, name: &str) -> k8s_openapi::api::core::v1::Pod {
        use rand::Rng;
        const APPS: [&str; 3] = ["web", "db", "cache"];
        const KEYS: [&str; 2] = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"];
        let app = APPS[rng.random_range(0..3)];
        let mut b = PodBuilder::new(name).label("app", app);
        if rng.random_bool(0.5) {
            b = b.label("tier", ["a", "b"][rng.random_range(0..2)]);
        }
        let pick = |rng: &mut rand::rngs::StdRng| {
            (APPS[rng.random_range(0..3)], KEYS[rng.random_range(0..2)])
        };
        if rng.random_bool(0.3) {
            let (a, k) = pick(rng);
            b = b.anti_affinity_required(&[("app", a)], k);
        }
        if rng.random_bool(0.15) {
            let (a, k) = pick(rng);
            b = b.affinity_required(&[("app", a)], k);
        }
        if rng.random_bool(0.3) {
            let (a, k) = pick(rng);
            b = b.affinity_preferred(rng.random_range(1..100), &[("app", a)], k);
        }
        let mut pod = b.build();
        if rng.random_bool(0.3) {
            // A preferred anti-affinity term (no builder for it).
            let (a, k) = pick(rng);
            let weight = rng.random_range(1..100);
            let affinity = pod
                .spec
                .as_mut()
                .unwrap()
                .affinity
                .get_or_insert_with(Default::default);
            affinity
                .pod_anti_affinity
                .get_or_insert_with(Default::default)
                .preferred_during_scheduling_ignored_during_execution
                .get_or_insert_with(Vec::new)
                .push(k8s_openapi::api::core::v1::WeightedPodAffinityTerm {
                    weight,
                    pod_affinity_term: k8s_openapi::api::core::v1::PodAffinityTerm {
                        label_selector: Some(
                            k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                                match_labels: Some([("app".to_string(), a.to_string())].into()),
                                match_expressions: None,
                            },
                        ),
                        topology_key: k.into(),
                        ..Default::default()
                    },
                });
        }
        pod
    }

    #[test]
    fn counting_distinct_terms_and_label_sets_matches_a_walk_over_every_pod() {
        use crate::cache::Cache;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let mut seen_reasons = std::collections::BTreeSet::new();
        let mut nonzero_scores = 0;
        for round in 0..30 {
            let mut cache = Cache::new(std::time::Duration::ZERO);
            let nodes = rng.random_range(2..9);
            for n in 0..nodes {
                let mut b = NodeBuilder::new(&format!("n{n}"))
                    .label("kubernetes.io/hostname", &format!("n{n}"));
                // Some nodes lack the zone label.
                if n % 4 != 3 {
                    b = b.label("topology.kubernetes.io/zone", &format!("z{}", n % 3));
                }
                cache.add_node(b.build());
            }
            let placed = rng.random_range(0..25);
            for i in 0..placed {
                let mut p = random_pod(&mut rng, &format!("e{round}-{i}"));
                p.spec.as_mut().unwrap().node_name =
                    Some(format!("n{}", rng.random_range(0..nodes)));
                cache.add_pod(p);
            }
            // Some pods leave again, some nodes change zone.
            for i in 0..placed {
                if rng.random_bool(0.2) {
                    cache.remove_pod(&format!("e{round}-{i}"));
                }
            }
            if rng.random_bool(0.5) {
                cache.add_node(
                    NodeBuilder::new("n0")
                        .label("kubernetes.io/hostname", "n0")
                        .label("topology.kubernetes.io/zone", "z9")
                        .build(),
                );
            }
            let snap = cache.snapshot();
            for k in 0..8 {
                let pod = PodInfo::new(random_pod(&mut rng, &format!("p{round}-{k}")));
                let pl = InterPodAffinity::default();
                let mut st = CycleState::new();
                let (_, s) = pl.pre_filter(&mut st, &pod, &snap);
                for ni in snap.list() {
                    let got = if s.is_skip() {
                        Status::success()
                    } else {
                        pl.filter(&st, &pod, ni)
                    };
                    let want = reference::filter(&pod, &snap, ni);
                    seen_reasons.extend(want);
                    assert_eq!(
                        got.reasons().first().map(|r| r.as_ref()),
                        want,
                        "round {round} pod {k} node {}",
                        ni.node_name()
                    );
                }
                let mut st = CycleState::new();
                let ps = pl.pre_score(&mut st, &pod, snap.list(), &snap);
                let got: Vec<i64> = snap
                    .list()
                    .iter()
                    .map(|ni| {
                        if ps.is_skip() {
                            0
                        } else {
                            pl.score(&st, &pod, ni, &snap).unwrap()
                        }
                    })
                    .collect();
                assert_eq!(got, reference::scores(&pod, &snap), "round {round} pod {k}");
                nonzero_scores += got.iter().filter(|s| **s != 0).count();
            }
        }
        // The rounds exercised every rejection reason and non-zero scores.
        assert_eq!(seen_reasons.len(), 3, "{seen_reasons:?}");
        assert!(nonzero_scores > 50, "{nonzero_scores}");
    }
}
