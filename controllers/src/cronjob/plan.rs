//! The pure steps of a CronJob sync (upstream `syncCronJob` and
//! `cleanupFinishedJobs`, without their I/O): which Jobs are the CronJob's,
//! which finished ones history cleanup deletes, how the Jobs change
//! `status.active` and `lastSuccessfulTime`, and whether to start a Job now —
//! the Job itself, the Jobs it replaces, and when to look again.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;

use super::schedule::Schedule;
use super::times::{self, Missed};
use super::{CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION, ConcurrencyPolicy};
use capstan_runtime::ownership::{Owner, controller_of};

/// An Event to record on the CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJobEvent {
    /// `Warning` (true) or `Normal`.
    pub warning: bool,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

impl CronJobEvent {
    /// A `Normal` Event.
    pub fn normal(reason: &'static str, message: String) -> Self {
        Self {
            warning: false,
            reason,
            message,
        }
    }

    /// A `Warning` Event.
    pub fn warning(reason: &'static str, message: String) -> Self {
        Self {
            warning: true,
            reason,
            message,
        }
    }
}

/// The condition that finished a Job (`Complete` or `Failed`, True), if any
/// (upstream `getFinishedStatus`).
pub fn finished_condition(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// Whether the Job finished (completed or failed).
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

/// The Jobs of `cronjob` among those of its namespace: the ones whose
/// controller reference names it (upstream `getJobsToBeReconciled`, whatever
/// their labels say now).
pub fn jobs_of<'a>(cronjob: &CronJob, jobs: &[&'a Job]) -> Vec<&'a Job> {
    let name = cronjob.name_any();
    jobs.iter()
        .copied()
        .filter(|j| controller_of(*j).is_some_and(|r| r.kind == "CronJob" && r.name == name))
        .collect()
}

fn active(status: &CronJobStatus) -> &[ObjectReference] {
    status.active.as_deref().unwrap_or_default()
}

fn in_active_list(status: &CronJobStatus, uid: &str) -> bool {
    active(status).iter().any(|r| r.uid.as_deref() == Some(uid))
}

/// Removes the Job `uid` from `status.active` (upstream `deleteFromActiveList`).
pub fn delete_from_active_list(status: &mut CronJobStatus, uid: &str) {
    if let Some(a) = status.active.as_mut() {
        a.retain(|r| r.uid.as_deref() != Some(uid));
    }
}

/// The finished Jobs history cleanup deletes (upstream `cleanupFinishedJobs`):
/// beyond `successfulJobsHistoryLimit` completed and `failedJobsHistoryLimit`
/// failed ones, the oldest by start time first (then by name; never-started
/// ones last).
pub fn history_to_delete<'a>(cronjob: &CronJob, jobs: &[&'a Job]) -> Vec<&'a Job> {
    let spec = cronjob.spec.as_ref();
    let mut out = Vec::new();
    for (kind, limit) in [
        (
            "Complete",
            spec.and_then(|s| s.successful_jobs_history_limit),
        ),
        ("Failed", spec.and_then(|s| s.failed_jobs_history_limit)),
    ] {
        let Some(limit) = limit else { continue };
        let mut finished: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished_condition(j) == Some(kind))
            .collect();
        let keep = usize::try_from(limit).unwrap_or(0);
        if finished.len() <= keep {
            continue;
        }
        finished.sort_by(|a, b| {
            let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.clone());
            match (start(a), start(b)) {
                (Some(x), Some(y)) if x != y => x.0.cmp(&y.0),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => a.name_any().cmp(&b.name_any()),
            }
        });
        let excess = finished.len() - keep;
        out.extend(finished.into_iter().take(excess));
    }
    out
}

