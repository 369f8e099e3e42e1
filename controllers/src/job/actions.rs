//! Performs a Job sync's writes (upstream `manageJob`'s and
//! `trackJobStatusAndRemoveFinalizers`' I/O): pod creations in slow-start
//! batches and deletions under expectations through the shared [`PodControl`],
//! tracking-finalizer removals under [`FinalizerExpectations`], and status
//! writes carrying the cached `resourceVersion` (a stale cache fails with a
//! conflict and the sync is retried: a Job's counters must never be written
//! from a stale status).

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::errors;
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::conditions::COMPLETE;
use super::plan::{PodToDelete, PodsPlan};
use super::pods::{NewPod, pod_to_create};
use super::spec;
use super::status::{JobEvent, ManageOutcome};
use super::tracking::{FinalizerExpectations, remove_finalizer_patch};
use crate::util::pod_control::slowstart::{self, SLOW_START_INITIAL_BATCH_SIZE};
use crate::util::pod_control::{PodControl, PodControlError, PodOwner, PodRef};

/// Performs Job syncs' writes through a client, keeping expectations and
/// recording Events.
#[derive(Clone)]
pub struct JobActions {
    client: Client,
    pods: PodControl,
    status: StatusWriter<Job>,
    finalizers: Arc<FinalizerExpectations>,
    recorder: Option<Recorder>,
}

