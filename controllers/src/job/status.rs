//! The Job's status after the pod writes of a sync (upstream `syncJob` after
//! `manageJob`): the `active`/`ready`/`terminating` counts, whether the Job
//! completed, and the `Suspended` condition with the `startTime` reset of a
//! resumed Job.

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::conditions::{
    self, MESSAGE_COMPLETIONS_REACHED, REASON_COMPLETIONS_REACHED, SUCCESS_CRITERIA_MET, SUSPENDED,
};
use super::plan::{JobCtx, PodsPlan};
use super::spec;
use super::tracking::nonzero;

/// What the pod writes of a sync achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManageOutcome {
    /// Pods deleted (a `NotFound` counts as deleted).
    pub deleted: i32,
    /// Ready pods among them.
    pub deleted_ready: i32,
    /// Pods created.
    pub created: i32,
    /// Pod creations attempted that failed.
    pub failed_creates: i32,
}

/// An Event to record on the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// `Normal` (true) or `Warning`.
    pub normal: bool,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// The status after the pod writes.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterManage {
    /// The Job with `active`, `ready`, `terminating`, the `Suspended` condition
    /// and `startTime` updated.
    pub job: Job,
    /// The condition finishing the Job, if it still does.
    pub finished: Option<JobCondition>,
    /// Terminating pods, those deleted in this sync included.
    pub terminating: i32,
    /// Whether the counts or conditions changed (the status must be written).
    pub needs_status_update: bool,
    /// Events to record (`Suspended`, `Resumed`).
    pub events: Vec<JobEvent>,
}

/// The status after performing `plan` with `outcome` (see the
/// [module](self) documentation).
pub fn after_manage(ctx: &JobCtx<'_>, plan: &PodsPlan, outcome: &ManageOutcome) -> AfterManage {
    let now = ctx.now;
    let mut job = ctx.job.clone();
    let mut finished = ctx.finished.clone();
    let mut active = i32::try_from(ctx.active.len()).unwrap_or(i32::MAX);
    let mut ready = ctx.ready;
    let mut terminating = ctx.terminating;
    let mut events = Vec::new();
    let mut suspend_changed = false;
    match plan {
        PodsPlan::DeleteActive(_) => {
            if outcome.deleted != active || !ctx.expectations_satisfied {
                // Pods or their finalizers may remain, or pods may not be in the
                // cache yet: not finished in this sync.
                finished = None;
            }
            active -= outcome.deleted;
            terminating += outcome.deleted;
            ready -= outcome.deleted_ready;
        }
        PodsPlan::Delete(_) => {
            active -= outcome.deleted;
            terminating += outcome.deleted;
            ready -= outcome.deleted_ready;
        }
        PodsPlan::Create(_) => active += outcome.created,
        PodsPlan::Skip | PodsPlan::Nothing | PodsPlan::Wait(_) => {}
    }
    if !matches!(plan, PodsPlan::DeleteActive(_)) {
        let complete = match spec::completions(&job) {
            // A work queue completes when one pod succeeded and none runs.
            None => ctx.succeeded > 0 && active == 0,
            Some(c) => ctx.succeeded >= c && active == 0,
        };
        if complete {
            finished = Some(conditions::new_condition(
                SUCCESS_CRITERIA_MET,
                "True",
                REASON_COMPLETIONS_REACHED,
                MESSAGE_COMPLETIONS_REACHED,
                now,
            ));
        } else if plan.manage_called() {
            let status = job.status.get_or_insert_default();
            let list = status.conditions.get_or_insert_default();
            if spec::is_suspended(&ctx.job) {
                if conditions::ensure(
                    list,
                    SUSPENDED,
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                ) {
                    suspend_changed = true;
                    events.push(JobEvent {
                        normal: true,
                        reason: "Suspended",
                        message: "Job suspended".into(),
                    });
                }
            } else if conditions::ensure(list, SUSPENDED, "False", "JobResumed", "Job resumed", now)
            {
                suspend_changed = true;
                events.push(JobEvent {
                    normal: true,
                    reason: "Resumed",
                    message: "Job resumed".into(),
                });
                // `activeDeadlineSeconds` counts from the resumption.
                status.start_time = Some(Time(now));
            }
            if status.conditions.as_ref().is_some_and(Vec::is_empty) {
                status.conditions = None;
            }
        }
    }
    let status = job.status.get_or_insert_default();
    let needs_status_update = suspend_changed
        || nonzero(active) != status.active
        || Some(ready) != status.ready
        || Some(terminating) != status.terminating;
    status.active = nonzero(active);
    status.ready = Some(ready);
    status.terminating = Some(terminating);
    AfterManage {
        job,
        finished,
        terminating,
        needs_status_update,
        events,
    }
}
