//! ClusterRole aggregation, as upstream's clusterrole-aggregation controller computes
//! it: an aggregated role's rules are the union of the rules of every other ClusterRole
//! one of its `aggregationRule.clusterRoleSelectors` selects.

use capstan_labels::Selector;
use serde_json::Value;

use crate::selector::{JsonLabels, label_selector_of};

fn name_of(role: &Value) -> &str {
    role.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A `metav1.LabelSelector` as `metav1.LabelSelectorAsSelector` reads it (`{}` selects
/// every role). One that does not convert selects nothing (upstream's controller fails
/// that role's sync).
fn selector_of(selector: &Value) -> Selector {
    Selector::from_label_selector(label_selector_of(selector).as_ref())
        .unwrap_or_else(|_| Selector::nothing())
}

fn selects(selector: &Selector, role: &Value) -> bool {
    let labels = role.pointer("/metadata/labels").unwrap_or(&Value::Null);
    selector.matches(&JsonLabels(labels))
}

/// The rules an aggregated ClusterRole should hold: the union, in the selected roles'
/// name order and without repeats, of the rules of every other ClusterRole in `all` one
/// of its `aggregationRule.clusterRoleSelectors` selects. `None` when `role` aggregates
/// nothing (it has no `aggregationRule`).
pub fn aggregate(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors: Vec<Selector> = role
        .pointer("/aggregationRule/clusterRoleSelectors")?
        .as_array()?
        .iter()
        .map(selector_of)
        .collect();
    let own_name = name_of(role);
    let mut sources: Vec<&Value> = all
        .iter()
        .filter(|other| name_of(other) != own_name)
        .filter(|other| selectors.iter().any(|s| selects(s, other)))
        .collect();
    sources.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let mut rules: Vec<Value> = Vec::new();
    for source in sources {
        for r in source
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !rules.contains(r) {
                rules.push(r.clone());
            }
        }
    }
    Some(rules)
}

/// The aggregated roles in `all` whose rules differ from what [`aggregate`] computes,
/// with the rules they should hold (what one pass of the controller writes).
pub fn stale_aggregates(all: &[Value]) -> Vec<(String, Vec<Value>)> {
    all.iter()
        .filter_map(|role| {
            let rules = aggregate(role, all)?;
            let current = role.get("rules").and_then(Value::as_array);
            let unchanged = match current {
                Some(cur) => *cur == rules,
                None => rules.is_empty(),
            };
            (!unchanged).then(|| (name_of(role).to_string(), rules))
        })
        .collect()
}

/// The rules each aggregated role in `all` ends with once chains of aggregated roles
/// (`view` into `edit` into `admin`) settle, for the roles whose rules change: passes
/// of [`stale_aggregates`] applied in memory, at most `max_passes`, so the store sees
/// one write per role.
pub fn settled_aggregates(all: &[Value], max_passes: usize) -> Vec<(String, Vec<Value>)> {
    if stale_aggregates(all).is_empty() {
        return Vec::new();
    }
    let mut roles = all.to_vec();
    let mut changed: Vec<String> = Vec::new();
    for _ in 0..max_passes {
        let stale = stale_aggregates(&roles);
        if stale.is_empty() {
            break;
        }
        for (name, rules) in stale {
            if let Some(role) = roles.iter_mut().find(|r| name_of(r) == name) {
                role["rules"] = Value::Array(rules);
            }
            if !changed.contains(&name) {
                changed.push(name);
            }
        }
    }
    changed
        .into_iter()
        .filter_map(|name| {
            let role = roles.iter().find(|r| name_of(r) == name)?;
            let original = all.iter().find(|r| name_of(r) == name)?;
            (role.get("rules") != original.get("rules")).then(|| {
                let rules = role["rules"].as_array().cloned().unwrap_or_default();
                (name, rules)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rbac_policy::bootstrap_policy;

    fn find<'a>(roles: &'a [Value], name: &str) -> &'a Value {
        roles
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no role {name}"))
    }

    fn rules_of(roles: &[Value], name: &str) -> Vec<Value> {
        find(roles, name)["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn policy_roles() -> Vec<Value> {
        bootstrap_policy()
            .expect("policy parses")
            .cluster_roles
            .clone()
    }

    /// The policy's roles as a fresh server would create them without aggregation.
    fn unaggregated_roles() -> Vec<Value> {
        let mut roles = policy_roles();
        for r in roles.iter_mut() {
            if r.get("aggregationRule").is_some() {
                r["rules"] = json!([]);
            }
        }
        roles
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
        json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
    }

    #[test]
    fn view_aggregates_the_view_rules_and_a_labelled_user_role() {
        let mut roles = policy_roles();
        let user_rule = rule(&["example.com"], &["widgets"], &["get", "list", "watch"]);
        roles.push(json!({
            "metadata": {"name": "widget-viewer", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [user_rule.clone()],
        }));
        let view = aggregate(find(&roles, "view"), &roles).expect("view aggregates");
        let mut expected = rules_of(&roles, "system:aggregate-to-view");
        expected.push(user_rule);
        assert_eq!(view, expected);
    }

    #[test]
    fn edit_aggregates_edit_rules_and_views_aggregated_rules() {
        let mut roles = policy_roles();
        let view_rules = aggregate(find(&roles, "view"), &roles).expect("view aggregates");
        for r in roles.iter_mut() {
            if r["metadata"]["name"] == "view" {
                r["rules"] = json!(view_rules);
            }
        }
        let edit = aggregate(find(&roles, "edit"), &roles).expect("edit aggregates");
        let to_edit = rules_of(&roles, "system:aggregate-to-edit");
        for r in to_edit.iter().chain(view_rules.iter()) {
            assert!(edit.contains(r), "edit lacks {r}");
        }
        assert_eq!(edit.len(), to_edit.len() + view_rules.len());
    }

    #[test]
    fn roles_without_an_aggregation_rule_aggregate_nothing() {
        let roles = policy_roles();
        assert!(aggregate(find(&roles, "cluster-admin"), &roles).is_none());
    }

    #[test]
    fn match_expressions_and_the_empty_selector_select_as_upstream() {
        let a = json!({"metadata": {"name": "a", "labels": {"tier": "gold"}}, "rules": [rule(&["a"], &["x"], &["get"])]});
        let b = json!({"metadata": {"name": "b", "labels": {"tier": "lead"}}, "rules": [rule(&["b"], &["y"], &["get"])]});
        let by_expr = json!({
            "metadata": {"name": "gold"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}]},
        });
        let everything = json!({
            "metadata": {"name": "everything"},
            "aggregationRule": {"clusterRoleSelectors": [{}]},
        });
        let all = vec![a.clone(), b.clone(), by_expr.clone(), everything.clone()];
        assert_eq!(
            aggregate(&by_expr, &all),
            Some(a["rules"].as_array().unwrap().clone())
        );
        // `{}` selects every other role (both rule-less aggregated roles add nothing).
        let mut both = a["rules"].as_array().unwrap().clone();
        both.extend(b["rules"].as_array().unwrap().clone());
        assert_eq!(aggregate(&everything, &all), Some(both));
    }

    #[test]
    fn stale_aggregates_lists_only_roles_whose_rules_differ() {
        let roles = unaggregated_roles();
        let stale: Vec<String> = stale_aggregates(&roles)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // Unaggregated, all three aggregated roles are stale.
        assert_eq!(stale, ["admin", "edit", "view"]);
        let mut filled = roles.clone();
        for (name, rules) in stale_aggregates(&roles) {
            for r in filled.iter_mut() {
                if r["metadata"]["name"] == name.as_str() {
                    r["rules"] = json!(rules);
                }
            }
        }
        // view settled in one pass; edit and admin follow the chain in later passes.
        let next: Vec<String> = stale_aggregates(&filled)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(!next.contains(&"view".to_string()), "{next:?}");
    }
}