/// The Jobs `status.active` lists that the cache does not hold: the shell asks
/// the API server whether they are really gone.
pub fn active_not_cached(status: &CronJobStatus, jobs: &[&Job]) -> Vec<ObjectReference> {
    let cached: BTreeSet<&str> = jobs
        .iter()
        .filter_map(|j| j.metadata.uid.as_deref())
        .collect();
    active(status)
        .iter()
        .filter(|r| !r.uid.as_deref().is_some_and(|u| cached.contains(u)))
        .cloned()
        .collect()
}

/// The unfinished Jobs `status.active` does not list: the shell re-reads the
/// CronJob before calling them unexpected (the cached status may lag).
pub fn unlisted_running(status: &CronJobStatus, jobs: &[&Job]) -> bool {
    jobs.iter().any(|j| {
        !is_finished(j) && !in_active_list(status, j.metadata.uid.as_deref().unwrap_or_default())
    })
}

/// Brings `status` up to date with the Jobs (upstream `syncCronJob`'s first
/// half): finished ones leave `active` (`SawCompletedJob`), the latest
/// completion sets `lastSuccessfulTime`, unlisted running ones are reported
/// (`UnexpectedJob`), and listed ones the API server does not have (`missing`,
/// by UID) leave `active` (`MissingJob`). Returns the Events and whether the
/// status changed.
pub fn reconcile_jobs(
    status: &mut CronJobStatus,
    jobs: &[&Job],
    missing: &BTreeSet<String>,
) -> (Vec<CronJobEvent>, bool) {
    let mut events = Vec::new();
    let mut changed = false;
    for j in jobs {
        let uid = j.metadata.uid.as_deref().unwrap_or_default();
        let found = in_active_list(status, uid);
        let finished = finished_condition(j);
        match finished {
            None if !found => events.push(CronJobEvent::warning(
                "UnexpectedJob",
                format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    j.name_any()
                ),
            )),
            Some(condition) if found => {
                delete_from_active_list(status, uid);
                events.push(CronJobEvent::normal(
                    "SawCompletedJob",
                    format!("Saw completed job: {}, status: {condition}", j.name_any()),
                ));
                changed = true;
            }
            _ => {}
        }
        if finished == Some("Complete") {
            let completed = j.status.as_ref().and_then(|s| s.completion_time.clone());
            let last = status.last_successful_time.as_ref().map(|t| t.0);
            if let Some(c) = completed
                && last.is_none_or(|l| c.0 > l)
            {
                status.last_successful_time = Some(c);
                changed = true;
            }
        }
    }
    for r in active(status).to_vec() {
        let uid = r.uid.as_deref().unwrap_or_default();
        if missing.contains(uid) {
            events.push(CronJobEvent::normal(
                "MissingJob",
                format!(
                    "Active job went missing: {}",
                    r.name.as_deref().unwrap_or_default()
                ),
            ));
            delete_from_active_list(status, uid);
            changed = true;
        }
    }
    (events, changed)
}

/// A Job to start now.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// The scheduled time it runs for (`status.lastScheduleTime` once created).
    pub scheduled: Timestamp,
    /// The Job to create.
    pub job: Job,
    /// The running Jobs to delete first (`concurrencyPolicy: Replace`).
    pub replace: Vec<ObjectReference>,
    /// When to look again once it is created.
    pub requeue_after: Option<Duration>,
}

/// What the schedule asks for now (upstream `syncCronJob`'s second half).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStep {
    /// Events to record whatever happens.
    pub events: Vec<CronJobEvent>,
    /// The Job to start, if any.
    pub start: Option<Start>,
    /// When to look again if nothing starts (`None`: not until the CronJob or
    /// one of its Jobs changes).
    pub requeue_after: Option<Duration>,
}

impl ScheduleStep {
    fn wait(events: Vec<CronJobEvent>, requeue_after: Option<Duration>) -> Self {
        Self {
            events,
            start: None,
            requeue_after,
        }
    }
}

