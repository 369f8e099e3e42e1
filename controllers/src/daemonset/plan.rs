//! The decisions of one DaemonSet sync, pure (upstream `manage`,
//! `podsShouldBeOnNode`, `getUnscheduledPodsWithoutNode` and `rollingUpdate`):
//! given the nodes, the DaemonSet's pods, the current revision's hash, the
//! failed-pod backoff and `now`, which nodes get a pod and which pods go.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;

use super::backoff::{FailedPodsBackoff, backoff_key};
use super::eligibility::{node_should_run_daemon_pod, target_node_name};
use super::pods::{by_creation_and_phase, is_pod_updated, template_generation};
use super::{BURST_REPLICAS, FAILED_POD_BACKOFF_INITIAL, ROLLING_UPDATE};
use crate::util::history::POD_REVISION_LABEL;
use crate::util::intstr::{InvalidIntOrPercent, scaled_value};
use crate::util::pod::{is_available, is_ready, phase};
use crate::util::pod_control::PodRef;

/// What one sync reads: the DaemonSet, every node, the pods it owns, the hash of
/// its current revision, the failed-pod backoff and the time.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The DaemonSet.
    pub ds: &'a DaemonSet,
    /// Every node of the cluster.
    pub nodes: &'a [&'a Node],
    /// The pods the DaemonSet controls (claimed).
    pub pods: &'a [&'a Pod],
    /// The current revision's hash (`controller-revision-hash`).
    pub hash: &'a str,
    /// The failed-pod backoff, as of this sync.
    pub backoff: &'a FailedPodsBackoff,
    /// The time of the sync.
    pub now: Timestamp,
}

/// A daemon pod that finished on its node and is deleted to be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedDaemonPod {
    /// The pod.
    pub pod: PodRef,
    /// Its node.
    pub node: String,
    /// `Failed` (a `FailedDaemonPod` warning, and the node's backoff grows) or
    /// `Succeeded` (a `SucceededDaemonPod` event).
    pub failed: bool,
}

/// What a sync does to the pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodsPlan {
    /// Nodes to create a daemon pod for (at most [`BURST_REPLICAS`]).
    pub create_on: Vec<String>,
    /// Pods to delete (at most [`BURST_REPLICAS`]).
    pub delete: Vec<PodRef>,
    /// Finished pods among `delete`, for their Events and the backoff.
    pub finished: Vec<FinishedDaemonPod>,
    /// Sync again after this long (a failed pod still in backoff).
    pub requeue_after: Option<Duration>,
    /// The rolling update could not be planned (an invalid `maxSurge` or
    /// `maxUnavailable`).
    pub error: Option<String>,
}

impl PodsPlan {
    /// Whether the plan creates or deletes anything.
    pub fn writes(&self) -> bool {
        !self.create_on.is_empty() || !self.delete.is_empty()
    }

    fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}

/// Upstream `getNodesToDaemonPods`: the pods by the node they are on or meant
/// for, leaving out terminal pods already being deleted and pods naming no node.
pub fn node_to_daemon_pods<'a>(pods: &[&'a Pod]) -> BTreeMap<String, Vec<&'a Pod>> {
    let mut by_node: BTreeMap<String, Vec<&'a Pod>> = BTreeMap::new();
    for pod in pods {
        let terminal = matches!(phase(pod), "Failed" | "Succeeded");
        if terminal && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = target_node_name(pod) {
            by_node.entry(node.to_string()).or_default().push(pod);
        }
    }
    by_node
}

fn deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn min_ready_seconds(ds: &DaemonSet) -> i32 {
    ds.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn strategy(ds: &DaemonSet) -> &str {
    ds.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE)
}

/// Upstream `SurgeCount` and `UnavailableCount` for `desired` scheduled pods
/// (both round percentages up), with `updatedDesiredNodeCounts`' rule that both
/// zero means one unavailable.
pub fn surge_and_unavailable(
    ds: &DaemonSet,
    desired: i32,
) -> Result<(i32, i32), InvalidIntOrPercent> {
    let rolling = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .filter(|u| u.type_.as_deref().unwrap_or(ROLLING_UPDATE) == ROLLING_UPDATE)
        .and_then(|u| u.rolling_update.as_ref());
    let Some(r) = rolling else {
        return Ok((0, 0));
    };
    let surge = match &r.max_surge {
        Some(v) => scaled_value(v, desired, true)?,
        None => 0,
    };
    let unavailable = match &r.max_unavailable {
        Some(v) => scaled_value(v, desired, true)?,
        None => 0,
    };
    if desired > 0 && surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

/// Upstream `AllowsSurge`: `maxSurge` is set and not zero of one node.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    let has_surge = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref())
        .is_some();
    has_surge && surge_and_unavailable(ds, 1).is_ok_and(|(s, _)| s != 0)
}

