//! The CronJob controller's shell on capstan-runtime (upstream `ControllerV2`):
//! informers for CronJobs and Jobs, a `cronjob` work queue fed by their
//! events, and a reconcile performing what the pure steps of [`super::plan`]
//! decide — history deletions, Job reads the cache cannot answer, the
//! replacement and creation of Jobs, the status write — then requeueing the
//! CronJob for its next scheduled time.

use crate::util::queued::QueuedController;
use capstan_runtime::controller::synced_all;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors;
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, NAMESPACE_INDEX, SharedInformerFactory,
};
use capstan_runtime::ownership::controller_of;
use capstan_runtime::queue::WorkQueue;
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::plan::{self, CronJobEvent, Start};
use super::{CRONJOB_CONTROLLER, times};

/// Errors of one CronJob sync; the CronJob is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the CronJob or one of its Jobs from the API server failed
    /// (other than `NotFound` for a Job).
    #[error("reading {what}: {source}")]
    Get {
        /// What was read.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting a running Job that `concurrencyPolicy: Replace` replaces failed.
    #[error("could not replace job {job}: {source}")]
    Replace {
        /// The Job, as `namespace/name`.
        job: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Creating the scheduled Job failed.
    #[error("creating job {job}: {source}")]
    Create {
        /// The Job's name.
        job: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the CronJob's status failed (a conflict when the cache is stale).
    #[error("updating cronjob status: {0}")]
    Status(#[source] kube::Error),
}

/// Records Events on CronJobs when Events are recorded at all.
#[derive(Clone)]
struct Events(Option<Recorder>);

impl Events {
    fn record(&self, cronjob: &CronJob, e: &CronJobEvent) {
        if let Some(r) = &self.0 {
            let t = if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            };
            r.record_for(cronjob, t, e.reason, &e.message, "");
        }
    }
}

/// The reconciler of CronJobs (upstream `sync`).
pub struct CronJobReconciler {
    client: Client,
    cronjobs: Lister<CronJob>,
    jobs: Lister<Job>,
    status: StatusWriter<CronJob>,
    events: Events,
    clock: SharedClock,
}

impl CronJobReconciler {
    fn jobs_api(&self, ns: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Deletes one Job of the CronJob (upstream `deleteJob`): gone from
    /// `active` and `SuccessfulDelete` when deleted (or already gone),
    /// `FailedDelete` otherwise.
    async fn delete_job(
        &self,
        cj: &mut CronJob,
        name: &str,
        uid: Option<&str>,
    ) -> Result<(), kube::Error> {
        let ns = cj.namespace().unwrap_or_default();
        match self
            .jobs_api(&ns)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => {
                let msg = format!("Deleted job: {}", errors::message(&e));
                self.events
                    .record(cj, &CronJobEvent::warning("FailedDelete", msg));
                return Err(e);
            }
        }
        if let Some(uid) = uid {
            plan::delete_from_active_list(cj.status.get_or_insert_default(), uid);
        }
        self.events.record(
            cj,
            &CronJobEvent::normal("SuccessfulDelete", format!("Deleted job {name}")),
        );
        Ok(())
    }

    /// History cleanup; whether the status changed.
    async fn cleanup(&self, cj: &mut CronJob, jobs: &[&Job]) -> bool {
        let mut changed = false;
        for job in plan::history_to_delete(cj, jobs) {
            let name = job.name_any();
            if self
                .delete_job(cj, &name, job.metadata.uid.as_deref())
                .await
                .is_ok()
            {
                changed = true;
            }
        }
        changed
    }

    /// The UIDs of Jobs `active` lists that the API server does not have.
    async fn missing_jobs(
        &self,
        cj: &CronJob,
        jobs: &[&Job],
    ) -> Result<BTreeSet<String>, ReconcileError> {
        let mut missing = BTreeSet::new();
        let status = cj.status.clone().unwrap_or_default();
        for r in plan::active_not_cached(&status, jobs) {
            let ns = r.namespace.clone().or_else(|| cj.namespace());
            let name = r.name.clone().unwrap_or_default();
            match self
                .jobs_api(ns.as_deref().unwrap_or_default())
                .get(&name)
                .await
            {
                Ok(_) => {}
                Err(e) if errors::is_not_found(&e) => {
                    missing.insert(r.uid.clone().unwrap_or_default());
                }
                Err(source) => {
                    return Err(ReconcileError::Get {
                        what: format!("job {name}"),
                        source,
                    });
                }
            }
        }
        Ok(missing)
    }

    /// Replaces the running Jobs and creates the scheduled one. `Ok(false)`
    /// when a Job of that name exists that this CronJob does not control or
    /// already lists (nothing more to do until something changes).
    async fn start(&self, cj: &mut CronJob, start: &Start) -> Result<bool, ReconcileError> {
        for r in &start.replace {
            let name = r.name.clone().unwrap_or_default();
            tracing::debug!(cronjob = %cj.name_any(), job = %name, "deleting job that was still running at next scheduled start time");
            self.delete_job(cj, &name, r.uid.as_deref())
                .await
                .map_err(|source| ReconcileError::Replace {
                    job: format!("{}/{name}", cj.namespace().unwrap_or_default()),
                    source,
                })?;
        }
        let ns = cj.namespace().unwrap_or_default();
        let api = self.jobs_api(&ns);
        let name = start.job.name_any();
        let created = match api.create(&PostParams::default(), &start.job).await {
            Ok(job) => {
                self.events.record(
                    cj,
                    &CronJobEvent::normal("SuccessfulCreate", format!("Created job {name}")),
                );
                job
            }
            Err(e) if errors::is_already_exists(&e) => {
                let job = api.get(&name).await.map_err(|source| ReconcileError::Get {
                    what: format!("job {name}"),
                    source,
                })?;
                let ours = controller_of(&job).is_some_and(|r| Some(&r.uid) == cj.uid().as_ref());
                let listed = cj
                    .status
                    .as_ref()
                    .and_then(|s| s.active.as_ref())
                    .is_some_and(|a| a.iter().any(|r| r.uid == job.metadata.uid));
                if !ours || listed {
                    return Ok(false);
                }
                tracing::info!(cronjob = %cj.name_any(), job = %name, "job already exists");
                job
            }
            // Nothing can be created in a namespace being deleted.
            Err(source) if errors::has_status_cause(&source, "NamespaceTerminating") => {
                return Err(ReconcileError::Create { job: name, source });
            }
            Err(source) => {
                let msg = format!("Error creating job: {}", errors::message(&source));
                self.events
                    .record(cj, &CronJobEvent::warning("FailedCreate", msg));
                return Err(ReconcileError::Create { job: name, source });
            }
        };
        let status = cj.status.get_or_insert_default();
        status
            .active
            .get_or_insert_default()
            .push(plan::job_ref(&created));
        status.last_schedule_time = Some(Time(start.scheduled));
        Ok(true)
    }

    /// Steps 3–5 after cleanup: the Jobs' effect on the status, the schedule,
    /// and the Job to start. Returns when to look again.
    async fn sync_cronjob(
        &self,
        cj: &mut CronJob,
        base: &mut CronJob,
        jobs: &[&Job],
        changed: &mut bool,
    ) -> Result<Option<Duration>, ReconcileError> {
        let name = cj.name_any();
        if plan::unlisted_running(&cj.status.clone().unwrap_or_default(), jobs) {
            // The cache may hold an older status than the one listing them.
            let fresh = Api::<CronJob>::namespaced(
                self.client.clone(),
                &cj.namespace().unwrap_or_default(),
            )
            .get(&name)
            .await
            .map_err(|source| ReconcileError::Get {
                what: format!("cronjob {name}"),
                source,
            })?;
            if !plan::unlisted_running(&fresh.status.clone().unwrap_or_default(), jobs) {
                // Carry on from the stored object (and write over its version).
                *base = fresh.clone();
                *cj = fresh;
            }
        }
        let missing = self.missing_jobs(cj, jobs).await?;
        let (events, status_changed) =
            plan::reconcile_jobs(cj.status.get_or_insert_default(), jobs, &missing);
        *changed |= status_changed;
        for e in &events {
            self.events.record(cj, e);
        }
        let step = plan::plan_schedule(cj, self.clock.now());
        for e in &step.events {
            self.events.record(cj, e);
        }
        let Some(start) = &step.start else {
            return Ok(step.requeue_after);
        };
        // Replacements change `active` even when the creation then fails.
        *changed |= !start.replace.is_empty();
        let started = self.start(cj, start).await?;
        *changed |= started;
        Ok(started.then_some(start.requeue_after).flatten())
    }
}

impl Reconciler for CronJobReconciler {
    type Error = ReconcileError;

    /// One sync of the CronJob named by `key` (see the [module](super)
    /// documentation).
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, ReconcileError> {
        let Some(cached) = self.cronjobs.get_key(&key) else {
            tracing::debug!(cronjob = %key, "cronjob not found, may be it is deleted");
            return Ok(Action::Done);
        };
        let in_ns = self
            .jobs
            .by_index(NAMESPACE_INDEX, key.namespace().unwrap_or_default())
            .unwrap_or_default();
        let in_ns: Vec<&Job> = in_ns.iter().map(|j| &**j).collect();
        let jobs = plan::jobs_of(&cached, &in_ns);
        let mut base = (*cached).clone();
        let mut cj = base.clone();
        let mut changed = self.cleanup(&mut cj, &jobs).await;
        let synced = self
            .sync_cronjob(&mut cj, &mut base, &jobs, &mut changed)
            .await;
        if let Err(e) = &synced {
            tracing::debug!(cronjob = %key, error = %e, "error reconciling cronjob");
        }
        if changed {
            let status = cj.status.clone().unwrap_or_default();
            self.status
                .write(&base, &status)
                .await
                .map_err(ReconcileError::Status)?;
        }
        match synced? {
            Some(after) => Ok(Action::RequeueAfter(after)),
            None => Ok(Action::Done),
        }
    }
}

/// Settings of a [`CronJobController`].
#[derive(Debug, Clone)]
pub struct CronJobControllerConfig {
    /// Concurrent syncs (`--concurrent-cron-job-syncs`, default 5).
    pub workers: usize,
    /// The instance name events are reported from.
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The clock syncs read `now` from.
    pub clock: SharedClock,
}

impl Default for CronJobControllerConfig {
    fn default() -> Self {
        Self {
            workers: 5,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
        }
    }
}

/// kube-controller-manager's CronJob controller on a shared informer factory.
/// Start the factory (before or after building) and [`run`](Self::run).
pub type CronJobController = QueuedController<CronJobReconciler>;

impl CronJobController {
    /// Builds the controller: takes the CronJob and Job informers from
    /// `factory` (registering its event handlers) and writes through `client`.
    /// Call inside a tokio runtime (the event recorder spawns its writer).
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &CronJobControllerConfig,
    ) -> Result<Self, InformerError> {
        let cronjob_informer = factory.informer::<CronJob>();
        let job_informer = factory.informer::<Job>();
        let events = Events(
            config
                .record_events
                .then(|| Recorder::new(client.clone(), CRONJOB_CONTROLLER, &config.instance)),
        );
        let reconciler = CronJobReconciler {
            client: client.clone(),
            cronjobs: cronjob_informer.lister(),
            jobs: job_informer.lister(),
            // Upstream's UpdateStatus: one PUT, a failure retries the sync.
            status: StatusWriter::new(client).with_retries(0),
            events: events.clone(),
            clock: config.clock.clone(),
        };
        let synced = synced_all([cronjob_informer.synced_check(), job_informer.synced_check()]);
        let controller = ControllerBuilder::new("cronjob")
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(reconciler);
        let queue = controller.queue();
        let handlers = Arc::new(Handlers {
            queue,
            cronjobs: cronjob_informer.lister(),
            events,
            clock: config.clock.clone(),
        });
        let (h1, h2, h3) = (handlers.clone(), handlers.clone(), handlers.clone());
        job_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |job: Arc<Job>, _| h1.enqueue_owner(&job))
                .on_update(move |old: Arc<Job>, new: Arc<Job>| {
                    if old.metadata.resource_version == new.metadata.resource_version {
                        return;
                    }
                    if controller_of(&*old) != controller_of(&*new) {
                        h2.enqueue_owner(&old);
                    }
                    h2.enqueue_owner(&new);
                })
                .on_delete(move |gone: DeletedObject<Job>| h3.enqueue_owner(gone.last_state())),
        )?;
        let (h1, h2, h3) = (handlers.clone(), handlers.clone(), handlers);
        cronjob_informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |cj: Arc<CronJob>, _| h1.queue.add(ObjectKey::of(&*cj)))
                .on_update(move |old: Arc<CronJob>, new: Arc<CronJob>| {
                    h2.cronjob_updated(&old, &new);
                })
                .on_delete(move |gone: DeletedObject<CronJob>| {
                    h3.queue.add(ObjectKey::of(&**gone.last_state()));
                }),
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// What the informer event handlers share.
struct Handlers {
    queue: WorkQueue<ObjectKey>,
    cronjobs: Lister<CronJob>,
    events: Events,
    clock: SharedClock,
}

