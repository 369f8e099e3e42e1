//! Placed pods indexed for InterPodAffinity: each distinct (anti-)affinity term
//! of the placed pods with how many pods carry it per value of the term's
//! topology label (of the nodes they are on), and each distinct label set
//! (namespace and labels) with how many pods carry it on each node.
//!
//! Upstream walks every placed pod with affinity terms (and, for an incoming pod
//! with terms, every placed pod) in each scheduling cycle. Pods of one workload
//! share their terms and labels, so going over distinct terms and label sets gives
//! the same counts for a fraction of the work: 11,000 placed pods of 100
//! anti-affinity groups are 100 terms to match.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::node_info::{AffinityTerm, PodInfo, pod_namespace};

/// Pods per node name.
pub type NodeCounts = HashMap<Arc<str>, u32>;

/// Pods per value of a topology label.
pub type ValueCounts = HashMap<String, i64>;

/// How placed pods use a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TermUse {
    /// A required pod affinity term.
    RequiredAffinity,
    /// A required pod anti-affinity term.
    RequiredAntiAffinity,
    /// A preferred pod affinity term with its weight.
    PreferredAffinity(i32),
    /// A preferred pod anti-affinity term with its weight.
    PreferredAntiAffinity(i32),
}

/// A distinct namespace and label set of placed pods.
#[derive(Debug, Clone)]
pub struct LabelSet {
    /// The pods' namespace.
    pub namespace: String,
    /// The pods' labels.
    pub labels: BTreeMap<String, String>,
    /// Pods with this label set per node.
    pub nodes: NodeCounts,
    hash: u64,
}

/// The index: kept by the cache as pods are placed and removed, read through the
/// snapshot.
#[derive(Debug, Clone, Default)]
pub struct AffinityIndex {
    terms: HashMap<AffinityTerm, Vec<(TermUse, ValueCounts)>>,
    label_sets: HashMap<u64, Vec<LabelSet>>,
}

fn bump(counts: &mut NodeCounts, node: &Arc<str>, add: bool) {
    if add {
        *counts.entry(node.clone()).or_default() += 1;
    } else if let Some(n) = counts.get_mut(&**node) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&**node);
        }
    }
}

fn term_uses(pod: &PodInfo) -> impl Iterator<Item = (&AffinityTerm, TermUse)> {
    let required = pod
        .required_affinity_terms
        .iter()
        .map(|t| (t, TermUse::RequiredAffinity));
    let required_anti = pod
        .required_anti_affinity_terms
        .iter()
        .map(|t| (t, TermUse::RequiredAntiAffinity));
    let preferred = pod
        .preferred_affinity_terms
        .iter()
        .map(|w| (&w.term, TermUse::PreferredAffinity(w.weight)));
    let preferred_anti = pod
        .preferred_anti_affinity_terms
        .iter()
        .map(|w| (&w.term, TermUse::PreferredAntiAffinity(w.weight)));
    required
        .chain(required_anti)
        .chain(preferred)
        .chain(preferred_anti)
}

impl AffinityIndex {
    /// Counts `pod` on the node named `node_name`, whose object is `node` (`add`),
    /// or stops counting it. Terms are counted under the node's labels, so they
    /// are not counted while the node object is unknown (`None`), and must be
    /// uncounted with the labels they were counted with
    /// ([`AffinityIndex::update_terms`] moves them when labels change).
    pub fn update(&mut self, pod: &PodInfo, node_name: &Arc<str>, node: Option<&Node>, add: bool) {
        self.update_terms(pod, node, add);
        self.update_label_set(pod, node_name, add);
    }

    /// Counts (or uncounts) only the pod's terms, under `node`'s labels.
    pub fn update_terms(&mut self, pod: &PodInfo, node: Option<&Node>, add: bool) {
        let Some(labels) = node.and_then(|n| n.metadata.labels.as_ref()) else {
            return;
        };
        for (term, usage) in term_uses(pod) {
            if let Some(value) = labels.get(&term.topology_key) {
                self.update_term(term, usage, value, add);
            }
        }
    }

    fn update_term(&mut self, term: &AffinityTerm, usage: TermUse, value: &str, add: bool) {
        let uses = match self.terms.get_mut(term) {
            Some(uses) => uses,
            None if add => self.terms.entry(term.clone()).or_default(),
            None => return,
        };
        let pos = match uses.iter().position(|(u, _)| *u == usage) {
            Some(pos) => pos,
            None if add => {
                uses.push((usage, ValueCounts::new()));
                uses.len() - 1
            }
            None => return,
        };
        let values = &mut uses[pos].1;
        match values.get_mut(value) {
            Some(n) => *n += if add { 1 } else { -1 },
            None => {
                values.insert(value.to_string(), if add { 1 } else { -1 });
            }
        }
        if values.get(value) == Some(&0) {
            values.remove(value);
        }
        if uses[pos].1.is_empty() {
            uses.swap_remove(pos);
            if uses.is_empty() {
                self.terms.remove(term);
            }
        }
    }

    /// Counts (or uncounts) only the pod's label set on the node named `node`.
    pub fn update_label_set(&mut self, pod: &PodInfo, node: &Arc<str>, add: bool) {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let namespace = pod_namespace(&pod.pod);
        let labels = pod.pod.metadata.labels.as_ref().unwrap_or(&EMPTY);
        let hash = pod.label_set_hash;
        let sets = match self.label_sets.get_mut(&hash) {
            Some(sets) => sets,
            None if add => self.label_sets.entry(hash).or_default(),
            None => return,
        };
        let pos = match sets
            .iter()
            .position(|s| s.namespace == namespace && s.labels == *labels)
        {
            Some(pos) => pos,
            None if add => {
                sets.push(LabelSet {
                    namespace: namespace.to_string(),
                    labels: labels.clone(),
                    nodes: NodeCounts::new(),
                    hash,
                });
                sets.len() - 1
            }
            None => return,
        };
        bump(&mut sets[pos].nodes, node, add);
        if sets[pos].nodes.is_empty() {
            sets.swap_remove(pos);
            if sets.is_empty() {
                self.label_sets.remove(&hash);
            }
        }
    }

