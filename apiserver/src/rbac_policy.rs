//! Upstream's bootstrap RBAC policy (kube-apiserver's `bootstrappolicy`): the
//! user-facing roles `cluster-admin`, `admin`, `edit`, `view` (the last three aggregated
//! from `system:aggregate-to-*`), the scheduler's and controller-manager's roles, and
//! the `cluster-admin` binding to `system:masters`; plus the aggregation rule
//! evaluation (what upstream's clusterrole-aggregation controller computes).

use serde_json::{Value, json};

/// The label every bootstrap RBAC object carries.
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
/// The annotation telling the server it may reconcile the object.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
/// Every verb of a served resource: the list discovery reports.
const READ_WRITE: &[&str] = crate::kinds::STANDARD_VERBS;
const EVENT_WRITE: &[&str] = &["create", "patch", "update"];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn named_rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resourceNames": names, "resources": resources, "verbs": verbs})
}

fn metadata(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(BOOTSTRAPPING_LABEL.into(), json!("rbac-defaults"));
    for (k, v) in extra_labels {
        labels.insert((*k).into(), json!(v));
    }
    json!({"name": name, "labels": labels, "annotations": {AUTOUPDATE_ANNOTATION: "true"}})
}

fn aggregate_label(to: &str) -> String {
    format!("rbac.authorization.k8s.io/aggregate-to-{to}")
}

fn role(name: &str, extra_labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({"metadata": metadata(name, extra_labels), "rules": rules})
}

fn aggregated(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    json!({
        "metadata": metadata(name, extra_labels),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {aggregate_label(name): "true"}}]},
        "rules": [],
    })
}

fn leader_election_rules(lease: &str) -> Vec<Value> {
    vec![
        rule(&["", "events.k8s.io"], &["events"], EVENT_WRITE),
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        named_rule(
            &["coordination.k8s.io"],
            &["leases"],
            &[lease],
            &["get", "update"],
        ),
    ]
}

fn aggregate_to_admin() -> Vec<Value> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["rbac.authorization.k8s.io"],
            &["rolebindings", "roles"],
            READ_WRITE,
        ),
    ]
}

fn aggregate_to_edit() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["coordination.k8s.io"], &["leases"], READ_WRITE),
    ]
}

fn aggregate_to_view() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ]
}

fn kube_controller_manager() -> Vec<Value> {
    let mut rules = leader_election_rules("kube-controller-manager");
    rules.extend([
        rule(&[""], &["secrets", "serviceaccounts"], &["create"]),
        rule(&[""], &["secrets"], &["delete"]),
        rule(
            &[""],
            &["configmaps", "namespaces", "secrets", "serviceaccounts"],
            &["get"],
        ),
        rule(&[""], &["secrets", "serviceaccounts"], &["update"]),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(&["*"], &["*"], &["list", "watch"]),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
    ]);
    rules
}

fn kube_scheduler() -> Vec<Value> {
    let mut rules = leader_election_rules("kube-scheduler");
    rules.extend([
        rule(&[""], &["nodes"], READ),
        rule(&[""], &["pods"], &["delete", "get", "list", "watch"]),
        rule(&[""], &["bindings", "pods/binding"], &["create"]),
        rule(&[""], &["pods/status"], &["patch", "update"]),
        rule(&[""], &["replicationcontrollers", "services"], READ),
        rule(&["apps", "extensions"], &["replicasets"], READ),
        rule(&["apps"], &["statefulsets"], READ),
        rule(&["policy"], &["poddisruptionbudgets"], READ),
        rule(
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
            READ,
        ),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(&["storage.k8s.io"], &["csinodes"], READ),
        rule(&[""], &["namespaces"], READ),
        rule(&["storage.k8s.io"], &["csidrivers"], READ),
        rule(&["storage.k8s.io"], &["csistoragecapacities"], READ),
    ]);
    rules
}

