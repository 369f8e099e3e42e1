//! The Job controller's shell on capstan-runtime (upstream `job.Controller`):
//! informers for Jobs and Pods, a `job` work queue fed by the [`super::events`]
//! reactions, a reconcile doing what upstream's `syncJob` does with the pure
//! steps of [`super::plan`], [`super::status`] and [`super::tracking`], and a
//! second queue, `job_orphan_pod`, removing the tracking finalizer of pods no
//! Job will count (upstream `syncOrphanPod`).

use capstan_runtime::controller::synced_all;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{
    Action, Controller, ControllerBuilder, ControllerError, Reconciler, SyncCheck,
};
use capstan_runtime::errors;
use capstan_runtime::expectations::UidTrackingExpectations;
use capstan_runtime::informer::{
    CONTROLLER_UID_INDEX, DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX,
    SharedInformer, SharedInformerFactory,
};
use capstan_runtime::ownership::{ControllerRefManager, OwnershipError, controller_of};
use capstan_runtime::queue::{ItemExponentialFailureRateLimiter, WorkQueue};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::actions::JobActions;
use super::backoff::BackoffStore;
use super::events::{self, Reaction};
use super::metrics;
use super::plan::{PodsPlan, SyncInput, analyze, plan_pods};
use super::pods::has_tracking_finalizer;
use super::status::{AfterManage, JobEvent, after_manage};
use super::tracking::{
    FinalizerExpectations, TrackingInput, clean_uncounted, enact_finished, plan_tracking,
    remove_finalizer_patch,
};
use super::{JOB_API_BACKOFF, JOB_CONTROLLER, JOB_TRACKING_FINALIZER, SYNC_JOB_BATCH_PERIOD, spec};
use crate::replicaset::controller::{ORPHAN_POD_INDEX, PodOwnerParts, SetupError};
use crate::util::pod_control::PodControlError;

