//! Performs a ReplicaSet sync's plan against the API server (upstream
//! `manageReplicas`' I/O half and `updateReplicaSetStatus`): pod creations in
//! slow-start batches and deletions under expectations through the shared
//! [`PodControl`], and the status write through the shared [`StatusWriter`]. No
//! informers needed: the caller passes the cached objects. Generic over the
//! owner: ReplicaSets and ReplicationControllers.

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::events::Recorder;
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use super::owner::ReplicaSetLike;
use super::plan::ManageReplicas;
use super::status::{StatusPlan, status_unchanged};
use crate::util::pod_control::{PodControl, PodControlError};

/// Errors of a whole ReplicaSet sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Creating or deleting pods failed (the status was still written).
    #[error(transparent)]
    Manage(#[from] PodControlError),
    /// Writing the status failed.
    #[error("failed to update replica set status: {0}")]
    Status(#[source] kube::Error),
}

/// Upstream's status comparison for a status write: the new status (in the
/// ReplicaSet shape) changes nothing upstream looks at.
fn unchanged<R: ReplicaSetLike>(current: &R, candidate: &R) -> bool {
    candidate.status().is_some_and(|_| {
        let new = candidate.replica_set_status();
        status_unchanged(current, &new)
    })
}

/// Performs plans for owners of kind `R` (a [`ReplicaSet`] by default) through a
/// client, keeping expectations and recording events.
pub struct ReplicaSetActions<R: ReplicaSetLike = ReplicaSet> {
    pods: PodControl,
    status: StatusWriter<R>,
}

impl<R: ReplicaSetLike> Clone for ReplicaSetActions<R> {
    fn clone(&self) -> Self {
        Self {
            pods: self.pods.clone(),
            status: self.status.clone(),
        }
    }
}

impl<R: ReplicaSetLike> ReplicaSetActions<R> {
    /// A performer writing through `client`, tracking `expectations` (shared with
    /// the event handlers that observe creations and deletions), recording
    /// events when given a recorder.
    pub fn new(
        client: Client,
        expectations: Arc<UidTrackingExpectations<ObjectKey>>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            status: StatusWriter::new(client.clone()).skip_when(unchanged::<R>),
            pods: PodControl::new(client, expectations, recorder),
        }
    }

    /// Creates or deletes pods as `plan` says, through [`PodControl`]: creations
    /// raise the creation expectations by the count first and lower them by every
    /// pod not created; deletions expect exactly the listed pods and stop
    /// expecting those whose deletion failed. A `NotFound` deletion counts as done.
    pub async fn manage(&self, rs: &R, plan: &ManageReplicas) -> Result<(), PodControlError> {
        match plan {
            ManageReplicas::Nothing => Ok(()),
            ManageReplicas::Create { count } => self.pods.create_pods(rs, *count).await,
            ManageReplicas::Delete { pods } => self.pods.delete_pods(rs, pods).await,
        }
    }

    /// Whether the ReplicaSet `key` may create or delete pods (upstream
    /// `rsNeedsSync`): its expectations are satisfied. Ask *before* reading the
    /// pod cache for the sync: the informer updates its cache before its handlers
    /// observe an expected creation or deletion, so a cache read after a `true`
    /// holds every pod expected; a cache read first could miss pods whose events
    /// arrive between the read and the check, and the sync would create or delete
    /// them a second time.
    pub fn needs_sync(&self, key: &ObjectKey) -> bool {
        self.pods.satisfied(key)
    }

    /// Performs the pod-management `plan` of one ReplicaSet sync
    /// ([`super::plan_sync`]), then writes the status (with `ReplicaFailure`
    /// from the manage error; [`super::plan_status`] decides it after the
    /// writes, as upstream's `calculateStatus` takes `manageReplicas`' error),
    /// and returns the requeue that observes `minReadySeconds`. A status error
    /// wins over a manage error, as upstream. `pods` are the RS's claimed active
    /// pods.
    pub async fn perform(
        &self,
        rs: &R,
        plan: &ManageReplicas,
        pods: &[&Pod],
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<Option<std::time::Duration>, SyncError> {
        let manage = self.manage(rs, plan).await.err();
        let status = super::status::plan_status(
            rs,
            pods,
            manage
                .as_ref()
                .map(PodControlError::condition_message)
                .as_deref(),
            now,
        );
        self.write_status(rs, &status)
            .await
            .map_err(SyncError::Status)?;
        match manage {
            Some(e) => Err(SyncError::Manage(e)),
            None => Ok(status.requeue_after),
        }
    }

    /// Writes `plan.status` unless upstream's comparison finds it unchanged
    /// ([`status_unchanged`], the decision `plan.write` states), through the
    /// shared [`StatusWriter`]: a PUT of the status subresource with the cached
    /// `resourceVersion`, retried once on a fresh read after a failure. Returns the
    /// stored RS, `None` when nothing was written.
    pub async fn write_status(&self, rs: &R, plan: &StatusPlan) -> Result<Option<R>, kube::Error> {
        self.status
            .write(rs, &R::status_from(plan.status.clone()))
            .await
    }
}

#[cfg(test)]
mod tests;
