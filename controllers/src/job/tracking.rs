//! Counting finished pods without losing any (upstream
//! `trackJobStatusAndRemoveFinalizers` and `tracking_utils.go`).
//!
//! Every pod of a Job carries the `batch.kubernetes.io/job-tracking`
//! finalizer, so a finished pod stays until the Job has counted it. Counting is
//! two writes around the finalizer removal:
//!
//! 1. the UIDs of the finished pods are added to `status.uncountedTerminatedPods`
//!    (Indexed Jobs record succeeded indexes in `completedIndexes` instead) and
//!    the status is written — with the interim `FailureTarget` or
//!    `SuccessCriteriaMet` condition when the Job is finishing;
//! 2. their finalizers are removed (the UIDs are expected in
//!    [`FinalizerExpectations`] until the pod informer shows them gone);
//! 3. UIDs whose pod no longer has the finalizer leave the uncounted lists and
//!    are added to `succeeded`/`failed` ([`clean_uncounted`]); once nothing is
//!    uncounted or terminating, the terminal `Complete`/`Failed` condition is
//!    set ([`enact_finished`]), and the status is written again.
//!
//! A crash between any two steps loses nothing: the next sync finds the UIDs in
//! the status, or the pods with their finalizer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use capstan_runtime::ObjectKey;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::conditions::{self, COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET};
use super::failure_policy::match_pod_failure_policy;
use super::indexed::{OrderedIntervals, completion_index, completions_bound};
use super::pods::{has_tracking_finalizer, is_pod_failed};
use super::{JOB_TRACKING_FINALIZER, MAX_UNCOUNTED_PODS, spec};
use crate::util::pod::phase;
use crate::util::pod_control::PodRef;

/// The strategic-merge patch removing the tracking finalizer (upstream
/// `removeTrackingFinalizerPatch`).
pub fn remove_finalizer_patch() -> Value {
    json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}})
}

/// The pod UIDs whose finalizer removal each Job waits to observe (upstream
/// `uidTrackingExpectations`): until then a sync treats those pods as counted.
#[derive(Debug, Default)]
pub struct FinalizerExpectations {
    uids: Mutex<HashMap<ObjectKey, BTreeSet<String>>>,
}

impl FinalizerExpectations {
    /// The UIDs `key` still waits for.
    pub fn expected(&self, key: &ObjectKey) -> BTreeSet<String> {
        self.uids.lock().get(key).cloned().unwrap_or_default()
    }

    /// Expects the removal of the finalizers of `uids` for `key`.
    pub fn expect_removed<'a>(&self, key: &ObjectKey, uids: impl IntoIterator<Item = &'a str>) {
        self.uids
            .lock()
            .entry(key.clone())
            .or_default()
            .extend(uids.into_iter().map(String::from));
    }

    /// The finalizer of `uid` is gone (observed, or its removal failed).
    pub fn removal_observed(&self, key: &ObjectKey, uid: &str) {
        if let Some(set) = self.uids.lock().get_mut(key) {
            set.remove(uid);
        }
    }

    /// Forgets everything about `key` (the Job is gone).
    pub fn forget(&self, key: &ObjectKey) {
        self.uids.lock().remove(key);
    }
}

/// The UIDs of `status.uncountedTerminatedPods` at the start of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uncounted {
    /// Succeeded pods not counted yet.
    pub succeeded: BTreeSet<String>,
    /// Failed pods not counted yet.
    pub failed: BTreeSet<String>,
}

impl Uncounted {
    /// The uncounted UIDs of `status`.
    pub fn of(status: &JobStatus) -> Self {
        let u = status.uncounted_terminated_pods.clone().unwrap_or_default();
        Self {
            succeeded: u.succeeded.unwrap_or_default().into_iter().collect(),
            failed: u.failed.unwrap_or_default().into_iter().collect(),
        }
    }

    /// Whether `uid` is in either list.
    pub fn has(&self, uid: &str) -> bool {
        self.succeeded.contains(uid) || self.failed.contains(uid)
    }
}

