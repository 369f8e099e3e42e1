//! The bootstrap policy read from `policy-v1.33.yaml` (embedded at build time) into the
//! creation bodies the server writes, with the metadata upstream's
//! `addDefaultMetadata` gives every object and the per-controller roles and bindings
//! upstream's `addControllerRole` makes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::aggregation::settled_aggregates;
use super::{AUTOUPDATE_ANNOTATION, BOOTSTRAPPING_LABEL, RBAC_GROUP};

/// The policy file, as checked in.
const POLICY_YAML: &str = include_str!("policy-v1.33.yaml");
/// What `addControllerRole` puts before a controller's name.
const CONTROLLER_ROLE_PREFIX: &str = "system:controller:";
/// How deep the policy's own chains of aggregated roles go (`view` → `edit` →
/// `admin`), with room to spare.
const AGGREGATION_DEPTH: usize = 8;
/// The namespace of the controllers' service accounts.
const CONTROLLER_NAMESPACE: &str = "kube-system";

/// Why the embedded policy could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The YAML does not parse into the policy's shape.
    #[error("bootstrap RBAC policy does not parse: {0}")]
    Parse(String),
    /// A subject is not written `<kind> <name>` (or `ServiceAccount <namespace>/<name>`).
    #[error("bootstrap RBAC policy: malformed subject {0:?}")]
    Subject(String),
}

/// The bootstrap objects as creation bodies, in upstream's order (cluster roles, then
/// controller roles; the same for bindings).
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapPolicy {
    /// ClusterRoles; the aggregated ones (`admin`, `edit`, `view`) already hold the
    /// rules aggregation gives them from the policy's roles, so a fresh server has
    /// them filled at once.
    pub cluster_roles: Vec<Value>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<Value>,
    /// Namespaced Roles (`metadata.namespace` set).
    pub roles: Vec<Value>,
    /// Namespaced RoleBindings (`metadata.namespace` set).
    pub role_bindings: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyFile {
    cluster_roles: Vec<RoleEntry>,
    cluster_role_bindings: Vec<BindingEntry>,
    controller_roles: Vec<RoleEntry>,
    roles: Vec<RoleEntry>,
    role_bindings: Vec<BindingEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RoleEntry {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    aggregation_rule: Option<Value>,
    #[serde(default)]
    rules: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BindingEntry {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    /// The Role a RoleBinding refers to; a ClusterRoleBinding refers to the
    /// ClusterRole of its own name.
    #[serde(default)]
    role: Option<String>,
    subjects: Vec<String>,
}

/// The bootstrap policy, parsed on first use and kept for the process.
pub fn bootstrap_policy() -> Result<&'static BootstrapPolicy, PolicyError> {
    static POLICY: OnceLock<Result<BootstrapPolicy, PolicyError>> = OnceLock::new();
    POLICY
        .get_or_init(|| parse(POLICY_YAML))
        .as_ref()
        .map_err(Clone::clone)
}

fn parse(yaml: &str) -> Result<BootstrapPolicy, PolicyError> {
    let file: PolicyFile =
        serde_yaml::from_str(yaml).map_err(|e| PolicyError::Parse(e.to_string()))?;
    let mut cluster_roles: Vec<Value> = file.cluster_roles.iter().map(role).collect();
    let mut cluster_role_bindings = file
        .cluster_role_bindings
        .iter()
        .map(|b| binding(b, "ClusterRole", b.role.as_deref().unwrap_or(&b.name)))
        .collect::<Result<Vec<_>, _>>()?;
    for controller in &file.controller_roles {
        let name = format!("{CONTROLLER_ROLE_PREFIX}{}", controller.name);
        cluster_roles.push(role(&RoleEntry {
            name: name.clone(),
            namespace: None,
            labels: controller.labels.clone(),
            aggregation_rule: controller.aggregation_rule.clone(),
            rules: controller.rules.clone(),
        }));
        cluster_role_bindings.push(binding(
            &BindingEntry {
                name: name.clone(),
                namespace: None,
                role: None,
                subjects: vec![format!(
                    "ServiceAccount {CONTROLLER_NAMESPACE}/{}",
                    controller.name
                )],
            },
            "ClusterRole",
            &name,
        )?);
    }
    for (name, rules) in settled_aggregates(&cluster_roles, AGGREGATION_DEPTH) {
        if let Some(r) = cluster_roles
            .iter_mut()
            .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str()))
        {
            r["rules"] = Value::Array(rules);
        }
    }
    let roles = file.roles.iter().map(role).collect();
    let role_bindings = file
        .role_bindings
        .iter()
        .map(|b| binding(b, "Role", b.role.as_deref().unwrap_or(&b.name)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BootstrapPolicy {
        cluster_roles,
        cluster_role_bindings,
        roles,
        role_bindings,
    })
}

fn metadata(name: &str, namespace: Option<&str>, labels: &BTreeMap<String, String>) -> Value {
    let mut all = Map::new();
    all.insert(BOOTSTRAPPING_LABEL.into(), json!("rbac-defaults"));
    for (k, v) in labels {
        all.insert(k.clone(), json!(v));
    }
    let mut meta =
        json!({"name": name, "labels": all, "annotations": {AUTOUPDATE_ANNOTATION: "true"}});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    meta
}

fn role(entry: &RoleEntry) -> Value {
    let mut obj = json!({
        "metadata": metadata(&entry.name, entry.namespace.as_deref(), &entry.labels),
        "rules": entry.rules,
    });
    if let Some(rule) = &entry.aggregation_rule {
        obj["aggregationRule"] = rule.clone();
    }
    obj
}

fn binding(entry: &BindingEntry, role_kind: &str, role_name: &str) -> Result<Value, PolicyError> {
    let subjects = entry
        .subjects
        .iter()
        .map(|s| subject(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "metadata": metadata(&entry.name, entry.namespace.as_deref(), &BTreeMap::new()),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }))
}

