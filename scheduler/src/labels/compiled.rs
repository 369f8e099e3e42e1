//! Node selectors prepared once per scheduling cycle and matched against the
//! nodes' label hashes.
//!
//! A filter with required node affinity looks at every node it examines (twice
//! as many as it keeps when half the nodes match). Looking a label up in the
//! node's `BTreeMap` reads several separately allocated strings per node, and
//! at thousands of nodes those reads miss the CPU caches. Each node info keeps
//! `(hash(key), hash(value))` of its labels in one small array
//! ([`label_hashes`]); a requirement compares hashes first. Different hashes
//! prove different strings, so most nodes are decided from the array alone;
//! equal hashes are confirmed on the strings, so a collision never changes a
//! result.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

use super::node_requirement_matches;

/// FNV-1a: a fixed, fast hash for label keys and values.
pub fn label_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `(hash(key), hash(value))` of each label.
pub fn label_hashes(labels: Option<&BTreeMap<String, String>>) -> Box<[(u64, u64)]> {
    labels
        .into_iter()
        .flatten()
        .map(|(k, v)| (label_hash(k), label_hash(v)))
        .collect()
}

/// What a node looks like to a compiled selector: its name, labels, and the
/// labels' hashes (from [`label_hashes`]).
#[derive(Debug, Clone, Copy)]
pub struct NodeLabels<'a> {
    /// The node's name (for `matchFields` on `metadata.name`).
    pub name: &'a str,
    /// The node's labels.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// Their hashes.
    pub hashes: &'a [(u64, u64)],
}

/// How a label requirement compares, after hashing.
#[derive(Debug, Clone, PartialEq)]
enum Check {
    /// The value is one of these (hashes).
    In(Vec<u64>),
    /// The label is absent or its value none of these.
    NotIn(Vec<u64>),
    /// Anything else (`Exists`, `DoesNotExist`, `Gt`, `Lt`, unknown operators),
    /// decided on the strings once the key is known to be present or absent.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    req: NodeSelectorRequirement,
    key_hash: u64,
    check: Check,
}

impl Requirement {
    fn new(req: &NodeSelectorRequirement, hash: fn(&str) -> u64) -> Self {
        let values = || req.values.iter().flatten().map(|v| hash(v)).collect();
        let check = match req.operator.as_str() {
            "In" => Check::In(values()),
            "NotIn" => Check::NotIn(values()),
            _ => Check::Other,
        };
        Requirement {
            key_hash: hash(&req.key),
            req: req.clone(),
            check,
        }
    }

    fn exact(&self, node: &NodeLabels<'_>) -> bool {
        let value = node
            .labels
            .and_then(|l| l.get(&self.req.key))
            .map(String::as_str);
        node_requirement_matches(&self.req, value)
    }

    fn matches(&self, node: &NodeLabels<'_>) -> bool {
        let mut candidates = node
            .hashes
            .iter()
            .filter(|(k, _)| *k == self.key_hash)
            .map(|(_, v)| *v)
            .peekable();
        if candidates.peek().is_none() {
            // The key is certainly absent.
            return node_requirement_matches(&self.req, None);
        }
        match &self.check {
            Check::In(wanted) | Check::NotIn(wanted)
                if !candidates.any(|v| wanted.contains(&v)) =>
            {
                // No value of the key (or of a key hashing alike) is wanted: In
                // fails, NotIn holds, whatever the strings.
                matches!(self.check, Check::NotIn(_))
            }
            _ => self.exact(node),
        }
    }
}

/// A node selector term ready for matching (`matchExpressions` and
/// `matchFields`, ANDed; a term with neither matches nothing).
#[derive(Debug, Clone, PartialEq)]
struct Term {
    exprs: Vec<Requirement>,
    fields: Vec<NodeSelectorRequirement>,
}

impl Term {
    fn new(t: &NodeSelectorTerm, hash: fn(&str) -> u64) -> Self {
        Term {
            exprs: t
                .match_expressions
                .iter()
                .flatten()
                .map(|r| Requirement::new(r, hash))
                .collect(),
            fields: t.match_fields.clone().unwrap_or_default(),
        }
    }

    fn matches(&self, node: &NodeLabels<'_>) -> bool {
        if self.exprs.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.exprs.iter().all(|r| r.matches(node))
            && self
                .fields
                .iter()
                .all(|r| r.key == "metadata.name" && node_requirement_matches(r, Some(node.name)))
    }
}

/// A pod's `nodeSelector` and required node affinity, compiled: the node must
/// have every `nodeSelector` label and match one of the terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompiledNodeSelector {
    node_selector: Vec<Requirement>,
    terms: Option<Vec<Term>>,
}

