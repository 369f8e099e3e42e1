//! The sync decisions against upstream's `TestControllerSyncJob` behaviours.

use super::*;
use crate::job::conditions::{COMPLETE, FAILED, SUSPENDED, new_condition};
use crate::job::status::{ManageOutcome, after_manage};
use crate::job::testing::{
    failed_pod, failed_pod_at, indexed_job, indexed_pod, job, owned_by, succeeded_pod, tracked,
    with_condition,
};
use crate::util::testing::{at, pod, ready_pod, with_restarts};
use crate::util::time::k8s;
use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule,
};

fn mine(j: &Job, p: Pod) -> Pod {
    tracked(owned_by(p, j))
}

fn running(j: &Job, name: &str) -> Pod {
    mine(j, ready_pod(name, at(1)))
}

/// Analyzes at `at(now)` with satisfied expectations and no backoff.
fn ctx_at<'a>(
    j: &'a Job,
    pods: &'a [&'a Pod],
    empty: &'a BTreeSet<String>,
    now: i64,
) -> JobCtx<'a> {
    analyze(&SyncInput {
        job: j,
        pods,
        expectations_satisfied: true,
        expected_removed: empty,
        backoff: BackoffRecord::default(),
        now: at(now),
    })
}

/// Asserts a condition's type, reason and message.
fn assert_condition(c: &JobCondition, type_: &str, reason: &str, message: &str) {
    assert_eq!(
        (c.type_.as_str(), c.reason.as_deref(), c.message.as_deref()),
        (type_, Some(reason), Some(message))
    );
}

fn creates(plan: &PodsPlan) -> usize {
    match plan {
        PodsPlan::Create(v) => v.len(),
        other => panic!("expected creations, got {other:?}"),
    }
}

fn deletes(plan: &PodsPlan) -> Vec<String> {
    match plan {
        PodsPlan::Delete(v) | PodsPlan::DeleteActive(v) => {
            v.iter().map(|p| p.pod.name.clone()).collect()
        }
        other => panic!("expected deletions, got {other:?}"),
    }
}

#[test]
fn a_new_job_starts_and_creates_up_to_parallelism() {
    let j = job("pi", Some(5), 2);
    let e = BTreeSet::new();
    let ctx = ctx_at(&j, &[], &e, 10);
    assert_eq!(
        ctx.job.status.as_ref().unwrap().start_time,
        Some(k8s(at(10)))
    );
    assert_eq!(creates(&plan_pods(&ctx)), 2);
    // One succeeded (counted) and one running: one more.
    let mut j2 = j.clone();
    j2.status.get_or_insert_default().succeeded = Some(3);
    let r = running(&j2, "r");
    let pods = [&r];
    let ctx = ctx_at(&j2, &pods, &e, 10);
    assert_eq!(
        creates(&plan_pods(&ctx)),
        1,
        "2 completions left, 1 running, parallelism 2"
    );
}

#[test]
fn remaining_completions_bound_the_active_pods() {
    let mut j = job("pi", Some(5), 3);
    j.status.get_or_insert_default().succeeded = Some(4);
    let e = BTreeSet::new();
    let (a, b) = (running(&j, "a"), mine(&j, pod("b")));
    let pods = [&a, &b];
    let ctx = ctx_at(&j, &pods, &e, 10);
    // One completion left, two active: the pending (not ready) one goes first.
    assert_eq!(deletes(&plan_pods(&ctx)), ["b"]);
    let mut few = j.clone();
    few.status.get_or_insert_default().succeeded = Some(0);
    let ctx = ctx_at(&few, &pods, &e, 10);
    assert_eq!(creates(&plan_pods(&ctx)), 1);
}

#[test]
fn work_queue_jobs_stop_creating_after_a_success_and_complete_when_idle() {
    let j = job("wq", None, 3);
    let e = BTreeSet::new();
    let done = mine(&j, succeeded_pod(pod("done")));
    let r = running(&j, "r");
    let pods = [&done, &r];
    let ctx = ctx_at(&j, &pods, &e, 10);
    assert_eq!(ctx.succeeded, 1);
    let plan = plan_pods(&ctx);
    assert_eq!(
        plan,
        PodsPlan::Nothing,
        "running pods keep running, none added"
    );
    let after = after_manage(&ctx, &plan, &ManageOutcome::default());
    assert_eq!(after.finished, None, "a pod still runs");
    let pods = [&done];
    let ctx = ctx_at(&j, &pods, &e, 10);
    let plan = plan_pods(&ctx);
    let after = after_manage(&ctx, &plan, &ManageOutcome::default());
    let fin = after.finished.unwrap();
    assert_condition(
        &fin,
        SUCCESS_CRITERIA_MET,
        "CompletionsReached",
        "Reached expected number of succeeded pods",
    );
}

