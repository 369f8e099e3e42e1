//! What the server writes at start to a bootstrap RBAC object that already exists
//! (upstream's `pkg/registry/rbac/reconciliation` with `removeExtraPermissions` and
//! `removeExtraSubjects` off, as the bootstrap hook runs it):
//!
//! - an object annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` is
//!   protected: nothing is written;
//! - expected labels and annotations the object lacks are added (its own values win);
//! - a role gains the expected rules its rules do not cover (each added as upstream's
//!   `BreakdownRule` splits it: one group, resource, verb and name at a time), and the
//!   expected aggregation selectors it lacks; an aggregation rule the policy does not
//!   expect is dropped; an expected aggregated role's rules are left to aggregation;
//! - a binding gains the expected subjects it lacks; a binding whose `roleRef` differs
//!   is recreated from the policy (`roleRef` is immutable).
//!
//! Nothing is ever removed from rules or subjects.

use serde_json::{Map, Value};

use super::{AUTOUPDATE_ANNOTATION, RBAC_GROUP};

/// What to do with an existing object.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconciliation {
    /// It already holds everything expected, or it is protected.
    Unchanged,
    /// Write this object (the existing one with what was missing added).
    Update(Value),
    /// Delete it and create this one (a binding whose `roleRef` differs).
    Recreate(Value),
}

