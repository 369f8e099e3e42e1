//! Revisions and the annotations a Deployment keeps on its ReplicaSets
//! (`deployment_util.go`: `MaxRevision`, `SetNewReplicaSetAnnotations`,
//! `copyDeploymentAnnotationsToReplicaSet`, `SetReplicasAnnotations`, …).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::Resource;

use super::util::{max_surge, replicas};

/// The rollout sequence number of a ReplicaSet (and, copied, of its Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The earlier revisions a reused ReplicaSet served, comma-separated.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled by it.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// `kubectl apply`'s annotation, never copied.
pub const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// extensions/v1beta1's rollback request annotation, never copied.
pub const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Upstream's limit on the length of `revision-history` (`maxRevHistoryLengthInChars`).
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// True for annotations the Deployment does not copy to its ReplicaSets.
pub fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_CONFIGURATION
            | REVISION
            | REVISION_HISTORY
            | DESIRED_REPLICAS
            | MAX_REPLICAS
            | DEPRECATED_ROLLBACK_TO
    )
}

fn annotations<K: Resource>(obj: &K) -> Option<&BTreeMap<String, String>> {
    obj.meta().annotations.as_ref()
}

/// The object's revision: `0` without the annotation, `Err` when it is not an
/// int64 (upstream `Revision`).
pub fn revision<K: Resource>(obj: &K) -> Result<i64, std::num::ParseIntError> {
    match annotations(obj).and_then(|a| a.get(REVISION)) {
        None => Ok(0),
        Some(v) => v.parse(),
    }
}

/// The highest parseable revision among `rss`, 0 if none (upstream `MaxRevision`).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .filter_map(|rs| revision(rs).ok())
        .max()
        .unwrap_or(0)
        .max(0)
}

/// The second-highest revision (the one before the current), 0 if none
/// (upstream `LastRevision`).
pub fn last_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    let (mut max, mut sec) = (0i64, 0i64);
    for v in rss.into_iter().filter_map(|rs| revision(rs).ok()) {
        if v >= max {
            sec = max;
            max = v;
        } else if v > sec {
            sec = v;
        }
    }
    sec
}

/// An integer annotation of a ReplicaSet, `None` when absent or invalid.
pub fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotations(rs)?.get(key)?.parse().ok()
}

/// Copies the Deployment's annotations to `rs` except the skipped ones; true
/// when `rs` changed (upstream `copyDeploymentAnnotationsToReplicaSet`).
pub fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let target = rs.metadata.annotations.get_or_insert_default();
    for (k, v) in annotations(d).into_iter().flatten() {
        if skip_copy_annotation(k) || target.get(k) == Some(v) {
            continue;
        }
        target.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Sets `desired-replicas` and `max-replicas`; true when either changed
/// (upstream `SetReplicasAnnotations`).
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_default();
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.into(), v);
            changed = true;
        }
    }
    changed
}

/// True when `set_replicas_annotations` would change something (upstream
/// `ReplicasAnnotationsNeedUpdate`).
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let mut copy = rs.clone();
    set_replicas_annotations(&mut copy, desired, max)
}

