//! Which Jobs to sync, and when, as pods and Jobs change, and what the change
//! tells the expectations (upstream `addPod`/`updatePod`/`deletePod` and
//! `addJob`/`updateJob`/`deleteJob` of `job_controller.go`). Pure: the shell
//! feeds informer events in and applies the [`Reaction`].

use std::time::Duration;

use capstan_labels::Selector;
use capstan_runtime::ObjectKey;
use capstan_runtime::ownership::{controller_of, resolve_controller_ref as resolve};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::plan::deadline_requeue;
use super::pods::has_tracking_finalizer;
use super::{SYNC_JOB_BATCH_PERIOD, spec};
use crate::util::pod_control::{owners_selecting, pod_key};

/// What the controller should do about one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Jobs to sync now (Job created, deleted, spec changed).
    pub enqueue: Vec<ObjectKey>,
    /// Jobs to sync after a delay: [`SYNC_JOB_BATCH_PERIOD`] for pod events and
    /// status updates (batching them), or when the active deadline passes.
    pub enqueue_after: Vec<(ObjectKey, Duration)>,
    /// A pod this Job created was observed (lower its creation expectations).
    pub creation_observed: Option<ObjectKey>,
    /// Pod deletions observed: (Job, pod `namespace/name`).
    pub deletions_observed: Vec<(ObjectKey, String)>,
    /// Tracking finalizer removals observed: (Job, pod UID).
    pub finalizer_removals_observed: Vec<(ObjectKey, String)>,
    /// Pods (keys) whose tracking finalizer no Job will remove: the orphan
    /// queue removes it.
    pub orphans: Vec<ObjectKey>,
}

fn batched(out: &mut Reaction, job: &Job) {
    out.enqueue_after
        .push((ObjectKey::of(job), SYNC_JOB_BATCH_PERIOD));
}

/// Enqueues the orphan pod when it still has the finalizer.
fn orphan_if_tracked(out: &mut Reaction, pod: &Pod) {
    if has_tracking_finalizer(pod) {
        out.orphans.push(ObjectKey::of(pod));
    }
}

/// A pod appeared (`jobs`: the cached Jobs of its namespace).
pub fn pod_added(pod: &Pod, jobs: &[&Job]) -> Reaction {
    if pod.metadata.deletion_timestamp.is_some() {
        // Seen already deleting (e.g. after a restart): not a creation.
        return pod_deleted(pod, jobs, false);
    }
    let mut out = Reaction::default();
    if let Some(r) = controller_of(pod) {
        if let Some(job) = resolve(pod.metadata.namespace.as_deref(), r, jobs) {
            out.creation_observed = Some(ObjectKey::of(job));
            batched(&mut out, job);
        }
        return out;
    }
    orphan_if_tracked(&mut out, pod);
    for job in owners_selecting(pod, jobs) {
        batched(&mut out, job);
    }
    out
}

/// A pod changed from `old` to `new`.
pub fn pod_updated(old: &Pod, new: &Pod, jobs: &[&Job]) -> Reaction {
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        return Reaction::default();
    }
    if new.metadata.deletion_timestamp.is_some() {
        // Graceful deletion started: act now, not when the pod is gone.
        return pod_deleted(new, jobs, false);
    }
    let mut out = Reaction::default();
    // The latest state decides: ownership transfers may add and remove the
    // finalizer between two events.
    let finalizer_removed = !has_tracking_finalizer(new);
    let uid = new.metadata.uid.clone().unwrap_or_default();
    let (old_ref, new_ref) = (controller_of(old), controller_of(new));
    let ref_changed = old_ref != new_ref;
    if ref_changed
        && let Some(r) = old_ref
        && let Some(job) = resolve(old.metadata.namespace.as_deref(), r, jobs)
    {
        if finalizer_removed {
            out.finalizer_removals_observed
                .push((ObjectKey::of(job), uid.clone()));
        }
        batched(&mut out, job);
    }
    if let Some(r) = new_ref {
        if let Some(job) = resolve(new.metadata.namespace.as_deref(), r, jobs) {
            if finalizer_removed {
                out.finalizer_removals_observed
                    .push((ObjectKey::of(job), uid));
            }
            batched(&mut out, job);
        }
        return out;
    }
    orphan_if_tracked(&mut out, new);
    if old.metadata.labels != new.metadata.labels || ref_changed {
        for job in owners_selecting(new, jobs) {
            batched(&mut out, job);
        }
    }
    out
}