fn protected(existing: &Value) -> bool {
    existing
        .pointer(&format!(
            "/metadata/annotations/{}",
            AUTOUPDATE_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        == Some("false")
}

/// Adds to `obj.metadata.<field>` the entries of `expected`'s it lacks.
fn merge_map(obj: &mut Value, expected: &Value, field: &str) {
    let Some(want) = expected
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_object)
    else {
        return;
    };
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let have = meta
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !have.is_object() {
        *have = Value::Object(Map::new());
    }
    if let Some(have) = have.as_object_mut() {
        for (k, v) in want {
            have.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn merge_metadata(obj: &mut Value, expected: &Value) {
    merge_map(obj, expected, "annotations");
    merge_map(obj, expected, "labels");
}

fn strings<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// One `PolicyRule` split as upstream's `BreakdownRule` does: one rule per group ×
/// resource × verb (× resource name), and per non-resource URL × verb.
fn breakdown(rule: &Value) -> Vec<Value> {
    let verbs = strings(rule, "verbs");
    let names = strings(rule, "resourceNames");
    let mut out = Vec::new();
    for group in strings(rule, "apiGroups") {
        for resource in strings(rule, "resources") {
            for verb in &verbs {
                if names.is_empty() {
                    out.push(serde_json::json!({"apiGroups": [group], "resources": [resource], "verbs": [verb]}));
                } else {
                    for name in &names {
                        out.push(serde_json::json!({"apiGroups": [group], "resourceNames": [name], "resources": [resource], "verbs": [verb]}));
                    }
                }
            }
        }
    }
    for url in strings(rule, "nonResourceURLs") {
        for verb in &verbs {
            out.push(serde_json::json!({"nonResourceURLs": [url], "verbs": [verb]}));
        }
    }
    out
}

fn has_all(owner: &[&str], wanted: &[&str]) -> bool {
    wanted.iter().all(|w| owner.contains(w))
}

/// upstream's `resourceCoversAll`: `*`, the exact resource, or `*/<subresource>`.
fn resources_covered(owner: &[&str], wanted: &[&str]) -> bool {
    if owner.contains(&"*") {
        return true;
    }
    wanted.iter().all(|r| {
        owner.contains(r)
            || r.split_once('/')
                .is_some_and(|(_, sub)| owner.contains(&format!("*/{sub}").as_str()))
    })
}

/// upstream's `nonResourceURLsCoversAll`: the exact URL or a `prefix*` owning it.
fn urls_covered(owner: &[&str], wanted: &[&str]) -> bool {
    wanted.iter().all(|u| {
        owner.iter().any(|o| match o.strip_suffix('*') {
            Some(prefix) => u.starts_with(prefix),
            None => o == u,
        })
    })
}

/// upstream's `ruleCovers`.
fn rule_covers(owner: &Value, sub: &Value) -> bool {
    let verbs = strings(owner, "verbs");
    let groups = strings(owner, "apiGroups");
    let owner_names = strings(owner, "resourceNames");
    let sub_names = strings(sub, "resourceNames");
    (verbs.contains(&"*") || has_all(&verbs, &strings(sub, "verbs")))
        && (groups.contains(&"*") || has_all(&groups, &strings(sub, "apiGroups")))
        && resources_covered(&strings(owner, "resources"), &strings(sub, "resources"))
        && urls_covered(
            &strings(owner, "nonResourceURLs"),
            &strings(sub, "nonResourceURLs"),
        )
        && (owner_names.is_empty() || (!sub_names.is_empty() && has_all(&owner_names, &sub_names)))
}

/// The parts of `expected` rules that `owner` rules do not cover (upstream's
/// `validation.Covers`), broken down.
pub fn uncovered(owner: &[Value], expected: &[Value]) -> Vec<Value> {
    // The usual case, an untouched object, without breaking every rule down.
    if expected.iter().all(|r| owner.contains(r)) {
        return Vec::new();
    }
    expected
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect()
}

fn array<'a>(obj: &'a Value, field: &str) -> &'a [Value] {
    obj.get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Reconciles an existing Role or ClusterRole with the policy's `expected` one.
pub fn reconcile_role(existing: &Value, expected: &Value) -> Reconciliation {
    if protected(existing) {
        return Reconciliation::Unchanged;
    }
    let mut result = existing.clone();
    merge_metadata(&mut result, expected);
    // An aggregated role's rules are the aggregation controller's, not the policy's
    // (upstream's expected aggregated roles carry none).
    let expected_rules = if expected.get("aggregationRule").is_some() {
        &[]
    } else {
        array(expected, "rules")
    };
    let missing = uncovered(array(existing, "rules"), expected_rules);
    if !missing.is_empty() {
        let mut rules = array(existing, "rules").to_vec();
        rules.extend(missing);
        result["rules"] = Value::Array(rules);
    }
    let selectors = "/aggregationRule/clusterRoleSelectors";
    match (
        expected.get("aggregationRule"),
        existing.get("aggregationRule"),
    ) {
        (None, Some(_)) => {
            if let Some(m) = result.as_object_mut() {
                m.remove("aggregationRule");
            }
        }
        (Some(want), _) => {
            let have: Vec<Value> = existing
                .pointer(selectors)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let lacking: Vec<&Value> = want
                .pointer("/clusterRoleSelectors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| !have.contains(s))
                .collect();
            if !lacking.is_empty() {
                let mut all = have;
                all.extend(lacking.into_iter().cloned());
                result["aggregationRule"] = serde_json::json!({"clusterRoleSelectors": all});
            }
        }
        (None, None) => {}
    }
    if result == *existing {
        Reconciliation::Unchanged
    } else {
        Reconciliation::Update(result)
    }
}

fn field<'a>(obj: &'a Value, name: &str) -> &'a str {
    obj.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// A `roleRef` or subject as upstream compares them, after defaulting: the API group
/// of a User, Group or role reference is `rbac.authorization.k8s.io` when unset, a
/// service account's is empty.
fn identity(v: &Value) -> [&str; 4] {
    let kind = field(v, "kind");
    let group = match (field(v, "apiGroup"), kind) {
        ("", "ServiceAccount") => "",
        ("", _) => RBAC_GROUP,
        (g, _) => g,
    };
    [kind, group, field(v, "name"), field(v, "namespace")]
}

/// Reconciles an existing RoleBinding or ClusterRoleBinding with the policy's
/// `expected` one.
pub fn reconcile_binding(existing: &Value, expected: &Value) -> Reconciliation {
    if protected(existing) {
        return Reconciliation::Unchanged;
    }
    if existing.get("roleRef").map(identity) != expected.get("roleRef").map(identity) {
        return Reconciliation::Recreate(expected.clone());
    }
    let mut result = existing.clone();
    merge_metadata(&mut result, expected);
    let have = array(existing, "subjects");
    let missing: Vec<Value> = array(expected, "subjects")
        .iter()
        .filter(|s| !have.iter().any(|h| identity(h) == identity(s)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut subjects = have.to_vec();
        subjects.extend(missing);
        result["subjects"] = Value::Array(subjects);
    }
    if result == *existing {
        Reconciliation::Unchanged
    } else {
        Reconciliation::Update(result)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(annotations: Value, rules: Value) -> Value {
        json!({"metadata": {"name": "r", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}, "annotations": annotations}, "rules": rules})
    }

    fn expected_role() -> Value {
        role(
            json!({AUTOUPDATE_ANNOTATION: "true"}),
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            ]),
        )
    }

    #[test]
    fn a_role_holding_the_expected_rules_is_unchanged() {
        let e = expected_role();
        assert_eq!(reconcile_role(&e, &e), Reconciliation::Unchanged);
    }

    #[test]
    fn missing_rule_parts_are_added_broken_down_and_extra_rules_kept() {
        let existing = role(
            json!({AUTOUPDATE_ANNOTATION: "true"}),
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete"]},
            ]),
        );
        let Reconciliation::Update(out) = reconcile_role(&existing, &expected_role()) else {
            panic!("expected an update");
        };
        assert_eq!(
            out["rules"],
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
                {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            ])
        );
    }

    #[test]
    fn broader_rules_cover_as_upstream() {
        let owner = [
            json!({"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["*"]}),
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}),
            json!({"nonResourceURLs": ["/api/*"], "verbs": ["get"]}),
        ];
        let covered = [
            json!({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}),
            json!({"apiGroups": [""], "resourceNames": ["x"], "resources": ["configmaps"], "verbs": ["get"]}),
            json!({"nonResourceURLs": ["/api/v1"], "verbs": ["get"]}),
        ];
        assert!(uncovered(&owner, &covered).is_empty());
        let not_covered = [
            json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}),
            json!({"nonResourceURLs": ["/apis"], "verbs": ["get"]}),
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}),
        ];
        assert_eq!(uncovered(&owner, &not_covered).len(), 3);
        // A rule limited to names does not cover the whole resource.
        let named = [
            json!({"apiGroups": [""], "resourceNames": ["x"], "resources": ["secrets"], "verbs": ["get"]}),
        ];
        let all_secrets = [json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})];
        assert_eq!(uncovered(&named, &all_secrets).len(), 1);
    }

    #[test]
    fn labels_and_annotations_are_added_never_overwritten() {
        let mut existing = expected_role();
        existing["metadata"]["labels"] = json!({"team": "a"});
        existing["metadata"]["annotations"] = json!({AUTOUPDATE_ANNOTATION: "true", "note": "x"});
        let Reconciliation::Update(out) = reconcile_role(&existing, &expected_role()) else {
            panic!("expected an update");
        };
        assert_eq!(
            out["metadata"]["labels"],
            json!({"team": "a", "kubernetes.io/bootstrapping": "rbac-defaults"})
        );
        assert_eq!(out["metadata"]["annotations"]["note"], "x");
    }

    #[test]
    fn an_autoupdate_false_object_is_left_alone() {
        let existing = role(json!({AUTOUPDATE_ANNOTATION: "false"}), json!([]));
        assert_eq!(
            reconcile_role(&existing, &expected_role()),
            Reconciliation::Unchanged
        );
        let binding = json!({"metadata": {"name": "b", "annotations": {AUTOUPDATE_ANNOTATION: "false"}}, "roleRef": {"name": "other"}, "subjects": []});
        let want = json!({"metadata": {"name": "b"}, "roleRef": {"name": "b"}, "subjects": []});
        assert_eq!(
            reconcile_binding(&binding, &want),
            Reconciliation::Unchanged
        );
    }

    #[test]
    fn aggregation_selectors_are_added_and_unexpected_aggregation_dropped() {
        let sel = |to: &str| json!({"matchLabels": {format!("rbac.authorization.k8s.io/aggregate-to-{to}"): "true"}});
        let mut expected = expected_role();
        expected["rules"] = json!([]);
        expected["aggregationRule"] = json!({"clusterRoleSelectors": [sel("view")]});
        let mut existing = expected.clone();
        existing["aggregationRule"] = json!({"clusterRoleSelectors": [sel("mine")]});
        existing["rules"] = json!([{"apiGroups": ["x"], "resources": ["y"], "verbs": ["get"]}]);
        let Reconciliation::Update(out) = reconcile_role(&existing, &expected) else {
            panic!("expected an update");
        };
        assert_eq!(
            out["aggregationRule"]["clusterRoleSelectors"],
            json!([sel("mine"), sel("view")])
        );
        assert_eq!(out["rules"], existing["rules"]);

        let plain = expected_role();
        let Reconciliation::Update(out) = reconcile_role(&existing, &plain) else {
            panic!("expected an update");
        };
        assert!(out.get("aggregationRule").is_none());
    }

    #[test]
    fn bindings_gain_missing_subjects_and_are_recreated_on_another_role() {
        let user =
            |n: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": n});
        let want = json!({"metadata": {"name": "b", "annotations": {AUTOUPDATE_ANNOTATION: "true"}}, "roleRef": {"name": "b"}, "subjects": [user("a"), user("b")]});
        let mut have = want.clone();
        have["subjects"] = json!([user("c"), user("a")]);
        let Reconciliation::Update(out) = reconcile_binding(&have, &want) else {
            panic!("expected an update");
        };
        assert_eq!(out["subjects"], json!([user("c"), user("a"), user("b")]));
        assert_eq!(reconcile_binding(&want, &want), Reconciliation::Unchanged);
        // Defaulted forms are the same subjects and role.
        let sa = json!({"kind": "ServiceAccount", "name": "x", "namespace": "kube-system"});
        let want_sa = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "b"}, "subjects": [sa.clone()]});
        let mut stored = want_sa.clone();
        stored["roleRef"]["apiGroup"] = json!("rbac.authorization.k8s.io");
        stored["subjects"][0]["apiGroup"] = json!("");
        assert_eq!(
            reconcile_binding(&stored, &want_sa),
            Reconciliation::Unchanged
        );
        let mut moved = want.clone();
        moved["roleRef"]["name"] = json!("elsewhere");
        assert_eq!(
            reconcile_binding(&moved, &want),
            Reconciliation::Recreate(want.clone())
        );
    }
}