/// Upstream `podsShouldBeOnNode` for one node.
fn pods_should_be_on_node(
    input: &SyncInput<'_>,
    node: &Node,
    daemon_pods: Option<&Vec<&Pod>>,
    plan: &mut PodsPlan,
    bumped: &mut HashSet<String>,
) {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let eligible = node_should_run_daemon_pod(node, input.ds);
    let exists = daemon_pods.is_some_and(|p| !p.is_empty());
    let pods: &[&Pod] = daemon_pods.map_or(&[], |p| p.as_slice());
    if eligible.should_run && !exists {
        plan.create_on.push(name.to_string());
        return;
    }
    if !eligible.should_continue_running {
        if exists {
            plan.delete
                .extend(pods.iter().filter(|p| !deleting(p)).map(|p| PodRef::of(p)));
        }
        return;
    }
    let uid = input.ds.metadata.uid.as_deref().unwrap_or_default();
    let mut running: Vec<&Pod> = Vec::new();
    for pod in pods.iter().copied().filter(|p| !deleting(p)) {
        match phase(pod) {
            "Failed" => {
                let key = backoff_key(uid, name);
                if input.backoff.in_backoff_since_update(&key, input.now) {
                    plan.requeue(input.backoff.get(&key));
                    continue;
                }
                // One failed pod per node and sync starts the node's next delay.
                if !bumped.insert(key) {
                    plan.requeue(FAILED_POD_BACKOFF_INITIAL);
                    continue;
                }
                plan.delete.push(PodRef::of(pod));
                plan.finished.push(FinishedDaemonPod {
                    pod: PodRef::of(pod),
                    node: name.to_string(),
                    failed: true,
                });
            }
            "Succeeded" => {
                plan.delete.push(PodRef::of(pod));
                plan.finished.push(FinishedDaemonPod {
                    pod: PodRef::of(pod),
                    node: name.to_string(),
                    failed: false,
                });
            }
            _ => running.push(pod),
        }
    }
    running.sort_by(|a, b| by_creation_and_phase(a, b));
    if !allows_surge(input.ds) {
        // Without surge, all but the oldest go.
        plan.delete
            .extend(running.iter().skip(1).map(|p| PodRef::of(p)));
        return;
    }
    if running.len() <= 1 {
        if running.is_empty() && eligible.should_run {
            plan.create_on.push(name.to_string());
        }
        return;
    }
    // With surge: the oldest new pod and the oldest old pod may both stay while
    // the new one is not yet available and the old one still ready.
    let (mut oldest_new, mut oldest_old): (Option<&Pod>, Option<&Pod>) = (None, None);
    for pod in running {
        let label = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_REVISION_LABEL));
        let slot = if label.map(String::as_str) == Some(input.hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            plan.delete.push(PodRef::of(pod));
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!is_ready(old) || is_available(new, min_ready_seconds(input.ds), input.now))
    {
        plan.delete.push(PodRef::of(old));
    }
}

/// Upstream `manage`: pods for eligible nodes without one, deletions of pods on
/// nodes no longer eligible, of duplicates and of finished pods, and of
/// unscheduled pods meant for nodes that are gone. The shell records each failed
/// pod of [`PodsPlan::finished`] in the backoff (upstream `Next`).
pub fn plan_manage(input: &SyncInput<'_>) -> PodsPlan {
    let by_node = node_to_daemon_pods(input.pods);
    let mut plan = PodsPlan::default();
    let mut bumped = HashSet::new();
    for node in input.nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        pods_should_be_on_node(input, node, by_node.get(name), &mut plan, &mut bumped);
    }
    // Upstream `getUnscheduledPodsWithoutNode`.
    for (node, pods) in &by_node {
        if input
            .nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str()))
        {
            continue;
        }
        plan.delete.extend(
            pods.iter()
                .filter(|p| {
                    !deleting(p)
                        && p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .is_none_or(str::is_empty)
                })
                .map(|p| PodRef::of(p)),
        );
    }
    plan.create_on.truncate(BURST_REPLICAS);
    plan.delete.truncate(BURST_REPLICAS);
    plan
}

