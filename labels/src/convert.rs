//! `metav1.LabelSelector` to [`Selector`] (`metav1.LabelSelectorAsSelector`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::error::Error;
use crate::requirement::{Operator, Requirement};
use crate::selector::Selector;

impl Selector {
    /// `metav1.LabelSelectorAsSelector`: a nil selector (`None`) matches nothing, an
    /// empty one (`{}`) everything; `matchLabels` become `k=v` and `matchExpressions`
    /// `In`, `NotIn`, `Exists`, `DoesNotExist` requirements, each checked as
    /// `labels.NewRequirement` checks it. Another operator is an error
    /// (`"in" is not a valid label selector operator`).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, Error> {
        let Some(sel) = selector else {
            return Ok(Selector::nothing());
        };
        if is_empty_label_selector(sel) {
            return Ok(Selector::everything());
        }
        let labels = sel.match_labels.as_ref();
        let expressions = sel.match_expressions.as_deref().unwrap_or_default();
        let mut requirements =
            Vec::with_capacity(labels.map_or(0, |l| l.len()) + expressions.len());
        for (k, v) in labels.into_iter().flatten() {
            requirements.push(Requirement::new(
                k.clone(),
                Operator::Equals,
                vec![v.clone()],
            )?);
        }
        for e in expressions {
            let op = match e.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(Error::InvalidOperator(other.to_string())),
            };
            requirements.push(Requirement::new(
                e.key.clone(),
                op,
                e.values.clone().unwrap_or_default(),
            )?);
        }
        Ok(Selector::from_requirements(requirements))
    }
}

/// Whether a `metav1.LabelSelector` has neither `matchLabels` nor `matchExpressions`
/// (it selects everything; workload validation and the Deployment controller refuse
/// it).
pub fn is_empty_label_selector(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}
