//! `spec.successPolicy` of Indexed Jobs (upstream `success_policy.go`): the Job
//! succeeds early once the succeeded indexes satisfy one of the rules.

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::indexed::OrderedIntervals;

/// The `SuccessCriteriaMet` message when a rule of `policy` is satisfied by
/// `succeeded` (upstream `matchSuccessPolicy`): `"Matched rules at index <i>"`
/// for the first one. A rule with `succeededIndexes` needs all of them, or
/// `succeededCount` of them; a rule with only `succeededCount` needs that many
/// succeeded indexes. A rule whose indexes do not parse is skipped.
pub fn match_success_policy(
    policy: Option<&SuccessPolicy>,
    completions: usize,
    succeeded: &OrderedIntervals,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let count = rule.succeeded_count.and_then(|c| usize::try_from(c).ok());
        let matched = if let Some(indexes) = &rule.succeeded_indexes {
            let required = OrderedIntervals::parse(indexes, completions);
            if required.is_empty() {
                continue;
            }
            matches_succeeded_indexes(&required, succeeded, count)
        } else {
            count.is_some_and(|c| succeeded.total() >= c)
        };
        if matched {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}

/// Whether `succeeded` covers all of `required`, or at least `count` of them
/// (upstream `matchSucceededIndexesRule`).
fn matches_succeeded_indexes(
    required: &OrderedIntervals,
    succeeded: &OrderedIntervals,
    count: Option<usize>,
) -> bool {
    let (mut r, mut s, mut contains) = (0, 0, 0usize);
    while r < required.0.len() && s < succeeded.0.len() {
        let (ri, si) = (required.0[r], succeeded.0[s]);
        let lo = ri.first.max(si.first);
        let hi = ri.last.min(si.last);
        if hi >= lo {
            contains += hi - lo + 1;
        }
        if si.last < ri.last {
            s += 1;
        } else if si.last > ri.last {
            r += 1;
        } else {
            s += 1;
            r += 1;
        }
    }
    contains == required.total() || count.is_some_and(|c| contains >= c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::SuccessPolicyRule;

    fn rule(indexes: Option<&str>, count: Option<i32>) -> SuccessPolicyRule {
        SuccessPolicyRule {
            succeeded_indexes: indexes.map(String::from),
            succeeded_count: count,
        }
    }

    fn check(rules: Vec<SuccessPolicyRule>, succeeded: &str) -> Option<String> {
        let policy = SuccessPolicy { rules };
        match_success_policy(Some(&policy), 10, &OrderedIntervals::parse(succeeded, 10))
    }

    #[test]
    fn indexes_rules_need_all_or_count_of_them() {
        assert_eq!(
            check(vec![rule(Some("0,2-4"), None)], "0,2-4,7"),
            Some("Matched rules at index 0".into())
        );
        assert_eq!(check(vec![rule(Some("0,2-4"), None)], "0,2,3"), None);
        assert_eq!(
            check(vec![rule(Some("0-5"), Some(2))], "4,5,8"),
            Some("Matched rules at index 0".into())
        );
        assert_eq!(check(vec![rule(Some("0-5"), Some(3))], "4,5,8"), None);
    }

    #[test]
    fn count_only_rules_and_rule_order() {
        let rules = vec![rule(Some("9"), None), rule(None, Some(2))];
        assert_eq!(
            check(rules.clone(), "1,3"),
            Some("Matched rules at index 1".into())
        );
        assert_eq!(
            check(rules.clone(), "9"),
            Some("Matched rules at index 0".into())
        );
        assert_eq!(check(rules, "1"), None);
    }

    #[test]
    fn no_policy_no_successes_or_unparsable_rules_match_nothing() {
        assert_eq!(
            match_success_policy(None, 10, &OrderedIntervals::parse("0-9", 10)),
            None
        );
        assert_eq!(check(vec![rule(None, Some(0))], ""), None);
        assert_eq!(check(vec![rule(Some("x"), None)], "0-9"), None);
        // Indexes beyond completions are dropped from a rule.
        assert_eq!(
            check(vec![rule(Some("8-20"), None)], "8,9"),
            Some("Matched rules at index 0".into())
        );
    }
}