/// A pod is gone (`final_delete`), or is being deleted.
pub fn pod_deleted(pod: &Pod, jobs: &[&Job], final_delete: bool) -> Reaction {
    let mut out = Reaction::default();
    let has_finalizer = has_tracking_finalizer(pod);
    let Some(r) = controller_of(pod) else {
        // Nobody counts an orphan; it may have been a Job's, whose reference
        // the garbage collector removed.
        orphan_if_tracked(&mut out, pod);
        return out;
    };
    let job = resolve(pod.metadata.namespace.as_deref(), r, jobs);
    let Some(job) = job.filter(|j| !spec::is_finished(j)) else {
        // No sync will remove this finalizer.
        orphan_if_tracked(&mut out, pod);
        return out;
    };
    let key = ObjectKey::of(job);
    out.deletions_observed.push((key.clone(), pod_key(pod)));
    if final_delete || !has_finalizer {
        out.finalizer_removals_observed
            .push((key, pod.metadata.uid.clone().unwrap_or_default()));
    }
    batched(&mut out, job);
    out
}

/// A Job was created.
pub fn job_added(job: &Job) -> Reaction {
    Reaction {
        enqueue: vec![ObjectKey::of(job)],
        ..Default::default()
    }
}

/// The pods of a finished or deleted Job that still carry its finalizer
/// (upstream `cleanupPodFinalizers`): controlled by it and matching its selector.
fn tracked_pods_of(job: &Job, pods: &[&Pod]) -> Vec<ObjectKey> {
    let Ok(selector) = Selector::from_label_selector(spec::spec(job).selector.as_ref()) else {
        return Vec::new();
    };
    let uid = job.metadata.uid.as_deref();
    pods.iter()
        .filter(|p| p.metadata.namespace == job.metadata.namespace)
        .filter(|p| selector.matches(&p.metadata.labels))
        .filter(|p| controller_of(**p).is_some_and(|r| Some(r.uid.as_str()) == uid))
        .filter(|p| has_tracking_finalizer(p))
        .map(|p| ObjectKey::of(*p))
        .collect()
}

/// A Job changed from `old` to `new` at `now` (`pods`: the cached pods of its
/// namespace): a spec change syncs now, a status change after the batch
/// period; a finished Job's leftover finalizers go to the orphan queue; a new
/// or changed `activeDeadlineSeconds` syncs again at the deadline.
pub fn job_updated(old: &Job, new: &Job, pods: &[&Pod], now: Timestamp) -> Reaction {
    let mut out = Reaction::default();
    if old.metadata.generation == new.metadata.generation {
        batched(&mut out, new);
    } else {
        out.enqueue.push(ObjectKey::of(new));
    }
    if spec::is_finished(new) {
        out.orphans = tracked_pods_of(new, pods);
    }
    let started = new.status.as_ref().is_some_and(|s| s.start_time.is_some());
    let (old_ads, new_ads) = (
        spec::spec(old).active_deadline_seconds,
        spec::spec(new).active_deadline_seconds,
    );
    if started
        && new_ads.is_some()
        && old_ads != new_ads
        && let Some(after) = deadline_requeue(new, now)
    {
        out.enqueue_after.push((ObjectKey::of(new), after));
    }
    out
}

