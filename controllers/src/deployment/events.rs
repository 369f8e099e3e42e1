//! Which Deployments to sync when ReplicaSets and pods change (upstream
//! `addReplicaSet`/`updateReplicaSet`/`deleteReplicaSet`/`deletePod` of
//! `deployment_controller.go`). Pure: the shell passes the cached objects and
//! enqueues the returned keys. Deployment events themselves simply enqueue the
//! Deployment.

use std::collections::HashSet;

use capstan_labels::Selector;
use capstan_runtime::ObjectKey;
use capstan_runtime::ownership::{controller_of, resolve_controller_ref as resolve};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use super::util::{RECREATE, strategy_type};

/// Deployments whose non-empty selector matches an orphan ReplicaSet's labels
/// (upstream `getDeploymentsForReplicaSet`; more than one is a user error,
/// logged, and all are synced).
fn matching(rs: &ReplicaSet, ds: &[&Deployment]) -> Vec<ObjectKey> {
    let out: Vec<ObjectKey> = ds
        .iter()
        .filter(|d| d.metadata.namespace == rs.metadata.namespace)
        .filter(|d| {
            let sel = d.spec.as_ref().map(|s| &s.selector);
            Selector::from_label_selector(sel)
                .is_ok_and(|s| !s.is_empty() && s.matches(&rs.metadata.labels))
        })
        .map(|d| ObjectKey::of(*d))
        .collect();
    if out.len() > 1 {
        tracing::error!(replicaset = ?rs.metadata.name, deployments = ?out, "user error: more than one deployment is selecting replica set");
    }
    out
}

/// A ReplicaSet appeared (`ds`: the cached Deployments).
pub fn replica_set_added(rs: &ReplicaSet, ds: &[&Deployment]) -> Vec<ObjectKey> {
    if rs.metadata.deletion_timestamp.is_some() {
        return replica_set_deleted(rs, ds);
    }
    match controller_of(rs) {
        Some(r) => resolve(rs.metadata.namespace.as_deref(), r, ds)
            .map(ObjectKey::of)
            .into_iter()
            .collect(),
        None => matching(rs, ds),
    }
}

/// A ReplicaSet changed from `old` to `new`.
pub fn replica_set_updated(
    old: &ReplicaSet,
    new: &ReplicaSet,
    ds: &[&Deployment],
) -> Vec<ObjectKey> {
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let (old_ref, new_ref) = (controller_of(old), controller_of(new));
    let ref_changed = old_ref != new_ref;
    if ref_changed
        && let Some(r) = old_ref
        && let Some(d) = resolve(old.metadata.namespace.as_deref(), r, ds)
    {
        out.push(ObjectKey::of(d));
    }
    if let Some(r) = new_ref {
        out.extend(resolve(new.metadata.namespace.as_deref(), r, ds).map(ObjectKey::of));
        return out;
    }
    if ref_changed || old.metadata.labels != new.metadata.labels {
        out.extend(matching(new, ds));
    }
    out
}

/// A ReplicaSet is gone: sync its Deployment.
pub fn replica_set_deleted(rs: &ReplicaSet, ds: &[&Deployment]) -> Vec<ObjectKey> {
    controller_of(rs)
        .and_then(|r| resolve(rs.metadata.namespace.as_deref(), r, ds))
        .map(ObjectKey::of)
        .into_iter()
        .collect()
}