/// Upstream `findUpdatedPodsOnNode`: the node's new and old pod (not being
/// deleted); `None` when it has more than one of either (the manage loop
/// cleans that up first).
fn updated_pods_on_node<'a>(
    ds: &DaemonSet,
    pods: &[&'a Pod],
    hash: &str,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let generation = template_generation(ds);
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().copied().filter(|p| !deleting(p)) {
        let slot = if is_pod_updated(pod, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

/// Upstream `rollingUpdate`: without surge, delete old pods while at most
/// `maxUnavailable` are unavailable (the manage loop then creates their
/// replacements); with surge, create new pods beside available old ones (at most
/// `maxSurge` at once) and delete each old pod once its replacement is available.
pub fn plan_rolling_update(input: &SyncInput<'_>) -> PodsPlan {
    let mut by_node = node_to_daemon_pods(input.pods);
    let mut desired = 0;
    let mut eligible: BTreeMap<String, bool> = BTreeMap::new();
    for node in input.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let should_run = node_should_run_daemon_pod(node, input.ds).should_run;
        if should_run {
            desired += 1;
            by_node.entry(name.clone()).or_default();
        }
        eligible.insert(name, should_run);
    }
    let mut plan = PodsPlan::default();
    let (max_surge, max_unavailable) = match surge_and_unavailable(input.ds, desired) {
        Ok(v) => v,
        Err(e) => {
            plan.error = Some(e.to_string());
            return plan;
        }
    };
    let min_ready = min_ready_seconds(input.ds);
    let available = |p: &Pod| is_available(p, min_ready, input.now);
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some((new, old)) = updated_pods_on_node(input.ds, pods, input.hash) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(old) {
                        replacements.push(PodRef::of(old));
                    } else if unavailable < max_unavailable {
                        candidates.push(PodRef::of(old));
                    }
                }
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        candidates.truncate(room);
        plan.delete = replacements;
        plan.delete.extend(candidates);
        plan.delete.truncate(BURST_REPLICAS);
        return plan;
    }
    let mut surging = 0;
    let mut available_count = 0;
    let mut should_not_run = Vec::new();
    let mut allowed_new = Vec::new();
    let mut candidate_new = Vec::new();
    for (node, pods) in &by_node {
        let Some((new, old)) = updated_pods_on_node(input.ds, pods, input.hash) else {
            surging += 1;
            continue;
        };
        if old.is_some_and(available) || new.is_some_and(available) {
            available_count += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if available(old) {
                    candidate_new.push(node.clone());
                } else if !eligible.get(node).copied().unwrap_or(false) {
                    should_not_run.push(PodRef::of(old));
                } else {
                    allowed_new.push(node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(new) {
                    plan.delete.push(PodRef::of(old));
                } else {
                    surging += 1;
                }
            }
        }
    }
    // With surge the owner expects full availability: a pod on a node it should
    // no longer run on goes only once enough pods elsewhere are available.
    let deletable = usize::try_from((available_count - desired).max(0)).unwrap_or(0);
    plan.delete
        .extend(should_not_run.into_iter().take(deletable));
    let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0);
    candidate_new.truncate(room);
    plan.create_on = allowed_new;
    plan.create_on.extend(candidate_new);
    plan.create_on.truncate(BURST_REPLICAS);
    plan.delete.truncate(BURST_REPLICAS);
    plan
}

/// Upstream `updateDaemonSet` after the expectations check: the manage plan,
/// or, when it writes nothing and the strategy is `RollingUpdate`, the rolling
/// update's (upstream runs it only once manage's expectations are met, which is
/// exactly when manage wrote nothing). `OnDelete` replaces nothing itself.
pub fn plan_pods(input: &SyncInput<'_>) -> PodsPlan {
    let manage = plan_manage(input);
    if manage.writes() || strategy(input.ds) != ROLLING_UPDATE {
        return manage;
    }
    let mut rolling = plan_rolling_update(input);
    rolling.finished = manage.finished;
    if let Some(d) = manage.requeue_after {
        rolling.requeue(d);
    }
    rolling
}

#[cfg(test)]
mod tests;
