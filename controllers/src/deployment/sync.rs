//! The decisions of one Deployment sync (those of upstream `syncDeployment` and
//! the helpers of `sync.go`), planned over a working copy of the Deployment and its ReplicaSets: each write
//! is recorded as a [`Step`] and applied to the copy, so later decisions see it,
//! as upstream's in-place updates of the objects it just wrote.

use capstan_labels::is_empty_label_selector;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{self, FOUND_NEW_REPLICA_SET, NEW_REPLICA_SET_CREATED, PROGRESSING};
use super::plan::{DeploymentAction, DeploymentPlan, PlannedEvent, Step};
use super::revision::{
    self, DESIRED_REPLICAS, annotation_i32, max_revision, replicas_annotations_need_update,
    set_deployment_revision, set_new_replica_set_annotations, set_replicas_annotations,
};
use super::status::{calculate_status, status_unchanged};
use super::util::{
    self as du, POD_TEMPLATE_HASH_LABEL, find_new_replica_set, max_surge, min_ready_seconds,
    progress_deadline, replicas, revision_history_limit,
};
use crate::util::history::compute_hash;
use crate::util::replicasets::{self as rsu, spec_replicas};
use crate::util::time::k8s;

/// Event reason of ReplicaSet resizes.
pub const EVENT_SCALING_REPLICA_SET: &str = "ScalingReplicaSet";
/// Event reason of a Deployment whose selector is empty.
pub const EVENT_SELECTING_ALL: &str = "SelectingAll";

/// What the planner needs from the cache.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentInput<'a> {
    /// The Deployment.
    pub deployment: &'a Deployment,
    /// The ReplicaSets it controls (after adoption and release).
    pub replica_sets: &'a [ReplicaSet],
    /// The pods controlled by those ReplicaSets (Recreate waits for old ones).
    pub pods: &'a [&'a Pod],
    /// The current time.
    pub now: Timestamp,
}

/// The working state of a sync.
pub(crate) struct Sync<'a> {
    pub(crate) d: Deployment,
    pub(crate) rss: Vec<ReplicaSet>,
    pub(crate) pods: &'a [&'a Pod],
    pub(crate) now: Timestamp,
    pub(crate) plan: DeploymentPlan,
}

/// Plans one sync of a Deployment: the decisions of upstream `syncDeployment`
/// once the shell's `reconcile` has read the cache and claimed the ReplicaSets:
///
/// - an empty selector: a `SelectingAll` warning and only `observedGeneration`;
/// - being deleted: status only;
/// - `Paused`/`Resumed` conditions when the pause state changed;
/// - paused, or a scaling event (an active ReplicaSet's `desired-replicas`
///   differs from `spec.replicas`): proportional scaling, history cleanup when
///   paused, status;
/// - otherwise a Recreate or RollingUpdate rollout step and the rollout status
///   with its progress-deadline evaluation.
pub fn plan_deployment(input: DeploymentInput<'_>) -> DeploymentPlan {
    let mut s = Sync {
        d: input.deployment.clone(),
        rss: input.replica_sets.to_vec(),
        pods: input.pods,
        now: input.now,
        plan: DeploymentPlan::default(),
    };
    let selector = s.d.spec.as_ref().map(|sp| &sp.selector);
    if selector.is_some_and(is_empty_label_selector) {
        s.plan.events.push(PlannedEvent::warning(
            EVENT_SELECTING_ALL,
            "This deployment is selecting all pods. A non-empty selector is required.".into(),
        ));
        let st = du::status(&s.d);
        if st.observed_generation.unwrap_or(0) < du::generation(&s.d) {
            let mut st = st;
            st.observed_generation = Some(du::generation(&s.d));
            s.d.status = Some(st);
            s.push_status_write();
        }
        return s.plan;
    }
    if s.d.metadata.deletion_timestamp.is_some() {
        s.sync_status_only();
        return s.plan;
    }
    s.check_paused_conditions();
    if du::paused(&s.d) {
        s.sync_scaling();
        return s.plan;
    }
    if s.is_scaling_event() {
        s.sync_scaling();
        return s.plan;
    }
    if du::strategy_type(&s.d) == du::RECREATE {
        s.rollout_recreate();
    } else {
        s.rollout_rolling();
    }
    s.plan
}