/// What the tracking step needs of the sync.
#[derive(Debug)]
pub struct TrackingInput<'a> {
    /// The Job, its status already carrying this sync's counts and conditions.
    pub job: &'a Job,
    /// The Job's pods.
    pub pods: &'a [&'a Pod],
    /// Pods whose finalizer removal is still expected.
    pub expected_removed: &'a BTreeSet<String>,
    /// The uncounted UIDs at the start of the sync.
    pub uncounted: &'a Uncounted,
    /// The condition finishing the Job, if any (interim or terminal).
    pub finished: Option<JobCondition>,
    /// Succeeded indexes before this sync (Indexed Jobs).
    pub prev_succeeded_indexes: &'a OrderedIntervals,
    /// Succeeded indexes including this sync's (Indexed Jobs).
    pub succeeded_indexes: &'a OrderedIntervals,
    /// Failed indexes (with `backoffLimitPerIndex`).
    pub failed_indexes: Option<&'a OrderedIntervals>,
    /// Failed pods whose finalizer stays until their index has a replacement.
    pub delayed_deletion: &'a BTreeMap<usize, &'a Pod>,
    /// Whether the status must be written anyway.
    pub needs_flush: bool,
    /// The time of the sync.
    pub now: Timestamp,
}

/// What the tracking step does (see the [module](self) documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingPlan {
    /// The status to write before removing finalizers.
    pub status: JobStatus,
    /// Whether it must be written.
    pub needs_flush: bool,
    /// The pods whose finalizer to remove.
    pub remove_finalizers: Vec<PodRef>,
    /// UIDs of the pods that still have the finalizer (not expected removed).
    pub uids_with_finalizer: BTreeSet<String>,
    /// The terminal condition to set once nothing is uncounted or terminating.
    pub finished: Option<JobCondition>,
    /// Whether the sync stopped at [`MAX_UNCOUNTED_PODS`] (the Job is not
    /// declared finished in this sync then).
    pub reached_max_uncounted: bool,
    /// The failed pods newly handled by a rule of the pod failure policy, by
    /// the rule's action (for the metric).
    pub policy_actions: BTreeMap<&'static str, u64>,
}

/// Whether the tracking finalizer of `pod` may go (upstream
/// `canRemoveFinalizer`): the Job is being deleted or finishing, the pod
/// succeeded, or it failed — unless its index waits for a replacement.
fn can_remove_finalizer(input: &TrackingInput<'_>, pod: &Pod, failed: bool) -> bool {
    if input.job.metadata.deletion_timestamp.is_some()
        || input.finished.is_some()
        || phase(pod) == "Succeeded"
    {
        return true;
    }
    if !failed {
        return false;
    }
    if spec::has_backoff_limit_per_index(input.job)
        && let Some(ix) = completion_index(pod)
        && let Some(p) = input.delayed_deletion.get(&ix)
    {
        return p.metadata.uid != pod.metadata.uid;
    }
    true
}