/// `User system:kube-scheduler`, `Group system:nodes`,
/// `ServiceAccount kube-system/kube-dns` as `rbacv1.Subject`s.
fn subject(s: &str) -> Result<Value, PolicyError> {
    let malformed = || PolicyError::Subject(s.to_string());
    let (kind, name) = s.split_once(' ').ok_or_else(malformed)?;
    match kind {
        "User" | "Group" => Ok(json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": name})),
        "ServiceAccount" => {
            let (namespace, name) = name.split_once('/').ok_or_else(malformed)?;
            Ok(json!({"kind": kind, "name": name, "namespace": namespace}))
        }
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named<'a>(objs: &'a [Value], name: &str) -> &'a Value {
        objs.iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn the_embedded_policy_parses_with_upstreams_object_counts() {
        let p = bootstrap_policy().expect("policy parses");
        // v1.33: policy.go's 31 ClusterRoles and 12 bindings, 35 controllers' roles.
        assert_eq!(p.cluster_roles.len(), 31 + 35);
        assert_eq!(p.cluster_role_bindings.len(), 12 + 35);
        assert_eq!(p.roles.len(), 7);
        assert_eq!(p.role_bindings.len(), 7);
        for obj in p
            .cluster_roles
            .iter()
            .chain(&p.cluster_role_bindings)
            .chain(&p.roles)
            .chain(&p.role_bindings)
        {
            let meta = &obj["metadata"];
            assert_eq!(
                meta["labels"][BOOTSTRAPPING_LABEL], "rbac-defaults",
                "{meta}"
            );
            assert_eq!(meta["annotations"][AUTOUPDATE_ANNOTATION], "true", "{meta}");
        }
    }

    #[test]
    fn each_controller_role_is_bound_to_its_service_account() {
        let p = bootstrap_policy().expect("policy parses");
        let b = named(
            &p.cluster_role_bindings,
            "system:controller:replicaset-controller",
        );
        assert_eq!(
            b["roleRef"],
            json!({"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "system:controller:replicaset-controller"})
        );
        assert_eq!(
            b["subjects"],
            json!([{"kind": "ServiceAccount", "name": "replicaset-controller", "namespace": "kube-system"}])
        );
        let r = named(&p.cluster_roles, "system:controller:replicaset-controller");
        assert_eq!(
            r["rules"][3],
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "list", "patch", "watch"]})
        );
        // The shared events rule (a YAML alias) reads as the full rule.
        assert_eq!(
            r["rules"][4],
            json!({"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]})
        );
    }

    #[test]
    fn role_bindings_refer_to_roles_and_group_subjects_carry_the_rbac_group() {
        let p = bootstrap_policy().expect("policy parses");
        let b = named(
            &p.role_bindings,
            "system::extension-apiserver-authentication-reader",
        );
        assert_eq!(b["metadata"]["namespace"], "kube-system");
        assert_eq!(b["roleRef"]["kind"], "Role");
        assert_eq!(
            b["roleRef"]["name"],
            "extension-apiserver-authentication-reader"
        );
        let viewer = named(&p.cluster_role_bindings, "system:public-info-viewer");
        assert_eq!(
            viewer["subjects"],
            json!([
                {"apiGroup": RBAC_GROUP, "kind": "Group", "name": "system:authenticated"},
                {"apiGroup": RBAC_GROUP, "kind": "Group", "name": "system:unauthenticated"},
            ])
        );
    }

    #[test]
    fn the_aggregated_roles_start_with_their_aggregated_rules() {
        let p = bootstrap_policy().expect("policy parses");
        let rules = |name: &str| named(&p.cluster_roles, name)["rules"].clone();
        assert_eq!(rules("view"), rules("system:aggregate-to-view"));
        let admin = rules("admin");
        for from in [
            "system:aggregate-to-admin",
            "system:aggregate-to-edit",
            "system:aggregate-to-view",
        ] {
            for r in rules(from).as_array().unwrap() {
                assert!(admin.as_array().unwrap().contains(r), "admin lacks {r}");
            }
        }
    }

    #[test]
    fn malformed_subjects_are_refused() {
        for bad in ["system:masters", "Robot x", "ServiceAccount kube-dns"] {
            assert!(
                matches!(subject(bad), Err(PolicyError::Subject(_))),
                "{bad}"
            );
        }
    }
}
