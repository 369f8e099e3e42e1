//! Label selector matching over `metav1.LabelSelector`, with apimachinery's
//! `LabelSelectorAsSelector` semantics: a missing selector selects nothing, an
//! empty one selects everything, and malformed requirements are errors.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

/// A selector that cannot be used (upstream's `LabelSelectorAsSelector` error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

/// A compiled label selector.
#[derive(Debug, Clone)]
pub enum LabelMatcher {
    /// Matches no object (a nil selector).
    Nothing,
    /// Matches objects whose labels satisfy every requirement; an empty selector
    /// matches every object.
    Labels(Selector),
}

impl LabelMatcher {
    /// Compiles `selector` (`None` → [`LabelMatcher::Nothing`]).
    pub fn new(selector: Option<&LabelSelector>) -> Result<Self, InvalidSelector> {
        let Some(sel) = selector else {
            return Ok(Self::Nothing);
        };
        for req in sel.match_expressions.iter().flatten() {
            let values = req.values.as_deref().unwrap_or_default();
            match req.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(InvalidSelector(format!(
                        "{}: for 'in', 'notin' operators, values set can't be empty",
                        req.key
                    )));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(InvalidSelector(format!(
                        "{}: values set must be empty for exists and does not exist",
                        req.key
                    )));
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                op => {
                    return Err(InvalidSelector(format!(
                        "{op:?} is not a valid label selector operator"
                    )));
                }
            }
        }
        Selector::try_from(sel.clone())
            .map(Self::Labels)
            .map_err(|e| InvalidSelector(e.to_string()))
    }

    /// True when `labels` (absent → empty) satisfy the selector.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match self {
            Self::Nothing => false,
            Self::Labels(sel) => {
                let empty = BTreeMap::new();
                sel.matches(labels.unwrap_or(&empty))
            }
        }
    }

    /// True when the selector matches every object (an empty selector).
    pub fn selects_all(&self) -> bool {
        matches!(self, Self::Labels(s) if s.selects_all())
    }
}

/// True when `labels` contain every label of `template_labels` with the same value
/// (upstream's "fully labeled" test: the template labels as an equality selector).
pub fn has_all_labels(
    labels: Option<&BTreeMap<String, String>>,
    template_labels: Option<&BTreeMap<String, String>>,
) -> bool {
    template_labels.into_iter().flatten().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .is_some_and(|actual| actual == v)
    })
}

/// True when the selector is present and has neither labels nor expressions
/// (the Deployment controller refuses such "select everything" selectors).
pub fn is_empty_selector(selector: Option<&LabelSelector>) -> bool {
    selector.is_some_and(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn nil_selects_nothing_and_empty_selects_everything() {
        let nothing = LabelMatcher::new(None).unwrap();
        assert!(!nothing.matches(Some(&labels(&[("a", "b")]))));
        let all = LabelMatcher::new(Some(&LabelSelector::default())).unwrap();
        assert!(all.selects_all());
        assert!(all.matches(None));
        assert!(is_empty_selector(Some(&LabelSelector::default())));
        assert!(!is_empty_selector(None));
    }

    #[test]
    fn labels_and_expressions_combine() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                req("tier", "In", &["fe", "be"]),
                req("canary", "DoesNotExist", &[]),
            ]),
        };
        let m = LabelMatcher::new(Some(&sel)).unwrap();
        assert!(m.matches(Some(&labels(&[("app", "web"), ("tier", "fe")]))));
        assert!(!m.matches(Some(&labels(&[("app", "web"), ("tier", "db")]))));
        assert!(!m.matches(Some(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("canary", "1")
        ]))));
        assert!(!m.matches(Some(&labels(&[("tier", "fe")]))));
        assert!(!m.selects_all());
    }

    #[test]
    fn malformed_requirements_are_rejected() {
        for bad in [
            req("a", "In", &[]),
            req("a", "Exists", &["x"]),
            req("a", "Gt", &["1"]),
        ] {
            let sel = LabelSelector {
                match_expressions: Some(vec![bad.clone()]),
                ..Default::default()
            };
            assert!(LabelMatcher::new(Some(&sel)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fully_labeled_means_every_template_label() {
        let t = labels(&[("app", "web"), ("v", "1")]);
        assert!(has_all_labels(
            Some(&labels(&[("app", "web"), ("v", "1"), ("x", "y")])),
            Some(&t)
        ));
        assert!(!has_all_labels(Some(&labels(&[("app", "web")])), Some(&t)));
        assert!(has_all_labels(None, None));
    }
}
