//! The TTL-after-finished controller's shell (upstream `Controller`): the Job
//! informer's additions and updates of finished Jobs with a TTL feed the
//! `ttl_jobs_to_delete` queue; a sync deletes an expired Job after checking a
//! fresh read, or requeues it for the time left.

use crate::util::queued::QueuedController;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors;
use capstan_runtime::informer::{EventHandlerFns, InformerError, Lister, SharedInformerFactory};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::{Api, Client};

use super::expiry::{ExpiryError, Ttl, time_left};

/// Errors of one Job's sync; the Job is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Job finished without a time to count from.
    #[error(transparent)]
    Expiry(#[from] ExpiryError),
    /// Reading the Job fresh failed (other than `NotFound`).
    #[error("reading job {job}: {source}")]
    Get {
        /// The Job, as `namespace/name`.
        job: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting the Job failed (other than `NotFound`).
    #[error("deleting job {job}: {source}")]
    Delete {
        /// The Job, as `namespace/name`.
        job: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// The reconciler of finished Jobs' time to live (upstream `processJob`).
pub struct TtlReconciler {
    client: Client,
    jobs: Lister<Job>,
    clock: SharedClock,
}

/// What a check of one copy of the Job asks for.
fn check(job: &Job, now: jiff::Timestamp) -> Result<Option<Action>, ReconcileError> {
    Ok(match time_left(job, now)? {
        Ttl::NotApplicable => Some(Action::Done),
        Ttl::Remaining(d) => Some(Action::RequeueAfter(d)),
        Ttl::Expired(_) => None,
    })
}

impl Reconciler for TtlReconciler {
    type Error = ReconcileError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let Some(cached) = self.jobs.get_key(&key) else {
            return Ok(Action::Done);
        };
        if let Some(action) = check(&cached, self.clock.now())? {
            return Ok(action);
        }
        // The cached TTL may be stale: decide again on the stored Job.
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or_default());
        let fresh = match api.get(key.name()).await {
            Ok(j) => j,
            Err(e) if errors::is_not_found(&e) => return Ok(Action::Done),
            Err(source) => {
                return Err(ReconcileError::Get {
                    job: key.to_string(),
                    source,
                });
            }
        };
        if let Some(action) = check(&fresh, self.clock.now())? {
            return Ok(action);
        }
        tracing::debug!(job = %key, "cleaning up job");
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: fresh.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(key.name(), &params).await {
            Ok(_) => Ok(Action::Done),
            Err(e) if errors::is_not_found(&e) => Ok(Action::Done),
            Err(source) => Err(ReconcileError::Delete {
                job: key.to_string(),
                source,
            }),
        }
    }
}

/// Settings of a [`TtlAfterFinishedController`].
#[derive(Debug, Clone)]
pub struct TtlAfterFinishedControllerConfig {
    /// Concurrent syncs (`--concurrent-ttl-after-finished-syncs`, default 5).
    pub workers: usize,
    /// The clock expiry is measured by.
    pub clock: SharedClock,
}

impl Default for TtlAfterFinishedControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's TTL-after-finished controller on a shared
/// informer factory.
pub type TtlAfterFinishedController = QueuedController<TtlReconciler>;

/// Whether a Job event is worth a sync (upstream `needsCleanup` on a Job not
/// being deleted).
fn needs_cleanup(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_none()
        && job
            .spec
            .as_ref()
            .is_some_and(|s| s.ttl_seconds_after_finished.is_some())
        && matches!(super::expiry::finish_time(job), Ok(Some(_)) | Err(_))
}

impl TtlAfterFinishedController {
    /// Builds the controller on the Job informer of `factory`, deleting through
    /// `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &TtlAfterFinishedControllerConfig,
    ) -> Result<Self, InformerError> {
        let jobs = factory.informer::<Job>();
        let synced = jobs.synced_check();
        let controller = ControllerBuilder::new("ttl_jobs_to_delete")
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(TtlReconciler {
                client,
                jobs: jobs.lister(),
                clock: config.clock.clone(),
            });
        let (q1, q2) = (controller.queue(), controller.queue());
        jobs.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |job: Arc<Job>, _| {
                    if needs_cleanup(&job) {
                        q1.add(ObjectKey::of(&*job));
                    }
                })
                .on_update(move |_, job: Arc<Job>| {
                    if needs_cleanup(&job) {
                        q2.add(ObjectKey::of(&*job));
                    }
                }),
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}