#[test]
fn pending_expectations_or_a_deleting_job_skip_pod_management() {
    let j = job("pi", Some(1), 1);
    let e = BTreeSet::new();
    let ctx = analyze(&SyncInput {
        job: &j,
        pods: &[],
        expectations_satisfied: false,
        expected_removed: &e,
        backoff: BackoffRecord::default(),
        now: at(1),
    });
    assert_eq!(plan_pods(&ctx), PodsPlan::Skip);
    let mut deleting = j.clone();
    deleting.metadata.deletion_timestamp = Some(k8s(at(1)));
    assert_eq!(plan_pods(&ctx_at(&deleting, &[], &e, 1)), PodsPlan::Skip);
}

#[test]
fn failures_back_off_ten_seconds_doubling() {
    let j = job("pi", Some(1), 1);
    let e = BTreeSet::new();
    let f = mine(&j, failed_pod_at(pod("f"), 100));
    let pods = [&f];
    let ctx = ctx_at(&j, &pods, &e, 104);
    assert_eq!(ctx.failed, 1);
    assert_eq!(ctx.backoff.failures_after_last_success, 1);
    assert_eq!(plan_pods(&ctx), PodsPlan::Wait(Duration::from_secs(6)));
    let ctx = ctx_at(&j, &pods, &e, 111);
    assert_eq!(creates(&plan_pods(&ctx)), 1);
    // A second consecutive failure: 20 s.
    let ctx = analyze(&SyncInput {
        job: &j,
        pods: &pods,
        expectations_satisfied: true,
        expected_removed: &e,
        backoff: BackoffRecord {
            failures_after_last_success: 1,
            last_failure_time: Some(at(50)),
        },
        now: at(105),
    });
    assert_eq!(plan_pods(&ctx), PodsPlan::Wait(Duration::from_secs(15)));
}

#[test]
fn exceeding_the_backoff_limit_targets_failure_and_deletes_active_pods() {
    let mut j = job("pi", Some(3), 2);
    j.spec.as_mut().unwrap().backoff_limit = Some(1);
    j.status.get_or_insert_default().failed = Some(1);
    let e = BTreeSet::new();
    let f = mine(&j, failed_pod(pod("f"), 1));
    let r = running(&j, "r");
    let pods = [&f, &r];
    let ctx = ctx_at(&j, &pods, &e, 30);
    let fin = ctx.finished.clone().unwrap();
    assert_condition(
        &fin,
        FAILURE_TARGET,
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
    let plan = plan_pods(&ctx);
    assert_eq!(deletes(&plan), ["r"]);
    // All deleted: the Job keeps finishing, the pod now terminating.
    let after = after_manage(
        &ctx,
        &plan,
        &ManageOutcome {
            deleted: 1,
            deleted_ready: 1,
            created: 0,
            failed_creates: 0,
        },
    );
    assert!(after.finished.is_some());
    assert_eq!(after.terminating, 1);
    let st = after.job.status.unwrap();
    assert_eq!(
        (st.active, st.ready, st.terminating),
        (None, Some(0), Some(1))
    );
    // A deletion failed: not finishing in this sync.
    let after = after_manage(&ctx, &plan, &ManageOutcome::default());
    assert_eq!(after.finished, None);
}

#[test]
fn container_restarts_count_against_the_limit_with_restart_on_failure() {
    let mut j = job("pi", Some(1), 1);
    j.spec.as_mut().unwrap().backoff_limit = Some(2);
    j.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".into());
    let e = BTreeSet::new();
    let r = mine(&j, with_restarts(ready_pod("r", at(1)), 1));
    let pods = [&r];
    assert!(ctx_at(&j, &pods, &e, 5).finished.is_none());
    let r = mine(&j, with_restarts(ready_pod("r", at(1)), 2));
    let pods = [&r];
    assert_eq!(
        ctx_at(&j, &pods, &e, 5).finished.unwrap().reason.as_deref(),
        Some("BackoffLimitExceeded")
    );
}

#[test]
fn the_active_deadline_requeues_then_fails_the_job() {
    let mut j = job("pi", Some(1), 1);
    j.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    j.status.get_or_insert_default().start_time = Some(k8s(at(100)));
    let e = BTreeSet::new();
    let ctx = ctx_at(&j, &[], &e, 110);
    assert_eq!(ctx.requeue_after, Some(Duration::from_secs(20)));
    assert!(ctx.finished.is_none());
    let ctx = ctx_at(&j, &[], &e, 130);
    let fin = ctx.finished.unwrap();
    assert_eq!(
        (fin.reason.as_deref(), fin.message.as_deref()),
        (
            Some("DeadlineExceeded"),
            Some("Job was active longer than specified deadline")
        )
    );
    // Suspended: the clock does not run.
    j.spec.as_mut().unwrap().suspend = Some(true);
    let ctx = ctx_at(&j, &[], &e, 500);
    assert!(ctx.finished.is_none() && ctx.requeue_after.is_none());
}

#[test]
fn interim_conditions_lead_to_their_terminal_ones() {
    let mut j = job("pi", Some(1), 1);
    j.status.get_or_insert_default().conditions = Some(vec![new_condition(
        FAILURE_TARGET,
        "True",
        "PodFailurePolicy",
        "msg",
        at(1),
    )]);
    let e = BTreeSet::new();
    let fin = ctx_at(&j, &[], &e, 5).finished.unwrap();
    assert_eq!(
        (fin.type_.as_str(), fin.reason.as_deref()),
        (FAILED, Some("PodFailurePolicy"))
    );
    let mut s = job("pi", Some(1), 1);
    s.status.get_or_insert_default().conditions = Some(vec![new_condition(
        SUCCESS_CRITERIA_MET,
        "True",
        "SuccessPolicy",
        "m",
        at(1),
    )]);
    assert_eq!(
        ctx_at(&s, &[], &e, 5).finished.unwrap().type_,
        SUCCESS_CRITERIA_MET
    );
    let _ = COMPLETE;
}

fn exit_code_rule(action: &str, codes: &[i32]) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: None,
            operator: "In".into(),
            values: codes.to_vec(),
        }),
        on_pod_conditions: None,
    }
}

