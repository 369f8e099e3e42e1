//! Performs a StatefulSet sync's writes (upstream `StatefulPodControl` and
//! `StatefulSetStatusUpdater`): claims created before their pod, pods created and
//! deleted under expectations through the shared [`PodControl`] (worded as
//! upstream's StatefulSet words its Events), claims' owner references and pods'
//! identities rewritten, and the status written through the [`StatusWriter`].

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::errors;
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::PostParams;
use kube::{Api, Client};

use super::plan::{ClaimWork, ReplicaStep, SyncPlan};
use super::status::unchanged;
use crate::util::pod_control::{EventWording, PodControl, PodControlError, PodRef};

/// Upstream `recordPodEvent`'s wording.
const STATEFUL_POD_WORDING: EventWording = EventWording {
    created: |pod, set| format!("create Pod {pod} in StatefulSet {set} successful"),
    create_failed: |pod, set, e| format!("create Pod {pod} in StatefulSet {set} failed error: {e}"),
    deleted: |pod, set| format!("delete Pod {pod} in StatefulSet {set} successful"),
    delete_failed: |pod, set, e| format!("delete Pod {pod} in StatefulSet {set} failed error: {e}"),
};

/// Errors of performing a sync's writes; the set is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Creating or deleting pods failed.
    #[error(transparent)]
    Pods(#[from] PodControlError),
    /// Creating or updating a claim failed.
    #[error("{verb} PersistentVolumeClaim {claim}: {source}")]
    Claim {
        /// `create` or `update`.
        verb: &'static str,
        /// The claim's name.
        claim: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A claim the pod needs is being deleted: the pod waits for it to go.
    #[error("pvc {0} is being deleted")]
    ClaimBeingDeleted(String),
    /// Rewriting a pod's identity or volumes failed.
    #[error("update Pod {pod}: {source}")]
    PodUpdate {
        /// The pod's name.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Performs StatefulSet syncs' writes through a client.
#[derive(Clone)]
pub struct StatefulSetActions {
    client: Client,
    pods: PodControl,
    status: StatusWriter<StatefulSet>,
    recorder: Option<Recorder>,
}

fn name_of<K: kube::Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

impl StatefulSetActions {
    /// A performer writing through `client`, tracking pod `expectations` (shared
    /// with the event handlers), recording Events when given a recorder.
    pub fn new(
        client: Client,
        expectations: Arc<UidTrackingExpectations<ObjectKey>>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            pods: PodControl::new(client.clone(), expectations, recorder.clone())
                .with_wording(STATEFUL_POD_WORDING),
            status: StatusWriter::new(client.clone()).skip_when(unchanged),
            client,
            recorder,
        }
    }

    /// Whether the set `key` may act on its pods: every creation and deletion it
    /// made is in the cache. Ask before reading the pod cache.
    pub fn expectations_satisfied(&self, key: &ObjectKey) -> bool {
        self.pods.satisfied(key)
    }

    /// Forgets the expectations of a deleted set.
    pub fn forget(&self, key: &ObjectKey) {
        self.pods.expectations().delete_expectations(key);
    }

    fn event(&self, set: &StatefulSet, type_: EventType, reason: &str, message: &str) {
        if let Some(r) = &self.recorder {
            r.record_for(set, type_, reason, message, "");
        }
    }

    /// Performs `plan`'s writes phase by phase, stopping at the first failing
    /// phase (upstream returns from `updateStatefulSet` on the first error).
    pub async fn perform(&self, set: &StatefulSet, plan: &SyncPlan) -> Result<(), ActionError> {
        self.replicas(set, &plan.replicas).await?;
        self.update_claims(&plan.condemned_claims).await?;
        self.pods.delete_pods(set, &plan.condemned).await?;
        if let Some(pod) = &plan.update {
            self.pods
                .delete_pods(set, std::slice::from_ref(pod))
                .await?;
        }
        Ok(())
    }

    /// Phase 1: failed pods deleted, claims then pods created (the pods in
    /// slow-start batches), drifted pods and claims rewritten.
    async fn replicas(&self, set: &StatefulSet, steps: &[ReplicaStep]) -> Result<(), ActionError> {
        let mut first_err: Option<ActionError> = None;
        let mut failed: Vec<PodRef> = Vec::new();
        let mut to_create: Vec<Pod> = Vec::new();
        for step in steps {
            let outcome = match step {
                ReplicaStep::DeleteFailed(p) => {
                    failed.push(p.clone());
                    Ok(())
                }
                ReplicaStep::Create { pod, claims } => {
                    let done = self.claims(set, claims).await;
                    if done.is_ok() {
                        to_create.push((**pod).clone());
                    }
                    done
                }
                ReplicaStep::Claims(claims) => self.claims(set, claims).await,
                ReplicaStep::Repair { pod, claims } => {
                    self.repair(set, pod.as_deref(), claims).await
                }
            };
            if let Err(e) = outcome {
                first_err.get_or_insert(e);
            }
        }
        let deleted = self.pods.delete_pods(set, &failed).await;
        let (_, created) = self.pods.create_pods_from(set, &to_create).await;
        match first_err {
            Some(e) => Err(e),
            None => {
                deleted?;
                created?;
                Ok(())
            }
        }
    }

    /// A pod's claims: creates the missing ones and rewrites the references of
    /// the others; refuses a pod whose claim is being deleted.
    async fn claims(&self, set: &StatefulSet, work: &ClaimWork) -> Result<(), ActionError> {
        let mut first_err = None;
        for claim in &work.create {
            if let Err(e) = self.create_claim(set, &work.pod, claim).await {
                first_err.get_or_insert(e);
            }
        }
        if let Some(name) = work.being_deleted.first() {
            let err = ActionError::ClaimBeingDeleted(name.clone());
            self.pod_event(set, &work.pod, "create", Some(&err.to_string()));
            first_err.get_or_insert(err);
        }
        if let Err(e) = self.update_claims(&work.update).await {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn create_claim(
        &self,
        set: &StatefulSet,
        pod_name: &str,
        claim: &PersistentVolumeClaim,
    ) -> Result<(), ActionError> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(
            self.client.clone(),
            claim.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let (claim_name, set_name) = (name_of(claim), name_of(set));
        match api.create(&PostParams::default(), claim).await {
            Ok(_) => {
                self.event(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!(
                        "create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"
                    ),
                );
                Ok(())
            }
            // The cache lags: the claim is there, as wanted.
            Err(e) if errors::is_already_exists(&e) => Ok(()),
            Err(e) => {
                self.event(
                    set,
                    EventType::Warning,
                    "FailedCreate",
                    &format!(
                        "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                        errors::message(&e)
                    ),
                );
                Err(ActionError::Claim {
                    verb: "create",
                    claim: claim_name,
                    source: e,
                })
            }
        }
    }

    /// Rewrites claims' owner references (a stale cache fails with a conflict;
    /// the next sync retries).
    async fn update_claims(&self, claims: &[PersistentVolumeClaim]) -> Result<(), ActionError> {
        for claim in claims {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(
                self.client.clone(),
                claim.metadata.namespace.as_deref().unwrap_or_default(),
            );
            let name = name_of(claim);
            match api.replace(&name, &PostParams::default(), claim).await {
                Ok(_) => {}
                Err(e) if errors::is_not_found(&e) => {}
                Err(source) => {
                    return Err(ActionError::Claim {
                        verb: "update",
                        claim: name,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Upstream `UpdateStatefulPod`: the pod's claims, then the pod itself when its
    /// identity or volumes changed, with a `SuccessfulUpdate`/`FailedUpdate` Event.
    async fn repair(
        &self,
        set: &StatefulSet,
        pod: Option<&Pod>,
        claims: &ClaimWork,
    ) -> Result<(), ActionError> {
        self.claims(set, claims).await?;
        let Some(pod) = pod else {
            return Ok(());
        };
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or_default(),
        );
        let name = name_of(pod);
        match api.replace(&name, &PostParams::default(), pod).await {
            Ok(_) => {
                self.pod_event(set, &name, "update", None);
                Ok(())
            }
            Err(source) => {
                self.pod_event(set, &name, "update", Some(&errors::message(&source)));
                Err(ActionError::PodUpdate { pod: name, source })
            }
        }
    }

    /// Upstream `recordPodEvent` for `verb` (`create`, `update`).
    fn pod_event(&self, set: &StatefulSet, pod_name: &str, verb: &str, error: Option<&str>) {
        let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
        let set_name = name_of(set);
        match error {
            None => self.event(
                set,
                EventType::Normal,
                &format!("Successful{title}"),
                &format!("{verb} Pod {pod_name} in StatefulSet {set_name} successful"),
            ),
            Some(e) => self.event(
                set,
                EventType::Warning,
                &format!("Failed{title}"),
                &format!("{verb} Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
            ),
        }
    }

    /// Writes `status` unless it changes nothing upstream writes for.
    pub async fn write_status(
        &self,
        set: &StatefulSet,
        status: &StatefulSetStatus,
    ) -> Result<(), kube::Error> {
        self.status.write(set, status).await.map(|_| ())
    }
}
