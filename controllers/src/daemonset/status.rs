//! The DaemonSet's status, pure (upstream `updateDaemonSetStatus` and
//! `storeDaemonSetStatus`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};

use super::eligibility::node_should_run_daemon_pod;
use super::plan::{SyncInput, node_to_daemon_pods};
use super::pods::{by_creation_and_phase, is_pod_updated, template_generation};
use crate::util::pod::{is_available, is_ready};

/// The status to write and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPlan {
    /// The new status (the current one with the counts replaced).
    pub status: DaemonSetStatus,
    /// Sync again after `minReadySeconds` when some ready pods are not yet
    /// available (upstream's guard against clock skew).
    pub requeue_after: Option<Duration>,
}

/// Upstream `updateDaemonSetStatus`: per eligible node, whether it has a pod and
/// whether its oldest pod is ready, available and of the current revision;
/// pods on other nodes are misscheduled. `observed_generation` is raised only
/// when the sync acted on this generation (its expectations were met).
pub fn plan_status(input: &SyncInput<'_>, update_observed_generation: bool) -> StatusPlan {
    let by_node = node_to_daemon_pods(input.pods);
    let min_ready = input
        .ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let generation = template_generation(input.ds);
    let (mut desired, mut current, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut updated, mut available) = (0, 0, 0);
    for node in input.nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let pods = by_node.get(name).filter(|p| !p.is_empty());
        if !node_should_run_daemon_pod(node, input.ds).should_run {
            misscheduled += i32::from(pods.is_some());
            continue;
        }
        desired += 1;
        let Some(pods) = pods else { continue };
        current += 1;
        let Some(pod) = pods
            .iter()
            .copied()
            .min_by(|a, b| by_creation_and_phase(a, b))
        else {
            continue;
        };
        if is_ready(pod) {
            ready += 1;
            available += i32::from(is_available(pod, min_ready, input.now));
        }
        updated += i32::from(is_pod_updated(pod, input.hash, generation));
    }
    let mut status = input.ds.status.clone().unwrap_or_default();
    if update_observed_generation {
        status.observed_generation = input.ds.metadata.generation;
    }
    status.desired_number_scheduled = desired;
    status.current_number_scheduled = current;
    status.number_misscheduled = misscheduled;
    status.number_ready = ready;
    status.updated_number_scheduled = Some(updated);
    status.number_available = Some(available);
    status.number_unavailable = Some(desired - available);
    let requeue_after = (min_ready > 0 && ready != available)
        .then(|| Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)));
    StatusPlan {
        status,
        requeue_after,
    }
}

/// Upstream `storeDaemonSetStatus`' shortcut: the counts are the same and the
/// stored status has observed the DaemonSet's generation, so nothing is written.
pub fn status_unchanged(current: &DaemonSet, candidate: &DaemonSet) -> bool {
    let counts = |s: &DaemonSetStatus| {
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_misscheduled,
            s.number_ready,
            s.updated_number_scheduled.unwrap_or(0),
            s.number_available.unwrap_or(0),
            s.number_unavailable.unwrap_or(0),
        )
    };
    let have = current.status.clone().unwrap_or_default();
    let want = candidate.status.clone().unwrap_or_default();
    counts(&have) == counts(&want)
        && have.observed_generation.unwrap_or(0) >= current.metadata.generation.unwrap_or(0)
        && have.collision_count == want.collision_count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::testing::*;

    #[test]
    fn status_counts_each_eligible_node_once_by_its_oldest_pod() {
        let ds = daemonset("agent", "v1");
        let n1 = node("n1");
        let n2 = node("n2");
        let n3 = node("n3");
        let mut tainted = node("n4");
        taint(&mut tainted, "dedicated", "NoSchedule");
        let nodes = [&n1, &n2, &n3, &tainted];
        let a = ready_pod(&ds, "a", "n1", HASH, 10);
        let dup = ready_pod(&ds, "dup", "n1", HASH, 20);
        let b = pending_pod(&ds, "b", "n2", "old", 10);
        let c = ready_pod(&ds, "c", "n4", HASH, 10);
        let pods = [&a, &dup, &b, &c];
        let backoff = Default::default();
        let input = input(&ds, &nodes, &pods, &backoff);
        let plan = plan_status(&input, true);
        let s = plan.status;
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_misscheduled, 1);
        assert_eq!(s.number_ready, 1);
        assert_eq!(s.updated_number_scheduled, Some(1));
        assert_eq!(s.number_available, Some(1));
        assert_eq!(s.number_unavailable, Some(2));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(plan.requeue_after, None);
    }

    #[test]
    fn ready_but_not_yet_available_pods_bring_a_sync_after_min_ready_seconds() {
        let mut ds = daemonset("agent", "v1");
        ds.spec.as_mut().unwrap().min_ready_seconds = Some(30);
        let n1 = node("n1");
        let a = ready_pod(&ds, "a", "n1", HASH, 10);
        let backoff = Default::default();
        let nodes = [&n1];
        let pods = [&a];
        let mut input = input(&ds, &nodes, &pods, &backoff);
        input.now = at(25);
        let plan = plan_status(&input, false);
        assert_eq!(plan.status.number_ready, 1);
        assert_eq!(plan.status.number_available, Some(0));
        assert_eq!(plan.status.observed_generation, None, "not raised");
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
        input.now = at(41);
        assert_eq!(plan_status(&input, false).status.number_available, Some(1));
    }
}