/// Plans the tracking of a sync (upstream `trackJobStatusAndRemoveFinalizers`
/// up to the first write).
pub fn plan_tracking(input: &TrackingInput<'_>) -> TrackingPlan {
    let job = input.job;
    let indexed = spec::is_indexed(job);
    let completions = completions_bound(job);
    let mut status = spec::status(job);
    let mut needs_flush = input.needs_flush;
    let mut pods: Vec<&Pod> = input.pods.to_vec();
    if indexed {
        pods.sort_by_key(|p| completion_index(p).map_or(-1, |i| i as i64));
    }
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let uids_with_finalizer: BTreeSet<String> = pods
        .iter()
        .filter(|p| has_tracking_finalizer(p) && !input.expected_removed.contains(&uid(p)))
        .map(|p| uid(p))
        .collect();
    if clean_uncounted(&mut status, &uids_with_finalizer) {
        needs_flush = true;
    }
    let finishing_as_failure = input
        .finished
        .as_ref()
        .is_some_and(|c| c.type_ != SUCCESS_CRITERIA_MET);
    let mut remove = Vec::new();
    let mut new_succeeded_indexes = Vec::new();
    let mut reached_max_uncounted = false;
    let mut policy_actions = BTreeMap::new();
    let mut uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    for p in &pods {
        let id = uid(p);
        if !has_tracking_finalizer(p) || input.expected_removed.contains(&id) {
            continue;
        }
        let failed = is_pod_failed(p, job);
        if !can_remove_finalizer(input, p, failed) {
            continue;
        }
        remove.push(PodRef::of(p));
        if phase(p) == "Succeeded" && !input.uncounted.failed.contains(&id) {
            if indexed {
                if let Some(ix) = completion_index(p).filter(|ix| *ix < completions)
                    && !input.prev_succeeded_indexes.has(ix)
                {
                    new_succeeded_indexes.push(ix);
                    needs_flush = true;
                }
            } else if !input.uncounted.succeeded.contains(&id) {
                needs_flush = true;
                uncounted.succeeded.get_or_insert_default().push(id);
            }
        } else if failed || finishing_as_failure {
            let index_ok = !indexed || completion_index(p).is_some_and(|ix| ix < completions);
            if !input.uncounted.failed.contains(&id) && index_ok {
                let matched = spec::spec(job)
                    .pod_failure_policy
                    .as_ref()
                    .map(|policy| match_pod_failure_policy(policy, p));
                if let Some(action) = matched.as_ref().and_then(|m| m.action) {
                    *policy_actions.entry(action.as_str()).or_default() += 1;
                }
                if matched.is_none_or(|m| m.count_failed) {
                    needs_flush = true;
                    uncounted.failed.get_or_insert_default().push(id);
                }
            }
        }
        let size = new_succeeded_indexes.len()
            + uncounted.succeeded.as_ref().map_or(0, Vec::len)
            + uncounted.failed.as_ref().map_or(0, Vec::len);
        if size >= MAX_UNCOUNTED_PODS {
            reached_max_uncounted = true;
            break;
        }
    }
    status.uncounted_terminated_pods = Some(uncounted);
    if indexed {
        new_succeeded_indexes.sort_unstable();
        let succeeded = input.succeeded_indexes.with_indexes(new_succeeded_indexes);
        let completed = succeeded.to_string();
        if status.completed_indexes.as_deref().unwrap_or("") != completed {
            needs_flush = true;
        }
        status.succeeded = nonzero(i32::try_from(succeeded.total()).unwrap_or(i32::MAX));
        status.completed_indexes = Some(completed).filter(|s| !s.is_empty());
        let failed = input.failed_indexes.map(ToString::to_string);
        if status.failed_indexes != failed {
            status.failed_indexes = failed;
            needs_flush = true;
        }
    }
    let mut finished = input.finished.clone();
    if let Some(c) = finished
        .as_ref()
        .filter(|c| c.type_ == FAILURE_TARGET)
        .cloned()
    {
        status.conditions.get_or_insert_default().push(c.clone());
        needs_flush = true;
        finished = Some(terminal_from(&c, FAILED, input.now));
    }
    if let Some(c) = finished
        .as_ref()
        .filter(|c| c.type_ == SUCCESS_CRITERIA_MET && c.status == "True")
        .cloned()
    {
        let conds = status.conditions.get_or_insert_default();
        if !conds
            .iter()
            .any(|x| x.type_ == SUCCESS_CRITERIA_MET && x.status == "True")
        {
            conds.push(c.clone());
            needs_flush = true;
        }
        finished = Some(terminal_from(&c, COMPLETE, input.now));
    }
    TrackingPlan {
        status,
        needs_flush,
        remove_finalizers: remove,
        uids_with_finalizer,
        finished,
        reached_max_uncounted,
        policy_actions,
    }
}

/// A counter as the API writes it: omitted when zero (upstream's `omitempty`
/// on `active`, `succeeded` and `failed`).
pub fn nonzero(n: i32) -> Option<i32> {
    Some(n).filter(|n| *n != 0)
}

/// The terminal condition of `type_` carrying an interim one's reason and
/// message (upstream `newFailedConditionForFailureTarget` and its `Complete`
/// counterpart).
pub fn terminal_from(interim: &JobCondition, type_: &str, now: Timestamp) -> JobCondition {
    conditions::new_condition(
        type_,
        "True",
        interim.reason.as_deref().unwrap_or(""),
        interim.message.as_deref().unwrap_or(""),
        now,
    )
}

/// Moves the uncounted UIDs whose pod no longer has the finalizer into the
/// `succeeded`/`failed` counters (upstream
/// `cleanUncountedPodsWithoutFinalizers`). Returns whether the status changed.
pub fn clean_uncounted(status: &mut JobStatus, uids_with_finalizer: &BTreeSet<String>) -> bool {
    let mut changed = false;
    let u = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let keep = |list: &mut Option<Vec<String>>| -> i32 {
        let Some(l) = list.as_mut() else {
            return 0;
        };
        let before = l.len();
        l.retain(|uid| uids_with_finalizer.contains(uid));
        let gone = before - l.len();
        if l.is_empty() {
            *list = None;
        }
        i32::try_from(gone).unwrap_or(i32::MAX)
    };
    let succeeded = keep(&mut u.succeeded);
    let failed = keep(&mut u.failed);
    if succeeded > 0 {
        changed = true;
        status.succeeded = Some(status.succeeded.unwrap_or(0).saturating_add(succeeded));
    }
    if failed > 0 {
        changed = true;
        status.failed = Some(status.failed.unwrap_or(0).saturating_add(failed));
    }
    changed
}