/// A pod is gone: a Recreate Deployment waiting for its old pods to disappear
/// is synced once none of its ReplicaSets' pods remain in `pods` (the cache
/// after the deletion) (upstream `deletePod`).
pub fn pod_deleted(
    pod: &Pod,
    rss: &[&ReplicaSet],
    ds: &[&Deployment],
    pods: &[&Pod],
) -> Vec<ObjectKey> {
    let Some(rs_ref) = controller_of(pod).filter(|r| r.kind == "ReplicaSet") else {
        return Vec::new();
    };
    let Some(rs) = rss.iter().find(|rs| {
        rs.metadata.namespace == pod.metadata.namespace
            && rs.metadata.uid.as_deref() == Some(rs_ref.uid.as_str())
    }) else {
        return Vec::new();
    };
    let Some(d) = controller_of(*rs).and_then(|r| resolve(rs.metadata.namespace.as_deref(), r, ds))
    else {
        return Vec::new();
    };
    if strategy_type(d) != RECREATE {
        return Vec::new();
    }
    let d_uid = d.metadata.uid.as_deref();
    let owned: HashSet<&str> = rss
        .iter()
        .filter(|r| controller_of(**r).is_some_and(|c| Some(c.uid.as_str()) == d_uid))
        .filter_map(|r| r.metadata.uid.as_deref())
        .collect();
    let remaining = pods
        .iter()
        .filter(|p| p.metadata.uid != pod.metadata.uid)
        .filter(|p| controller_of(**p).is_some_and(|c| owned.contains(c.uid.as_str())))
        .count();
    if remaining == 0 {
        vec![ObjectKey::of(d)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, deployment, labels, pod, rs};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn owner(kind: &str, name: &str, uid: &str) -> Option<Vec<OwnerReference>> {
        Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }])
    }

    fn web() -> Deployment {
        deployment(2, IntOrString::Int(1), IntOrString::Int(1))
    }

    fn labelled(mut r: ReplicaSet) -> ReplicaSet {
        r.metadata.labels = Some(labels(&[("app", "web")]));
        r
    }

    #[test]
    fn owned_replica_sets_sync_their_deployment_and_orphans_the_matching_ones() {
        let d = web();
        let mut owned = labelled(rs("web-1", 1, at(0)));
        owned.metadata.owner_references = owner("Deployment", "web", "uid-web");
        assert_eq!(replica_set_added(&owned, &[&d]), [ObjectKey::of(&d)]);
        let orphan = labelled(rs("stray", 1, at(0)));
        assert_eq!(replica_set_added(&orphan, &[&d]), [ObjectKey::of(&d)]);
        let mut unrelated = rs("x", 1, at(0));
        unrelated.metadata.labels = Some(labels(&[("app", "db")]));
        assert!(replica_set_added(&unrelated, &[&d]).is_empty());
        let mut all = web();
        all.spec.as_mut().unwrap().selector = Default::default();
        assert!(
            replica_set_added(&orphan, &[&all]).is_empty(),
            "empty selectors adopt nothing"
        );
    }

    #[test]
    fn updates_sync_old_and_new_owners() {
        let d = web();
        let mut old = labelled(rs("web-1", 1, at(0)));
        old.metadata.resource_version = Some("1".into());
        old.metadata.owner_references = owner("Deployment", "web", "uid-web");
        let mut released = old.clone();
        released.metadata.resource_version = Some("2".into());
        released.metadata.owner_references = None;
        released.metadata.labels = Some(labels(&[("app", "gone")]));
        assert_eq!(
            replica_set_updated(&old, &released, &[&d]),
            [ObjectKey::of(&d)]
        );
        assert!(replica_set_updated(&old, &old, &[&d]).is_empty(), "resync");
    }

    #[test]
    fn recreate_deployments_sync_when_their_last_pod_is_gone() {
        let mut d = web();
        d.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some(RECREATE.into());
        let mut r = rs("web-1", 0, at(0));
        r.metadata.owner_references = owner("Deployment", "web", "uid-web");
        let mut p1 = pod("p1");
        p1.metadata.owner_references = owner("ReplicaSet", "web-1", "uid-web-1");
        let mut p2 = pod("p2");
        p2.metadata.owner_references = owner("ReplicaSet", "web-1", "uid-web-1");
        assert!(
            pod_deleted(&p1, &[&r], &[&d], &[&p2]).is_empty(),
            "p2 remains"
        );
        assert_eq!(pod_deleted(&p2, &[&r], &[&d], &[]), [ObjectKey::of(&d)]);
        let rolling = web();
        assert!(
            pod_deleted(&p2, &[&r], &[&rolling], &[]).is_empty(),
            "only Recreate waits for pods"
        );
    }
}
