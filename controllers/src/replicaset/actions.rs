//! Performs a ReplicaSet sync's plan against the API server (upstream
//! `manageReplicas`' I/O half and `updateReplicaSetStatus`): pod creations in
//! slow-start batches and deletions under expectations, events, and the status
//! write. No informers needed: the caller passes the cached objects.

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::errors::{self, NAMESPACE_TERMINATING_CAUSE};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::ownership::Owner;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client};

use super::plan::{ManageReplicas, PodRef};
use super::pod_template::{PodTemplateError, pod_from_template};
use super::slowstart::{self, SLOW_START_INITIAL_BATCH_SIZE};
use super::status::StatusPlan;
use super::{
    EVENT_FAILED_CREATE, EVENT_FAILED_DELETE, EVENT_SUCCESSFUL_CREATE, EVENT_SUCCESSFUL_DELETE,
};

/// Upstream `statusUpdateRetries`: one more attempt after re-reading the RS.
pub const STATUS_UPDATE_RETRIES: usize = 1;

/// Errors of a whole ReplicaSet sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Creating or deleting pods failed (the status was still written).
    #[error(transparent)]
    Manage(#[from] ManageError),
    /// Writing the status failed.
    #[error("failed to update replica set status: {0}")]
    Status(#[source] kube::Error),
}

/// Errors of managing a ReplicaSet's pods.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The ReplicaSet cannot describe the pods it wants.
    #[error(transparent)]
    Template(#[from] PodTemplateError),
    /// The ReplicaSet cannot be referenced as an owner.
    #[error("cannot reference replica set as owner: {0}")]
    Owner(String),
    /// Creating a pod failed (the first error of the failing batch).
    #[error("failed to create pods: {0}")]
    Create(#[source] kube::Error),
    /// Deleting a pod failed (other than `NotFound`).
    #[error("failed to delete pods: {0}")]
    Delete(#[source] kube::Error),
}

impl ManageError {
    /// The text for the `ReplicaFailure` condition: the API server's message when
    /// there is one (as upstream puts the error's text there).
    pub fn condition_message(&self) -> String {
        match self {
            Self::Create(err) | Self::Delete(err) => errors::message(err),
            other => other.to_string(),
        }
    }
}

/// Performs ReplicaSet plans through a client, keeping expectations and
/// recording events.
#[derive(Clone)]
pub struct ReplicaSetActions {
    client: Client,
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    recorder: Option<Recorder>,
}

impl ReplicaSetActions {
    /// A performer writing through `client`, tracking `expectations` (shared with
    /// the event handlers that observe creations and deletions), recording
    /// events when given a recorder.
    pub fn new(
        client: Client,
        expectations: Arc<UidTrackingExpectations<ObjectKey>>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            client,
            expectations,
            recorder,
        }
    }

    fn event(&self, rs: &ReplicaSet, type_: EventType, reason: &str, message: &str) {
        if let Some(r) = &self.recorder {
            r.record_for(rs, type_, reason, message, "");
        }
    }

    /// Creates or deletes pods as `plan` says. Creations raise the creation
    /// expectations by the count first and lower them by every pod not created;
    /// deletions expect exactly the listed pods and stop expecting those whose
    /// deletion failed. A `NotFound` deletion counts as done.
    pub async fn manage(&self, rs: &ReplicaSet, plan: &ManageReplicas) -> Result<(), ManageError> {
        let key = ObjectKey::of(rs);
        match plan {
            ManageReplicas::Nothing => Ok(()),
            ManageReplicas::Create { count } => self.create(rs, &key, *count).await,
            ManageReplicas::Delete { pods } => self.delete(rs, &key, pods).await,
        }
    }

    async fn create(
        &self,
        rs: &ReplicaSet,
        key: &ObjectKey,
        count: usize,
    ) -> Result<(), ManageError> {
        let owner = Owner::of(rs).map_err(|e| ManageError::Owner(e.to_string()))?;
        let pod = pod_from_template(rs, owner.controller_ref())?;
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        tracing::debug!(replicaset = %key, count, "creating pods");
        self.expectations
            .expect_creations(key, i64::try_from(count).unwrap_or(i64::MAX));
        let (created, err) = slowstart::run(count, SLOW_START_INITIAL_BATCH_SIZE, |_| {
            let api = api.clone();
            let pod = pod.clone();
            async move {
                match api.create(&PostParams::default(), &pod).await {
                    Ok(p) => {
                        let name = p.metadata.name.unwrap_or_default();
                        self.event(
                            rs,
                            EventType::Normal,
                            EVENT_SUCCESSFUL_CREATE,
                            &format!("Created pod: {name}"),
                        );
                        Ok(())
                    }
                    // The namespace is terminating: creations fail for good and upstream
                    // treats them as done.
                    Err(e) if errors::has_status_cause(&e, NAMESPACE_TERMINATING_CAUSE) => Ok(()),
                    Err(e) => {
                        let msg = errors::message(&e);
                        self.event(
                            rs,
                            EventType::Warning,
                            EVENT_FAILED_CREATE,
                            &format!("Error creating: {msg}"),
                        );
                        Err(e)
                    }
                }
            }
        })
        .await;
        let skipped = count - created;
        if skipped > 0 {
            tracing::debug!(replicaset = %key, skipped, "slow-start failure, skipping creation of pods and lowering expectations");
            self.expectations.lower_expectations(
                key,
                i64::try_from(skipped).unwrap_or(i64::MAX),
                0,
            );
        }
        match err {
            Some(e) => Err(ManageError::Create(e)),
            None => Ok(()),
        }
    }

    async fn delete(
        &self,
        rs: &ReplicaSet,
        key: &ObjectKey,
        pods: &[PodRef],
    ) -> Result<(), ManageError> {
        tracing::debug!(replicaset = %key, pods = ?pods.iter().map(|p| &p.name).collect::<Vec<_>>(), "deleting pods");
        self.expectations
            .expect_deletions(key, pods.iter().map(PodRef::key));
        let calls = pods.iter().map(|p| async move {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
            let dp = DeleteParams::default().preconditions(Preconditions {
                uid: Some(p.uid.clone()).filter(|u| !u.is_empty()),
                resource_version: None,
            });
            match api.delete(&p.name, &dp).await {
                Ok(_) => {
                    self.event(
                        rs,
                        EventType::Normal,
                        EVENT_SUCCESSFUL_DELETE,
                        &format!("Deleted pod: {}", p.name),
                    );
                    Ok(())
                }
                Err(e) => {
                    // The informer will not observe this deletion.
                    self.expectations.deletion_observed(key, &p.key());
                    if errors::is_not_found(&e) {
                        return Ok(());
                    }
                    let msg = errors::message(&e);
                    self.event(
                        rs,
                        EventType::Warning,
                        EVENT_FAILED_DELETE,
                        &format!("Error deleting: {msg}"),
                    );
                    Err(e)
                }
            }
        });
        let results = futures::future::join_all(calls).await;
        match results.into_iter().find_map(Result::err) {
            Some(e) => Err(ManageError::Delete(e)),
            None => Ok(()),
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
        self.expectations.satisfied_expectations(key)
    }

    /// One ReplicaSet sync after claiming (upstream `syncReplicaSet`): manage pods
    /// when `needs_sync` ([`Self::needs_sync`], asked before `pods` was read from
    /// the cache) and the RS is not being deleted, then write the status (with
    /// `ReplicaFailure` from the manage error), and return the requeue that
    /// observes `minReadySeconds`. A status error wins over a manage error, as
    /// upstream. `pods` are the RS's claimed active pods, `related` those of its
    /// siblings ([`super::ranking::related_pods`]).
    pub async fn sync(
        &self,
        rs: &ReplicaSet,
        pods: &[&Pod],
        related: &[&Pod],
        needs_sync: bool,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<Option<std::time::Duration>, SyncError> {
        let plan = super::plan_sync(rs, pods, related, needs_sync, now);
        let manage = self.manage(rs, &plan).await.err();
        let status = super::status::plan_status(
            rs,
            pods,
            manage
                .as_ref()
                .map(ManageError::condition_message)
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

    /// Writes `plan.status` when `plan.write` (PUT of the status subresource with
    /// the cached `resourceVersion`; on failure the RS is read again and the write
    /// retried once, as upstream). Returns the stored RS, `None` when nothing was
    /// written.
    pub async fn write_status(
        &self,
        rs: &ReplicaSet,
        plan: &StatusPlan,
    ) -> Result<Option<ReplicaSet>, kube::Error> {
        if !plan.write {
            return Ok(None);
        }
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        let mut current = rs.clone();
        let mut attempt = 0;
        loop {
            current.status = Some(plan.status.clone());
            match api
                .replace_status(&name, &PostParams::default(), &current)
                .await
            {
                Ok(stored) => return Ok(Some(stored)),
                Err(e) if attempt >= STATUS_UPDATE_RETRIES => return Err(e),
                Err(e) => {
                    tracing::debug!(replicaset = %name, error = %e, "status update failed, re-reading and retrying");
                    current = api.get(&name).await?;
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