#[test]
fn the_pod_failure_policy_fails_the_job_or_ignores_failures() {
    let mut j = job("pi", Some(2), 2);
    j.spec.as_mut().unwrap().backoff_limit = Some(0);
    j.spec.as_mut().unwrap().pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![
            exit_code_rule("FailJob", &[42]),
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
            },
        ],
    });
    let e = BTreeSet::new();
    let disrupted = mine(
        &j,
        with_condition(failed_pod(pod("d"), 137), "DisruptionTarget", "True"),
    );
    let pods = [&disrupted];
    let ctx = ctx_at(&j, &pods, &e, 30);
    assert_eq!(ctx.failed, 0, "an ignored failure does not count");
    assert!(ctx.finished.is_none());
    assert_eq!(
        ctx.backoff.failures_after_last_success, 1,
        "but it still backs off"
    );
    let fatal = mine(&j, failed_pod(pod("x"), 42));
    let pods = [&disrupted, &fatal];
    let fin = ctx_at(&j, &pods, &e, 30).finished.unwrap();
    assert_eq!(fin.reason.as_deref(), Some("PodFailurePolicy"));
    assert_eq!(
        fin.message.as_deref(),
        Some(
            "Container c for pod default/x failed with exit code 42 matching FailJob rule at index 0"
        )
    );
}

#[test]
fn replacement_policy_failed_waits_for_terminating_pods() {
    let mut j = job("pi", Some(2), 2);
    let e = BTreeSet::new();
    let mut t = running(&j, "t");
    t.metadata.deletion_timestamp = Some(k8s(at(5)));
    let pods = [&t];
    let ctx = ctx_at(&j, &pods, &e, 6);
    assert_eq!(ctx.terminating, 1);
    // TerminatingOrFailed: the terminating pod counts as failed; both replaced
    // (after its backoff).
    assert_eq!(ctx.failed, 1);
    assert!(matches!(plan_pods(&ctx), PodsPlan::Wait(_)));
    j.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
    let ctx = ctx_at(&j, &pods, &e, 6);
    assert_eq!(ctx.failed, 0);
    assert_eq!(
        creates(&plan_pods(&ctx)),
        1,
        "the terminating pod is not replaced yet"
    );
}

