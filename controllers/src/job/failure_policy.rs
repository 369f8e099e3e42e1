//! `spec.podFailurePolicy` (upstream `pod_failure_policy.go`): which rule, if
//! any, a failed pod matches — on its containers' exit codes or on its
//! conditions (e.g. `DisruptionTarget`) — and what that means for the Job.

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition};

/// The action of a pod failure policy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAction {
    /// `FailJob`: the whole Job fails.
    FailJob,
    /// `FailIndex`: the pod's index fails (with `backoffLimitPerIndex`).
    FailIndex,
    /// `Ignore`: the failure does not count towards any limit.
    Ignore,
    /// `Count`: the failure counts as usual.
    Count,
}

impl PolicyAction {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "FailJob" => Some(Self::FailJob),
            "FailIndex" => Some(Self::FailIndex),
            "Ignore" => Some(Self::Ignore),
            "Count" => Some(Self::Count),
            _ => None,
        }
    }

    /// The action as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailJob => "FailJob",
            Self::FailIndex => "FailIndex",
            Self::Ignore => "Ignore",
            Self::Count => "Count",
        }
    }
}

/// What matching a failed pod against the policy says (upstream
/// `matchPodFailurePolicy`'s three results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMatch {
    /// The Job's failure message when a `FailJob` rule matched.
    pub fail_job_message: Option<String>,
    /// Whether the failure counts towards `backoffLimit` (and
    /// `backoffLimitPerIndex`): false only for an `Ignore` rule.
    pub count_failed: bool,
    /// The action of the matched rule, if any.
    pub action: Option<PolicyAction>,
}

impl PolicyMatch {
    const NONE: PolicyMatch = PolicyMatch {
        fail_job_message: None,
        count_failed: true,
        action: None,
    };
}

/// Matches a failed pod against the rules in order; the first matching rule
/// decides. Exit-code rules look at terminated containers with a non-zero
/// exit code (app containers first, then init containers); condition rules at
/// the pod's conditions of the pattern's type and status.
pub fn match_pod_failure_policy(policy: &PodFailurePolicy, pod: &Pod) -> PolicyMatch {
    let status = pod.status.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(action) = PolicyAction::parse(&rule.action) else {
            continue;
        };
        let message = if let Some(req) = &rule.on_exit_codes {
            let Some(c) = match_on_exit_codes(&status.container_statuses, req)
                .or_else(|| match_on_exit_codes(&status.init_container_statuses, req))
            else {
                continue;
            };
            let code = c
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map_or(0, |t| t.exit_code);
            format!(
                "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                c.name,
                action.as_str()
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let Some(cond) = match_on_pod_conditions(status.conditions.as_deref(), patterns) else {
                continue;
            };
            format!(
                "Pod {ns}/{name} has condition {} matching {} rule at index {index}",
                cond.type_,
                action.as_str()
            )
        } else {
            continue;
        };
        return match action {
            PolicyAction::Ignore => PolicyMatch {
                fail_job_message: None,
                count_failed: false,
                action: Some(action),
            },
            PolicyAction::FailIndex | PolicyAction::Count => PolicyMatch {
                fail_job_message: None,
                count_failed: true,
                action: Some(action),
            },
            PolicyAction::FailJob => PolicyMatch {
                fail_job_message: Some(message),
                count_failed: true,
                action: Some(action),
            },
        };
    }
    PolicyMatch::NONE
}

/// The first terminated container (non-zero exit code) matching `req`.
fn match_on_exit_codes<'a>(
    statuses: &'a Option<Vec<ContainerStatus>>,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    statuses.iter().flatten().find(|c| {
        let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            return false;
        };
        let name_ok = req.container_name.as_deref().is_none_or(|n| n == c.name);
        name_ok && t.exit_code != 0 && operator_matches(t.exit_code, req)
    })
}

fn operator_matches(code: i32, req: &PodFailurePolicyOnExitCodesRequirement) -> bool {
    match req.operator.as_str() {
        "In" => req.values.contains(&code),
        "NotIn" => !req.values.contains(&code),
        _ => false,
    }
}

