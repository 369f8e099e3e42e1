//! The Job controller (upstream `pkg/controller/job`): pods for `batch/v1`
//! Jobs until enough of them succeed, or the Job fails.
//!
//! A sync of one Job (upstream `syncJob`, performed by [`controller`]) is:
//!
//! 1. read the Job from the cache (gone → forget its expectations and backoff;
//!    finished, managed by another controller or of an unknown completion mode →
//!    nothing), ask whether its pod expectations are satisfied, then claim its
//!    pods (adopting orphans with the `batch.kubernetes.io/job-tracking` finalizer);
//! 2. [`plan::analyze`] → a [`plan::JobCtx`]: the counts (status counters plus
//!    the finished pods not counted yet, `uncountedTerminatedPods`, completed and
//!    failed indexes), the new backoff record, and the condition that finishes the
//!    Job, if any — the pod failure policy ([`failure_policy`]), `backoffLimit`,
//!    `activeDeadlineSeconds`, `maxFailedIndexes`, the success policy
//!    ([`success_policy`]);
//! 3. [`plan::plan_pods`] → what to do to the pods: delete the active ones of a
//!    finishing Job, or (expectations satisfied) upstream's `manageJob` — delete
//!    every active pod of a suspended Job, delete the surplus, or create the
//!    missing pods in slow-start batches ([`pods`] builds them: indexes, hostnames,
//!    the tracking finalizer), waiting out the pod-failure backoff
//!    ([`backoff`]); at most 500 creations or deletions per sync;
//! 4. [`actions::JobActions`] performs it; [`status::after_manage`] turns the
//!    outcome into the counts to write, the completion decision and the
//!    `Suspended` condition;
//! 5. [`tracking::plan_tracking`] → the pods whose finalizer may go, their UIDs added to
//!    `status.uncountedTerminatedPods` and written *before* their finalizers are
//!    removed, then counted into `succeeded`/`failed` once removed; the interim
//!    `SuccessCriteriaMet`/`FailureTarget` condition is written first, and the
//!    terminal `Complete`/`Failed` one only when no pod is uncounted or
//!    terminating (the two-step finish).
//!
//! Everything but steps 1 and 4's I/O is pure and takes `now` as a value.

pub mod actions;
pub mod backoff;
pub mod conditions;
pub mod controller;
pub mod events;
pub mod failure_policy;
pub mod indexed;
pub mod metrics;
pub mod plan;
pub mod pods;
pub mod spec;
pub mod status;
pub mod success_policy;
pub mod tracking;

#[cfg(test)]
mod testing;

use std::time::Duration;

pub use controller::{JobController, JobControllerConfig};

/// The finalizer the controller puts on every pod it creates or adopts and
/// removes once the pod is counted in the Job's status (upstream
/// `batch.JobTrackingFinalizer`).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// The annotation (and label) holding an Indexed Job pod's completion index.
pub const JOB_COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// The annotation counting the failed pods of an index before this one
/// (`backoffLimitPerIndex`).
pub const JOB_INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";

/// The annotation counting the failures of an index the pod failure policy
/// ignored.
pub const JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION: &str =
    "batch.kubernetes.io/job-index-ignored-failure-count";

/// The value of `spec.managedBy` (or its absence) that leaves a Job to this
/// controller (upstream `batch.JobControllerName`).
pub const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

/// The environment variable carrying the completion index into an Indexed Job's
/// containers.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The component Events are reported under and the queue's name.
pub const JOB_CONTROLLER: &str = "job-controller";

/// Upstream `DefaultJobPodFailureBackOff`: the delay before recreating a pod
/// after the first failure, doubled for each further consecutive one.
pub const DEFAULT_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);

/// Upstream `MaxJobPodFailureBackOff`.
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(600);

/// Upstream `MaxUncountedPods`: at most this many UIDs in
/// `status.uncountedTerminatedPods` (and finalizer removals) per sync.
pub const MAX_UNCOUNTED_PODS: usize = 500;

/// Upstream `MaxPodCreateDeletePerSync`.
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;

/// Upstream `syncJobBatchPeriod`: pod events and status-only Job updates sync the
/// Job after this delay, batching bursts of events into one sync.
pub const SYNC_JOB_BATCH_PERIOD: Duration = Duration::from_secs(1);

/// Upstream `DefaultJobApiBackOff` and `MaxJobApiBackOff`: the queue's per-key
/// backoff after a failed sync.
pub const JOB_API_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