/// The bootstrap ClusterRoles, as creation bodies (aggregated roles with empty rules:
/// [`aggregate`] fills them).
pub fn cluster_roles() -> Vec<Value> {
    let to_admin = aggregate_label("admin");
    let to_edit = aggregate_label("edit");
    let to_view = aggregate_label("view");
    vec![
        role(
            "cluster-admin",
            &[],
            vec![
                rule(&["*"], &["*"], &["*"]),
                json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            ],
        ),
        aggregated("admin", &[]),
        aggregated("edit", &[(&to_admin, "true")]),
        aggregated("view", &[(&to_edit, "true")]),
        role(
            "system:aggregate-to-admin",
            &[(&to_admin, "true")],
            aggregate_to_admin(),
        ),
        role(
            "system:aggregate-to-edit",
            &[(&to_edit, "true")],
            aggregate_to_edit(),
        ),
        role(
            "system:aggregate-to-view",
            &[(&to_view, "true")],
            aggregate_to_view(),
        ),
        role(
            "system:kube-controller-manager",
            &[],
            kube_controller_manager(),
        ),
        role("system:kube-scheduler", &[], kube_scheduler()),
    ]
}

/// The bootstrap ClusterRoleBindings, as creation bodies.
pub fn cluster_role_bindings() -> Vec<Value> {
    [
        ("cluster-admin", "Group", "system:masters"),
        (
            "system:kube-controller-manager",
            "User",
            "system:kube-controller-manager",
        ),
        ("system:kube-scheduler", "User", "system:kube-scheduler"),
    ]
    .into_iter()
    .map(|(role, kind, subject)| {
        json!({
            "metadata": metadata(role, &[]),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": subject}],
        })
    })
    .collect()
}

fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object) else {
        return false;
    };
    !match_labels.is_empty() && match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The rules an aggregated ClusterRole should hold: the union, in name order and
/// without repeats, of the rules of every other ClusterRole in `all` one of its
/// `aggregationRule.clusterRoleSelectors` selects (what upstream's
/// clusterrole-aggregation controller writes). `None` when `role` aggregates nothing.
pub fn aggregate(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors = role
        .pointer("/aggregationRule/clusterRoleSelectors")?
        .as_array()?;
    let own_name = role.pointer("/metadata/name");
    let mut sources: Vec<&Value> = all
        .iter()
        .filter(|other| other.pointer("/metadata/name") != own_name)
        .filter(|other| {
            let labels = other.pointer("/metadata/labels").unwrap_or(&Value::Null);
            selectors.iter().any(|s| selects(s, labels))
        })
        .collect();
    sources.sort_by_key(|o| {
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(roles: &'a [Value], name: &str) -> &'a Value {
        roles
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no role {name}"))
    }

    #[test]
    fn view_aggregates_the_view_rules_and_a_labelled_user_role() {
        let mut roles = cluster_roles();
        let user_rule = rule(&["example.com"], &["widgets"], READ);
        roles.push(json!({
            "metadata": {"name": "widget-viewer", "labels": {aggregate_label("view"): "true"}},
            "rules": [user_rule.clone()],
        }));
        let view = aggregate(find(&roles, "view"), &roles).expect("view aggregates");
        let mut expected = aggregate_to_view();
        expected.push(user_rule);
        assert_eq!(view, expected);
    }

    #[test]
    fn edit_aggregates_edit_rules_and_views_aggregated_rules() {
        let mut roles = cluster_roles();
        let view_rules = aggregate(find(&roles, "view"), &roles).expect("view aggregates");
        for r in roles.iter_mut() {
            if r["metadata"]["name"] == "view" {
                r["rules"] = json!(view_rules);
            }
        }
        let edit = aggregate(find(&roles, "edit"), &roles).expect("edit aggregates");
        for r in aggregate_to_edit().iter().chain(view_rules.iter()) {
            assert!(edit.contains(r), "edit lacks {r}");
        }
        assert_eq!(edit.len(), aggregate_to_edit().len() + view_rules.len());
    }

    #[test]
    fn roles_without_an_aggregation_rule_aggregate_nothing() {
        let roles = cluster_roles();
        assert!(aggregate(find(&roles, "cluster-admin"), &roles).is_none());
    }
}
