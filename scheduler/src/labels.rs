//! Label selectors, node selector terms and tolerations: the matching rules the
//! plugins share (apimachinery `labels.Selector`, `nodeaffinity`, `v1helper`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

mod compiled;

pub use compiled::{CompiledNodeSelector, NodeLabels, label_hash, label_hashes};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// The label exists and its value is one of these.
    In(String, Vec<String>),
    /// The label is absent or its value is none of these.
    NotIn(String, Vec<String>),
    /// The label exists.
    Exists(String),
    /// The label does not exist.
    DoesNotExist(String),
}

impl Requirement {
    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed label selector. `Nothing` matches no object (a nil selector),
/// an empty requirement list matches every object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// Matches nothing (upstream `labels.Nothing()`).
    Nothing,
    /// Matches objects satisfying all requirements (none: everything).
    Requirements(Vec<Requirement>),
}

/// A label selector that cannot be converted (unknown operator, bad values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

impl Selector {
    /// A selector matching every object.
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// Converts a `metav1.LabelSelector` (`LabelSelectorAsSelector`): `None` matches
    /// nothing, `{}` matches everything.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Result<Self, InvalidSelector> {
        let Some(sel) = sel else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let r = match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(InvalidSelector(format!(
                        "values must be non-empty for operator {} on key {}",
                        e.operator, e.key
                    )));
                }
                "In" => Requirement::In(e.key.clone(), values),
                "NotIn" => Requirement::NotIn(e.key.clone(), values),
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                other => {
                    return Err(InvalidSelector(format!(
                        "{other:?} is not a valid operator"
                    )));
                }
            };
            reqs.push(r);
        }
        Ok(Selector::Requirements(reqs))
    }

    /// Whether the selector has no requirements (matches everything).
    /// `Nothing` is not empty, as upstream.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// Adds a requirement (no effect on `Nothing`).
    pub fn add(&mut self, r: Requirement) {
        if let Selector::Requirements(reqs) = self {
            reqs.push(r);
        }
    }

    /// Whether a label set matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Whether optional labels match (absent labels are an empty set).
    pub fn matches_opt(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.matches(labels.unwrap_or(&EMPTY))
    }
}

/// Whether a `matchExpressions`/`matchFields` requirement of a node selector holds for
/// a value (`None` when the label/field is absent). Unknown operators never match.
fn node_requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            // Exactly one integer value; the label must parse as an integer too.
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether a node satisfies one node selector term: all `matchExpressions` on its
/// labels and all `matchFields` (only `metadata.name` is supported, as upstream).
/// A term with no requirements matches nothing.
pub fn node_selector_term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref().unwrap_or("");
    exprs.iter().all(|r| {
        node_requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str))
    }) && fields
        .iter()
        .all(|r| r.key == "metadata.name" && node_requirement_matches(r, Some(name)))
}

/// Whether a node matches a node selector: any of its terms (ORed).
pub fn node_selector_matches(sel: &NodeSelector, node: &Node) -> bool {
    sel.node_selector_terms
        .iter()
        .any(|t| node_selector_term_matches(t, node))
}

/// Whether a toleration tolerates a taint (`Toleration.ToleratesTaint`).
pub fn toleration_tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Whether any toleration tolerates the taint.
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| toleration_tolerates(t, taint))
}

/// The first taint matching `filter` that no toleration tolerates
/// (`v1helper.FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations_tolerate(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node_req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn nil_selector_matches_nothing_and_empty_matches_everything() {
        let l = labels(&[("a", "b")]);
        assert!(!Selector::from_label_selector(None).unwrap().matches(&l));
        let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.matches(&l));
        assert!(empty.is_empty());
    }

    #[test]
    fn label_selector_operators() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["db".into()]),
                },
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "Exists".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "x"), ("legacy", "1")])));
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Gt".into(),
                values: Some(vec!["1".into()]),
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&bad)).is_err());
    }

    #[test]
    fn node_selector_operators_including_gt_lt_and_fields() {
        let mut node = Node::default();
        node.metadata.name = Some("n1".into());
        node.metadata.labels = Some(labels(&[("gpus", "4"), ("zone", "a")]));
        let term = |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: Some(reqs),
            match_fields: None,
        };
        assert!(node_selector_term_matches(
            &term(vec![node_req("gpus", "Gt", &["3"])]),
            &node
        ));
        assert!(!node_selector_term_matches(
            &term(vec![node_req("gpus", "Gt", &["4"])]),
            &node
        ));
        assert!(node_selector_term_matches(
            &term(vec![node_req("gpus", "Lt", &["5"])]),
            &node
        ));
        assert!(!node_selector_term_matches(
            &term(vec![node_req("zone", "Lt", &["5"])]),
            &node
        ));
        assert!(!node_selector_term_matches(
            &term(vec![node_req("gpus", "Gt", &["x"])]),
            &node
        ));
        assert!(node_selector_term_matches(
            &term(vec![node_req("zone", "In", &["a", "b"])]),
            &node
        ));
        assert!(node_selector_term_matches(
            &term(vec![node_req("x", "NotIn", &["a"])]),
            &node
        ));
        assert!(node_selector_term_matches(
            &term(vec![node_req("x", "DoesNotExist", &[])]),
            &node
        ));
        assert!(!node_selector_term_matches(
            &term(vec![node_req("zone", "DoesNotExist", &[])]),
            &node
        ));
        assert!(!node_selector_term_matches(&term(vec![]), &node));
        let fields = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![node_req("metadata.name", "In", &["n1"])]),
        };
        assert!(node_selector_term_matches(&fields, &node));
        let fields = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![node_req("metadata.name", "NotIn", &["n1"])]),
        };
        assert!(!node_selector_term_matches(&fields, &node));
    }

    #[test]
    fn tolerations_match_taints() {
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let tol =
            |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
                Toleration {
                    key: key.map(Into::into),
                    operator: op.map(Into::into),
                    value: value.map(Into::into),
                    effect: effect.map(Into::into),
                    toleration_seconds: None,
                }
            };
        assert!(toleration_tolerates(
            &tol(Some("k"), None, Some("v"), None),
            &taint
        ));
        assert!(!toleration_tolerates(
            &tol(Some("k"), None, Some("w"), None),
            &taint
        ));
        assert!(toleration_tolerates(
            &tol(Some("k"), Some("Exists"), None, None),
            &taint
        ));
        assert!(toleration_tolerates(
            &tol(None, Some("Exists"), None, None),
            &taint
        ));
        assert!(!toleration_tolerates(
            &tol(Some("k"), Some("Exists"), None, Some("NoExecute")),
            &taint
        ));
        assert!(toleration_tolerates(
            &tol(Some("k"), Some("Exists"), None, Some("NoSchedule")),
            &taint
        ));
    }
}