impl Sync<'_> {
    pub(crate) fn push(&mut self, action: DeploymentAction, event: Option<PlannedEvent>) {
        self.plan.steps.push(Step { action, event });
    }

    pub(crate) fn push_status_write(&mut self) {
        self.push(
            DeploymentAction::UpdateStatus(Box::new(self.d.clone())),
            None,
        );
    }

    pub(crate) fn refs(&self, idx: &[usize]) -> Vec<&ReplicaSet> {
        idx.iter().map(|i| &self.rss[*i]).collect()
    }

    /// Indices of `old` plus `new` (upstream `append(oldRSs, newRS)`).
    pub(crate) fn all(old: &[usize], new: Option<usize>) -> Vec<usize> {
        old.iter().copied().chain(new).collect()
    }

    pub(crate) fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|i| rsu::is_active(&self.rss[*i]))
            .collect()
    }

    /// Sorts indices of the working ReplicaSets oldest first: an index wrapper
    /// around [`rsu::by_creation`], which mirrors upstream's ordering.
    pub(crate) fn sort_by_creation(&self, idx: &mut [usize]) {
        idx.sort_by(|a, b| rsu::by_creation(&self.rss[*a], &self.rss[*b]));
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (synced or,
    /// with `create`, created) and all old ones.
    pub(crate) fn all_replica_sets(&mut self, create: bool) -> (Option<usize>, Vec<usize>) {
        let new_idx = find_new_replica_set(&self.d, &self.rss);
        let old: Vec<usize> = (0..self.rss.len())
            .filter(|i| Some(*i) != new_idx)
            .collect();
        let new = self.get_new_replica_set(new_idx, &old, create);
        (new, old)
    }

    /// Upstream `getNewReplicaSet`.
    fn get_new_replica_set(
        &mut self,
        existing: Option<usize>,
        old: &[usize],
        create: bool,
    ) -> Option<usize> {
        let new_revision = max_revision(old.iter().map(|i| &self.rss[*i])) + 1;
        if let Some(i) = existing {
            let mut copy = self.rss[i].clone();
            let annotations_updated =
                set_new_replica_set_annotations(&self.d, &mut copy, new_revision, true);
            let min_ready = min_ready_seconds(&self.d);
            let spec = copy.spec.get_or_insert_default();
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready;
            if annotations_updated || min_ready_changed {
                spec.min_ready_seconds = Some(min_ready).filter(|m| *m != 0);
                self.rss[i] = copy.clone();
                self.push(DeploymentAction::UpdateReplicaSet(copy), None);
                return Some(i);
            }
            let rs_revision = copy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(revision::REVISION))
                .cloned()
                .unwrap_or_default();
            let mut needs_update = set_deployment_revision(&mut self.d, &rs_revision);
            let st = du::status(&self.d);
            if progress_deadline(&self.d).is_some() && conditions::get(&st, PROGRESSING).is_none() {
                let mut st = st;
                conditions::set(
                    &mut st,
                    conditions::new_condition(
                        PROGRESSING,
                        "True",
                        FOUND_NEW_REPLICA_SET,
                        format!("Found new replica set {:?}", rsu::name(&copy)),
                        self.now,
                    ),
                );
                self.d.status = Some(st);
                needs_update = true;
            }
            if needs_update {
                self.push_status_write();
            }
            return Some(i);
        }
        if !create {
            return None;
        }
        let new_rs = self.new_replica_set(old, new_revision);
        let count = spec_replicas(&new_rs);
        let name = rsu::name(&new_rs).to_string();
        let event = (count > 0).then(|| {
            PlannedEvent::normal(
                EVENT_SCALING_REPLICA_SET,
                format!("Scaled up replica set {name} to {count}"),
            )
        });
        self.push(DeploymentAction::CreateReplicaSet(new_rs.clone()), event);
        self.rss.push(new_rs);
        let idx = self.rss.len() - 1;
        let mut needs_update = set_deployment_revision(&mut self.d, &new_revision.to_string());
        if progress_deadline(&self.d).is_some() {
            let mut st = du::status(&self.d);
            conditions::set(
                &mut st,
                conditions::new_condition(
                    PROGRESSING,
                    "True",
                    NEW_REPLICA_SET_CREATED,
                    format!("Created new replica set {name:?}"),
                    self.now,
                ),
            );
            self.d.status = Some(st);
            needs_update = true;
        }
        if needs_update {
            self.push_status_write();
        }
        Some(idx)
    }

    /// The ReplicaSet upstream creates for the Deployment's current template.
    fn new_replica_set(&self, old: &[usize], new_revision: i64) -> ReplicaSet {
        new_replica_set_for(&self.d, &self.refs(old), new_revision, self.now)
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`: nothing when the size is right.
    pub(crate) fn scale_and_record(&mut self, i: usize, new_scale: i32) -> bool {
        if spec_replicas(&self.rss[i]) == new_scale {
            return false;
        }
        self.scale(i, new_scale);
        true
    }

    /// Upstream `scaleReplicaSet`: resize and refresh the replicas annotations;
    /// true when the size changed.
    pub(crate) fn scale(&mut self, i: usize, new_scale: i32) -> bool {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let old = spec_replicas(&self.rss[i]);
        let size_changed = old != new_scale;
        if !size_changed && !replicas_annotations_need_update(&self.rss[i], desired, max) {
            return false;
        }
        let mut copy = self.rss[i].clone();
        copy.spec.get_or_insert_default().replicas = Some(new_scale);
        set_replicas_annotations(&mut copy, desired, max);
        let event = size_changed.then(|| {
            let op = if old < new_scale { "up" } else { "down" };
            PlannedEvent::normal(
                EVENT_SCALING_REPLICA_SET,
                format!(
                    "Scaled {op} replica set {} from {old} to {new_scale}",
                    rsu::name(&copy)
                ),
            )
        });
        self.rss[i] = copy.clone();
        self.push(
            DeploymentAction::ScaleReplicaSet {
                rs: copy,
                from: old,
                to: new_scale,
            },
            event,
        );
        size_changed
    }

    /// Upstream `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if progress_deadline(&self.d).is_none() {
            return;
        }
        let st = du::status(&self.d);
        let cond = conditions::get(&st, PROGRESSING);
        if cond.is_some_and(|c| c.reason.as_deref() == Some(conditions::PROGRESS_DEADLINE_EXCEEDED))
        {
            return;
        }
        let paused_exists =
            cond.is_some_and(|c| c.reason.as_deref() == Some(conditions::DEPLOYMENT_PAUSED));
        let paused = du::paused(&self.d);
        let (reason, msg) = if paused && !paused_exists {
            (conditions::DEPLOYMENT_PAUSED, "Deployment is paused")
        } else if !paused && paused_exists {
            (conditions::DEPLOYMENT_RESUMED, "Deployment is resumed")
        } else {
            return;
        };
        let mut st = st;
        conditions::set(
            &mut st,
            conditions::new_condition(PROGRESSING, "Unknown", reason, msg.into(), self.now),
        );
        self.d.status = Some(st);
        self.push_status_write();
    }

    /// Upstream `isScalingEvent`.
    fn is_scaling_event(&mut self) -> bool {
        let (new, old) = self.all_replica_sets(false);
        let desired = replicas(&self.d);
        self.active(&Self::all(&old, new))
            .into_iter()
            .filter_map(|i| annotation_i32(&self.rss[i], DESIRED_REPLICAS))
            .any(|a| a != desired)
    }

    /// Upstream `syncStatusOnly`.
    fn sync_status_only(&mut self) {
        let (new, old) = self.all_replica_sets(false);
        self.sync_deployment_status(&Self::all(&old, new), new);
    }

    /// Upstream `sync`: scaling events and paused Deployments.
    fn sync_scaling(&mut self) {
        let (new, old) = self.all_replica_sets(false);
        self.scale_proportionally(new, &old);
        if du::paused(&self.d) {
            self.cleanup(&old);
        }
        self.sync_deployment_status(&Self::all(&old, new), new);
    }

    /// Upstream `syncDeploymentStatus`: write the status when it changed.
    pub(crate) fn sync_deployment_status(&mut self, all: &[usize], new: Option<usize>) {
        let new_status = {
            let all = self.refs(all);
            calculate_status(&self.d, &all, new.map(|i| &self.rss[i]), self.now)
        };
        if status_unchanged(&self.d, &new_status) {
            return;
        }
        self.d.status = Some(new_status);
        self.push_status_write();
    }

    /// Upstream `cleanupDeployment`: delete the oldest (by revision) old
    /// ReplicaSets beyond `revisionHistoryLimit` that have no pods, want none,
    /// have observed their generation and are not being deleted.
    pub(crate) fn cleanup(&mut self, old: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| by_revision(&self.rss[*a], &self.rss[*b]));
        for i in cleanable
            .into_iter()
            .take(usize::try_from(diff).unwrap_or(0))
        {
            let rs = &self.rss[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rsu::status_replicas(rs) != 0
                || spec_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
                || rs.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            let action = DeploymentAction::DeleteReplicaSet {
                name: rsu::name(rs).to_string(),
                uid: rs.metadata.uid.clone().unwrap_or_default(),
            };
            self.push(action, None);
        }
    }
}