/// The first pod condition matching one of `patterns` (type and status).
fn match_on_pod_conditions<'a>(
    conditions: Option<&'a [PodCondition]>,
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
) -> Option<&'a PodCondition> {
    conditions.into_iter().flatten().find(|c| {
        patterns
            .iter()
            .any(|p| p.type_ == c.type_ && p.status == c.status)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::{failed_pod, with_condition};
    use crate::util::testing::pod;
    use k8s_openapi::api::batch::v1::PodFailurePolicyRule;

    fn on_codes(
        action: &str,
        op: &str,
        values: &[i32],
        container: Option<&str>,
    ) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: container.map(String::from),
                operator: op.into(),
                values: values.to_vec(),
            }),
            on_pod_conditions: None,
        }
    }

    fn on_condition(action: &str, type_: &str) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: None,
            on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                type_: type_.into(),
                status: "True".into(),
            }]),
        }
    }

    fn policy(rules: Vec<PodFailurePolicyRule>) -> PodFailurePolicy {
        PodFailurePolicy { rules }
    }

    #[test]
    fn exit_code_rules_match_in_order_with_upstreams_messages() {
        let p = failed_pod(pod("a"), 42);
        let pol = policy(vec![
            on_codes("Ignore", "In", &[1, 2], None),
            on_codes("FailJob", "In", &[42], None),
            on_codes("Count", "NotIn", &[0], None),
        ]);
        let m = match_pod_failure_policy(&pol, &p);
        assert_eq!(m.action, Some(PolicyAction::FailJob));
        assert!(m.count_failed);
        assert_eq!(
            m.fail_job_message.as_deref(),
            Some(
                "Container c for pod default/a failed with exit code 42 matching FailJob rule at index 1"
            )
        );
        let ignored = match_pod_failure_policy(&pol, &failed_pod(pod("b"), 2));
        assert_eq!(
            (ignored.action, ignored.count_failed),
            (Some(PolicyAction::Ignore), false)
        );
        let counted = match_pod_failure_policy(&pol, &failed_pod(pod("c"), 7));
        assert_eq!(
            (counted.action, counted.count_failed),
            (Some(PolicyAction::Count), true)
        );
    }

    #[test]
    fn exit_code_zero_and_other_containers_never_match() {
        let pol = policy(vec![on_codes("FailJob", "NotIn", &[5], None)]);
        assert_eq!(
            match_pod_failure_policy(&pol, &failed_pod(pod("a"), 0)),
            PolicyMatch::NONE
        );
        let named = policy(vec![on_codes("FailJob", "In", &[3], Some("other"))]);
        assert_eq!(
            match_pod_failure_policy(&named, &failed_pod(pod("a"), 3)),
            PolicyMatch::NONE
        );
    }

    #[test]
    fn condition_rules_match_the_disruption_target() {
        let pol = policy(vec![
            on_condition("Ignore", "DisruptionTarget"),
            on_codes("FailIndex", "In", &[3], None),
        ]);
        let disrupted = with_condition(failed_pod(pod("a"), 3), "DisruptionTarget", "True");
        let m = match_pod_failure_policy(&pol, &disrupted);
        assert_eq!(
            (m.action, m.count_failed),
            (Some(PolicyAction::Ignore), false)
        );
        let not = with_condition(failed_pod(pod("b"), 3), "DisruptionTarget", "False");
        let m = match_pod_failure_policy(&pol, &not);
        assert_eq!(
            (m.action, m.count_failed),
            (Some(PolicyAction::FailIndex), true)
        );
        let fail_job = policy(vec![on_condition("FailJob", "DisruptionTarget")]);
        assert_eq!(
            match_pod_failure_policy(&fail_job, &disrupted)
                .fail_job_message
                .as_deref(),
            Some("Pod default/a has condition DisruptionTarget matching FailJob rule at index 0")
        );
    }
}
