//! The counters move as upstream's do. The registry is process-wide and tests
//! may share a process, so each test reads the change of the series it moves.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::JobStatus;

use super::*;
use crate::job::conditions::{FAILED as FAILED_CONDITION, new_condition};
use crate::job::testing::{failed_pod, indexed_job, job, succeeded_pod, tracked};
use crate::util::testing::{at, pod};

fn value(vec: &IntCounterVec, labels: &[&str]) -> u64 {
    vec.with_label_values(labels).get()
}

/// Runs `f` and answers how much the series `labels` of `vec` grew.
fn growth(vec: &IntCounterVec, labels: &[&str], f: impl FnOnce()) -> u64 {
    let before = value(vec, labels);
    f();
    value(vec, labels) - before
}

#[test]
fn syncs_are_counted_and_timed_by_mode_result_and_action() {
    let j = job("m-sync", Some(2), 1);
    let labels = ["NonIndexed", SYNC_SUCCESS, ACTION_PODS_CREATED];
    let timed = SYNC_DURATION.with_label_values(&labels);
    let (count, sum) = (timed.get_sample_count(), timed.get_sample_sum());
    let n = growth(&SYNCS, &labels, || {
        record_sync(&j, true, ACTION_PODS_CREATED, Duration::from_millis(30));
    });
    assert_eq!(n, 1);
    assert_eq!(timed.get_sample_count(), count + 1);
    assert!((timed.get_sample_sum() - sum - 0.03).abs() < 1e-9);
    let ix = indexed_job("m-sync-ix", 2, 2);
    let errors = ["Indexed", SYNC_ERROR, ACTION_RECONCILING];
    let n = growth(&SYNCS, &errors, || {
        record_sync(&ix, false, ACTION_RECONCILING, Duration::ZERO);
    });
    assert_eq!(n, 1);
}

#[test]
fn finished_jobs_are_counted_by_result_and_reason() {
    let j = job("m-fin", Some(1), 1);
    let complete = new_condition(COMPLETE, "True", "CompletionsReached", "", at(5));
    let ok = ["NonIndexed", SUCCEEDED, "CompletionsReached"];
    assert_eq!(
        growth(&JOBS_FINISHED, &ok, || record_finished(&j, &complete)),
        1
    );
    let failed = new_condition(FAILED_CONDITION, "True", "BackoffLimitExceeded", "", at(5));
    let bad = ["NonIndexed", FAILED, "BackoffLimitExceeded"];
    assert_eq!(
        growth(&JOBS_FINISHED, &bad, || record_finished(&j, &failed)),
        1
    );
}

#[test]
fn finished_pods_are_the_growth_of_the_written_counters() {
    let mut j = job("m-pods", Some(5), 5);
    let old = JobStatus {
        succeeded: Some(1),
        failed: None,
        ..Default::default()
    };
    j.status = Some(JobStatus {
        succeeded: Some(3),
        failed: Some(1),
        ..Default::default()
    });
    let ok = ["NonIndexed", SUCCEEDED];
    let bad = ["NonIndexed", FAILED];
    let (s0, f0) = (value(&PODS_FINISHED, &ok), value(&PODS_FINISHED, &bad));
    record_pods_finished(&j, &old);
    assert_eq!(value(&PODS_FINISHED, &ok) - s0, 2);
    assert_eq!(value(&PODS_FINISHED, &bad) - f0, 1);
    // Nothing changed: nothing counted.
    let same = spec::status(&j);
    let (s0, f0) = (value(&PODS_FINISHED, &ok), value(&PODS_FINISHED, &bad));
    record_pods_finished(&j, &same);
    assert_eq!(
        (value(&PODS_FINISHED, &ok), value(&PODS_FINISHED, &bad)),
        (s0, f0)
    );
}