/// A Job was deleted: sync it (the sync finds it gone) and free its pods'
/// finalizers.
pub fn job_deleted(job: &Job, pods: &[&Pod]) -> Reaction {
    Reaction {
        enqueue: vec![ObjectKey::of(job)],
        orphans: tracked_pods_of(job, pods),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JOB_TRACKING_FINALIZER;
    use crate::job::testing::{job, owned_by, tracked};
    use crate::util::testing::{at, labels, pod};
    use crate::util::time::k8s;

    fn rv(mut p: Pod, v: &str) -> Pod {
        p.metadata.resource_version = Some(v.into());
        p
    }

    #[test]
    fn owned_pod_events_batch_the_job_and_track_expectations() {
        let j = job("pi", Some(1), 1);
        let key = ObjectKey::of(&j);
        let p = tracked(owned_by(pod("a"), &j));
        let r = pod_added(&p, &[&j]);
        assert_eq!(r.creation_observed, Some(key.clone()));
        assert_eq!(r.enqueue_after, [(key.clone(), SYNC_JOB_BATCH_PERIOD)]);
        assert!(r.enqueue.is_empty());

        // The finalizer removed: observed for the Job.
        let old = rv(p.clone(), "1");
        let mut new = rv(p.clone(), "2");
        new.metadata.finalizers = None;
        let r = pod_updated(&old, &new, &[&j]);
        assert_eq!(
            r.finalizer_removals_observed,
            [(key.clone(), "uid-a".to_string())]
        );

        // Deleting with the finalizer: a deletion, not yet a finalizer removal.
        let mut deleting = rv(p.clone(), "3");
        deleting.metadata.deletion_timestamp = Some(k8s(at(1)));
        let r = pod_updated(&old, &deleting, &[&j]);
        assert_eq!(
            r.deletions_observed,
            [(key.clone(), "default/a".to_string())]
        );
        assert!(r.finalizer_removals_observed.is_empty());
        let r = pod_deleted(&deleting, &[&j], true);
        assert_eq!(r.finalizer_removals_observed, [(key, "uid-a".to_string())]);
    }

    #[test]
    fn orphans_with_the_finalizer_go_to_the_orphan_queue() {
        let j = job("pi", Some(1), 1);
        let mut orphan = tracked(pod("o"));
        orphan.metadata.labels = Some(labels(&[("batch.kubernetes.io/controller-uid", "uid-pi")]));
        let r = pod_added(&orphan, &[&j]);
        assert_eq!(r.orphans, [ObjectKey::of(&orphan)]);
        assert_eq!(
            r.enqueue_after,
            [(ObjectKey::of(&j), SYNC_JOB_BATCH_PERIOD)],
            "may adopt it"
        );
        // A pod of a finished Job: its finalizer is the orphan queue's.
        let mut done = j.clone();
        done.status.get_or_insert_default().conditions =
            Some(vec![crate::job::conditions::new_condition(
                "Complete",
                "True",
                "",
                "",
                at(1),
            )]);
        let p = tracked(owned_by(pod("a"), &done));
        let r = pod_deleted(&p, &[&done], true);
        assert_eq!(r.orphans, [ObjectKey::of(&p)]);
        assert!(r.deletions_observed.is_empty());
    }

    #[test]
    fn job_updates_sync_now_on_spec_changes_and_free_finished_jobs_pods() {
        let old = job("pi", Some(1), 1);
        let mut new = old.clone();
        new.metadata.generation = Some(2);
        assert_eq!(
            job_updated(&old, &new, &[], at(0)).enqueue,
            [ObjectKey::of(&new)]
        );
        let status_only = job_updated(&old, &old, &[], at(0));
        assert!(status_only.enqueue.is_empty());
        assert_eq!(status_only.enqueue_after.len(), 1);

        let mut finished = old.clone();
        finished.status.get_or_insert_default().conditions =
            Some(vec![crate::job::conditions::new_condition(
                "Failed",
                "True",
                "",
                "",
                at(1),
            )]);
        let mine = tracked(owned_by(pod("a"), &finished));
        let mut theirs = pod("b");
        theirs.metadata.finalizers = Some(vec![JOB_TRACKING_FINALIZER.into()]);
        let r = job_updated(&old, &finished, &[&mine, &theirs], at(2));
        assert_eq!(r.orphans, [ObjectKey::of(&mine)]);
        assert_eq!(
            job_deleted(&finished, &[&mine]).orphans,
            [ObjectKey::of(&mine)]
        );
    }

    #[test]
    fn a_new_active_deadline_requeues_at_the_deadline() {
        let old = job("pi", Some(1), 1);
        let mut new = old.clone();
        new.metadata.generation = Some(2);
        new.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
        new.status.get_or_insert_default().start_time = Some(k8s(at(100)));
        let r = job_updated(&old, &new, &[], at(110));
        assert_eq!(
            r.enqueue_after,
            [(ObjectKey::of(&new), Duration::from_secs(20))]
        );
    }
}
