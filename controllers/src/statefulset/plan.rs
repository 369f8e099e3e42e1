//! The decisions of one StatefulSet sync (upstream `updateStatefulSet` with
//! `processReplica`, `processCondemned` and the rolling update of
//! `stateful_set_control.go`), given the set at its current and update
//! revisions, its pods and the cached claims. Pure: [`plan_sync`] returns a
//! [`SyncPlan`] that [`super::actions`] performs phase by phase.
//!
//! - **OrderedReady** (monotonic): the replicas are visited in ordinal order and
//!   the first that is missing (created now), failed (deleted now, recreated once
//!   gone), terminating, not Running and Ready, or not available for
//!   `minReadySeconds`, ends the sync; only with every replica healthy are
//!   condemned pods (ordinals beyond the range) deleted, the highest first and one
//!   per sync, and only then is one pod deleted for the rolling update.
//! - **Parallel**: every replica is visited; the missing are created and the failed
//!   deleted at once, every condemned pod is deleted at once.
//! - **RollingUpdate**: from the highest ordinal down to the partition, the first
//!   pod not at the update revision is deleted (recreated at the update revision
//!   by a later sync), waiting while any pod of that range is unavailable.
//!   `maxUnavailable` is upstream's `MaxUnavailableStatefulSet` alpha, off by
//!   default: ignored. **OnDelete**: pods are replaced only when deleted by hand.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;

use super::identity::{
    claims_for, identity_matches, new_versioned_pod, ordinal, pod_revision, start_ordinal,
    storage_matches, update_identity, update_storage,
};
use super::retention::{claim_is_stale, claim_owner_refs, is_claim_owner_up_to_date};
use crate::util::pod::{is_available, is_ready, phase};
use crate::util::pod_control::{PodRef, PodTemplateError};

/// What a sync starts from.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// The set, from the cache.
    pub set: &'a StatefulSet,
    /// The set with its current revision's template (upstream `currentSet`).
    pub current_set: &'a StatefulSet,
    /// The set with its update revision's template (upstream `updateSet`).
    pub update_set: &'a StatefulSet,
    /// The current revision's name.
    pub current_revision: &'a str,
    /// The update revision's name.
    pub update_revision: &'a str,
    /// The collision count to record.
    pub collision_count: i32,
    /// The set's claimed pods.
    pub pods: &'a [&'a Pod],
    /// The cached claims of the set's namespace the sync may need, by name.
    pub claims: &'a BTreeMap<String, PersistentVolumeClaim>,
    /// The time of the sync.
    pub now: Timestamp,
}

/// Claims to write for one pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimWork {
    /// The pod the claims are for.
    pub pod: String,
    /// Claims to create (with the owner references the policy wants).
    pub create: Vec<PersistentVolumeClaim>,
    /// Existing claims with their owner references rewritten for the policy.
    pub update: Vec<PersistentVolumeClaim>,
    /// Claims of the pod being deleted: the pod cannot be created (upstream
    /// fails the creation with `pvc <name> is being deleted`).
    pub being_deleted: Vec<String>,
}

impl ClaimWork {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.being_deleted.is_empty()
    }
}

/// One write for a replica (an ordinal in range).
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaStep {
    /// A failed or succeeded pod: delete it; a later sync recreates it.
    DeleteFailed(PodRef),
    /// A missing pod: its claims first, then the pod.
    Create {
        /// The pod to create.
        pod: Box<Pod>,
        /// Its claims.
        claims: ClaimWork,
    },
    /// A pending pod's missing claims and their references.
    Claims(ClaimWork),
    /// A pod whose identity, volumes or claims' references drifted: the pod to
    /// write (when its identity or volumes changed) and its claims.
    Repair {
        /// The pod with its identity and volumes restored, if they changed.
        pod: Option<Box<Pod>>,
        /// Its claims.
        claims: ClaimWork,
    },
}

/// What a sync does, phase by phase; a failing phase ends the sync.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPlan {
    /// The status to write.
    pub status: StatefulSetStatus,
    /// Phase 1: the replicas' writes, in ordinal order.
    pub replicas: Vec<ReplicaStep>,
    /// Phase 2: condemned pods' claims given the references the policy wants.
    pub condemned_claims: Vec<PersistentVolumeClaim>,
    /// Phase 3: condemned pods to delete.
    pub condemned: Vec<PodRef>,
    /// Phase 4: the pod the rolling update deletes.
    pub update: Option<PodRef>,
    /// Why the sync stopped early, for the logs.
    pub waiting: Option<String>,
}