impl Handlers {
    /// The CronJob a controller reference points at, if it is cached with that
    /// UID (upstream `resolveControllerRef`).
    fn resolve(&self, ns: Option<&str>, r: &OwnerReference) -> Option<Arc<CronJob>> {
        if r.kind != "CronJob" {
            return None;
        }
        self.cronjobs
            .get(ns.unwrap_or_default(), &r.name)
            .filter(|cj| cj.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    /// Syncs the CronJob controlling `job`, if any.
    fn enqueue_owner(&self, job: &Job) {
        if let Some(r) = controller_of(job)
            && let Some(cj) = self.resolve(job.metadata.namespace.as_deref(), r)
        {
            self.queue.add(ObjectKey::of(&*cj));
        }
    }

    /// Upstream `updateCronJob`: a new schedule or time zone moves the next
    /// sync to the next scheduled time (an unparseable one is an Event and no
    /// sync); any other change syncs now.
    fn cronjob_updated(&self, old: &CronJob, new: &CronJob) {
        let spec = |c: &CronJob| {
            c.spec
                .as_ref()
                .map(|s| (s.schedule.clone(), s.time_zone.clone()))
        };
        let key = ObjectKey::of(new);
        if spec(old) == spec(new) {
            self.queue.add(key);
            return;
        }
        let Ok(tz) = plan::schedule_zone(new) else {
            self.queue.add(key);
            return;
        };
        match plan::parse_schedule(new, tz) {
            Err(_) => {
                let schedule = new.spec.as_ref().map_or("", |s| s.schedule.as_str());
                self.events.record(
                    new,
                    &CronJobEvent::warning(
                        "UnParseableCronJobSchedule",
                        format!("unparseable schedule for cronjob: {schedule}"),
                    ),
                );
            }
            Ok(schedule) => match times::next_schedule_delay(new, self.clock.now(), &schedule) {
                Some(after) => self.queue.add_after(key, after),
                None => self.queue.add(key),
            },
        }
    }
}
