//! Creating and deleting an owner's pods against the API server (upstream
//! `RealPodControl` with the expectation bookkeeping of `manageReplicas`).
//!
//! Expectations, keyed by the owner's [`ObjectKey`], tell the owner's next sync
//! whether the informer cache already shows this controller's own writes:
//!
//! - **creations**: raised by the full count *before* any call; after the
//!   slow-start run, lowered by every pod that will never appear — those whose
//!   create failed and those never attempted after the first failing batch
//!   ([`SlowStart::skipped`](super::SlowStart::skipped)). A create refused because
//!   the namespace is terminating counts as done (upstream: any further creation
//!   fails the same way), records no Event, and is not an error.
//! - **deletions**: the exact pod keys are expected before the calls; a failed
//!   delete (including `NotFound`: the informer will not see it go) stops
//!   expecting its pod. `NotFound` is otherwise success.
//!
//! Events on the owner, with upstream's reasons and messages: `SuccessfulCreate`
//! `Created pod: <name>`, `FailedCreate` `Error creating: <err>`,
//! `SuccessfulDelete` `Deleted pod: <name>`, `FailedDelete` `Error deleting: <err>`.

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::errors::{self, NAMESPACE_TERMINATING_CAUSE};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::expectations::UidTrackingExpectations;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client};

use super::slowstart::{self, SLOW_START_INITIAL_BATCH_SIZE};
use super::template::{PodTemplateError, pod_from_template};
use super::{
    EVENT_FAILED_CREATE, EVENT_FAILED_DELETE, EVENT_SUCCESSFUL_CREATE, EVENT_SUCCESSFUL_DELETE,
    PodOwner,
};

