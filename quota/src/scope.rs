//! Quota scopes (`spec.scopes` and `spec.scopeSelector`) and how a pod matches them,
//! as upstream's pod evaluator decides (`podMatchesScopeFunc`): `Terminating` and
//! `NotTerminating` by `activeDeadlineSeconds`, `BestEffort` and `NotBestEffort` by QoS
//! class, `PriorityClass` by `priorityClassName` under the selector's operator,
//! `CrossNamespacePodAffinity` by affinity terms naming other namespaces.

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, ResourceQuota, WeightedPodAffinityTerm};

use crate::pod::is_best_effort;

/// `Terminating`: pods with an active deadline.
pub const TERMINATING: &str = "Terminating";
/// `NotTerminating`: pods without one.
pub const NOT_TERMINATING: &str = "NotTerminating";
/// `BestEffort`: pods of that QoS class.
pub const BEST_EFFORT: &str = "BestEffort";
/// `NotBestEffort`: pods of the other classes.
pub const NOT_BEST_EFFORT: &str = "NotBestEffort";
/// `PriorityClass`: pods by priority class name.
pub const PRIORITY_CLASS: &str = "PriorityClass";
/// `CrossNamespacePodAffinity`: pods with affinity terms naming other namespaces.
pub const CROSS_NAMESPACE_POD_AFFINITY: &str = "CrossNamespacePodAffinity";

/// One scope a quota is limited to: a `scopeSelector` expression, or a `spec.scopes`
/// entry (which is the scope with the `Exists` operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    /// The scope's name (`BestEffort`, `PriorityClass`, …).
    pub scope: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values `In` and `NotIn` compare with.
    pub values: Vec<String>,
}

/// A quota's scopes: its `spec.scopes`, then its `scopeSelector`'s expressions
/// (`getScopeSelectorsFromQuota`).
pub fn quota_scopes(quota: &ResourceQuota) -> Vec<ScopeRequirement> {
    let Some(spec) = quota.spec.as_ref() else {
        return Vec::new();
    };
    let plain = spec.scopes.iter().flatten().map(|s| ScopeRequirement {
        scope: s.clone(),
        operator: "Exists".into(),
        values: Vec::new(),
    });
    let selected = spec
        .scope_selector
        .iter()
        .flat_map(|s| s.match_expressions.iter().flatten())
        .map(|e| ScopeRequirement {
            scope: e.scope_name.clone(),
            operator: e.operator.clone(),
            values: e.values.clone().unwrap_or_default(),
        });
    plain.chain(selected).collect()
}

/// Whether the pod has an active deadline (`IsTerminating`).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d >= 0)
}

/// Whether the pod matches one scope requirement.
pub fn pod_matches_scope(req: &ScopeRequirement, pod: &Pod) -> bool {
    match req.scope.as_str() {
        TERMINATING => is_terminating(pod),
        NOT_TERMINATING => !is_terminating(pod),
        BEST_EFFORT => is_best_effort(pod),
        NOT_BEST_EFFORT => !is_best_effort(pod),
        PRIORITY_CLASS => {
            let class = pod
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.as_deref())
                .filter(|c| !c.is_empty());
            // As a label selector on {PriorityClass: <name>} (no label without a class).
            match req.operator.as_str() {
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                "In" => class.is_some_and(|c| req.values.iter().any(|v| v == c)),
                "NotIn" => !class.is_some_and(|c| req.values.iter().any(|v| v == c)),
                _ => false,
            }
        }
        CROSS_NAMESPACE_POD_AFFINITY => uses_cross_namespace_affinity(pod),
        _ => false,
    }
}

fn cross_namespace(term: &PodAffinityTerm) -> bool {
    term.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || term.namespace_selector.is_some()
}

fn any_cross(
    required: Option<&Vec<PodAffinityTerm>>,
    preferred: Option<&Vec<WeightedPodAffinityTerm>>,
) -> bool {
    required.into_iter().flatten().any(cross_namespace)
        || preferred
            .into_iter()
            .flatten()
            .any(|w| cross_namespace(&w.pod_affinity_term))
}

/// Whether an affinity or anti-affinity term of the pod names namespaces
/// (`usesCrossNamespacePodAffinity`).
fn uses_cross_namespace_affinity(pod: &Pod) -> bool {
    let Some(affinity) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    affinity.pod_affinity.as_ref().is_some_and(|a| {
        any_cross(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    }) || affinity.pod_anti_affinity.as_ref().is_some_and(|a| {
        any_cross(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::{container, pod};
    use k8s_openapi::api::core::v1::{
        ResourceQuotaSpec, ScopeSelector, ScopedResourceSelectorRequirement,
    };

    fn req(scope: &str, op: &str, values: &[&str]) -> ScopeRequirement {
        ScopeRequirement {
            scope: scope.into(),
            operator: op.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scopes_come_from_the_list_and_the_selector() {
        let q = ResourceQuota {
            spec: Some(ResourceQuotaSpec {
                scopes: Some(vec![BEST_EFFORT.into()]),
                scope_selector: Some(ScopeSelector {
                    match_expressions: Some(vec![ScopedResourceSelectorRequirement {
                        scope_name: PRIORITY_CLASS.into(),
                        operator: "In".into(),
                        values: Some(vec!["high".into()]),
                    }]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            quota_scopes(&q),
            [
                req(BEST_EFFORT, "Exists", &[]),
                req(PRIORITY_CLASS, "In", &["high"])
            ]
        );
    }

    #[test]
    fn pods_match_scopes_as_upstream_decides() {
        let best_effort = pod(vec![container("a", &[], &[])], vec![]);
        let mut burstable = pod(vec![container("a", &[("cpu", "1")], &[])], vec![]);
        let spec = burstable.spec.as_mut().unwrap();
        spec.active_deadline_seconds = Some(30);
        spec.priority_class_name = Some("high".into());
        let table = [
            (req(BEST_EFFORT, "Exists", &[]), true, false),
            (req(NOT_BEST_EFFORT, "Exists", &[]), false, true),
            (req(TERMINATING, "Exists", &[]), false, true),
            (req(NOT_TERMINATING, "Exists", &[]), true, false),
            (req(PRIORITY_CLASS, "Exists", &[]), false, true),
            (req(PRIORITY_CLASS, "DoesNotExist", &[]), true, false),
            (req(PRIORITY_CLASS, "In", &["high", "low"]), false, true),
            (req(PRIORITY_CLASS, "NotIn", &["high"]), true, false),
            (
                req(CROSS_NAMESPACE_POD_AFFINITY, "Exists", &[]),
                false,
                false,
            ),
        ];
        for (r, first, second) in table {
            assert_eq!(
                pod_matches_scope(&r, &best_effort),
                first,
                "{r:?} best effort"
            );
            assert_eq!(pod_matches_scope(&r, &burstable), second, "{r:?} burstable");
        }
    }
}
