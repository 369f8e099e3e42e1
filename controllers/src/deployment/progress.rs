//! Rollout progress (upstream `progress.go`): the `Progressing` condition, the
//! `ReplicaFailure` condition promoted from ReplicaSets, `progressDeadlineSeconds`
//! and the requeue that checks it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{
    self, NEW_REPLICA_SET_AVAILABLE, PROGRESS_DEADLINE_EXCEEDED, PROGRESSING, REPLICA_FAILURE,
    REPLICA_SET_UPDATED,
};
use super::plan::Requeue;
use super::status::{calculate_status, status_unchanged};
use super::sync::Sync;
use super::util::{deployment_complete, deployment_progressing, progress_deadline, status};
use crate::util::replicasets as rsu;
use crate::util::time;

/// True when the rollout has made no progress for `progressDeadlineSeconds`
/// (upstream `DeploymentTimedOut`): the `Progressing` condition in `new` was last
/// updated more than the deadline before `now`; a completed rollout never
/// times out, an already timed-out one stays so.
pub fn deployment_timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(cond) = conditions::get(new, PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_REPLICA_SET_AVAILABLE) => return false,
        Some(PROGRESS_DEADLINE_EXCEEDED) => return true,
        _ => {}
    }
    let Some(from) = cond.last_update_time.as_ref() else {
        return false;
    };
    let until = time::add(
        from.0,
        Duration::from_secs(u64::try_from(deadline).unwrap_or(0)),
    );
    until < now
}

/// The new status of a rollout step (upstream `syncRolloutStatus` minus the
/// write): [`calculate_status`], then `Progressing` — `NewReplicaSetAvailable`
/// when complete, `ReplicaSetUpdated` (refreshing `lastUpdateTime`) on progress,
/// `ProgressDeadlineExceeded` when timed out; removed without a deadline — and
/// the new (else any) ReplicaSet's `ReplicaFailure`.
pub fn rollout_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let mut s = calculate_status(d, all, new_rs, now);
    let has_deadline = progress_deadline(d).is_some();
    if !has_deadline {
        conditions::remove(&mut s, PROGRESSING);
    }
    let stored = status(d);
    let current = conditions::get(&stored, PROGRESSING);
    let complete_before = s.replicas == s.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_REPLICA_SET_AVAILABLE));
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let subject = |what: &str| match new_rs {
        Some(rs) => format!("ReplicaSet {:?} {what}", rsu::name(rs)),
        None => format!("Deployment {name:?} {what}"),
    };
    if has_deadline && !complete_before {
        if deployment_complete(d, &s) {
            let c = conditions::new_condition(
                PROGRESSING,
                "True",
                NEW_REPLICA_SET_AVAILABLE,
                subject("has successfully progressed."),
                now,
            );
            conditions::set(&mut s, c);
        } else if deployment_progressing(d, &s) {
            let mut c = conditions::new_condition(
                PROGRESSING,
                "True",
                REPLICA_SET_UPDATED,
                subject("is progressing."),
                now,
            );
            if let Some(cur) = current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                conditions::remove(&mut s, PROGRESSING);
            }
            conditions::set(&mut s, c);
        } else if deployment_timed_out(d, &s, now) {
            let c = conditions::new_condition(
                PROGRESSING,
                "False",
                PROGRESS_DEADLINE_EXCEEDED,
                subject("has timed out progressing."),
                now,
            );
            conditions::set(&mut s, c);
        }
    }
    match replica_failure(all, new_rs) {
        Some(c) => conditions::set(&mut s, c),
        None => conditions::remove(&mut s, REPLICA_FAILURE),
    }
    s
}

/// The `ReplicaFailure` condition of the new ReplicaSet, else of any, as a
/// Deployment condition (upstream `getReplicaFailures`).
fn replica_failure(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(conditions::from_replica_set)
    };
    new_rs
        .and_then(failure)
        .or_else(|| all.iter().find_map(|rs| failure(rs)))
}

/// When to check the progress deadline of a Deployment whose status did not
/// change (upstream `requeueStuckDeployment`): `None` without a deadline or
/// `Progressing` condition, when complete or already timed out; otherwise the
/// time left until the deadline plus a second, or at once (rate limited) when
/// less than a second is left.
pub fn requeue_stuck_deployment(
    d: &Deployment,
    new: &DeploymentStatus,
    now: Timestamp,
) -> Option<Requeue> {
    let deadline = progress_deadline(d)?;
    let stored = status(d);
    let cond = conditions::get(&stored, PROGRESSING)?;
    if deployment_complete(d, new) || cond.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED) {
        return None;
    }
    let last = cond.last_update_time.as_ref()?.0;
    let at = time::add(
        last,
        Duration::from_secs(u64::try_from(deadline).unwrap_or(0)),
    );
    let after = time::nanos_between(at, now);
    if after < 1_000_000_000 {
        return Some(Requeue::RateLimited);
    }
    Some(Requeue::After(
        time::since(at, now) + Duration::from_secs(1),
    ))
}

impl Sync<'_> {
    /// Upstream `syncRolloutStatus`: write the rollout status when it changed,
    /// else plan the progress-deadline requeue.
    pub(crate) fn sync_rollout_status(&mut self, all: &[usize], new: Option<usize>) {
        let s = {
            let refs = self.refs(all);
            rollout_status(&self.d, &refs, new.map(|i| &self.rss[i]), self.now)
        };
        if status_unchanged(&self.d, &s) {
            self.plan.requeue = requeue_stuck_deployment(&self.d, &s, self.now);
            return;
        }
        self.d.status = Some(s);
        self.push_status_write();
    }
}