/// The time zone the CronJob's schedule is read in: `spec.timeZone`, else the
/// controller's local zone (upstream reads schedules without a zone in the
/// kube-controller-manager's local time). An unknown zone is an Event's message.
pub fn schedule_zone(cronjob: &CronJob) -> Result<TimeZone, String> {
    match cronjob.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        Some(name) => TimeZone::get(name).map_err(|_| format!("unknown time zone {name}")),
        None => Ok(TimeZone::system()),
    }
}

/// The CronJob's schedule parsed in its zone.
pub fn parse_schedule(cronjob: &CronJob, tz: TimeZone) -> Result<Schedule, String> {
    let spec = cronjob.spec.as_ref().map_or("", |s| s.schedule.as_str());
    Schedule::parse(spec, tz).map_err(|e| e.to_string())
}

/// Decides whether to start a Job at `now` for a CronJob whose `status` the
/// Jobs have already updated ([`reconcile_jobs`]).
pub fn plan_schedule(cronjob: &CronJob, now: Timestamp) -> ScheduleStep {
    if cronjob.metadata.deletion_timestamp.is_some() {
        return ScheduleStep::wait(Vec::new(), None);
    }
    let spec = cronjob.spec.clone().unwrap_or_default();
    let tz = match schedule_zone(cronjob) {
        Ok(tz) => tz,
        Err(e) => {
            let name = spec.time_zone.as_deref().unwrap_or_default();
            return ScheduleStep::wait(
                vec![CronJobEvent::warning(
                    "UnknownTimeZone",
                    format!("invalid timeZone: {name:?}: {e}"),
                )],
                None,
            );
        }
    };
    if spec.suspend == Some(true) {
        return ScheduleStep::wait(Vec::new(), None);
    }
    let mut events = Vec::new();
    if spec.schedule.contains("TZ") {
        events.push(CronJobEvent::warning(
            "UnsupportedSchedule",
            format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, see \
                 https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more \
                 details",
                spec.schedule
            ),
        ));
    }
    let schedule = match parse_schedule(cronjob, tz) {
        Ok(s) => s,
        Err(e) => {
            events.push(CronJobEvent::warning(
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            ));
            return ScheduleStep::wait(events, None);
        }
    };
    let next = || times::next_schedule_delay(cronjob, now, &schedule);
    let (scheduled, missed) = match times::next_schedule_time(cronjob, now, &schedule) {
        Err(e) => {
            events.push(CronJobEvent::warning(
                "InvalidSchedule",
                format!("invalid schedule: {} : {e}", spec.schedule),
            ));
            return ScheduleStep::wait(events, None);
        }
        Ok(None) => return ScheduleStep::wait(events, next()),
        Ok(Some(found)) => found,
    };
    if missed == Missed::Many {
        events.push(CronJobEvent::warning(
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check \
             clock skew"
                .to_string(),
        ));
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        let too_late = scheduled
            .checked_add(jiff::SignedDuration::from_secs(deadline))
            .is_ok_and(|t| t < now);
        if too_late {
            events.push(CronJobEvent::warning(
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")
                ),
            ));
            return ScheduleStep::wait(events, next());
        }
    }
    let status = cronjob.status.clone().unwrap_or_default();
    let name = job_name(cronjob, scheduled);
    let processed = active(&status)
        .iter()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || status.last_schedule_time.as_ref().map(|t| t.0) == Some(scheduled);
    if processed {
        return ScheduleStep::wait(events, next());
    }
    let policy = ConcurrencyPolicy::of(cronjob);
    if policy == ConcurrencyPolicy::Forbid && !active(&status).is_empty() {
        events.push(CronJobEvent::normal(
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid"
                .to_string(),
        ));
        return ScheduleStep::wait(events, next());
    }
    let replace = if policy == ConcurrencyPolicy::Replace {
        active(&status).to_vec()
    } else {
        Vec::new()
    };
    let Some(job) = job_from_template(cronjob, scheduled) else {
        return ScheduleStep::wait(events, None);
    };
    // The next wake as if the Job were created (lastScheduleTime = scheduled).
    let mut after = cronjob.clone();
    after.status.get_or_insert_default().last_schedule_time = Some(Time(scheduled));
    let requeue_after = times::next_schedule_delay(&after, now, &schedule);
    ScheduleStep {
        events,
        start: Some(Start {
            scheduled,
            job,
            replace,
            requeue_after,
        }),
        requeue_after: None,
    }
}

