//! Which StatefulSets to sync as pods and sets change, and what a pod event
//! tells the expectations (upstream `addPod`/`updatePod`/`deletePod` and the set
//! handlers of `stateful_set.go`). Pure: the shell feeds informer events in and
//! applies the [`Reaction`].

use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::ownership::{controller_of, resolve_controller_ref as resolve};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use crate::util::pod::is_ready;
use crate::util::pod_control::{owners_selecting, pod_key};

/// What the controller should do about one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Sets to sync now.
    pub enqueue: Vec<ObjectKey>,
    /// Sets to sync after a delay (a pod turned ready under `minReadySeconds`).
    pub enqueue_after: Vec<(ObjectKey, Duration)>,
    /// A pod this controller created was observed.
    pub creation_observed: Option<ObjectKey>,
    /// A pod deletion was observed: (set, pod `namespace/name`).
    pub deletion_observed: Option<(ObjectKey, String)>,
}

/// The set controlling `pod` among `sets`, if it is one of them.
fn owner<'a>(pod: &Pod, sets: &'a [&'a StatefulSet]) -> Option<&'a StatefulSet> {
    controller_of(pod).and_then(|r| resolve(pod.metadata.namespace.as_deref(), r, sets))
}

/// A pod appeared (`sets`: the cached sets of its namespace).
pub fn pod_added(pod: &Pod, sets: &[&StatefulSet]) -> Reaction {
    if pod.metadata.deletion_timestamp.is_some() {
        // Seen already deleting (e.g. after a restart): not a creation.
        return pod_deleted(pod, sets);
    }
    let mut out = Reaction::default();
    if controller_of(pod).is_some() {
        if let Some(set) = owner(pod, sets) {
            out.creation_observed = Some(ObjectKey::of(set));
            out.enqueue.push(ObjectKey::of(set));
        }
        return out;
    }
    out.enqueue = owners_selecting(pod, sets)
        .into_iter()
        .map(ObjectKey::of)
        .collect();
    out
}

/// A pod changed from `old` to `new`.
pub fn pod_updated(old: &Pod, new: &Pod, sets: &[&StatefulSet]) -> Reaction {
    let mut out = Reaction::default();
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        return out;
    }
    let (old_ref, new_ref) = (controller_of(old), controller_of(new));
    let ref_changed = old_ref != new_ref;
    if ref_changed && let Some(set) = owner(old, sets) {
        out.enqueue.push(ObjectKey::of(set));
    }
    if new_ref.is_some() {
        if let Some(set) = owner(new, sets) {
            let key = ObjectKey::of(set);
            if old.metadata.deletion_timestamp.is_none()
                && new.metadata.deletion_timestamp.is_some()
            {
                out.deletion_observed = Some((key.clone(), pod_key(new)));
            }
            let min_ready = set
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0);
            if !is_ready(old) && is_ready(new) && min_ready > 0 {
                // A second more, against millisecond skew (upstream's comment).
                let secs = u64::try_from(min_ready).unwrap_or(0) + 1;
                out.enqueue_after
                    .push((key.clone(), Duration::from_secs(secs)));
            }
            out.enqueue.push(key);
        }
        return out;
    }
    if old.metadata.labels != new.metadata.labels || ref_changed {
        out.enqueue
            .extend(owners_selecting(new, sets).into_iter().map(ObjectKey::of));
    }
    out
}

/// A pod is gone, or was first seen being deleted.
pub fn pod_deleted(pod: &Pod, sets: &[&StatefulSet]) -> Reaction {
    let mut out = Reaction::default();
    if let Some(set) = owner(pod, sets) {
        let key = ObjectKey::of(set);
        out.deletion_observed = Some((key.clone(), pod_key(pod)));
        out.enqueue.push(key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefulset::testing::{member, running, set};
    use crate::util::testing::at;

    #[test]
    fn owned_pods_sync_their_set_and_lower_its_expectations() {
        let mut s = set("web", 2);
        s.spec.as_mut().unwrap().min_ready_seconds = Some(5);
        let sets = [&s];
        let key = ObjectKey::of(&s);
        let p = member(&s, 0, "web-1");
        let added = pod_added(&p, &sets);
        assert_eq!(added.creation_observed, Some(key.clone()));
        assert_eq!(added.enqueue, std::slice::from_ref(&key));

        let mut ready = running(p.clone(), at(0));
        ready.metadata.resource_version = Some("2".into());
        let up = pod_updated(&p, &ready, &sets);
        assert_eq!(up.enqueue, std::slice::from_ref(&key));
        assert_eq!(up.enqueue_after, [(key.clone(), Duration::from_secs(6))]);

        let mut deleting = ready.clone();
        deleting.metadata.resource_version = Some("3".into());
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(1)));
        let del = pod_updated(&ready, &deleting, &sets);
        assert_eq!(
            del.deletion_observed,
            Some((key.clone(), "default/web-0".into()))
        );
        assert_eq!(
            pod_deleted(&deleting, &sets).deletion_observed,
            Some((key, "default/web-0".into()))
        );
    }

    #[test]
    fn orphans_sync_the_sets_selecting_them() {
        let s = set("web", 2);
        let mut orphan = member(&s, 0, "web-1");
        orphan.metadata.owner_references = None;
        let r = pod_added(&orphan, &[&s]);
        assert_eq!(r.enqueue, [ObjectKey::of(&s)]);
        assert_eq!(r.creation_observed, None);
        assert_eq!(pod_deleted(&orphan, &[&s]), Reaction::default());
    }
}