    /// The distinct terms of placed pods, each with its uses and their pods per
    /// value of the term's topology label.
    pub fn terms(&self) -> impl Iterator<Item = (&AffinityTerm, &[(TermUse, ValueCounts)])> {
        self.terms.iter().map(|(t, uses)| (t, uses.as_slice()))
    }

    /// The distinct label sets of placed pods.
    pub fn label_sets(&self) -> impl Iterator<Item = &LabelSet> {
        self.label_sets.values().flatten()
    }

    /// Whether no placed pod has an (anti-)affinity term.
    pub fn has_no_terms(&self) -> bool {
        self.terms.is_empty()
    }
}

impl LabelSet {
    /// The hash of namespace and labels ([`super::label_set_hash`]).
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    fn node(name: &str) -> Node {
        NodeBuilder::new(name)
            .label("kubernetes.io/hostname", name)
            .label("topology.kubernetes.io/zone", "z1")
            .build()
    }

    fn info(name: &str, color: &str) -> PodInfo {
        PodInfo::new(
            PodBuilder::new(name)
                .label("color", color)
                .anti_affinity_required(&[("color", color)], "kubernetes.io/hostname")
                .affinity_preferred(7, &[("app", "db")], "topology.kubernetes.io/zone")
                .build(),
        )
    }

    fn counts(ix: &AffinityIndex, usage: TermUse) -> Vec<(String, Vec<(String, u32)>)> {
        // Per topology value.
        let mut out: Vec<(String, Vec<(String, u32)>)> = ix
            .terms()
            .filter_map(|(t, uses)| {
                let (_, nodes) = uses.iter().find(|(u, _)| *u == usage)?;
                let mut n: Vec<(String, u32)> = nodes
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v as u32))
                    .collect();
                n.sort();
                Some((format!("{:?}", t.selector), n))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn equal_terms_and_label_sets_share_one_entry_counted_per_node() {
        let mut ix = AffinityIndex::default();
        let (n1, n2): (Arc<str>, Arc<str>) = ("n1".into(), "n2".into());
        let (node1, node2) = (node("n1"), node("n2"));
        let a = info("a", "red");
        let b = info("b", "red");
        let c = info("c", "blue");
        ix.update(&a, &n1, Some(&node1), true);
        ix.update(&b, &n1, Some(&node1), true);
        ix.update(&c, &n2, Some(&node2), true);
        // Required anti-affinity per hostname: counted per host.
        let anti = counts(&ix, TermUse::RequiredAntiAffinity);
        assert_eq!(anti.len(), 2, "{anti:?}");
        assert!(anti.iter().any(|(_, n)| n == &[("n1".to_string(), 2)]));
        assert!(anti.iter().any(|(_, n)| n == &[("n2".to_string(), 1)]));
        // The three pods' preferred term (per zone) is one term, one zone.
        let preferred = counts(&ix, TermUse::PreferredAffinity(7));
        assert_eq!(
            preferred,
            [(preferred[0].0.clone(), vec![("z1".to_string(), 3)])]
        );
        assert_eq!(ix.label_sets().count(), 2);
        let red = ix
            .label_sets()
            .find(|s| s.labels.get("color").map(String::as_str) == Some("red"))
            .unwrap();
        assert_eq!(red.nodes.get("n1"), Some(&2));
        assert_eq!(red.hash(), a.label_set_hash);
    }

    #[test]
    fn removing_every_pod_empties_the_index() {
        let mut ix = AffinityIndex::default();
        let n1: Arc<str> = "n1".into();
        let node1 = node("n1");
        let pods = [info("a", "red"), info("b", "red"), info("c", "blue")];
        for p in &pods {
            ix.update(p, &n1, Some(&node1), true);
        }
        ix.update(&pods[0], &n1, Some(&node1), false);
        assert_eq!(
            counts(&ix, TermUse::RequiredAntiAffinity)
                .iter()
                .map(|(_, n)| n.clone())
                .collect::<Vec<_>>(),
            [vec![("n1".to_string(), 1)], vec![("n1".to_string(), 1)]]
        );
        for p in &pods[1..] {
            ix.update(p, &n1, Some(&node1), false);
        }
        assert!(ix.has_no_terms());
        assert_eq!(ix.label_sets().count(), 0);
    }

    #[test]
    fn terms_are_not_counted_on_unknown_nodes_and_follow_relabelling() {
        let mut ix = AffinityIndex::default();
        let n1: Arc<str> = "n1".into();
        let a = info("a", "red");
        // Node object not known yet: the label set counts, the terms do not.
        ix.update(&a, &n1, None, true);
        assert!(ix.has_no_terms());
        assert_eq!(ix.label_sets().count(), 1);
        // The node arrives, then changes zone.
        let before = node("n1");
        ix.update_terms(&a, Some(&before), true);
        let after = NodeBuilder::new("n1")
            .label("kubernetes.io/hostname", "n1")
            .label("topology.kubernetes.io/zone", "z2")
            .build();
        ix.update_terms(&a, Some(&before), false);
        ix.update_terms(&a, Some(&after), true);
        let preferred = counts(&ix, TermUse::PreferredAffinity(7));
        assert_eq!(preferred[0].1, [("z2".to_string(), 1)]);
    }
}
