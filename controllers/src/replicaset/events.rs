//! Which ReplicaSets to sync when pods and ReplicaSets change, and what the
//! change tells the expectations (upstream `addPod`/`updatePod`/`deletePod` and
//! `addRS`/`updateRS`/`deleteRS` of `replica_set.go`). Pure: the shell feeds
//! informer events in and applies the [`Reaction`].

use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::ownership::{controller_of, resolve_controller_ref as resolve};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::Pod;

use super::owner::ReplicaSetLike;
use crate::util::pod::is_ready;
use crate::util::pod_control::{owners_selecting, pod_key};

/// What the controller should do about one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaction {
    /// ReplicaSets to sync now.
    pub enqueue: Vec<ObjectKey>,
    /// ReplicaSets to sync after a delay (a pod became ready and availability
    /// needs `minReadySeconds` to pass).
    pub enqueue_after: Vec<(ObjectKey, Duration)>,
    /// A pod this ReplicaSet created was observed (lower its creation expectations).
    pub creation_observed: Option<ObjectKey>,
    /// Pod deletions observed: (ReplicaSet, pod `namespace/name`).
    pub deletions_observed: Vec<(ObjectKey, String)>,
    /// The ReplicaSet is gone: forget its expectations.
    pub forget_expectations: Option<ObjectKey>,
}

impl Reaction {
    /// Applies the reaction: expectations first (so the sync the queue hands
    /// out sees them), then the queue.
    pub fn apply(
        &self,
        expectations: &UidTrackingExpectations<ObjectKey>,
        queue: &WorkQueue<ObjectKey>,
    ) {
        if let Some(key) = &self.creation_observed {
            expectations.creation_observed(key);
        }
        for (key, pod) in &self.deletions_observed {
            expectations.deletion_observed(key, pod);
        }
        if let Some(key) = &self.forget_expectations {
            expectations.delete_expectations(key);
        }
        for key in &self.enqueue {
            queue.add(key.clone());
        }
        for (key, delay) in &self.enqueue_after {
            queue.add_after(key.clone(), *delay);
        }
    }
}

/// A pod appeared (`rss`: the cached owners of `R`'s kind).
pub fn pod_added<R: ReplicaSetLike>(pod: &Pod, rss: &[&R]) -> Reaction {
    if pod.metadata.deletion_timestamp.is_some() {
        // Seen already deleting (e.g. after a restart): not a creation.
        return pod_deleted(pod, rss);
    }
    let mut out = Reaction::default();
    if let Some(r) = controller_of(pod) {
        if let Some(rs) = resolve(pod.metadata.namespace.as_deref(), r, rss) {
            let key = ObjectKey::of(rs);
            out.creation_observed = Some(key.clone());
            out.enqueue.push(key);
        }
        return out;
    }
    // An orphan: let matching ReplicaSets consider adopting it; nobody waits for it.
    out.enqueue = owners_selecting(pod, rss)
        .into_iter()
        .map(ObjectKey::of)
        .collect();
    out
}

/// A pod changed from `old` to `new`.
pub fn pod_updated<R: ReplicaSetLike>(old: &Pod, new: &Pod, rss: &[&R]) -> Reaction {
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        // A periodic resync: nothing changed.
        return Reaction::default();
    }
    let labels_changed = old.metadata.labels != new.metadata.labels;
    if new.metadata.deletion_timestamp.is_some() {
        // Graceful deletion started: replace the pod now, not when it is gone.
        let mut out = pod_deleted(new, rss);
        if labels_changed {
            let more = pod_deleted(old, rss);
            out.enqueue.extend(more.enqueue);
            out.deletions_observed.extend(more.deletions_observed);
        }
        return out;
    }
    let mut out = Reaction::default();
    let (old_ref, new_ref) = (controller_of(old), controller_of(new));
    let ref_changed = old_ref != new_ref;
    if ref_changed
        && let Some(r) = old_ref
        && let Some(rs) = resolve(old.metadata.namespace.as_deref(), r, rss)
    {
        out.enqueue.push(ObjectKey::of(rs));
    }
    if let Some(r) = new_ref {
        if let Some(rs) = resolve(new.metadata.namespace.as_deref(), r, rss) {
            let key = ObjectKey::of(rs);
            out.enqueue.push(key.clone());
            let min_ready = rs.min_ready_seconds();
            if !is_ready(old) && is_ready(new) && min_ready > 0 {
                let secs = u64::try_from(min_ready).unwrap_or(0) + 1;
                out.enqueue_after.push((key, Duration::from_secs(secs)));
            }
        }
        return out;
    }
    if labels_changed || ref_changed {
        out.enqueue
            .extend(owners_selecting(new, rss).into_iter().map(ObjectKey::of));
    }
    out
}

/// A pod is gone (or its final state was missed: pass the last known object).
pub fn pod_deleted<R: ReplicaSetLike>(pod: &Pod, rss: &[&R]) -> Reaction {
    let mut out = Reaction::default();
    if let Some(r) = controller_of(pod)
        && let Some(rs) = resolve(pod.metadata.namespace.as_deref(), r, rss)
    {
        let key = ObjectKey::of(rs);
        out.deletions_observed.push((key.clone(), pod_key(pod)));
        out.enqueue.push(key);
    }
    out
}

