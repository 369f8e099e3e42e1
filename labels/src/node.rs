//! Node selector terms and tolerations: the matching rules the scheduler's plugins
//! and the DaemonSet controller share (`nodeaffinity`, `v1helper`).

use crate::Operator;
use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};

/// Whether a `matchExpressions`/`matchFields` requirement of a node selector holds for
/// a value (`None` when the label/field is absent), with the label requirement
/// semantics upstream converts node selector operators to (`Gt`/`Lt`: one integer).
/// Unknown operators never match.
pub fn node_requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let op = match req.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan,
        "Lt" => Operator::LessThan,
        _ => return false,
    };
    op.matches(req.values.as_deref().unwrap_or(&[]), value)
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
    use std::collections::BTreeMap;

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