/// Oldest revision first, ties by creation (upstream `ReplicaSetsByRevision`).
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    let ra = revision::revision(a).unwrap_or(0);
    let rb = revision::revision(b).unwrap_or(0);
    ra.cmp(&rb).then_with(|| rsu::by_creation(a, b))
}

/// The new ReplicaSet for `d`'s current template (upstream `getNewReplicaSet`'s
/// creation branch): named `<deployment>-<hash>` with the hash over the template
/// and `status.collisionCount`, the hash label added to its labels, selector and
/// template, the Deployment as controller, `minReadySeconds`, the size
/// [`du::new_rs_new_replicas`] allows next to `old`, and the annotations of
/// [`set_new_replica_set_annotations`] at `new_revision`.
pub fn new_replica_set_for(
    d: &Deployment,
    old: &[&ReplicaSet],
    new_revision: i64,
    now: Timestamp,
) -> ReplicaSet {
    let template = du::template(d);
    let collision = du::status(d).collision_count;
    let hash = compute_hash(&template, collision);
    let mut rs_template = template.clone();
    let meta = rs_template.metadata.get_or_insert_default();
    meta.labels
        .get_or_insert_default()
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let labels = meta.labels.clone();
    let mut selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    selector
        .match_labels
        .get_or_insert_default()
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let name = d.metadata.name.clone().unwrap_or_default();
    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: name.clone(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: d.metadata.namespace.clone(),
            owner_references: Some(vec![owner]),
            labels,
            creation_timestamp: Some(k8s(now)),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: Some(min_ready_seconds(d)).filter(|m| *m != 0),
            selector,
            template: Some(rs_template),
        }),
        status: None,
    };
    let mut all: Vec<&ReplicaSet> = old.to_vec();
    all.push(&rs);
    let count = du::new_rs_new_replicas(d, &all, &rs);
    rs.spec.get_or_insert_default().replicas = Some(count);
    set_new_replica_set_annotations(d, &mut rs, new_revision, false);
    rs
}