/// Sets the terminal condition `finished` once no pod is uncounted or
/// terminating (upstream `enactJobFinished`), with `completionTime` for
/// `Complete`. Returns whether the Job is now finished.
pub fn enact_finished(
    status: &mut JobStatus,
    finished: Option<&JobCondition>,
    terminating: i32,
    now: Timestamp,
) -> bool {
    let Some(cond) = finished else {
        return false;
    };
    let uncounted = status.uncounted_terminated_pods.as_ref().map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    });
    if uncounted > 0 || terminating > 0 {
        return false;
    }
    conditions::ensure(
        status.conditions.get_or_insert_default(),
        &cond.type_,
        &cond.status,
        cond.reason.as_deref().unwrap_or(""),
        cond.message.as_deref().unwrap_or(""),
        now,
    );
    if cond.type_ == COMPLETE {
        status.completion_time = cond.last_transition_time.clone();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::conditions::{REASON_BACKOFF_LIMIT_EXCEEDED, new_condition};
    use crate::job::testing::{failed_pod, job, succeeded_pod, tracked};
    use crate::util::testing::{at, pod};

    fn input<'a>(
        job: &'a Job,
        pods: &'a [&'a Pod],
        uncounted: &'a Uncounted,
        empty: &'a (BTreeSet<String>, OrderedIntervals, BTreeMap<usize, &'a Pod>),
        finished: Option<JobCondition>,
    ) -> TrackingInput<'a> {
        TrackingInput {
            job,
            pods,
            expected_removed: &empty.0,
            uncounted,
            finished,
            prev_succeeded_indexes: &empty.1,
            succeeded_indexes: &empty.1,
            failed_indexes: None,
            delayed_deletion: &empty.2,
            needs_flush: false,
            now: at(100),
        }
    }

    #[test]
    fn finished_pods_are_recorded_as_uncounted_before_their_finalizers_go() {
        let j = job("w", Some(3), 3);
        let s = tracked(succeeded_pod(pod("s")));
        let f = tracked(failed_pod(pod("f"), 1));
        let running = tracked(pod("r"));
        let done_before = succeeded_pod(pod("old"));
        let pods = [&s, &f, &running, &done_before];
        let (u, e) = (Uncounted::default(), Default::default());
        let plan = plan_tracking(&input(&j, &pods, &u, &e, None));
        assert!(plan.needs_flush);
        let unc = plan.status.uncounted_terminated_pods.clone().unwrap();
        assert_eq!(unc.succeeded, Some(vec!["uid-s".to_string()]));
        assert_eq!(unc.failed, Some(vec!["uid-f".to_string()]));
        let names: Vec<&str> = plan
            .remove_finalizers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["s", "f"]);
        assert_eq!(plan.uids_with_finalizer.len(), 3);
        assert_eq!(plan.finished, None);

        // After the removals, the UIDs are counted.
        let mut status = plan.status;
        let still: BTreeSet<String> = ["uid-r".to_string()].into();
        assert!(clean_uncounted(&mut status, &still));
        assert_eq!((status.succeeded, status.failed), (Some(1), Some(1)));
        assert_eq!(
            status.uncounted_terminated_pods,
            Some(UncountedTerminatedPods::default())
        );
    }

    #[test]
    fn failures_the_policy_handles_are_tallied_by_action() {
        use crate::job::testing::with_condition;
        use k8s_openapi::api::batch::v1::{
            PodFailurePolicy, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
        };
        let mut j = job("w", Some(3), 3);
        let on_disruption = |action: &str| PodFailurePolicyRule {
            action: action.into(),
            on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
            }]),
            ..Default::default()
        };
        j.spec.as_mut().unwrap().pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![on_disruption("Ignore")],
        });
        let evicted = tracked(with_condition(
            failed_pod(pod("e"), 143),
            "DisruptionTarget",
            "True",
        ));
        let plain = tracked(failed_pod(pod("f"), 1));
        let pods = [&evicted, &plain];
        let (u, e) = (Uncounted::default(), Default::default());
        let plan = plan_tracking(&input(&j, &pods, &u, &e, None));
        assert_eq!(plan.policy_actions, BTreeMap::from([("Ignore", 1)]));
        let unc = plan.status.uncounted_terminated_pods.unwrap();
        assert_eq!(
            unc.failed,
            Some(vec!["uid-f".to_string()]),
            "the ignored one is not counted"
        );
        assert_eq!(plan.remove_finalizers.len(), 2);

        // Once uncounted, a pod is not tallied again.
        let u = Uncounted {
            succeeded: BTreeSet::new(),
            failed: ["uid-e".to_string()].into(),
        };
        let plan = plan_tracking(&input(&j, &pods, &u, &e, None));
        assert!(plan.policy_actions.is_empty());
    }

    #[test]
    fn uids_already_uncounted_or_expected_are_not_added_twice() {
        let j = job("w", Some(3), 3);
        let s = tracked(succeeded_pod(pod("s")));
        let pods = [&s];
        let u = Uncounted {
            succeeded: ["uid-s".to_string()].into(),
            failed: BTreeSet::new(),
        };
        let mut jj = j.clone();
        jj.status.get_or_insert_default().uncounted_terminated_pods =
            Some(UncountedTerminatedPods {
                succeeded: Some(vec!["uid-s".into()]),
                failed: None,
            });
        let e = Default::default();
        let plan = plan_tracking(&input(&jj, &pods, &u, &e, None));
        assert!(!plan.needs_flush);
        assert_eq!(plan.remove_finalizers.len(), 1, "the removal is retried");
        let e2 = (
            ["uid-s".to_string()].into(),
            OrderedIntervals::default(),
            BTreeMap::new(),
        );
        let plan = plan_tracking(&input(&jj, &pods, &u, &e2, None));
        assert!(plan.remove_finalizers.is_empty());
        // uid-s is expected removed: counted now.
        assert_eq!(plan.status.succeeded, Some(1));
        assert!(plan.needs_flush);
    }

    #[test]
    fn a_failure_target_is_written_first_and_running_pods_count_as_failed() {
        let j = job("w", Some(3), 3);
        let running = tracked(pod("r"));
        let pods = [&running];
        let (u, e) = (Uncounted::default(), Default::default());
        let target = new_condition(
            FAILURE_TARGET,
            "True",
            REASON_BACKOFF_LIMIT_EXCEEDED,
            "m",
            at(90),
        );
        let plan = plan_tracking(&input(&j, &pods, &u, &e, Some(target)));
        assert!(plan.needs_flush);
        let conds = plan.status.conditions.clone().unwrap();
        assert_eq!(conds[0].type_, FAILURE_TARGET);
        let fin = plan.finished.clone().unwrap();
        assert_eq!(
            (fin.type_.as_str(), fin.reason.as_deref()),
            (FAILED, Some(REASON_BACKOFF_LIMIT_EXCEEDED))
        );
        assert_eq!(
            plan.status
                .uncounted_terminated_pods
                .clone()
                .unwrap()
                .failed,
            Some(vec!["uid-r".to_string()])
        );
        let mut status = plan.status;
        assert!(
            !enact_finished(&mut status, plan.finished.as_ref(), 0, at(100)),
            "uncounted left"
        );
        clean_uncounted(&mut status, &BTreeSet::new());
        assert!(
            !enact_finished(&mut status, plan.finished.as_ref(), 1, at(100)),
            "terminating left"
        );
        assert!(enact_finished(
            &mut status,
            plan.finished.as_ref(),
            0,
            at(100)
        ));
        assert!(
            status
                .conditions
                .unwrap()
                .iter()
                .any(|c| c.type_ == FAILED && c.status == "True")
        );
        assert_eq!(status.completion_time, None);
    }

    #[test]
    fn completion_sets_the_completion_time() {
        let mut status = JobStatus::default();
        let c = new_condition(COMPLETE, "True", "CompletionsReached", "m", at(7));
        assert!(enact_finished(&mut status, Some(&c), 0, at(8)));
        assert_eq!(status.completion_time.map(|t| t.0), Some(at(7)));
    }

    #[test]
    fn finalizer_expectations_track_uids_per_job() {
        let exp = FinalizerExpectations::default();
        let key = ObjectKey::new(Some("default"), "pi");
        exp.expect_removed(&key, ["a", "b"]);
        exp.removal_observed(&key, "a");
        assert_eq!(exp.expected(&key), ["b".to_string()].into());
        exp.forget(&key);
        assert!(exp.expected(&key).is_empty());
    }
}