/// The name of the Job for `scheduled`: `<cronjob>-<minutes since the epoch>`
/// (upstream `getJobName`), the same for every attempt at that time.
pub fn job_name(cronjob: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cronjob.name_any(),
        scheduled.as_second().div_euclid(60)
    )
}

/// `t` as Go's `time.RFC3339` prints it in `tz` (`Z` for a zero offset).
pub fn rfc3339_in(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The Job the CronJob starts for `scheduled` (upstream `getJobFromTemplate2`):
/// the template's labels, annotations and spec, the scheduled time in the
/// `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation (RFC 3339 in
/// `spec.timeZone`, UTC without one), and the CronJob as controller. `None`
/// when the CronJob has no name or UID yet.
pub fn job_from_template(cronjob: &CronJob, scheduled: Timestamp) -> Option<Job> {
    let spec = cronjob.spec.as_ref()?;
    let template = spec.job_template.metadata.clone().unwrap_or_default();
    let tz = spec
        .time_zone
        .as_deref()
        .and_then(|n| TimeZone::get(n).ok())
        .unwrap_or(TimeZone::UTC);
    let mut annotations = template.annotations.unwrap_or_default();
    annotations.insert(
        CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        rfc3339_in(scheduled, &tz),
    );
    let owner = Owner::of(cronjob).ok()?;
    Some(Job {
        metadata: ObjectMeta {
            name: Some(job_name(cronjob, scheduled)),
            namespace: cronjob.metadata.namespace.clone(),
            labels: template.labels,
            annotations: Some(annotations),
            creation_timestamp: Some(Time(scheduled)),
            owner_references: Some(vec![owner.controller_ref()]),
            ..ObjectMeta::default()
        },
        spec: spec.job_template.spec.clone(),
        status: None,
    })
}

/// The reference `status.active` keeps to a created Job (upstream `getRef`).
pub fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_string()),
        kind: Some("Job".to_string()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobStatus, JobTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    const CREATED: &str = "2024-01-01T09:58:30Z";

    /// A CronJob running every minute with `policy`, created at [`CREATED`].
    fn cronjob(policy: &str) -> CronJob {
        let mut cj = CronJob::default();
        cj.metadata.name = Some("tick".into());
        cj.metadata.namespace = Some("default".into());
        cj.metadata.uid = Some("cj-uid".into());
        cj.metadata.creation_timestamp = Some(Time(ts(CREATED)));
        cj.spec = Some(CronJobSpec {
            schedule: "* * * * *".into(),
            time_zone: Some("Etc/UTC".into()),
            concurrency_policy: Some(policy.into()),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_string(), "tick".to_string())].into()),
                    ..ObjectMeta::default()
                }),
                spec: Some(Default::default()),
            },
            ..CronJobSpec::default()
        });
        cj
    }

    fn job(name: &str, finished: Option<&str>, start: Option<&str>) -> Job {
        let mut j = Job::default();
        j.metadata.name = Some(name.into());
        j.metadata.namespace = Some("default".into());
        j.metadata.uid = Some(format!("{name}-uid"));
        j.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "batch/v1".into(),
            kind: "CronJob".into(),
            name: "tick".into(),
            uid: "cj-uid".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        j.status = Some(JobStatus {
            start_time: start.map(|s| Time(ts(s))),
            completion_time: (finished == Some("Complete"))
                .then(|| Time(ts("2024-01-01T10:00:30Z"))),
            conditions: finished.map(|f| {
                vec![JobCondition {
                    type_: f.into(),
                    status: "True".into(),
                    ..JobCondition::default()
                }]
            }),
            ..JobStatus::default()
        });
        j
    }

    fn with_active(mut cj: CronJob, jobs: &[&Job]) -> CronJob {
        cj.status.get_or_insert_default().active = Some(jobs.iter().map(|j| job_ref(j)).collect());
        cj
    }

    #[test]
    fn a_due_time_starts_a_job_named_by_its_minute() {
        let now = ts("2024-01-01T10:00:05Z");
        let step = plan_schedule(&cronjob("Allow"), now);
        let start = step.start.expect("a job to start");
        assert_eq!(start.scheduled, ts("2024-01-01T10:00:00Z"));
        // 2024-01-01T10:00:00Z is 1704103200 s, 28401720 minutes, after the epoch.
        assert_eq!(start.job.metadata.name.as_deref(), Some("tick-28401720"));
        let annotations = start.job.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-01-01T10:00:00Z"
        );
        assert_eq!(
            start.job.metadata.labels,
            Some([("app".to_string(), "tick".to_string())].into())
        );
        let owner = &start.job.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "cj-uid", Some(true))
        );
        assert!(start.replace.is_empty());
        assert_eq!(
            start.requeue_after,
            Some(Duration::from_millis(55_100)),
            "looks again 100 ms after 10:01"
        );
        // Already started (lastScheduleTime): nothing more until 10:01.
        let mut done = cronjob("Allow");
        done.status.get_or_insert_default().last_schedule_time = Some(Time(start.scheduled));
        let step = plan_schedule(&done, now);
        assert!(step.start.is_none());
        assert_eq!(step.requeue_after, Some(Duration::from_millis(55_100)));
    }

    #[test]
    fn the_annotation_is_in_the_cronjobs_time_zone() {
        let mut cj = cronjob("Allow");
        cj.spec.as_mut().unwrap().time_zone = Some("Europe/Berlin".into());
        let job = job_from_template(&cj, ts("2024-07-01T10:00:00Z")).expect("job");
        assert_eq!(
            job.metadata.annotations.unwrap()[CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-07-01T12:00:00+02:00"
        );
    }

    #[test]
    fn concurrency_policies_decide_about_a_running_job() {
        let now = ts("2024-01-01T10:01:02Z");
        let running = job("tick-28401720", None, Some("2024-01-01T10:00:00Z"));
        let last = |mut cj: CronJob| {
            cj.status.get_or_insert_default().last_schedule_time =
                Some(Time(ts("2024-01-01T10:00:00Z")));
            with_active(cj, &[&running])
        };
        let allow = plan_schedule(&last(cronjob("Allow")), now);
        let start = allow.start.expect("Allow starts another");
        assert!(start.replace.is_empty());

        let forbid = plan_schedule(&last(cronjob("Forbid")), now);
        assert!(forbid.start.is_none());
        assert_eq!(
            forbid.events,
            [CronJobEvent::normal(
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is \
                 Forbid"
                    .into()
            )]
        );
        assert_eq!(forbid.requeue_after, Some(Duration::from_millis(58_100)));

        let replace = plan_schedule(&last(cronjob("Replace")), now);
        let start = replace.start.expect("Replace starts the new one");
        assert_eq!(start.replace, [job_ref(&running)]);
        assert_eq!(start.job.metadata.name.as_deref(), Some("tick-28401721"));
    }

    #[test]
    fn suspended_deleting_or_broken_cronjobs_start_nothing() {
        let now = ts("2024-01-01T10:00:05Z");
        let mut suspended = cronjob("Allow");
        suspended.spec.as_mut().unwrap().suspend = Some(true);
        assert_eq!(
            plan_schedule(&suspended, now),
            ScheduleStep::wait(vec![], None)
        );

        let mut zone = cronjob("Allow");
        zone.spec.as_mut().unwrap().time_zone = Some("Mars/Olympus".into());
        let step = plan_schedule(&zone, now);
        assert!(step.start.is_none());
        assert_eq!(step.events[0].reason, "UnknownTimeZone");
        assert_eq!(
            step.events[0].message,
            "invalid timeZone: \"Mars/Olympus\": unknown time zone Mars/Olympus"
        );

        let mut bad = cronjob("Allow");
        bad.spec.as_mut().unwrap().schedule = "61 * * * *".into();
        let step = plan_schedule(&bad, now);
        assert_eq!(
            step.events,
            [CronJobEvent::warning(
                "UnparseableSchedule",
                "unparseable schedule: \"61 * * * *\" : end of range (61) above maximum (59): 61"
                    .into()
            )]
        );
        assert_eq!(step.requeue_after, None);
    }

    #[test]
    fn too_many_missed_times_warn_and_start_the_latest() {
        // Created 2 days earlier: thousands of minutes missed.
        let now = ts("2024-01-03T10:00:05Z");
        let step = plan_schedule(&cronjob("Allow"), now);
        assert_eq!(step.events[0].reason, "TooManyMissedTimes");
        assert_eq!(
            step.start.expect("the latest starts").scheduled,
            ts("2024-01-03T10:00:00Z")
        );
        // With a starting deadline only the window counts: no warning.
        let mut bounded = cronjob("Allow");
        bounded.spec.as_mut().unwrap().starting_deadline_seconds = Some(30);
        let step = plan_schedule(&bounded, now);
        assert!(step.events.is_empty(), "{:?}", step.events);
        assert!(step.start.is_some());
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let mut cj = cronjob("Allow");
        let spec = cj.spec.as_mut().unwrap();
        spec.successful_jobs_history_limit = Some(1);
        spec.failed_jobs_history_limit = Some(0);
        let ok_old = job("ok-1", Some("Complete"), Some("2024-01-01T10:00:00Z"));
        let ok_new = job("ok-2", Some("Complete"), Some("2024-01-01T10:01:00Z"));
        let failed = job("bad", Some("Failed"), Some("2024-01-01T10:00:30Z"));
        let running = job("run", None, Some("2024-01-01T09:00:00Z"));
        let all = [&ok_new, &running, &failed, &ok_old];
        let names: Vec<String> = history_to_delete(&cj, &all)
            .iter()
            .map(|j| j.name_any())
            .collect();
        assert_eq!(names, ["ok-1", "bad"]);
        // Without limits nothing is deleted.
        assert!(history_to_delete(&cronjob("Allow"), &all).is_empty());
    }

    #[test]
    fn jobs_update_active_and_last_successful_time() {
        let done = job("done", Some("Complete"), Some("2024-01-01T10:00:00Z"));
        let stray = job("stray", None, None);
        let gone = job("gone", None, None);
        let cj = with_active(cronjob("Allow"), &[&done, &gone]);
        let mut status = cj.status.clone().unwrap();
        let jobs = [&done, &stray];
        assert_eq!(active_not_cached(&status, &jobs), [job_ref(&gone)]);
        assert!(unlisted_running(&status, &jobs));
        let missing = BTreeSet::from(["gone-uid".to_string()]);
        let (events, changed) = reconcile_jobs(&mut status, &jobs, &missing);
        assert!(changed);
        let reasons: Vec<&str> = events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["SawCompletedJob", "UnexpectedJob", "MissingJob"]);
        assert_eq!(
            events[0].message,
            "Saw completed job: done, status: Complete"
        );
        assert_eq!(status.active, Some(vec![]));
        assert_eq!(
            status.last_successful_time,
            Some(Time(ts("2024-01-01T10:00:30Z")))
        );
        // Nothing new: nothing changes.
        let (events, changed) = reconcile_jobs(&mut status, &[&done], &BTreeSet::new());
        assert!(!changed && events.is_empty());
    }
}