/// What to do when creating the new ReplicaSet answered `AlreadyExists` and the
/// cache holds `existing` under that name (upstream's collision handling).
#[derive(Debug, Clone, PartialEq)]
pub enum CreateConflict {
    /// `existing` is this Deployment's and has its template: it is the new
    /// ReplicaSet; resync.
    AlreadyCreated,
    /// A hash collision: write this status (collisionCount + 1) and retry, so the
    /// next name differs.
    Collision(Box<Deployment>),
}

/// Upstream's `AlreadyExists` branch of `getNewReplicaSet`.
pub fn on_create_conflict(d: &Deployment, existing: &ReplicaSet) -> CreateConflict {
    let ours = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
    let same = existing
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .is_some_and(|t| du::equal_ignore_hash(t, &du::template(d)));
    if ours && same {
        return CreateConflict::AlreadyCreated;
    }
    let mut d = d.clone();
    let st = d.status.get_or_insert_default();
    st.collision_count = Some(st.collision_count.unwrap_or(0).saturating_add(1));
    CreateConflict::Collision(Box::new(d))
}

/// Upstream's failed-creation branch: the `ReplicaSetCreateError` Warning event
/// and, with a progress deadline, a `Progressing=False` status to write.
pub fn on_create_failed(
    d: &Deployment,
    rs_name: &str,
    error: &str,
    now: Timestamp,
) -> (Option<Deployment>, PlannedEvent) {
    let msg = format!("Failed to create new replica set {rs_name:?}: {error}");
    let event = PlannedEvent::warning(conditions::FAILED_RS_CREATE, msg.clone());
    if progress_deadline(d).is_none() {
        return (None, event);
    }
    let mut d = d.clone();
    let mut st = du::status(&d);
    conditions::set(
        &mut st,
        conditions::new_condition(PROGRESSING, "False", conditions::FAILED_RS_CREATE, msg, now),
    );
    d.status = Some(st);
    (Some(d), event)
}