impl CompiledNodeSelector {
    /// Compiles `nodeSelector` labels and required terms (`None`: no constraint).
    pub fn new(
        node_selector: Option<&BTreeMap<String, String>>,
        required: Option<&NodeSelector>,
    ) -> Self {
        Self::with_hash(node_selector, required, label_hash)
    }

    fn with_hash(
        node_selector: Option<&BTreeMap<String, String>>,
        required: Option<&NodeSelector>,
        hash: fn(&str) -> u64,
    ) -> Self {
        CompiledNodeSelector {
            node_selector: node_selector
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    Requirement::new(
                        &NodeSelectorRequirement {
                            key: k.clone(),
                            operator: "In".into(),
                            values: Some(vec![v.clone()]),
                        },
                        hash,
                    )
                })
                .collect(),
            terms: required.map(|r| {
                r.node_selector_terms
                    .iter()
                    .map(|t| Term::new(t, hash))
                    .collect()
            }),
        }
    }

    /// Whether the node satisfies the selector and one of the terms.
    pub fn matches(&self, node: &NodeLabels<'_>) -> bool {
        self.node_selector.iter().all(|r| r.matches(node))
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::node_selector_matches;
    use crate::testing::NodeBuilder;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const KEYS: [&str; 4] = ["zone", "disk", "gpus", "kubernetes.io/hostname"];
    const VALUES: [&str; 6] = ["a", "b", "ssd", "4", "8", "n1"];
    const OPS: [&str; 7] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus"];

    fn random_requirement(rng: &mut StdRng) -> NodeSelectorRequirement {
        let op = OPS[rng.random_range(0..OPS.len())];
        let n = match op {
            "Exists" | "DoesNotExist" => 0,
            "Gt" | "Lt" => 1,
            _ => rng.random_range(1..3),
        };
        NodeSelectorRequirement {
            key: KEYS[rng.random_range(0..KEYS.len())].into(),
            operator: op.into(),
            values: Some(
                (0..n)
                    .map(|_| VALUES[rng.random_range(0..VALUES.len())].to_string())
                    .collect(),
            ),
        }
    }

    /// Compiled matching agrees with matching on the node object, with the real
    /// hash and with one under which every string collides.
    #[test]
    fn compiled_selectors_agree_with_the_node_object_even_when_hashes_collide() {
        let mut rng = StdRng::seed_from_u64(11);
        let (mut matched, mut rejected) = (0, 0);
        for _ in 0..2000 {
            let mut b = NodeBuilder::new(["n1", "n2"][rng.random_range(0..2)]);
            for k in KEYS {
                if rng.random_bool(0.6) {
                    b = b.label(k, VALUES[rng.random_range(0..VALUES.len())]);
                }
            }
            let node = b.build();
            let terms: Vec<NodeSelectorTerm> = (0..rng.random_range(1..3))
                .map(|_| NodeSelectorTerm {
                    match_expressions: Some(
                        (0..rng.random_range(0..3))
                            .map(|_| random_requirement(&mut rng))
                            .collect(),
                    ),
                    match_fields: rng.random_bool(0.2).then(|| {
                        vec![NodeSelectorRequirement {
                            key: "metadata.name".into(),
                            operator: "In".into(),
                            values: Some(vec!["n1".into()]),
                        }]
                    }),
                })
                .collect();
            let required = NodeSelector {
                node_selector_terms: terms,
            };
            let selector: Option<BTreeMap<String, String>> = rng.random_bool(0.3).then(|| {
                [(
                    KEYS[rng.random_range(0..KEYS.len())].to_string(),
                    VALUES[rng.random_range(0..VALUES.len())].to_string(),
                )]
                .into()
            });
            let labels = node.metadata.labels.as_ref();
            let want = selector.as_ref().is_none_or(|sel| {
                sel.iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            }) && node_selector_matches(&required, &node);
            let name = node.metadata.name.as_deref().unwrap_or("");
            for hash in [label_hash as fn(&str) -> u64, |_: &str| 7] {
                let hashes: Box<[(u64, u64)]> = labels
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (hash(k), hash(v)))
                    .collect();
                let compiled =
                    CompiledNodeSelector::with_hash(selector.as_ref(), Some(&required), hash);
                let view = NodeLabels {
                    name,
                    labels,
                    hashes: &hashes,
                };
                assert_eq!(
                    compiled.matches(&view),
                    want,
                    "{required:?} {selector:?} {node:?}"
                );
            }
            if want {
                matched += 1;
            } else {
                rejected += 1;
            }
        }
        assert!(matched > 200 && rejected > 200, "{matched} {rejected}");
    }

    #[test]
    fn no_constraint_matches_every_node() {
        let node = NodeBuilder::new("n").build();
        let view = NodeLabels {
            name: "n",
            labels: node.metadata.labels.as_ref(),
            hashes: &[],
        };
        assert!(CompiledNodeSelector::new(None, None).matches(&view));
    }
}
