//! Objects a real API server keeps in existence: the system namespaces, the built-in
//! PriorityClasses, and the `kubernetes` Service in `default` with its Endpoints and
//! EndpointSlice pointing at the server itself (re-created if deleted, as upstream's
//! reconciler does every 10 seconds), and upstream's bootstrap RBAC roles and bindings
//! ([`crate::rbac_policy`]) with the aggregated roles' rules kept filled in.

use serde_json::{Value, json};

use crate::ops::{Cluster, WriteOptions};
use crate::rbac_policy;
use crate::status::ApiError;

/// The system namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

fn server_write() -> WriteOptions {
    WriteOptions::server("kube-apiserver")
}

fn ensure(
    cluster: &Cluster,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    obj: Value,
) -> Result<(), ApiError> {
    let kind = cluster.served_kind(group, version, plural)?;
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
    for role in rbac_policy::cluster_roles() {
        ensure(cluster, RBAC, "v1", "clusterroles", "", role)?;
    }
    for binding in rbac_policy::cluster_role_bindings() {
        ensure(cluster, RBAC, "v1", "clusterrolebindings", "", binding)?;
    }
    aggregate_cluster_roles(cluster)
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// Fills in the rules of every ClusterRole carrying an `aggregationRule` (upstream's
/// clusterrole-aggregation controller), repeating while a pass changes something so
/// chains (`view` into `edit` into `admin`) settle.
pub fn aggregate_cluster_roles(cluster: &Cluster) -> Result<(), ApiError> {
    let kind = cluster.served_kind(RBAC, "v1", "clusterroles")?;
    for _ in 0..4 {
        let all = cluster.list_values(&kind, None)?;
        let mut changed = false;
        for role in &all {
            let Some(rules) = rbac_policy::aggregate(role, &all) else {
                continue;
            };
            if role.get("rules") == Some(&Value::Array(rules.clone())) {
                continue;
            }
            let name = role["metadata"]["name"].as_str().unwrap_or_default();
            cluster.update_with(&kind, "", name, None, &server_write(), |cur| {
                let mut next = cur.clone();
                next["rules"] = Value::Array(rules.clone());
                Ok(next)
            })?;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}