/// Errors of one Job sync; the Job is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Job's selector is not a valid label selector.
    #[error("couldn't convert Job selector: {0}")]
    Selector(#[source] OwnershipError),
    /// Adopting or releasing pods failed.
    #[error("claiming pods: {0}")]
    Claim(#[source] OwnershipError),
    /// Creating or deleting pods failed (the status was still tracked).
    #[error(transparent)]
    Manage(#[from] PodControlError),
    /// Writing the Job's status failed (a conflict when the cache is stale).
    #[error("tracking status: {0}")]
    Status(#[source] kube::Error),
    /// Removing tracking finalizers failed (the partial progress was written).
    #[error("removing tracking finalizers: {0}")]
    Finalizers(#[source] kube::Error),
}

/// Errors of removing an orphan pod's finalizer.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    /// The patch failed (other than `NotFound`).
    #[error("removing the tracking finalizer of orphan pod {pod}: {source}")]
    Patch {
        /// The pod, as `namespace/name`.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// The queue's handle for a reconcile that asks for a later sync (upstream's
/// `queue.AddAfter` from inside `syncJob`); set once the controller is built.
type QueueCell = Arc<OnceLock<WorkQueue<ObjectKey>>>;

/// The reconciler of Jobs (upstream `syncJob`).
pub struct JobReconciler {
    client: Client,
    jobs: Lister<Job>,
    pods: Lister<Pod>,
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    finalizers: Arc<FinalizerExpectations>,
    backoff: Arc<BackoffStore>,
    actions: JobActions,
    clock: SharedClock,
    queue: QueueCell,
}

impl JobReconciler {
    fn add_after(&self, key: &ObjectKey, delay: Duration) {
        if let Some(q) = self.queue.get() {
            q.add_after(key.clone(), delay);
        }
    }

    /// The pods the Job manages (upstream `getPodsForJob`): those it controls
    /// and the matching orphans of its namespace, claimed — adopted ones get the
    /// tracking finalizer, also in the returned copies.
    async fn pods_for_job(&self, job: &Job) -> Result<Vec<Arc<Pod>>, ReconcileError> {
        let Some(selector) = spec::spec(job).selector.as_ref() else {
            return Ok(Vec::new());
        };
        let selector = ControllerRefManager::<Pod>::selector_from(selector)
            .map_err(ReconcileError::Selector)?;
        let uid = job.metadata.uid.as_deref().unwrap_or_default();
        let ns = job.metadata.namespace.as_deref().unwrap_or_default();
        let mut candidates = self
            .pods
            .by_index(CONTROLLER_UID_INDEX, uid)
            .unwrap_or_default();
        candidates.extend(self.pods.by_index(ORPHAN_POD_INDEX, ns).unwrap_or_default());
        let manager = ControllerRefManager::<Pod>::new(self.client.clone(), job, selector)
            .map_err(ReconcileError::Claim)?
            .with_finalizers(&[JOB_TRACKING_FINALIZER]);
        let claimed = manager
            .claim(candidates, |_| true)
            .await
            .into_result()
            .map_err(ReconcileError::Claim)?;
        Ok(claimed
            .into_iter()
            .map(|p| {
                let adopted = !p
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid);
                if adopted && !has_tracking_finalizer(&p) {
                    let mut copy = (*p).clone();
                    copy.metadata
                        .finalizers
                        .get_or_insert_default()
                        .push(JOB_TRACKING_FINALIZER.to_string());
                    Arc::new(copy)
                } else {
                    p
                }
            })
            .collect())
    }

    /// The tracking step (upstream `trackJobStatusAndRemoveFinalizers`): write
    /// the uncounted pods and interim conditions, remove finalizers, count what
    /// was removed, and declare the Job finished when nothing is left.
    async fn track(
        &self,
        key: &ObjectKey,
        ctx: &super::plan::JobCtx<'_>,
        after: AfterManage,
    ) -> Result<(), ReconcileError> {
        let now = ctx.now;
        let input = TrackingInput {
            job: &after.job,
            pods: ctx.pods,
            expected_removed: ctx.expected_removed,
            uncounted: &ctx.uncounted,
            finished: after.finished.clone(),
            prev_succeeded_indexes: &ctx.prev_succeeded_indexes,
            succeeded_indexes: &ctx.succeeded_indexes,
            failed_indexes: ctx.failed_indexes.as_ref(),
            delayed_deletion: &ctx.delayed_deletion,
            needs_flush: after.needs_status_update,
            now,
        };
        let plan = plan_tracking(&input);
        tracing::debug!(job = %key, flush = plan.needs_flush, removals = plan.remove_finalizers.len(), "tracking");
        let mut job = after.job.clone();
        job.status = Some(plan.status.clone());
        // The counters as last written (upstream's `oldCounters`).
        let mut written = spec::status(&after.job);
        if plan.needs_flush {
            job = self
                .actions
                .write_status(&after.job, &plan.status)
                .await
                .map_err(ReconcileError::Status)?;
            self.backoff.update(key, ctx.backoff);
            metrics::record_pods_finished(&job, &written);
            written = spec::status(&job);
        }
        metrics::record_failure_policy_actions(&plan.policy_actions);
        let (removed, rm_err) = self
            .actions
            .remove_finalizers(key, &plan.remove_finalizers)
            .await;
        let mut with_finalizer = plan.uids_with_finalizer.clone();
        for (p, ok) in plan.remove_finalizers.iter().zip(removed) {
            if ok {
                with_finalizer.remove(&p.uid);
            }
        }
        let mut status = spec::status(&job);
        let mut flush = clean_uncounted(&mut status, &with_finalizer);
        if let Some(e) = rm_err {
            if flush {
                let stored = self
                    .actions
                    .write_status(&job, &status)
                    .await
                    .map_err(ReconcileError::Status)?;
                metrics::record_pods_finished(&stored, &written);
            }
            return Err(ReconcileError::Finalizers(e));
        }
        let finished = !plan.reached_max_uncounted
            && enact_finished(&mut status, plan.finished.as_ref(), after.terminating, now);
        flush |= finished;
        if flush {
            let stored = self
                .actions
                .write_status(&job, &status)
                .await
                .map_err(ReconcileError::Status)?;
            if finished && let Some(cond) = &plan.finished {
                self.actions.record_finished(&stored, cond);
                metrics::record_finished(&stored, cond);
            }
            metrics::record_pods_finished(&stored, &written);
        }
        Ok(())
    }

    /// One sync of a Job managed here (upstream `syncJob` after its early
    /// returns); sets `action` to what it did to the pods (for the metrics).
    async fn sync(
        &self,
        key: &ObjectKey,
        job: &Job,
        action: &mut &'static str,
    ) -> Result<(), ReconcileError> {
        // Asked before the pods are read: see `JobActions::needs_sync`.
        let satisfied = self.actions.needs_sync(key);
        let claimed = self.pods_for_job(job).await?;
        let pods: Vec<&Pod> = claimed.iter().map(|p| &**p).collect();
        let expected_removed = self.finalizers.expected(key);
        let input = SyncInput {
            job,
            pods: &pods,
            expectations_satisfied: satisfied,
            expected_removed: &expected_removed,
            backoff: self.backoff.get(key),
            now: self.clock.now(),
        };
        let ctx = analyze(&input);
        if let Some(after) = ctx.requeue_after {
            self.add_after(key, after);
        }
        let plan = plan_pods(&ctx);
        *action = sync_action(job, &plan);
        if let PodsPlan::Wait(d) = plan {
            self.add_after(key, d.max(SYNC_JOB_BATCH_PERIOD));
        }
        let (outcome, manage) = self.actions.perform_pods(&ctx.job, &plan).await;
        tracing::debug!(job = %key, ?outcome, "pods managed");
        if let PodsPlan::Create(_) = plan {
            metrics::record_pods_created(
                metrics::creation_reason(job, ctx.failed, ctx.terminating),
                u64::try_from(outcome.created).unwrap_or(0),
                u64::try_from(outcome.failed_creates).unwrap_or(0),
            );
        }
        let after = after_manage(&ctx, &plan, &outcome);
        for e in &after.events {
            self.actions.record(&ctx.job, e);
        }
        self.track(key, &ctx, after).await?;
        manage?;
        Ok(())
    }
}

/// What a sync did to the pods, as upstream's metrics name it: `manageJob`'s
/// result (a suspended Job's sync deletes pods even when none is left), else
/// `reconciling` (expectations pending, or a finishing Job's pods deleted).
fn sync_action(job: &Job, plan: &PodsPlan) -> &'static str {
    match plan {
        PodsPlan::Skip | PodsPlan::DeleteActive(_) => metrics::ACTION_RECONCILING,
        PodsPlan::Create(_) | PodsPlan::Wait(_) => metrics::ACTION_PODS_CREATED,
        PodsPlan::Delete(_) => metrics::ACTION_PODS_DELETED,
        PodsPlan::Nothing if spec::is_suspended(job) => metrics::ACTION_PODS_DELETED,
        PodsPlan::Nothing => metrics::ACTION_TRACKING,
    }
}

impl Reconciler for JobReconciler {
    type Error = ReconcileError;

    /// One sync of the Job named by `key` (see the [module](super) documentation).
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let key = &key;
        let Some(job) = self.jobs.get_key(key) else {
            tracing::debug!(job = %key, "job has been deleted");
            self.expectations.delete_expectations(key);
            self.finalizers.forget(key);
            self.backoff.remove(key);
            return Ok(Action::Done);
        };
        if let Some(other) = spec::managed_by_other(&job) {
            tracing::debug!(job = %key, controller = other, "skipping a job managed by another controller");
            return Ok(Action::Done);
        }
        if spec::is_finished(&job) {
            self.backoff.remove(key);
            return Ok(Action::Done);
        }
        if !spec::known_completion_mode(&job) {
            self.actions.record(
                &job,
                &JobEvent {
                    normal: false,
                    reason: "UnknownCompletionMode",
                    message: "Skipped Job sync because completion mode is unknown".into(),
                },
            );
            return Ok(Action::Done);
        }
        let started = Instant::now();
        let mut action = metrics::ACTION_RECONCILING;
        let result = self.sync(key, &job, &mut action).await;
        metrics::record_sync(&job, result.is_ok(), action, started.elapsed());
        result.map(|()| Action::Done)
    }
}

/// The reconciler of orphan pods' tracking finalizers (upstream
/// `syncOrphanPod`): removes the finalizer unless a live, unfinished Job
/// managed here controls the pod.
pub struct OrphanPodReconciler {
    client: Client,
    jobs: Lister<Job>,
    pods: Lister<Pod>,
}

impl Reconciler for OrphanPodReconciler {
    type Error = OrphanError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, OrphanError> {
        let Some(pod) = self.pods.get_key(&key) else {
            return Ok(Action::Done);
        };
        if let Some(r) = controller_of(&*pod) {
            if r.kind != "Job" || r.api_version != "batch/v1" {
                return Ok(Action::Done);
            }
            let jobs = self
                .jobs
                .by_index(NAMESPACE_INDEX, key.namespace().unwrap_or_default())
                .unwrap_or_default();
            let refs: Vec<&Job> = jobs.iter().map(|j| &**j).collect();
            let job = capstan_runtime::ownership::resolve_controller_ref(
                pod.metadata.namespace.as_deref(),
                r,
                &refs,
            );
            if let Some(job) = job
                && (spec::managed_by_other(job).is_some() || !spec::is_finished(job))
            {
                // Another controller's, or adopted: not an orphan.
                return Ok(Action::Done);
            }
        }
        if !has_tracking_finalizer(&pod) {
            return Ok(Action::Done);
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or_default());
        match api
            .patch(
                key.name(),
                &PatchParams::default(),
                &Patch::Strategic(remove_finalizer_patch()),
            )
            .await
        {
            Ok(_) => Ok(Action::Done),
            Err(e) if errors::is_not_found(&e) => Ok(Action::Done),
            Err(source) => Err(OrphanError::Patch {
                pod: key.to_string(),
                source,
            }),
        }
    }
}

/// Settings of a [`JobController`].
#[derive(Debug, Clone)]
pub struct JobControllerConfig {
    /// Concurrent syncs (`--concurrent-job-syncs`, default 5).
    pub workers: usize,
    /// The instance name events are reported from.
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The clock syncs read `now` from (and expectations expire by).
    pub clock: SharedClock,
}

impl Default for JobControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's Job controller on a shared informer factory. Start
/// the factory (before or after building) and [`run`](Self::run).
pub struct JobController {
    jobs: Controller<JobReconciler>,
    orphans: Controller<OrphanPodReconciler>,
    synced: SyncCheck,
}

fn rate_limited(name: &str) -> ControllerBuilder {
    let (base, max) = JOB_API_BACKOFF;
    ControllerBuilder::new(name)
        .rate_limiter(Arc::new(ItemExponentialFailureRateLimiter::new(base, max)))
}

impl JobController {
    /// Builds the controller: takes the Job and Pod informers from `factory`
    /// (registering the pod indexes and event handlers) and writes through
    /// `client`. Call inside a tokio runtime (the event recorder spawns its
    /// writer).
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &JobControllerConfig,
    ) -> Result<Self, SetupError> {
        let job_informer = factory.informer::<Job>();
        let PodOwnerParts {
            pods: pod_informer,
            expectations,
            recorder,
        } = PodOwnerParts::new(
            factory,
            &client,
            (JOB_CONTROLLER, &config.instance, config.record_events),
            &config.clock,
        )?;
        let finalizers = Arc::new(FinalizerExpectations::default());
        let queue_cell: QueueCell = Arc::new(OnceLock::new());
        let reconciler = JobReconciler {
            client: client.clone(),
            jobs: job_informer.lister(),
            pods: pod_informer.lister(),
            expectations: expectations.clone(),
            finalizers: finalizers.clone(),
            backoff: Arc::new(BackoffStore::default()),
            actions: JobActions::new(
                client.clone(),
                expectations.clone(),
                finalizers.clone(),
                recorder,
            ),
            clock: config.clock.clone(),
            queue: queue_cell.clone(),
        };
        let synced = synced_all([job_informer.synced_check(), pod_informer.synced_check()]);
        let jobs = rate_limited("job")
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        let _ = queue_cell.set(jobs.queue());
        let orphans = rate_limited("job_orphan_pod")
            .workers(1)
            .wait_for(synced.clone())
            .build(OrphanPodReconciler {
                client,
                jobs: job_informer.lister(),
                pods: pod_informer.lister(),
            });
        let wiring = Wiring {
            expectations,
            finalizers,
            queue: jobs.queue(),
            orphans: orphans.queue(),
            clock: config.clock.clone(),
        };
        wiring.register(&job_informer, &pod_informer)?;
        Ok(Self {
            jobs,
            orphans,
            synced,
        })
    }

    /// True once the informer caches this controller reads have synced.
    pub fn synced_check(&self) -> SyncCheck {
        self.synced.clone()
    }

    /// The Job work queue (for tests and metrics).
    pub fn queue(&self) -> WorkQueue<ObjectKey> {
        self.jobs.queue()
    }

    /// Runs the Job workers and the orphan-pod worker until `shutdown`
    /// completes (waiting for the caches to sync first).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let orphans = tokio::spawn(self.orphans.run(stopped(rx.clone())));
        let jobs = self.jobs.run(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let result = jobs.await;
        let orphan_result = orphans.await.unwrap_or(Ok(()));
        result.and(orphan_result)
    }
}

/// What the event handlers share: the expectations they lower and the queues
/// they feed.
struct Wiring {
    expectations: Arc<UidTrackingExpectations<ObjectKey>>,
    finalizers: Arc<FinalizerExpectations>,
    queue: WorkQueue<ObjectKey>,
    orphans: WorkQueue<ObjectKey>,
    clock: SharedClock,
}

impl Wiring {
    /// Applies a reaction: expectations first (so the sync the queue hands out
    /// sees them), then the queues.
    fn apply(&self, r: Reaction) {
        if let Some(key) = &r.creation_observed {
            self.expectations.creation_observed(key);
        }
        for (key, pod) in &r.deletions_observed {
            self.expectations.deletion_observed(key, pod);
        }
        for (key, uid) in &r.finalizer_removals_observed {
            self.finalizers.removal_observed(key, uid);
        }
        let mut seen = HashSet::new();
        for key in r.enqueue {
            seen.insert(key.clone());
            self.queue.add(key);
        }
        for (key, delay) in r.enqueue_after {
            if !seen.contains(&key) {
                self.queue.add_after(key, delay);
            }
        }
        for key in r.orphans {
            self.orphans.add(key);
        }
    }

    /// Wires informer events to the reactions.
    fn register(
        self,
        job_informer: &SharedInformer<Job>,
        pod_informer: &SharedInformer<Pod>,
    ) -> Result<(), InformerError> {
        let this = Arc::new(self);
        let jobs = job_informer.lister();
        let pods = pod_informer.lister();
        let jobs_of = move |ns: Option<&str>| -> Vec<Arc<Job>> {
            jobs.by_index(NAMESPACE_INDEX, ns.unwrap_or_default())
                .unwrap_or_default()
        };
        // The pods a Job controls (only they can carry its finalizer).
        let pods_of = move |job: &Job| -> Vec<Arc<Pod>> {
            pods.by_index(
                CONTROLLER_UID_INDEX,
                job.metadata.uid.as_deref().unwrap_or_default(),
            )
            .unwrap_or_default()
        };
        let on_pods = {
            let (w1, w2, w3) = (this.clone(), this.clone(), this.clone());
            let (j1, j2, j3) = (jobs_of.clone(), jobs_of.clone(), jobs_of.clone());
            EventHandlerFns::new()
                .on_add(move |pod: Arc<Pod>, _| {
                    metrics::record_tracking_finalizer(None, Some(&pod));
                    let jobs = j1(pod.metadata.namespace.as_deref());
                    let jobs: Vec<&Job> = jobs.iter().map(|j| &**j).collect();
                    w1.apply(events::pod_added(&pod, &jobs));
                })
                .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                    metrics::record_tracking_finalizer(Some(&old), Some(&new));
                    let jobs = j2(new.metadata.namespace.as_deref());
                    let jobs: Vec<&Job> = jobs.iter().map(|j| &**j).collect();
                    w2.apply(events::pod_updated(&old, &new, &jobs));
                })
                .on_delete(move |gone: DeletedObject<Pod>| {
                    let pod = gone.last_state();
                    metrics::record_tracking_finalizer(Some(pod), None);
                    let jobs = j3(pod.metadata.namespace.as_deref());
                    let jobs: Vec<&Job> = jobs.iter().map(|j| &**j).collect();
                    w3.apply(events::pod_deleted(pod, &jobs, true));
                })
        };
        pod_informer.add_event_handler(on_pods)?;
        let on_jobs = {
            let (w1, w2, w3) = (this.clone(), this.clone(), this);
            let (p2, p3) = (pods_of.clone(), pods_of);
            EventHandlerFns::new()
                .on_add(move |job: Arc<Job>, _| w1.apply(events::job_added(&job)))
                .on_update(move |old: Arc<Job>, new: Arc<Job>| {
                    let pods = if spec::is_finished(&new) {
                        p2(&new)
                    } else {
                        Vec::new()
                    };
                    let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
                    let now = w2.clock.now();
                    w2.apply(events::job_updated(&old, &new, &pods, now));
                })
                .on_delete(move |gone: DeletedObject<Job>| {
                    let job = gone.last_state();
                    let pods = p3(job);
                    let pods: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
                    w3.apply(events::job_deleted(job, &pods));
                })
        };
        job_informer.add_event_handler(on_jobs)?;
        Ok(())
    }
}