/// An owner was added or updated: sync it.
pub fn replica_set_changed<R: ReplicaSetLike>(rs: &R) -> Reaction {
    Reaction {
        enqueue: vec![ObjectKey::of(rs)],
        ..Default::default()
    }
}

/// An owner was deleted: forget its expectations and sync it (the sync finds it
/// gone).
pub fn replica_set_deleted<R: ReplicaSetLike>(rs: &R) -> Reaction {
    let key = ObjectKey::of(rs);
    Reaction {
        enqueue: vec![key.clone()],
        forget_expectations: Some(key),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, labels, pod, ready_pod, rs};
    use crate::util::time::k8s;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owned_by(mut p: Pod, r: &ReplicaSet) -> Pod {
        p.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: r.metadata.name.clone().unwrap(),
            uid: r.metadata.uid.clone().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        p
    }

    fn rv(mut p: Pod, v: &str) -> Pod {
        p.metadata.resource_version = Some(v.into());
        p
    }

    #[test]
    fn owned_pod_creations_are_observed_and_orphans_only_enqueue_matches() {
        let web = rs("web", 1, at(0));
        let mut other = rs("other", 1, at(0));
        other.spec.as_mut().unwrap().selector.match_labels = Some(labels(&[("app", "db")]));
        let rss = [&web, &other];
        let r = pod_added(&owned_by(pod("a"), &web), &rss);
        assert_eq!(r.creation_observed, Some(ObjectKey::of(&web)));
        assert_eq!(r.enqueue, [ObjectKey::of(&web)]);
        let orphan = pod_added(&pod("b"), &rss);
        assert_eq!(orphan.creation_observed, None);
        assert_eq!(orphan.enqueue, [ObjectKey::of(&web)]);
        // A reference to a replaced RS (other UID) resolves to nothing.
        let mut stale = owned_by(pod("c"), &web);
        stale.metadata.owner_references.as_mut().unwrap()[0].uid = "old".into();
        assert_eq!(pod_added(&stale, &rss), Reaction::default());
    }

    #[test]
    fn a_pod_already_deleting_counts_as_a_deletion() {
        let web = rs("web", 1, at(0));
        let mut p = owned_by(pod("a"), &web);
        p.metadata.deletion_timestamp = Some(k8s(at(1)));
        let r = pod_added(&p, &[&web]);
        assert_eq!(r.creation_observed, None);
        assert_eq!(
            r.deletions_observed,
            [(ObjectKey::of(&web), "default/a".to_string())]
        );
    }

    #[test]
    fn becoming_ready_requeues_after_min_ready_seconds_plus_one() {
        let mut web = rs("web", 1, at(0));
        web.spec.as_mut().unwrap().min_ready_seconds = Some(10);
        let old = rv(owned_by(pod("a"), &web), "1");
        let new = rv(owned_by(ready_pod("a", at(5)), &web), "2");
        let r = pod_updated(&old, &new, &[&web]);
        assert_eq!(r.enqueue, [ObjectKey::of(&web)]);
        assert_eq!(
            r.enqueue_after,
            [(ObjectKey::of(&web), Duration::from_secs(11))]
        );
        assert_eq!(
            pod_updated(&new, &new, &[&web]),
            Reaction::default(),
            "resync"
        );
    }

    #[test]
    fn graceful_deletion_and_released_pods() {
        let web = rs("web", 1, at(0));
        let old = rv(owned_by(pod("a"), &web), "1");
        let mut deleting = rv(old.clone(), "2");
        deleting.metadata.deletion_timestamp = Some(k8s(at(3)));
        let r = pod_updated(&old, &deleting, &[&web]);
        assert_eq!(
            r.deletions_observed,
            [(ObjectKey::of(&web), "default/a".to_string())]
        );
        // Released (controller ref removed) and relabelled: the old owner syncs,
        // and matching ReplicaSets may adopt it.
        let mut released = rv(pod("a"), "3");
        released.metadata.labels = Some(labels(&[("app", "other")]));
        let r = pod_updated(&old, &released, &[&web]);
        assert_eq!(r.enqueue, [ObjectKey::of(&web)]);
    }

    #[test]
    fn empty_selectors_match_no_orphans() {
        let mut all = rs("all", 1, at(0));
        all.spec.as_mut().unwrap().selector = Default::default();
        assert!(pod_added(&pod("a"), &[&all]).enqueue.is_empty());
    }

    #[tokio::test]
    async fn applying_a_reaction_updates_expectations_then_the_queue() {
        let web = rs("web", 1, at(0));
        let key = ObjectKey::of(&web);
        let exp = UidTrackingExpectations::new();
        exp.expect_creations(&key, 1);
        let queue = WorkQueue::new();
        pod_added(&owned_by(pod("a"), &web), &[&web]).apply(&exp, &queue);
        assert!(exp.satisfied_expectations(&key));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.get().await, Some(key.clone()));
        exp.expect_deletions(&key, ["default/a"]);
        pod_deleted(&owned_by(pod("a"), &web), &[&web]).apply(&exp, &queue);
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn deleted_replica_sets_drop_their_expectations() {
        let web = rs("web", 1, at(0));
        let r = replica_set_deleted(&web);
        assert_eq!(r.forget_expectations, Some(ObjectKey::of(&web)));
        assert_eq!(replica_set_changed(&web).enqueue, [ObjectKey::of(&web)]);
    }
}