/// Errors of creating or deleting an owner's pods.
#[derive(Debug, thiserror::Error)]
pub enum PodControlError {
    /// The owner cannot describe the pods it wants.
    #[error(transparent)]
    Template(#[from] PodTemplateError),
    /// The owner cannot be referenced as a controller.
    #[error("cannot reference the owner as controller: {0}")]
    Owner(String),
    /// Creating a pod failed (the first error of the failing batch): quota,
    /// admission or any other refusal. The caller reports it (`ReplicaFailure`
    /// with reason `FailedCreate` for ReplicaSets).
    #[error("failed to create pods: {0}")]
    Create(#[source] kube::Error),
    /// Deleting a pod failed (other than `NotFound`).
    #[error("failed to delete pods: {0}")]
    Delete(#[source] kube::Error),
}

impl PodControlError {
    /// The text for a failure condition (`ReplicaFailure`): the API server's
    /// message when there is one, as upstream puts the error's text there.
    pub fn condition_message(&self) -> String {
        match self {
            Self::Create(e) | Self::Delete(e) => errors::message(e),
            other => other.to_string(),
        }
    }
}

/// A pod chosen for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// UID of the pod: deleted with a UID precondition.
    pub uid: String,
}

impl PodRef {
    /// The reference of a cached pod.
    pub fn of(pod: &Pod) -> Self {
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// `namespace/name`, the key expectations track deletions by.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// How a [`PodControl`] words the messages of its Events (the reasons are always
/// `SuccessfulCreate`, `FailedCreate`, `SuccessfulDelete`, `FailedDelete`). Each
/// function gets the pod's name, the owner's name and, for failures, the API
/// server's message.
#[derive(Clone, Copy, Debug)]
pub struct EventWording {
    /// The message of a created pod.
    pub created: fn(pod: &str, owner: &str) -> String,
    /// The message of a failed creation.
    pub create_failed: fn(pod: &str, owner: &str, error: &str) -> String,
    /// The message of a deleted pod.
    pub deleted: fn(pod: &str, owner: &str) -> String,
    /// The message of a failed deletion.
    pub delete_failed: fn(pod: &str, owner: &str, error: &str) -> String,
}

impl EventWording {
    /// Upstream `RealPodControl`'s: `Created pod: <name>`, `Error creating: <err>`,
    /// `Deleted pod: <name>`, `Error deleting: <err>`.
    pub const POD_CONTROL: EventWording = EventWording {
        created: |pod, _| format!("Created pod: {pod}"),
        create_failed: |_, _, error| format!("Error creating: {error}"),
        deleted: |pod, _| format!("Deleted pod: {pod}"),
        delete_failed: |_, _, error| format!("Error deleting: {error}"),
    };
}

impl Default for EventWording {
    fn default() -> Self {
        Self::POD_CONTROL
    }
}

/// Creates and deletes owners' pods, keeping their expectations and recording
/// Events on them. Cheap to clone; clones share the expectations.
#[derive(Clone)]
pub struct PodControl {
    client: Client,
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    recorder: Option<Recorder>,
    wording: EventWording,
}

impl PodControl {
    /// Pod control writing through `client`, tracking `expectations` (shared with
    /// the event handlers that observe creations and deletions), recording Events
    /// when given a recorder.
    pub fn new(
        client: Client,
        expectations: Arc<UidTrackingExpectations<ObjectKey>>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            client,
            expectations,
            recorder,
            wording: EventWording::default(),
        }
    }

    /// Words the Events' messages with `wording` (upstream's StatefulSet pod
    /// control words them its own way).
    pub fn with_wording(mut self, wording: EventWording) -> Self {
        self.wording = wording;
        self
    }

    /// The expectations this pod control raises and lowers.
    pub fn expectations(&self) -> &Arc<UidTrackingExpectations<ObjectKey>> {
        &self.expectations
    }

    /// Whether `owner_key`'s expectations are satisfied (upstream
    /// `SatisfiedExpectations`): the cache shows every pod this controller
    /// created or deleted for it, or the expectations expired.
    pub fn satisfied(&self, owner_key: &ObjectKey) -> bool {
        self.expectations.satisfied_expectations(owner_key)
    }

    fn event<O: PodOwner>(&self, owner: &O, type_: EventType, reason: &str, message: &str) {
        if let Some(r) = &self.recorder {
            r.record_for(owner, type_, reason, message, "");
        }
    }

    /// Creates `count` pods from `owner`'s template in slow-start batches, the
    /// creation expectations raised by `count` first and lowered by every pod not
    /// created (see the [module](self) documentation). Returns the first error of
    /// the failing batch.
    pub async fn create_pods<O: PodOwner>(
        &self,
        owner: &O,
        count: usize,
    ) -> Result<(), PodControlError> {
        if count == 0 {
            return Ok(());
        }
        let controller_ref = owner
            .controller_ref()
            .map_err(|e| PodControlError::Owner(e.to_string()))?;
        let pod = pod_from_template(owner, controller_ref)?;
        self.create_each(owner, count, |_| &pod).await.1
    }

    /// Creates `pods` (each prepared by the caller: the owner's pods when they
    /// differ, as an Indexed Job's do) in slow-start batches, with the same
    /// expectations and Events as [`create_pods`](Self::create_pods). Returns how
    /// many were created and the first error of the failing batch.
    pub async fn create_pods_from<O: PodOwner>(
        &self,
        owner: &O,
        pods: &[Pod],
    ) -> (usize, Result<(), PodControlError>) {
        if pods.is_empty() {
            return (0, Ok(()));
        }
        self.create_each(owner, pods.len(), |i| &pods[i]).await
    }

    /// Creates `count` pods, the `i`-th being `pod(i)`, in slow-start batches
    /// under expectations.
    async fn create_each<'p, O: PodOwner>(
        &self,
        owner: &O,
        count: usize,
        pod: impl Fn(usize) -> &'p Pod,
    ) -> (usize, Result<(), PodControlError>) {
        let key = ObjectKey::of(owner);
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            owner.meta().namespace.as_deref().unwrap_or_default(),
        );
        tracing::debug!(owner = %key, kind = %O::kind(&()), count, "creating pods");
        self.expectations
            .expect_creations(&key, i64::try_from(count).unwrap_or(i64::MAX));
        let (created, err) = slowstart::run(count, SLOW_START_INITIAL_BATCH_SIZE, |i| {
            self.create_pod(owner, &api, pod(i))
        })
        .await;
        let skipped = count - created;
        if skipped > 0 {
            tracing::debug!(owner = %key, skipped, "slow-start failure, skipping creation of pods and lowering expectations");
            self.expectations.lower_expectations(
                &key,
                i64::try_from(skipped).unwrap_or(i64::MAX),
                0,
            );
        }
        let result = match err {
            Some(e) => Err(PodControlError::Create(e)),
            None => Ok(()),
        };
        (created, result)
    }

    /// One creation with its Event; a terminating namespace counts as done.
    async fn create_pod<O: PodOwner>(
        &self,
        owner: &O,
        api: &Api<Pod>,
        pod: &Pod,
    ) -> Result<(), kube::Error> {
        match api.create(&PostParams::default(), pod).await {
            Ok(p) => {
                let name = p.metadata.name.unwrap_or_default();
                self.event(
                    owner,
                    EventType::Normal,
                    EVENT_SUCCESSFUL_CREATE,
                    &(self.wording.created)(&name, owner_name(owner)),
                );
                Ok(())
            }
            Err(e) if errors::has_status_cause(&e, NAMESPACE_TERMINATING_CAUSE) => Ok(()),
            Err(e) => {
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                self.event(
                    owner,
                    EventType::Warning,
                    EVENT_FAILED_CREATE,
                    &(self.wording.create_failed)(name, owner_name(owner), &errors::message(&e)),
                );
                Err(e)
            }
        }
    }

    /// Deletes `pods` (in parallel, each with a UID precondition), expecting
    /// exactly their deletions and no longer expecting those whose deletion
    /// failed. A `NotFound` counts as done. Returns the first other error.
    pub async fn delete_pods<O: PodOwner>(
        &self,
        owner: &O,
        pods: &[PodRef],
    ) -> Result<(), PodControlError> {
        match self
            .delete_each(owner, pods)
            .await
            .into_iter()
            .find_map(Result::err)
        {
            Some(e) => Err(PodControlError::Delete(e)),
            None => Ok(()),
        }
    }

    /// Like [`delete_pods`](Self::delete_pods), returning each deletion's
    /// outcome, in the order of `pods` (`Ok` for a deleted or already gone pod).
    pub async fn delete_each<O: PodOwner>(
        &self,
        owner: &O,
        pods: &[PodRef],
    ) -> Vec<Result<(), kube::Error>> {
        if pods.is_empty() {
            return Vec::new();
        }
        let key = ObjectKey::of(owner);
        tracing::debug!(owner = %key, pods = ?pods.iter().map(|p| &p.name).collect::<Vec<_>>(), "deleting pods");
        self.expectations
            .expect_deletions(&key, pods.iter().map(PodRef::key));
        let calls = pods.iter().map(|p| self.delete_pod(owner, &key, p));
        futures::future::join_all(calls).await
    }

    /// One deletion with its Event and, on failure, its expectation lowered.
    async fn delete_pod<O: PodOwner>(
        &self,
        owner: &O,
        key: &ObjectKey,
        p: &PodRef,
    ) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: Some(p.uid.clone()).filter(|u| !u.is_empty()),
            resource_version: None,
        });
        match api.delete(&p.name, &dp).await {
            Ok(_) => {
                self.event(
                    owner,
                    EventType::Normal,
                    EVENT_SUCCESSFUL_DELETE,
                    &(self.wording.deleted)(&p.name, owner_name(owner)),
                );
                Ok(())
            }
            Err(e) => {
                // The informer will not observe this deletion.
                self.expectations.deletion_observed(key, &p.key());
                if errors::is_not_found(&e) {
                    return Ok(());
                }
                self.event(
                    owner,
                    EventType::Warning,
                    EVENT_FAILED_DELETE,
                    &(self.wording.delete_failed)(&p.name, owner_name(owner), &errors::message(&e)),
                );
                Err(e)
            }
        }
    }
}

/// The owner's name, for Event messages.
fn owner_name<O: PodOwner>(owner: &O) -> &str {
    owner.meta().name.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests;