#[test]
fn an_indexed_jobs_finished_pods_are_its_new_completed_indexes() {
    let mut j = indexed_job("m-ix", 4, 4);
    let old = JobStatus {
        completed_indexes: Some("0".into()),
        ..Default::default()
    };
    // Index 7 is beyond completions: not counted.
    j.status = Some(JobStatus {
        completed_indexes: Some("0-2,7".into()),
        succeeded: Some(3),
        ..Default::default()
    });
    let ok = ["Indexed", SUCCEEDED];
    assert_eq!(
        growth(&PODS_FINISHED, &ok, || record_pods_finished(&j, &old)),
        2
    );
}

#[test]
fn failure_policy_actions_are_counted_per_action() {
    let by_action = BTreeMap::from([("Ignore", 2), ("FailJob", 1)]);
    let before = (
        value(&POLICY_ACTIONS, &["Ignore"]),
        value(&POLICY_ACTIONS, &["FailJob"]),
    );
    record_failure_policy_actions(&by_action);
    assert_eq!(value(&POLICY_ACTIONS, &["Ignore"]) - before.0, 2);
    assert_eq!(value(&POLICY_ACTIONS, &["FailJob"]) - before.1, 1);
}

#[test]
fn terminal_pods_with_the_finalizer_are_counted_in_and_out() {
    let running = tracked(pod("m-fz"));
    let done = tracked(succeeded_pod(pod("m-fz")));
    let released = succeeded_pod(pod("m-fz"));
    let failed = tracked(failed_pod(pod("m-fz2"), 1));
    let add = [FINALIZER_ADD];
    let delete = [FINALIZER_DELETE];
    let (a0, d0) = (
        value(&TRACKING_FINALIZERS, &add),
        value(&TRACKING_FINALIZERS, &delete),
    );
    // Running → Succeeded with the finalizer: add; finalizer removed: delete.
    record_tracking_finalizer(Some(&running), Some(&done));
    record_tracking_finalizer(Some(&done), Some(&released));
    // Added already failed with it, then deleted: add, delete.
    record_tracking_finalizer(None, Some(&failed));
    record_tracking_finalizer(Some(&failed), None);
    // No change of state: nothing.
    record_tracking_finalizer(Some(&running), Some(&running));
    record_tracking_finalizer(None, Some(&released));
    assert_eq!(value(&TRACKING_FINALIZERS, &add) - a0, 2);
    assert_eq!(value(&TRACKING_FINALIZERS, &delete) - d0, 2);
}

#[test]
fn creations_are_counted_by_reason_and_status() {
    let j = job("m-create", Some(3), 3);
    assert_eq!(creation_reason(&j, 0, 0), CREATE_NEW);
    assert_eq!(creation_reason(&j, 1, 0), RECREATE_TERMINATING_OR_FAILED);
    assert_eq!(creation_reason(&j, 0, 2), RECREATE_TERMINATING_OR_FAILED);
    let mut failed_only = j.clone();
    failed_only.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
    assert_eq!(creation_reason(&failed_only, 1, 0), RECREATE_FAILED);
    assert_eq!(
        creation_reason(&failed_only, 0, 1),
        RECREATE_TERMINATING_OR_FAILED
    );
    let ok = [CREATE_NEW, SUCCEEDED];
    let bad = [CREATE_NEW, FAILED];
    let (s0, f0) = (value(&PODS_CREATED, &ok), value(&PODS_CREATED, &bad));
    record_pods_created(CREATE_NEW, 3, 1);
    assert_eq!(value(&PODS_CREATED, &ok) - s0, 3);
    assert_eq!(value(&PODS_CREATED, &bad) - f0, 1);
}

#[test]
fn the_metrics_are_served_under_upstreams_names() {
    record_sync(
        &job("m-names", Some(1), 1),
        true,
        ACTION_TRACKING,
        Duration::ZERO,
    );
    record_pods_created(CREATE_NEW, 1, 0);
    let text = capstan_runtime::metrics::render();
    for name in [
        "job_controller_job_sync_duration_seconds_bucket",
        "job_controller_job_syncs_total",
        "job_controller_job_pods_creation_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}
