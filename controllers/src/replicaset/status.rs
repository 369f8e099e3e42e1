//! A ReplicaSet's status from its pods (upstream `calculateStatus` and the
//! write-skipping test of `updateReplicaSetStatus`, `replica_set_utils.go`).

use std::time::Duration;

use capstan_labels::set_matches;
use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::owner::ReplicaSetLike;
use crate::util::pod;
use crate::util::time::k8s;

/// The `ReplicaFailure` condition type.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// Reason of `ReplicaFailure` when creating pods failed.
pub const FAILED_CREATE: &str = "FailedCreate";
/// Reason of `ReplicaFailure` when deleting pods failed.
pub const FAILED_DELETE: &str = "FailedDelete";

/// The status to write and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPlan {
    /// The new status, `observedGeneration` set to the RS's generation.
    pub status: ReplicaSetStatus,
    /// False when the stored status already says the same: skip the write.
    pub write: bool,
    /// Requeue after this long to observe ready pods becoming available
    /// (`minReadySeconds`); `None` when nothing is pending.
    pub requeue_after: Option<Duration>,
}

/// The status of `rs` whose claimed active pods are `pods`, after a sync whose
/// pod creations/deletions failed with `manage_error` (its message), as upstream's
/// `calculateStatus`:
///
/// - `replicas`: the active pods; `fullyLabeledReplicas`: those carrying every
///   template label; `readyReplicas`; `availableReplicas`: ready for
///   `minReadySeconds` at `now`;
/// - on an error, a `ReplicaFailure=True` condition with reason `FailedCreate`
///   (too few pods) or `FailedDelete` (too many) and the error as message, added
///   only if none exists; without an error, any `ReplicaFailure` is removed.
pub fn calculate_status<R: ReplicaSetLike>(
    rs: &R,
    pods: &[&Pod],
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.replica_set_status();
    let min_ready = rs.min_ready_seconds();
    let template_labels = rs
        .pod_template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in pods {
        // Upstream's "fully labeled": the template's labels as a set selector.
        if set_matches(template_labels.into_iter().flatten(), &p.metadata.labels) {
            fully_labeled += 1;
        }
        if pod::is_ready(p) {
            ready += 1;
            if pod::is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(msg) if !has_failure => {
            let diff = pods.len() as i64 - i64::from(rs.replicas());
            let reason = match diff.cmp(&0) {
                std::cmp::Ordering::Less => FAILED_CREATE,
                std::cmp::Ordering::Greater => FAILED_DELETE,
                std::cmp::Ordering::Equal => "",
            };
            status
                .conditions
                .get_or_insert_default()
                .push(ReplicaSetCondition {
                    type_: REPLICA_FAILURE.into(),
                    status: "True".into(),
                    reason: Some(reason.into()),
                    message: Some(msg.into()),
                    last_transition_time: Some(k8s(now)),
                });
        }
        None if has_failure => {
            if let Some(cs) = status.conditions.as_mut() {
                cs.retain(|c| c.type_ != REPLICA_FAILURE);
            }
            if status.conditions.as_ref().is_some_and(|c| c.is_empty()) {
                status.conditions = None;
            }
        }
        _ => {}
    }
    status.replicas = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = Some(fully_labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status
}

/// True when writing `new` would change nothing upstream looks at: the counts,
/// the conditions, and an `observedGeneration` already equal to the generation.
pub fn status_unchanged<R: ReplicaSetLike>(rs: &R, new: &ReplicaSetStatus) -> bool {
    let old = rs.replica_set_status();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let conds = |c: &Option<Vec<ReplicaSetCondition>>| c.clone().unwrap_or_default();
    old.replicas == new.replicas
        && n(old.fully_labeled_replicas) == n(new.fully_labeled_replicas)
        && n(old.ready_replicas) == n(new.ready_replicas)
        && n(old.available_replicas) == n(new.available_replicas)
        && rs.meta().generation.unwrap_or(0) == old.observed_generation.unwrap_or(0)
        && conds(&old.conditions) == conds(&new.conditions)
}

/// The full status step of a sync: [`calculate_status`], `observedGeneration`,
/// whether to write, and the requeue to observe availability. Upstream requeues
/// after `minReadySeconds` when the sync succeeded and every desired replica is
/// ready but not all are available; this requeues at the moment the next ready
/// pod becomes available, which is never later.
pub fn plan_status<R: ReplicaSetLike>(
    rs: &R,
    pods: &[&Pod],
    manage_error: Option<&str>,
    now: Timestamp,
) -> StatusPlan {
    let mut status = calculate_status(rs, pods, manage_error, now);
    let write = !status_unchanged(rs, &status);
    status.observed_generation = rs.meta().generation.or(status.observed_generation);
    let desired = rs.replicas();
    let min_ready = rs.min_ready_seconds();
    let requeue_after = if manage_error.is_none()
        && min_ready > 0
        && status.ready_replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) != desired
    {
        pods.iter()
            .filter_map(|p| pod::available_in(p, min_ready, now))
            .min()
            .or(Some(Duration::from_secs(
                u64::try_from(min_ready).unwrap_or(0),
            )))
    } else {
        None
    };
    StatusPlan {
        status,
        write,
        requeue_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, labels, pod, ready_pod, rs};
    use k8s_openapi::api::apps::v1::ReplicaSet;

    fn rs_min_ready(replicas: i32, min_ready: i32) -> ReplicaSet {
        let mut r = rs("web", replicas, at(0));
        r.spec.as_mut().unwrap().min_ready_seconds = Some(min_ready);
        r.status = None;
        r.metadata.generation = Some(3);
        r
    }

    #[test]
    fn counts_replicas_labels_ready_and_available() {
        let r = rs_min_ready(4, 10);
        let available = ready_pod("available", at(0));
        let just_ready = ready_pod("just-ready", at(95));
        let not_ready = pod("not-ready");
        let mut unlabeled = ready_pod("unlabeled", at(0));
        unlabeled.metadata.labels = Some(labels(&[("other", "x")]));
        let pods = [&available, &just_ready, &not_ready, &unlabeled];
        let plan = plan_status(&r, &pods, None, at(100));
        let s = &plan.status;
        assert_eq!(s.replicas, 4);
        assert_eq!(s.fully_labeled_replicas, Some(3));
        assert_eq!(s.ready_replicas, Some(3));
        assert_eq!(s.available_replicas, Some(2));
        assert_eq!(s.observed_generation, Some(3));
        assert!(plan.write);
        // Not every desired replica is ready: the ready transition will enqueue.
        assert_eq!(plan.requeue_after, None);
    }

    #[test]
    fn requeues_when_all_ready_but_not_yet_available() {
        let r = rs_min_ready(2, 10);
        let a = ready_pod("a", at(92));
        let b = ready_pod("b", at(95));
        let plan = plan_status(&r, &[&a, &b], None, at(100));
        assert_eq!(plan.status.available_replicas, Some(0));
        // `a` becomes available 10 s after 92, i.e. just after 102.
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(2)));
        // After a failed sync the error requeues instead.
        let plan = plan_status(&r, &[&a, &b], Some("boom"), at(100));
        assert_eq!(plan.requeue_after, None);
    }

    #[test]
    fn replica_failure_is_set_on_error_and_removed_after_success() {
        let r = rs_min_ready(3, 0);
        let a = ready_pod("a", at(0));
        let s = calculate_status(&r, &[&a], Some("pods \"web-x\" is forbidden: quota"), at(5));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(c.type_, REPLICA_FAILURE);
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some(FAILED_CREATE));
        assert_eq!(
            c.message.as_deref(),
            Some("pods \"web-x\" is forbidden: quota")
        );
        assert_eq!(c.last_transition_time, Some(k8s(at(5))));

        // A later error keeps the first condition as it is.
        let mut failed = r.clone();
        failed.status = Some(s.clone());
        let again = calculate_status(&failed, &[&a], Some("other"), at(9));
        assert_eq!(again.conditions, s.conditions);

        // Too many pods and an error: FailedDelete.
        let r1 = rs_min_ready(0, 0);
        let s = calculate_status(&r1, &[&a], Some("nope"), at(5));
        assert_eq!(
            s.conditions.unwrap()[0].reason.as_deref(),
            Some(FAILED_DELETE)
        );

        // Success removes it.
        let ok = calculate_status(&failed, &[&a], None, at(10));
        assert_eq!(ok.conditions, None);
    }

    #[test]
    fn unchanged_status_is_not_written() {
        let mut r = rs_min_ready(1, 0);
        let a = ready_pod("a", at(0));
        let first = plan_status(&r, &[&a], None, at(1));
        assert!(first.write);
        r.status = Some(first.status);
        let second = plan_status(&r, &[&a], None, at(2));
        assert!(!second.write);
        // A new generation must be observed even with equal counts.
        r.metadata.generation = Some(4);
        let third = plan_status(&r, &[&a], None, at(3));
        assert!(third.write);
        assert_eq!(third.status.observed_generation, Some(4));
    }
}