#[test]
fn suspending_deletes_every_active_pod_and_sets_the_condition() {
    let mut j = job("pi", Some(3), 3);
    j.spec.as_mut().unwrap().suspend = Some(true);
    j.status.get_or_insert_default().start_time = Some(k8s(at(1)));
    let e = BTreeSet::new();
    let (a, b) = (running(&j, "a"), mine(&j, pod("b")));
    let pods = [&a, &b];
    let ctx = ctx_at(&j, &pods, &e, 10);
    let plan = plan_pods(&ctx);
    let mut gone = deletes(&plan);
    gone.sort();
    assert_eq!(gone, ["a", "b"]);
    assert!(
        matches!(plan, PodsPlan::Delete(_)),
        "finalizers removed first: not counted"
    );
    let after = after_manage(
        &ctx,
        &plan,
        &ManageOutcome {
            deleted: 2,
            deleted_ready: 1,
            created: 0,
            failed_creates: 0,
        },
    );
    let st = after.job.status.clone().unwrap();
    let c = crate::job::conditions::find(st.conditions.as_deref().unwrap(), SUSPENDED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("True", Some("JobSuspended"))
    );
    assert_eq!(after.events[0].reason, "Suspended");
    assert!(after.needs_status_update);

    // Resumed: the condition turns False and startTime restarts now.
    let mut resumed = after.job.clone();
    resumed.spec.as_mut().unwrap().suspend = Some(false);
    let ctx = ctx_at(&resumed, &[], &e, 50);
    let plan = plan_pods(&ctx);
    assert_eq!(creates(&plan), 3);
    let after = after_manage(
        &ctx,
        &plan,
        &ManageOutcome {
            created: 3,
            ..Default::default()
        },
    );
    let st = after.job.status.unwrap();
    let c = crate::job::conditions::find(st.conditions.as_deref().unwrap(), SUSPENDED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert_eq!(st.start_time, Some(k8s(at(50))));
    assert_eq!(st.active, Some(3));
    assert_eq!(after.events[0].reason, "Resumed");
}

#[test]
fn a_job_created_suspended_has_no_start_time() {
    let mut j = job("pi", Some(1), 1);
    j.spec.as_mut().unwrap().suspend = Some(true);
    let e = BTreeSet::new();
    let ctx = ctx_at(&j, &[], &e, 10);
    assert_eq!(ctx.job.status.as_ref().unwrap().start_time, None);
    assert_eq!(plan_pods(&ctx), PodsPlan::Nothing);
    let after = after_manage(&ctx, &PodsPlan::Nothing, &ManageOutcome::default());
    assert!(after.needs_status_update, "the Suspended condition is new");
}

#[test]
fn indexed_jobs_create_the_missing_indexes() {
    let j = indexed_job("ix", 5, 3);
    let e = BTreeSet::new();
    let a = mine(&j, indexed_pod("a", 1));
    let s = mine(&j, succeeded_pod(indexed_pod("s", 0)));
    let pods = [&a, &s];
    let ctx = ctx_at(&j, &pods, &e, 10);
    assert_eq!(ctx.succeeded, 1);
    let PodsPlan::Create(new) = plan_pods(&ctx) else {
        panic!("creations expected")
    };
    let ix: Vec<Option<usize>> = new.iter().map(|n| n.index).collect();
    assert_eq!(ix, [Some(2), Some(3)]);
    assert!(new.iter().all(|n| n.failure_counts.is_none()));
}

#[test]
fn indexed_duplicates_are_deleted_before_anything_is_created() {
    let j = indexed_job("ix", 3, 3);
    let e = BTreeSet::new();
    let a = mine(&j, indexed_pod("a", 0));
    let b = mine(&j, ready_pod("b", at(1)));
    let mut b = b;
    b.metadata.annotations = Some(
        [(
            crate::job::JOB_COMPLETION_INDEX_ANNOTATION.to_string(),
            "0".to_string(),
        )]
        .into(),
    );
    let pods = [&a, &b];
    let ctx = ctx_at(&j, &pods, &e, 10);
    assert_eq!(
        deletes(&plan_pods(&ctx)),
        ["a"],
        "the pending duplicate goes"
    );
}

#[test]
fn backoff_limit_per_index_fails_indexes_and_the_job() {
    let mut j = indexed_job("ix", 4, 4);
    j.spec.as_mut().unwrap().backoff_limit_per_index = Some(0);
    j.spec.as_mut().unwrap().backoff_limit = Some(i32::MAX);
    j.spec.as_mut().unwrap().max_failed_indexes = Some(1);
    let e = BTreeSet::new();
    let f1 = mine(&j, failed_pod(indexed_pod("f1", 1), 1));
    let pods = [&f1];
    let ctx = ctx_at(&j, &pods, &e, 30);
    assert_eq!(
        ctx.failed_indexes
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("1")
    );
    assert!(ctx.finished.is_none());
    let PodsPlan::Create(new) = plan_pods(&ctx) else {
        panic!("creations expected")
    };
    let ix: Vec<Option<usize>> = new.iter().map(|n| n.index).collect();
    assert_eq!(
        ix,
        [Some(0), Some(2), Some(3)],
        "the failed index is not retried"
    );
    assert!(new.iter().all(|n| n.failure_counts == Some((0, 0))));
    let f3 = mine(&j, failed_pod(indexed_pod("f3", 3), 1));
    let pods = [&f1, &f3];
    let fin = ctx_at(&j, &pods, &e, 30).finished.unwrap();
    assert_eq!(fin.reason.as_deref(), Some("MaxFailedIndexesExceeded"));
}

#[test]
fn a_failed_index_is_retried_after_its_own_backoff() {
    let mut j = indexed_job("ix", 2, 2);
    j.spec.as_mut().unwrap().backoff_limit_per_index = Some(2);
    let e = BTreeSet::new();
    let f = mine(&j, failed_pod_at(indexed_pod("f", 0), 100));
    let pods = [&f];
    let ctx = ctx_at(&j, &pods, &e, 104);
    assert_eq!(
        ctx.delayed_deletion
            .get(&0)
            .map(|p| p.metadata.name.as_deref()),
        Some(Some("f"))
    );
    let PodsPlan::Create(new) = plan_pods(&ctx) else {
        panic!("index 1 can start")
    };
    assert_eq!(new.iter().map(|n| n.index).collect::<Vec<_>>(), [Some(1)]);
    let a = mine(&j, indexed_pod("a", 1));
    let pods = [&f, &a];
    assert_eq!(
        plan_pods(&ctx_at(&j, &pods, &e, 104)),
        PodsPlan::Wait(Duration::from_secs(6))
    );
    let PodsPlan::Create(new) = plan_pods(&ctx_at(&j, &pods, &e, 111)) else {
        panic!("index 0 retried")
    };
    assert_eq!(new[0].index, Some(0));
    assert_eq!(
        new[0].failure_counts,
        Some((1, 0)),
        "the replacement carries the count"
    );
}

#[test]
fn a_failed_index_with_fail_index_rule_is_not_retried() {
    let mut j = indexed_job("ix", 2, 2);
    j.spec.as_mut().unwrap().backoff_limit_per_index = Some(3);
    j.spec.as_mut().unwrap().pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![exit_code_rule("FailIndex", &[3])],
    });
    let e = BTreeSet::new();
    let f = mine(&j, failed_pod(indexed_pod("f", 0), 3));
    let s = mine(&j, succeeded_pod(indexed_pod("s", 1)));
    let pods = [&f, &s];
    let ctx = ctx_at(&j, &pods, &e, 30);
    assert_eq!(ctx.failed_indexes.as_ref().unwrap().to_string(), "0");
    let fin = ctx.finished.unwrap();
    assert_eq!(
        (fin.reason.as_deref(), fin.message.as_deref()),
        (Some("FailedIndexes"), Some("Job has failed indexes"))
    );
}

#[test]
fn the_success_policy_meets_success_criteria_early() {
    let mut j = indexed_job("ix", 5, 5);
    j.spec.as_mut().unwrap().success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule {
            succeeded_indexes: Some("0".into()),
            succeeded_count: None,
        }],
    });
    let e = BTreeSet::new();
    let leader = mine(&j, succeeded_pod(indexed_pod("leader", 0)));
    let worker = running(&j, "w");
    let pods = [&leader, &worker];
    let ctx = ctx_at(&j, &pods, &e, 30);
    let fin = ctx.finished.clone().unwrap();
    assert_condition(
        &fin,
        SUCCESS_CRITERIA_MET,
        "SuccessPolicy",
        "Matched rules at index 0",
    );
    assert_eq!(
        deletes(&plan_pods(&ctx)),
        ["w"],
        "lingering pods are removed"
    );
}

#[test]
fn at_most_500_pods_are_created_per_sync() {
    let j = job("big", Some(2000), 1000);
    let e = BTreeSet::new();
    assert_eq!(creates(&plan_pods(&ctx_at(&j, &[], &e, 1))), 500);
}