/// Syncs the new ReplicaSet's annotations (upstream `SetNewReplicaSetAnnotations`):
/// copies the Deployment's, raises the revision to `new_revision` when it is
/// lower — recording the previous one in `revision-history` (bounded to
/// `MAX_REVISION_HISTORY_CHARS`, oldest dropped first) when the RS already had one,
/// which is what a rollback to an old template looks like — and, for an RS about
/// to be created (`!exists`), the replicas annotations. True when anything changed.
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let a = rs.metadata.annotations.get_or_insert_default();
    let old = a.get(REVISION).cloned();
    let old_int = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!(
                    revision = v,
                    "updating replica set revision: old revision is not an int"
                );
                return false;
            }
        },
    };
    if old_int < new_revision {
        a.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = a.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                a.insert(REVISION_HISTORY.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    parts.drain(..start);
                    parts.push(&old);
                    let joined = parts.join(",");
                    a.insert(REVISION_HISTORY.into(), joined);
                } else {
                    tracing::warn!("not appending revision: revision-history length limit reached");
                }
            }
        }
    }
    if !exists {
        let desired = replicas(d);
        if set_replicas_annotations(rs, desired, desired + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// Sets the Deployment's revision annotation; true when it changed (upstream
/// `SetDeploymentRevision`).
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let a = d.metadata.annotations.get_or_insert_default();
    if a.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    a.insert(REVISION.into(), revision.into());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{annotate, at, deployment, rs};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn d() -> Deployment {
        deployment(10, IntOrString::Int(3), IntOrString::Int(2))
    }

    fn ann<'a>(rs: &'a ReplicaSet, k: &str) -> Option<&'a str> {
        rs.metadata.annotations.as_ref()?.get(k).map(String::as_str)
    }

    #[test]
    fn max_and_last_revision_skip_unparseable_values() {
        let a = annotate(rs("a", 0, at(0)), REVISION, "3");
        let b = annotate(rs("b", 0, at(0)), REVISION, "junk");
        let c = annotate(rs("c", 0, at(0)), REVISION, "7");
        let none = rs("d", 0, at(0));
        assert_eq!(max_revision([&a, &b, &c, &none]), 7);
        assert_eq!(last_revision([&a, &b, &c, &none]), 3);
        assert_eq!(max_revision([&none]), 0);
        assert!(revision(&b).is_err());
    }

    #[test]
    fn new_replica_sets_get_revision_copied_annotations_and_replicas() {
        let dep = annotate(
            annotate(
                annotate(d(), "team", "blue"),
                LAST_APPLIED_CONFIGURATION,
                "{}",
            ),
            REVISION,
            "99",
        );
        let mut r = rs("web-abc", 0, at(0));
        assert!(set_new_replica_set_annotations(&dep, &mut r, 4, false));
        assert_eq!(ann(&r, "team"), Some("blue"));
        assert_eq!(ann(&r, LAST_APPLIED_CONFIGURATION), None);
        assert_eq!(ann(&r, REVISION), Some("4"));
        assert_eq!(ann(&r, REVISION_HISTORY), None);
        assert_eq!(ann(&r, DESIRED_REPLICAS), Some("10"));
        assert_eq!(ann(&r, MAX_REPLICAS), Some("13"));
        // Idempotent.
        assert!(!set_new_replica_set_annotations(&dep, &mut r, 4, true));
        // A lower computed revision never lowers the RS's.
        assert!(!set_new_replica_set_annotations(&dep, &mut r, 2, true));
        assert_eq!(ann(&r, REVISION), Some("4"));
    }

    #[test]
    fn reusing_an_old_replica_set_records_revision_history() {
        let dep = d();
        let mut r = annotate(rs("web-abc", 0, at(0)), REVISION, "1");
        assert!(set_new_replica_set_annotations(&dep, &mut r, 3, true));
        assert_eq!(ann(&r, REVISION), Some("3"));
        assert_eq!(ann(&r, REVISION_HISTORY), Some("1"));
        assert!(set_new_replica_set_annotations(&dep, &mut r, 5, true));
        assert_eq!(ann(&r, REVISION_HISTORY), Some("1,3"));
        // Existing RSes do not get replicas annotations from this path.
        assert_eq!(ann(&r, DESIRED_REPLICAS), None);
    }

    #[test]
    fn revision_history_drops_the_oldest_past_the_length_limit() {
        let dep = d();
        let long: Vec<String> = (0..400).map(|i| format!("{:04}", i)).collect();
        let history = long.join(","); // 400*5-1 = 1999 chars
        let mut r = annotate(
            annotate(rs("x", 0, at(0)), REVISION_HISTORY, &history),
            REVISION,
            "5000",
        );
        set_new_replica_set_annotations(&dep, &mut r, 5001, true);
        let h = ann(&r, REVISION_HISTORY).unwrap();
        assert!(h.len() <= MAX_REVISION_HISTORY_CHARS);
        assert!(h.ends_with(",5000"));
        assert!(h.starts_with("0001,"));
    }

    #[test]
    fn an_unparseable_old_revision_leaves_the_replica_set_alone() {
        let mut r = annotate(rs("x", 0, at(0)), REVISION, "abc");
        assert!(!set_new_replica_set_annotations(&d(), &mut r, 2, true));
        assert_eq!(ann(&r, REVISION), Some("abc"));
    }

    #[test]
    fn deployment_revision_is_set_once() {
        let mut dep = d();
        assert!(set_deployment_revision(&mut dep, "2"));
        assert!(!set_deployment_revision(&mut dep, "2"));
        assert_eq!(revision(&dep), Ok(2));
    }
}