/// Upstream `isCreated`: the API server has the pod (it has a phase).
pub fn is_created(pod: &Pod) -> bool {
    !phase(pod).is_empty()
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Upstream `isRunningAndReady`.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// Upstream `isUnavailable`: not Running and Ready, not available for
/// `minReadySeconds`, or terminating.
pub fn is_unavailable(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    !is_running_and_ready(pod) || !is_available(pod, min_ready_seconds, now) || is_terminating(pod)
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// Upstream `allowsBurst`: `podManagementPolicy: Parallel`.
pub fn allows_burst(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

fn strategy_type(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Upstream `updateStatus`: counts of `pods` (`replicas` created, `readyReplicas`
/// Running and Ready, `availableReplicas` also available, and the created,
/// non-terminating pods at the current and update revisions).
pub fn count_status(
    status: &mut StatefulSetStatus,
    pods: &[&Pod],
    min_ready_seconds: i32,
    now: Timestamp,
) {
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    let cur = status.current_revision.clone().unwrap_or_default();
    let upd = status.update_revision.clone().unwrap_or_default();
    for p in pods {
        if is_created(p) {
            replicas += 1;
        }
        if is_running_and_ready(p) {
            ready += 1;
            if is_available(p, min_ready_seconds, now) {
                available += 1;
            }
        }
        if is_created(p) && !is_terminating(p) {
            let rev = pod_revision(p);
            if rev == cur {
                current += 1;
            }
            if rev == upd {
                updated += 1;
            }
        }
    }
    status.replicas = replicas;
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
}

/// The claims of `pod` (a member of `set` with an ordinal) to create or update
/// so that they exist with the references the policy wants (upstream
/// `createPersistentVolumeClaims` with `UpdatePodClaimForRetentionPolicy`).
fn claim_work(
    set: &StatefulSet,
    pod: &Pod,
    claims: &BTreeMap<String, PersistentVolumeClaim>,
    create_missing: bool,
) -> ClaimWork {
    let mut work = ClaimWork {
        pod: pod.metadata.name.clone().unwrap_or_default(),
        ..ClaimWork::default()
    };
    let Some(ord) = ordinal(pod) else {
        return work;
    };
    for (_, mut claim) in claims_for(set, ord) {
        let name = claim.metadata.name.clone().unwrap_or_default();
        match claims.get(&name) {
            None if create_missing => {
                claim.metadata.owner_references =
                    Some(claim_owner_refs(&claim, set, pod)).filter(|r: &Vec<_>| !r.is_empty());
                work.create.push(claim);
            }
            None => {}
            Some(existing) => {
                if create_missing && existing.metadata.deletion_timestamp.is_some() {
                    work.being_deleted.push(name);
                } else if !is_claim_owner_up_to_date(existing, set, pod) {
                    let mut updated = existing.clone();
                    updated.metadata.owner_references = Some(claim_owner_refs(existing, set, pod));
                    work.update.push(updated);
                }
            }
        }
    }
    work
}

/// Whether an existing claim of the pod to create still references an earlier
/// pod of its name (upstream `PodClaimIsStale`).
fn has_stale_claim(
    set: &StatefulSet,
    pod: &Pod,
    claims: &BTreeMap<String, PersistentVolumeClaim>,
) -> bool {
    let Some(ord) = ordinal(pod) else {
        return false;
    };
    claims_for(set, ord).iter().any(|(_, c)| {
        claims
            .get(c.metadata.name.as_deref().unwrap_or_default())
            .is_some_and(|existing| claim_is_stale(set, pod, existing))
    })
}

/// Upstream `processReplica` for one replica: the step to take, and whether a
/// monotonic sync stops here (with why).
fn process_replica(
    input: &SyncInput<'_>,
    replica: &Pod,
    monotonic: bool,
) -> (Option<ReplicaStep>, Option<String>) {
    let set = input.set;
    let name = replica.metadata.name.clone().unwrap_or_default();
    if matches!(phase(replica), "Failed" | "Succeeded") {
        let step =
            (!is_terminating(replica)).then(|| ReplicaStep::DeleteFailed(PodRef::of(replica)));
        return (
            step,
            Some(format!("pod {name} ended and is being recreated")),
        );
    }
    let mut step = None;
    if !is_created(replica) {
        if has_stale_claim(set, replica, input.claims) {
            return (None, Some(format!("a claim of pod {name} awaits deletion")));
        }
        step = Some(ReplicaStep::Create {
            pod: Box::new(replica.clone()),
            claims: claim_work(set, replica, input.claims, true),
        });
        if monotonic {
            return (step, Some(format!("pod {name} is being created")));
        }
        // Parallel: nothing else can be said of a pod that does not exist yet.
        return (step, None);
    }
    if phase(replica) == "Pending" {
        let work = claim_work(set, replica, input.claims, true);
        if !work.is_empty() {
            step = Some(ReplicaStep::Claims(work));
        }
    }
    let min_ready = min_ready_seconds(set);
    if monotonic {
        let wait = if is_terminating(replica) {
            Some("to terminate")
        } else if !is_running_and_ready(replica) {
            Some("to be Running and Ready")
        } else if !is_available(replica, min_ready, input.now) {
            Some("to be available")
        } else {
            None
        };
        if let Some(w) = wait {
            return (step, Some(format!("waiting for pod {name} {w}")));
        }
    }
    let claims = claim_work(input.update_set, replica, input.claims, false);
    let identity_ok = identity_matches(set, replica) && storage_matches(set, replica);
    if identity_ok && claims.update.is_empty() {
        return (step, None);
    }
    let pod = (!identity_ok).then(|| {
        let mut fixed = replica.clone();
        update_identity(input.update_set, &mut fixed);
        update_storage(input.update_set, &mut fixed);
        Box::new(fixed)
    });
    let claims = if storage_matches(set, replica) {
        claims
    } else {
        claim_work(input.update_set, replica, input.claims, true)
    };
    let repair = ReplicaStep::Repair { pod, claims };
    // A pending pod that also drifted: its claims are written by the repair.
    (Some(repair), None)
}

/// Plans one sync of `input.set` (see the [module](self) documentation).
pub fn plan_sync(input: &SyncInput<'_>) -> Result<SyncPlan, PodTemplateError> {
    let set = input.set;
    let min_ready = min_ready_seconds(set);
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(input.current_revision.to_string()),
        update_revision: Some(input.update_revision.to_string()),
        collision_count: Some(input.collision_count),
        ..Default::default()
    };
    let mut plan = SyncPlan {
        status: StatefulSetStatus::default(),
        replicas: Vec::new(),
        condemned_claims: Vec::new(),
        condemned: Vec::new(),
        update: None,
        waiting: None,
    };
    if set.metadata.deletion_timestamp.is_some() {
        count_status(&mut status, input.pods, min_ready, input.now);
        plan.status = status;
        return Ok(plan);
    }

    // Replicas by ordinal, missing ones made at the right revision; condemned
    // pods (valid ordinals out of range) highest first.
    let start = start_ordinal(set);
    let count = usize::try_from(super::identity::replicas(set)).unwrap_or(0);
    let mut slots: Vec<Option<&Pod>> = vec![None; count];
    let mut condemned: Vec<&Pod> = Vec::new();
    for p in input.pods {
        let Some(ord) = ordinal(p) else { continue };
        match usize::try_from(ord - start).ok().filter(|i| *i < count) {
            Some(i) => slots[i] = Some(p),
            None if ord >= 0 => condemned.push(p),
            None => {}
        }
    }
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
    let mut made: BTreeMap<usize, Pod> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if slot.is_none() {
            let ord = start + i32::try_from(i).unwrap_or(i32::MAX);
            let pod = new_versioned_pod(
                input.current_set,
                input.update_set,
                input.current_revision,
                input.update_revision,
                ord,
            )?;
            made.insert(i, pod);
        }
    }
    // Every slot holds a pod: its own or the one just made.
    let replicas: Vec<&Pod> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.or_else(|| made.get(&i)))
        .collect();
    let all: Vec<&Pod> = replicas.iter().chain(condemned.iter()).copied().collect();
    count_status(&mut status, &all, min_ready, input.now);

    let first_unavailable = replicas
        .iter()
        .chain(condemned.iter().rev())
        .find(|p| is_unavailable(p, min_ready, input.now))
        .map(|p| p.metadata.name.clone());

    let monotonic = !allows_burst(set);
    plan.status = status;

    // Phase 1: the replicas.
    for replica in &replicas {
        let (step, stop) = process_replica(input, replica, monotonic);
        plan.replicas.extend(step);
        if stop.is_some() && monotonic {
            plan.waiting = stop;
            return Ok(plan);
        }
    }

    // Phase 2: the condemned pods' claims.
    for pod in &condemned {
        plan.condemned_claims
            .extend(claim_work(input.update_set, pod, input.claims, false).update);
    }

    // Phase 3: the condemned pods, highest ordinal first.
    for pod in &condemned {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if is_terminating(pod) {
            if monotonic {
                plan.waiting = Some(format!(
                    "waiting for pod {name} to terminate before scaling down"
                ));
                return Ok(plan);
            }
            continue;
        }
        let first = first_unavailable.as_ref() == Some(&pod.metadata.name);
        if monotonic && !first && is_unavailable(pod, min_ready, input.now) {
            plan.waiting = Some(format!(
                "waiting for pod {} to be Running and available before scaling down",
                first_unavailable.clone().flatten().unwrap_or_default()
            ));
            return Ok(plan);
        }
        plan.condemned.push(PodRef::of(pod));
        if monotonic {
            plan.waiting = Some(format!("pod {name} is terminating for scale down"));
            return Ok(plan);
        }
    }

    // Phase 4: the rolling update.
    if strategy_type(set) == "OnDelete" {
        return Ok(plan);
    }
    let partition = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let update_min = usize::try_from(partition).unwrap_or(0);
    for target in (update_min..replicas.len()).rev() {
        let pod = replicas[target];
        let name = pod.metadata.name.clone().unwrap_or_default();
        if pod_revision(pod) != input.update_revision && !is_terminating(pod) {
            if is_created(pod) {
                plan.update = Some(PodRef::of(pod));
            }
            let current = plan.status.current_replicas.unwrap_or(0);
            plan.status.current_replicas = Some(current - 1);
            plan.waiting = Some(format!("pod {name} is terminating for update"));
            return Ok(plan);
        }
        if is_unavailable(pod, min_ready, input.now) {
            plan.waiting = Some(format!("waiting for pod {name} to update"));
            return Ok(plan);
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