impl JobActions {
    /// A performer writing through `client`, tracking pod `expectations` and
    /// finalizer removals (both shared with the event handlers), recording
    /// Events when given a recorder.
    pub fn new(
        client: Client,
        expectations: Arc<UidTrackingExpectations<ObjectKey>>,
        finalizers: Arc<FinalizerExpectations>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            // The sync decides when to write (upstream's `needsFlush`), comparing
            // with the status it started from; the writer writes when asked.
            status: StatusWriter::new(client.clone())
                .with_retries(0)
                .skip_when(|_, _| false),
            pods: PodControl::new(client.clone(), expectations, recorder.clone()),
            client,
            finalizers,
            recorder,
        }
    }

    /// Whether the Job `key` may create or delete pods: its expectations are
    /// satisfied. Ask before reading the pod cache (see
    /// [`ReplicaSetActions::needs_sync`](crate::replicaset::actions::ReplicaSetActions::needs_sync)).
    pub fn needs_sync(&self, key: &ObjectKey) -> bool {
        self.pods.satisfied(key)
    }

    /// Records an Event on the Job.
    pub fn record(&self, job: &Job, event: &JobEvent) {
        if let Some(r) = &self.recorder {
            let t = if event.normal {
                EventType::Normal
            } else {
                EventType::Warning
            };
            r.record_for(job, t, event.reason, &event.message, "");
        }
    }

    /// Records upstream's Events for a Job that just finished with `cond`
    /// (upstream `recordJobFinished`).
    pub fn record_finished(&self, job: &Job, cond: &JobCondition) {
        if cond.type_ == COMPLETE {
            let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
            if spec::completions(job).is_some_and(|c| succeeded > c) {
                self.record(
                    job,
                    &JobEvent {
                        normal: false,
                        reason: "TooManySucceededPods",
                        message: "Too many succeeded pods running after completion count reached"
                            .into(),
                    },
                );
            }
            self.record(
                job,
                &JobEvent {
                    normal: true,
                    reason: "Completed",
                    message: "Job completed".into(),
                },
            );
        } else if let Some(r) = &self.recorder {
            r.record_for(
                job,
                EventType::Warning,
                cond.reason.as_deref().unwrap_or(""),
                cond.message.as_deref().unwrap_or(""),
                "",
            );
        }
    }

    /// Performs the pod part of a sync's plan; returns what was achieved and the
    /// first error.
    pub async fn perform_pods(
        &self,
        job: &Job,
        plan: &PodsPlan,
    ) -> (ManageOutcome, Result<(), PodControlError>) {
        match plan {
            PodsPlan::DeleteActive(pods) => self.delete(job, pods).await,
            PodsPlan::Delete(pods) => self.delete_untracked(job, pods).await,
            PodsPlan::Create(new) => self.create(job, new).await,
            PodsPlan::Skip | PodsPlan::Nothing | PodsPlan::Wait(_) => {
                (ManageOutcome::default(), Ok(()))
            }
        }
    }

    /// Deletes `pods` (finalizers kept), counting the deleted and the ready
    /// among them.
    async fn delete(
        &self,
        job: &Job,
        pods: &[PodToDelete],
    ) -> (ManageOutcome, Result<(), PodControlError>) {
        let refs: Vec<PodRef> = pods.iter().map(|p| p.pod.clone()).collect();
        let results = self.pods.delete_each(job, &refs).await;
        let mut out = ManageOutcome::default();
        let mut first = None;
        for (p, r) in pods.iter().zip(results) {
            match r {
                Ok(()) => {
                    out.deleted += 1;
                    out.deleted_ready += i32::from(p.ready);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        (
            out,
            first.map_or(Ok(()), |e| Err(PodControlError::Delete(e))),
        )
    }

    /// Removes the tracking finalizer of `pods`, then deletes those whose
    /// finalizer went (upstream `deleteJobPods`: these pods are not counted).
    async fn delete_untracked(
        &self,
        job: &Job,
        pods: &[PodToDelete],
    ) -> (ManageOutcome, Result<(), PodControlError>) {
        let patches = pods.iter().map(|p| self.patch_out_finalizer(&p.pod));
        let patched = futures::future::join_all(patches).await;
        let mut first = None;
        let mut deletable = Vec::new();
        for (p, r) in pods.iter().zip(patched) {
            match r {
                Ok(()) => deletable.push(p.clone()),
                Err(e) => {
                    tracing::debug!(pod = %p.pod.key(), error = %e, "removing the tracking finalizer failed");
                    first.get_or_insert(e);
                }
            }
        }
        let (out, deleted) = self.delete(job, &deletable).await;
        match (first, deleted) {
            (Some(e), _) => (out, Err(PodControlError::Delete(e))),
            (None, r) => (out, r),
        }
    }

    /// Creates the planned pods; returns how many were created.
    async fn create(
        &self,
        job: &Job,
        new: &[NewPod],
    ) -> (ManageOutcome, Result<(), PodControlError>) {
        let controller_ref = match job.controller_ref() {
            Ok(r) => r,
            Err(e) => {
                return (
                    ManageOutcome::default(),
                    Err(PodControlError::Owner(e.to_string())),
                );
            }
        };
        let mut pods: Vec<Pod> = Vec::with_capacity(new.len());
        for n in new {
            match pod_to_create(job, controller_ref.clone(), *n) {
                Ok(p) => pods.push(p),
                Err(e) => return (ManageOutcome::default(), Err(e.into())),
            }
        }
        let (created, result) = self.pods.create_pods_from(job, &pods).await;
        let failed = if result.is_err() {
            slowstart::attempted(pods.len(), SLOW_START_INITIAL_BATCH_SIZE, created) - created
        } else {
            0
        };
        let out = ManageOutcome {
            created: i32::try_from(created).unwrap_or(i32::MAX),
            failed_creates: i32::try_from(failed).unwrap_or(i32::MAX),
            ..ManageOutcome::default()
        };
        (out, result)
    }

    /// Patches the tracking finalizer out of one pod; `NotFound` is success.
    async fn patch_out_finalizer(&self, pod: &PodRef) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        match api
            .patch(
                &pod.name,
                &PatchParams::default(),
                &Patch::Strategic(remove_finalizer_patch()),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if errors::is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the tracking finalizer of `pods`, expecting each removal first
    /// (upstream `removeTrackingFinalizerFromPods`). Returns which removals
    /// succeeded (a pod already gone counts) and the first error.
    pub async fn remove_finalizers(
        &self,
        key: &ObjectKey,
        pods: &[PodRef],
    ) -> (Vec<bool>, Option<kube::Error>) {
        if pods.is_empty() {
            return (Vec::new(), None);
        }
        self.finalizers
            .expect_removed(key, pods.iter().map(|p| p.uid.as_str()));
        let calls = pods.iter().map(|p| self.patch_out_finalizer(p));
        let results = futures::future::join_all(calls).await;
        let mut first = None;
        let mut ok = Vec::with_capacity(pods.len());
        for (p, r) in pods.iter().zip(results) {
            match r {
                Ok(()) => ok.push(true),
                Err(e) => {
                    // No update will show this removal.
                    self.finalizers.removal_observed(key, &p.uid);
                    tracing::debug!(pod = %p.key(), error = %e, "removing the tracking finalizer failed");
                    first.get_or_insert(e);
                    ok.push(false);
                }
            }
        }
        (ok, first)
    }

    /// Writes `status` as the Job's (a PUT of `/status` with the Job's
    /// `resourceVersion`, no retry); returns the stored Job.
    pub async fn write_status(&self, job: &Job, status: &JobStatus) -> Result<Job, kube::Error> {
        Ok(self
            .status
            .write(job, status)
            .await?
            .unwrap_or_else(|| job.clone()))
    }
}

#[cfg(test)]
mod tests;
