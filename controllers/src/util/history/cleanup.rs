//! Which revisions to delete to honour `spec.revisionHistoryLimit`, never one that
//! live pods were created from (upstream DaemonSet `cleanupHistory` and StatefulSet
//! `truncateHistory`). Both delete oldest first and differ in what the limit
//! counts.

use std::borrow::Borrow;
use std::collections::HashSet;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;

use super::revision::{POD_REVISION_LABEL, revision_order};

/// The [`POD_REVISION_LABEL`] values of `pods`: the revision names (StatefulSet)
/// or hashes (DaemonSet) still in use.
pub fn pod_revisions<P: Borrow<Pod>>(pods: &[P]) -> HashSet<String> {
    pods.iter()
        .filter_map(|p| p.borrow().metadata.labels.as_ref()?.get(POD_REVISION_LABEL))
        .filter(|v| !v.is_empty())
        .cloned()
        .collect()
}

fn name(r: &ControllerRevision) -> String {
    r.metadata.name.clone().unwrap_or_default()
}

fn oldest_first<R: Borrow<ControllerRevision>>(revisions: &[R]) -> Vec<&ControllerRevision> {
    let mut sorted: Vec<&ControllerRevision> = revisions.iter().map(Borrow::borrow).collect();
    sorted.sort_by(|a, b| revision_order(a, b));
    sorted
}

/// Upstream StatefulSet `truncateHistory`: the revisions that are not live
/// (`live_names` holds the current and update revisions' names and every pod's
/// [`POD_REVISION_LABEL`]) are history; all but the `limit` newest of them go.
pub fn statefulset_history_to_delete<R: Borrow<ControllerRevision>>(
    revisions: &[R],
    live_names: &HashSet<String>,
    limit: i32,
) -> Vec<String> {
    let history: Vec<&ControllerRevision> = oldest_first(revisions)
        .into_iter()
        .filter(|r| !live_names.contains(&name(r)))
        .collect();
    let excess = history.len().saturating_sub(limit.max(0) as usize);
    history[..excess].iter().map(|r| name(r)).collect()
}

/// Upstream DaemonSet `cleanupHistory`: of the `old` revisions (all but the
/// current one), as many as exceed `limit` go, oldest first, skipping those whose
/// [`POD_REVISION_LABEL`] is among `live_hashes` (which still count against the
/// limit, so fewer may go).
pub fn daemonset_history_to_delete<R: Borrow<ControllerRevision>>(
    old: &[R],
    live_hashes: &HashSet<String>,
    limit: i32,
) -> Vec<String> {
    let to_kill = old.len().saturating_sub(limit.max(0) as usize);
    oldest_first(old)
        .into_iter()
        .filter(|r| {
            let hash = r
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_REVISION_LABEL));
            !hash.is_some_and(|h| live_hashes.contains(h))
        })
        .take(to_kill)
        .map(name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{labels, pod};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rev(name: &str, number: i64, hash: &str) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels(&[(POD_REVISION_LABEL, hash)])),
                ..Default::default()
            },
            revision: number,
            ..Default::default()
        }
    }

    fn set(items: &[&str]) -> HashSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn pod_at(name: &str, revision: &str) -> Pod {
        let mut p = pod(name);
        p.metadata.labels = Some(labels(&[(POD_REVISION_LABEL, revision)]));
        p
    }

    #[test]
    fn live_revisions_come_from_pod_labels() {
        let mut unlabelled = pod("bare");
        unlabelled.metadata.labels = None;
        let pods = [
            pod_at("a", "web-1"),
            pod_at("b", "web-2"),
            pod_at("c", "web-1"),
            unlabelled,
            pod_at("d", ""),
        ];
        assert_eq!(pod_revisions(&pods), set(&["web-1", "web-2"]));
    }

    #[test]
    fn statefulset_truncation_table() {
        // Given in random order: the function sorts.
        let revs = [
            rev("r3", 3, ""),
            rev("r1", 1, ""),
            rev("r5", 5, ""),
            rev("r2", 2, ""),
            rev("r4", 4, ""),
        ];
        let cases: [(&[&str], i32, &[&str]); 6] = [
            // current = update = r5, no pods: keep the 2 newest of r1..r4.
            (&["r5"], 2, &["r1", "r2"]),
            // A pod still on r1 keeps it; the limit applies to the rest.
            (&["r5", "r1"], 2, &["r2"]),
            // Mid-rollout: current r4, update r5, pods on r2.
            (&["r4", "r5", "r2"], 0, &["r1", "r3"]),
            (&["r5"], 10, &[]),
            (&["r1", "r2", "r3", "r4", "r5"], 0, &[]),
            // A negative limit (invalid) keeps nothing that is not live.
            (&["r5"], -1, &["r1", "r2", "r3", "r4"]),
        ];
        for (live, limit, want) in cases {
            assert_eq!(
                statefulset_history_to_delete(&revs, &set(live), limit),
                want,
                "live {live:?} limit {limit}"
            );
        }
    }

    #[test]
    fn daemonset_cleanup_table() {
        // The current revision is not among `old`.
        let old = [
            rev("d3", 3, "h3"),
            rev("d1", 1, "h1"),
            rev("d2", 2, "h2"),
            rev("d4", 4, "h4"),
        ];
        let cases: [(&[&str], i32, &[&str]); 5] = [
            (&[], 2, &["d1", "d2"]),
            // Pods on h1 keep d1 and it still counts: only two go in all.
            (&["h1"], 2, &["d2", "d3"]),
            (&["h1", "h2", "h3", "h4"], 0, &[]),
            (&[], 4, &[]),
            (&["h4"], 0, &["d1", "d2", "d3"]),
        ];
        for (live, limit, want) in cases {
            assert_eq!(
                daemonset_history_to_delete(&old, &set(live), limit),
                want,
                "live {live:?} limit {limit}"
            );
        }
    }
}
