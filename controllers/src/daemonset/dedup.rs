//! Duplicate current revisions (upstream `dedupCurHistories` of
//! `pkg/controller/daemon/update.go`): when several ControllerRevisions of a
//! DaemonSet store its current template (two controller instances racing, or a
//! template changed back while the old revision still existed under another
//! collision count), the highest-numbered one is kept
//! ([`dedup_current`](crate::util::history::dedup_current)), the pods labelled
//! with a duplicate's `controller-revision-hash` are relabelled with the kept
//! one's, and only then are the duplicates deleted — so no pod is left naming a
//! revision that is gone, which would make the rolling update treat it as old
//! and `cleanupHistory` blind to it.
//!
//! Upstream relabels every pod whose hash differs from the kept one's, also pods
//! of *older* templates, which then look updated and are never rolled
//! (kubernetes/kubernetes#111280). Here only the duplicates' pods are relabelled,
//! as the design (kubernetes/kubernetes#45924, "remove duplicate
//! controllerrevisions and relabel their pods") intends. Pure: the shell patches
//! the pods with [`relabel_patch`] and deletes the duplicates.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::util::history::{POD_REVISION_LABEL, dedup_current};

/// What de-duplicating the current revisions writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dedup<'a> {
    /// The revision kept.
    pub keep: &'a ControllerRevision,
    /// The kept revision's hash, which relabelled pods get.
    pub hash: String,
    /// The pods to relabel (by name), in the order given.
    pub relabel: Vec<String>,
    /// The duplicates to delete once the pods are relabelled.
    pub delete: Vec<String>,
}

/// A revision's hash: its `controller-revision-hash` label.
pub fn revision_hash(revision: &ControllerRevision) -> Option<&str> {
    revision
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_REVISION_LABEL))
        .map(String::as_str)
}

fn pod_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_REVISION_LABEL))
        .map(String::as_str)
}

/// De-duplicates `current` (the DaemonSet's revisions that all store its
/// current template) against its `pods`; `None` when there is no revision.
pub fn plan_dedup<'a, R, P>(current: &'a [R], pods: &[P]) -> Option<Dedup<'a>>
where
    R: Borrow<ControllerRevision>,
    P: Borrow<Pod>,
{
    let (keep, delete) = dedup_current(current)?;
    let keep = keep.borrow();
    let hash = revision_hash(keep).unwrap_or_default().to_string();
    let duplicate_hashes: BTreeSet<&str> = current
        .iter()
        .map(Borrow::borrow)
        .filter(|r| r.metadata.name != keep.metadata.name)
        .filter_map(revision_hash)
        .filter(|h| *h != hash)
        .collect();
    let relabel = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|p| pod_hash(p).is_some_and(|h| duplicate_hashes.contains(h)))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    Some(Dedup {
        keep,
        hash,
        relabel,
        delete,
    })
}

/// The JSON merge patch giving a pod the revision hash `hash` (upstream's).
pub fn relabel_patch(hash: &str) -> Value {
    json!({"metadata": {"labels": {POD_REVISION_LABEL: hash}}})
}

/// The claimed `pods` with the `relabelled` ones (matched by uid) in place of
/// their cached copies, so the sync that relabelled them plans with their new
/// hash before the cache has seen it.
pub fn with_relabelled(pods: Vec<Arc<Pod>>, relabelled: Vec<Pod>) -> Vec<Arc<Pod>> {
    if relabelled.is_empty() {
        return pods;
    }
    let mut by_uid: HashMap<String, Pod> = relabelled
        .into_iter()
        .filter_map(|p| Some((p.metadata.uid.clone()?, p)))
        .collect();
    pods.into_iter()
        .map(|p| {
            p.metadata
                .uid
                .as_ref()
                .and_then(|uid| by_uid.remove(uid))
                .map_or(p, Arc::new)
        })
        .collect()
}

#[cfg(test)]
mod tests;
