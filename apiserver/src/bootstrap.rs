//! Objects a real API server keeps in existence: the system namespaces, the built-in
//! PriorityClasses, and the `kubernetes` Service in `default` with its Endpoints and
//! EndpointSlice pointing at the server itself (re-created if deleted, as upstream's
//! reconciler does every 10 seconds), and upstream's bootstrap RBAC roles and bindings
//! ([`crate::rbac_policy`]), reconciled as upstream reconciles them at start. The
//! embedded store starts empty at every start, so the reconciliation has its job on the
//! server's 10-second pass: a deleted bootstrap role or binding is back, a rule or
//! subject removed from one is added again, unless the object is annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "false"` (what a restart of a real
//! kube-apiserver does).

use serde_json::{Value, json};

use crate::kinds::KindInfo;
use crate::ops::{Cluster, DeleteOptions, WriteOptions};
use crate::rbac_policy::reconcile::{Reconciliation, reconcile_binding, reconcile_role};
use crate::rbac_policy::{self, RBAC_GROUP};
use crate::status::ApiError;

/// The system namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

fn server_write() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        field_manager: "kube-apiserver".into(),
        applied: false,
    }
}

fn ensure(
    cluster: &Cluster,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    obj: Value,
) -> Result<(), ApiError> {
    let kind = cluster
        .registry
        .lookup(group, version, plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not served")))?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    if cluster.get(&kind, ns, &name).is_ok() {
        return Ok(());
    }
    match cluster.create(&kind, ns, obj, &server_write()) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates whatever of the bootstrap objects is missing. `port` is the server's port.
pub fn ensure_all(cluster: &Cluster, port: u16) -> Result<(), ApiError> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            cluster,
            "",
            "v1",
            "namespaces",
            "",
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        )?;
    }
    for (name, value, desc) in [
        (
            "system-node-critical",
            2000001000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2000000000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        ensure(
            cluster,
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "",
            json!({"metadata": {"name": name}, "value": value, "description": desc, "preemptionPolicy": "PreemptLowerPriority"}),
        )?;
    }
    ensure(
        cluster,
        "",
        "v1",
        "services",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.1",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            }
        }),
    )?;
    ensure(
        cluster,
        "",
        "v1",
        "endpoints",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
        }),
    )?;
    ensure(
        cluster,
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }),
    )?;
    ensure_rbac_policy(cluster)
}

/// Creates the bootstrap RBAC objects that are missing and reconciles the ones that
/// exist ([`rbac_policy::reconcile`]: missing rules, selectors, subjects, labels and
/// annotations added, nothing removed, `autoupdate: "false"` objects left alone). The
/// aggregated roles' rules are the clusterrole-aggregation controller's
/// ([`rbac_policy::controller`]), which follows every write made here.
pub fn ensure_rbac_policy(cluster: &Cluster) -> Result<(), ApiError> {
    let policy = rbac_policy::bootstrap_policy().map_err(|e| ApiError::internal(e.to_string()))?;
    for role in &policy.cluster_roles {
        reconcile_rbac(cluster, "clusterroles", role, reconcile_role)?;
    }
    for binding in &policy.cluster_role_bindings {
        reconcile_rbac(cluster, "clusterrolebindings", binding, reconcile_binding)?;
    }
    for role in &policy.roles {
        reconcile_rbac(cluster, "roles", role, reconcile_role)?;
    }
    for binding in &policy.role_bindings {
        reconcile_rbac(cluster, "rolebindings", binding, reconcile_binding)?;
    }
    Ok(())
}

/// Creates `expected` when missing, else writes what `decide` says it lacks.
fn reconcile_rbac(
    cluster: &Cluster,
    plural: &str,
    expected: &Value,
    decide: fn(&Value, &Value) -> Reconciliation,
) -> Result<(), ApiError> {
    let kind = cluster
        .registry
        .lookup(RBAC_GROUP, "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not served")))?;
    let ns = expected
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = expected
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let existing = match cluster.get(&kind, ns, name) {
        Ok(obj) => obj.value()?,
        Err(e) if e.code == 404 => return create_tolerating_races(cluster, &kind, ns, expected),
        Err(e) => return Err(e),
    };
    match decide(&existing, expected) {
        Reconciliation::Unchanged => Ok(()),
        Reconciliation::Update(obj) => cluster
            .update_with(&kind, ns, name, None, &server_write(), |_| Ok(obj.clone()))
            .map(drop),
        Reconciliation::Recreate(obj) => {
            cluster.delete(&kind, ns, name, &DeleteOptions::default())?;
            create_tolerating_races(cluster, &kind, ns, &obj)
        }
    }
}

fn create_tolerating_races(
    cluster: &Cluster,
    kind: &KindInfo,
    ns: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    match cluster.create(kind, ns, obj.clone(), &server_write()) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}
