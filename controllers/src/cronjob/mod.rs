//! The CronJob controller (upstream `pkg/controller/cronjob`, the v2
//! controller): Jobs from a CronJob's template at the times its cron schedule
//! names.
//!
//! A sync of one CronJob (upstream `sync`, performed by [`controller`]) is:
//!
//! 1. read the CronJob and the Jobs it controls from the caches
//!    ([`plan::jobs_of`]);
//! 2. history cleanup ([`plan::history_to_delete`]): delete the oldest finished
//!    Jobs beyond `successfulJobsHistoryLimit` and `failedJobsHistoryLimit`
//!    (`SuccessfulDelete`/`FailedDelete`);
//! 3. [`plan::reconcile_jobs`]: finished Jobs leave `status.active`
//!    (`SawCompletedJob`), the latest completion is `lastSuccessfulTime`, running
//!    Jobs missing from `active` are reported (`UnexpectedJob`, after a fresh
//!    read of the CronJob), listed Jobs the API server no longer has leave it
//!    (`MissingJob`);
//! 4. [`plan::plan_schedule`] at the clock's `now`: nothing while deleting or
//!    suspended; the schedule ([`schedule`]) in `spec.timeZone`; the most recent
//!    unmet time within `startingDeadlineSeconds` ([`times`]: older missed ones
//!    are dropped, more than 100 is `TooManyMissedTimes`); skipped when already
//!    started, or under `Forbid` while a Job runs (`JobAlreadyActive`); under
//!    `Replace` the running Jobs are deleted first; the Job is
//!    `<cronjob>-<scheduled minutes since the epoch>`;
//! 5. create it (`SuccessfulCreate`), add it to `active`, set
//!    `lastScheduleTime`, write the status, and requeue for the next scheduled
//!    time.
//!
//! Steps 2–4 decide without I/O and take `now` as a value.

pub mod controller;
pub mod plan;
pub mod schedule;
pub mod times;

use k8s_openapi::api::batch::v1::CronJob;

pub use controller::{CronJobController, CronJobControllerConfig};

/// The component Events are reported under (upstream's `cronjob-controller`).
pub const CRONJOB_CONTROLLER: &str = "cronjob-controller";

/// The annotation on a CronJob's Jobs holding their scheduled time (RFC 3339 in
/// the CronJob's time zone).
pub const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION: &str =
    "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// `spec.concurrencyPolicy`: what to do when a Job is due while another runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    /// Run them side by side (the default).
    Allow,
    /// Skip the new one.
    Forbid,
    /// Delete the running ones and start the new one.
    Replace,
}

impl ConcurrencyPolicy {
    /// The CronJob's policy (`Allow` when unset or unknown).
    pub fn of(cronjob: &CronJob) -> Self {
        match cronjob
            .spec
            .as_ref()
            .and_then(|s| s.concurrency_policy.as_deref())
        {
            Some("Forbid") => Self::Forbid,
            Some("Replace") => Self::Replace,
            _ => Self::Allow,
        }
    }
}
