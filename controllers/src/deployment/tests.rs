//! Scenario tests of the Deployment core: a small world applies each plan as the
//! API server would, and stands in for the ReplicaSet controller (pods of a
//! healthy image become available at once, a broken image's never do), so whole
//! rollouts can be driven and checked step by step.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::conditions::{self, AVAILABLE, PROGRESSING};
use super::revision::{self, REVISION, REVISION_HISTORY};
use super::util::{POD_TEMPLATE_HASH_LABEL, max_surge, max_unavailable, replicas};
use super::*;
use crate::util::replicasets::{self as rsu, spec_replicas};
use crate::util::testing::{at, deployment, labels, pod, template};

fn int(i: i32) -> IntOrString {
    IntOrString::Int(i)
}

fn image(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers[0].image.clone())
        .unwrap_or_default()
}

struct World {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    pods: Vec<Pod>,
    now: i64,
    broken: HashSet<String>,
    /// Pods per image that are not available (e.g. on a failed node).
    degraded: HashMap<String, i32>,
    /// When set, at most this many new pods per ReplicaSet become available per
    /// ReplicaSet-controller round (a slow rollout); surplus pods are removed
    /// unavailable ones first, as the deletion ranking does.
    ramp: Option<i32>,
    next_uid: u32,
    events: Vec<PlannedEvent>,
    plans: Vec<DeploymentPlan>,
}

impl World {
    fn new(d: Deployment) -> Self {
        Self {
            d,
            rss: Vec::new(),
            pods: Vec::new(),
            now: 0,
            broken: HashSet::new(),
            degraded: HashMap::new(),
            ramp: None,
            next_uid: 0,
            events: Vec::new(),
            plans: Vec::new(),
        }
    }

    fn now(&self) -> Timestamp {
        at(self.now)
    }

    fn plan(&self) -> DeploymentPlan {
        let pods: Vec<&Pod> = self.pods.iter().collect();
        plan_deployment(DeploymentInput {
            deployment: &self.d,
            replica_sets: &self.rss,
            pods: &pods,
            now: self.now(),
        })
    }

    /// Plans one sync and applies it as the API server would.
    fn sync(&mut self) -> DeploymentPlan {
        let plan = self.plan();
        for step in &plan.steps {
            match &step.action {
                DeploymentAction::CreateReplicaSet(rs) => {
                    assert!(
                        self.rss.iter().all(|r| rsu::name(r) != rsu::name(rs)),
                        "{} already exists",
                        rsu::name(rs)
                    );
                    let mut rs = rs.clone();
                    self.next_uid += 1;
                    rs.metadata.uid = Some(format!("rs-{}", self.next_uid));
                    rs.metadata.generation = Some(1);
                    rs.metadata.creation_timestamp = Some(crate::util::time::k8s(self.now()));
                    self.rss.push(rs);
                }
                DeploymentAction::UpdateReplicaSet(rs)
                | DeploymentAction::ScaleReplicaSet { rs, .. } => {
                    let cur = self
                        .rss
                        .iter_mut()
                        .find(|r| rsu::name(r) == rsu::name(rs))
                        .expect("updated RS exists");
                    let spec_changed = cur.spec != rs.spec;
                    let generation = cur.metadata.generation.unwrap_or(1);
                    let status = cur.status.clone();
                    *cur = rs.clone();
                    cur.status = status;
                    cur.metadata.generation = Some(generation + i64::from(spec_changed));
                }
                DeploymentAction::DeleteReplicaSet { name, .. } => {
                    self.rss.retain(|r| rsu::name(r) != name);
                }
                DeploymentAction::UpdateStatus(d) => {
                    self.d.status = d.status.clone();
                    self.d.metadata.annotations = d.metadata.annotations.clone();
                }
            }
            self.events.extend(step.event.clone());
        }
        self.events.extend(plan.events.clone());
        self.plans.push(plan.clone());
        plan
    }

    /// The ReplicaSet controller: every RS gets its pods at once, available
    /// unless its image is broken. True when any status changed.
    fn run_replica_sets(&mut self) -> bool {
        let mut changed = false;
        for rs in &mut self.rss {
            let n = spec_replicas(rs);
            let down = self.degraded.get(&image(rs)).copied().unwrap_or(0);
            let target = if self.broken.contains(&image(rs)) {
                0
            } else {
                (n - down).max(0)
            };
            let st = rs.status.get_or_insert_default();
            let ok = match self.ramp {
                Some(r) => {
                    let was = st.available_replicas.unwrap_or(0).min(target);
                    (was + r).min(target)
                }
                None => target,
            };
            let new = (n, Some(ok), Some(ok), rs.metadata.generation);
            let old = (
                st.replicas,
                st.ready_replicas,
                st.available_replicas,
                st.observed_generation,
            );
            if new != old {
                changed = true;
                st.replicas = n;
                st.ready_replicas = Some(ok);
                st.available_replicas = Some(ok);
                st.observed_generation = rs.metadata.generation;
            }
        }
        changed
    }

    /// Alternates Deployment syncs and the ReplicaSet controller until neither
    /// has anything to do, calling `check` after every sync.
    fn settle_with(&mut self, mut check: impl FnMut(&World)) -> usize {
        for round in 0..200 {
            let plan = self.sync();
            check(self);
            let rs_changed = self.run_replica_sets();
            if plan.steps.is_empty() && !rs_changed {
                return round;
            }
        }
        panic!("did not settle");
    }

    fn settle(&mut self) -> usize {
        self.settle_with(|_| {})
    }

    fn set_image(&mut self, image: &str) {
        let spec = self.d.spec.as_mut().unwrap();
        spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.into());
        self.bump_generation();
    }

    fn scale(&mut self, n: i32) {
        self.d.spec.as_mut().unwrap().replicas = Some(n);
        self.bump_generation();
    }

    fn set_paused(&mut self, paused: bool) {
        self.d.spec.as_mut().unwrap().paused = Some(paused);
        self.bump_generation();
    }

    fn bump_generation(&mut self) {
        let g = self.d.metadata.generation.unwrap_or(0);
        self.d.metadata.generation = Some(g + 1);
    }

    fn rs(&self, image_name: &str) -> &ReplicaSet {
        self.rss
            .iter()
            .find(|r| image(r) == image_name)
            .unwrap_or_else(|| panic!("no RS for {image_name}"))
    }

    fn sizes(&self) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = self
            .rss
            .iter()
            .map(|r| (image(r), spec_replicas(r)))
            .collect();
        v.sort();
        v
    }

    fn progressing_reason(&self) -> Option<String> {
        conditions::get_in(self.d.status.as_ref(), PROGRESSING).and_then(|c| c.reason.clone())
    }

    fn verdict(&self) -> RolloutVerdict {
        rollout_verdict(&self.d, 0)
    }
}

fn annotation(rs: &ReplicaSet, key: &str) -> Option<String> {
    rs.metadata.annotations.as_ref()?.get(key).cloned()
}

#[test]
fn a_new_deployment_creates_its_replica_set_and_records_revision_1() {
    let d = deployment(
        3,
        IntOrString::String("25%".into()),
        IntOrString::String("25%".into()),
    );
    let mut w = World::new(d.clone());
    let plan = w.sync();
    let hash = compute_hash(&template("nginx:1"), None);
    let actions: Vec<&DeploymentAction> = plan.actions().collect();
    let DeploymentAction::CreateReplicaSet(rs) = actions[0] else {
        panic!("first action is the RS creation: {actions:?}");
    };
    assert_eq!(rsu::name(rs), format!("web-{hash}"));
    assert_eq!(spec_replicas(rs), 3);
    let sel = &rs.spec.as_ref().unwrap().selector;
    assert_eq!(
        sel.match_labels.as_ref().unwrap(),
        &labels(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, &hash)])
    );
    let tl = rs
        .spec
        .as_ref()
        .unwrap()
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone();
    assert_eq!(tl.as_ref(), rs.metadata.labels.as_ref());
    assert_eq!(tl.unwrap().get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.uid.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("Deployment", "uid-web", Some(true), Some(true))
    );
    assert_eq!(annotation(rs, REVISION).as_deref(), Some("1"));
    assert_eq!(
        annotation(rs, revision::DESIRED_REPLICAS).as_deref(),
        Some("3")
    );
    assert_eq!(annotation(rs, revision::MAX_REPLICAS).as_deref(), Some("4"));
    assert_eq!(
        plan.steps[0].event.as_ref().unwrap().message,
        format!("Scaled up replica set web-{hash} to 3")
    );
    // The revision and NewReplicaSetCreated go out right after the creation.
    let DeploymentAction::UpdateStatus(after_create) = actions[1] else {
        panic!("second action writes the status");
    };
    assert_eq!(revision::revision(after_create.as_ref()), Ok(1));
    let c = conditions::get_in(after_create.status.as_ref(), PROGRESSING).unwrap();
    assert_eq!(
        c.reason.as_deref(),
        Some(conditions::NEW_REPLICA_SET_CREATED)
    );
    assert_eq!(
        c.message.as_deref(),
        Some(format!("Created new replica set \"web-{hash}\"").as_str())
    );

    // Kubectl waits until pods are there, then reports success.
    assert!(matches!(w.verdict(), RolloutVerdict::Waiting(_)));
    w.settle();
    assert_eq!(
        w.verdict(),
        RolloutVerdict::Done("deployment \"web\" successfully rolled out\n".into())
    );
    assert_eq!(
        w.progressing_reason().as_deref(),
        Some(conditions::NEW_REPLICA_SET_AVAILABLE)
    );
    let st = w.d.status.clone().unwrap();
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas,
            st.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), None)
    );
    assert_eq!(st.observed_generation, Some(1));
    let avail = conditions::get_in(Some(&st), AVAILABLE).unwrap();
    assert_eq!(
        avail.reason.as_deref(),
        Some(conditions::MINIMUM_REPLICAS_AVAILABLE)
    );
    // Steady state: no writes, no requeue.
    let plan = w.sync();
    assert!(plan.steps.is_empty(), "{plan:?}");
    assert_eq!(plan.requeue, None);
}

#[test]
fn rolling_updates_stay_within_surge_and_unavailability_bounds() {
    // replicas × maxSurge × maxUnavailable, as ints and percentages.
    let pct = |s: &str| IntOrString::String(s.into());
    let cases = [
        (10, int(3), int(2)),
        (10, pct("25%"), pct("25%")),
        (5, int(0), int(1)),
        (5, int(1), int(0)),
        (3, pct("0%"), pct("1%")), // both resolve to 0 → unavailable 1
        (1, int(1), int(0)),
        (7, pct("50%"), pct("10%")),
        (20, int(5), int(5)),
    ];
    for (n, surge, unavailable) in cases {
        let mut w = World::new(deployment(n, surge.clone(), unavailable.clone()));
        w.settle();
        w.set_image("nginx:2");
        let max_total = replicas(&w.d) + max_surge(&w.d);
        let min_avail = replicas(&w.d) - max_unavailable(&w.d);
        let mut steps = 0;
        w.settle_with(|w| {
            steps += 1;
            let total: i32 = w.rss.iter().map(spec_replicas).sum();
            assert!(
                total <= max_total,
                "{n} {surge:?} {unavailable:?}: {total} > {max_total}: {:?}",
                w.sizes()
            );
            assert!(
                total >= min_avail,
                "{n} {surge:?} {unavailable:?}: {total} < {min_avail}: {:?}",
                w.sizes()
            );
        });
        assert!(steps > 1);
        assert_eq!(
            w.sizes(),
            [("nginx:1".to_string(), 0), ("nginx:2".to_string(), n)]
        );
        assert_eq!(revision::revision(&w.d), Ok(2));
        assert!(
            matches!(w.verdict(), RolloutVerdict::Done(_)),
            "{:?}",
            w.verdict()
        );
        // Every step scaled by at most what the bounds allow at once.
        for plan in &w.plans {
            for a in plan.actions() {
                if let DeploymentAction::ScaleReplicaSet { from, to, .. } = a {
                    assert!((to - from).abs() <= max_total, "{from} → {to}");
                }
            }
        }
    }
}

#[test]
fn upstream_acceptance_broken_image_then_scale_to_30() {
    let mut w = World::new(deployment(10, int(3), int(2)));
    w.settle();
    w.broken.insert("nginx:broken".into());
    w.set_image("nginx:broken");
    w.settle();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 8), ("nginx:broken".to_string(), 5)]
    );
    assert_eq!(
        w.verdict(),
        RolloutVerdict::Waiting(
            "Waiting for deployment \"web\" rollout to finish: 5 out of 10 new replicas have been updated...\n".into()
        )
    );
    w.scale(30);
    let plan = w.sync();
    // The scaling event resizes both proportionally in one sync, largest first.
    let scaled: Vec<(String, i32, i32)> = plan
        .actions()
        .filter_map(|a| match a {
            DeploymentAction::ScaleReplicaSet { rs, from, to } => Some((image(rs), *from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        scaled,
        [
            ("nginx:1".to_string(), 8, 20),
            ("nginx:broken".to_string(), 5, 13)
        ]
    );
    w.run_replica_sets();
    w.settle();
    assert_eq!(
        w.sizes(),
        [
            ("nginx:1".to_string(), 20),
            ("nginx:broken".to_string(), 13)
        ]
    );
    for rs in &w.rss {
        assert_eq!(
            annotation(rs, revision::DESIRED_REPLICAS).as_deref(),
            Some("30")
        );
        assert_eq!(
            annotation(rs, revision::MAX_REPLICAS).as_deref(),
            Some("33")
        );
    }
}

#[test]
fn a_stalled_rollout_hits_its_progress_deadline() {
    let mut w = World::new(deployment(4, int(1), int(0)));
    w.settle();
    w.now = 1000;
    w.broken.insert("nginx:broken".into());
    w.set_image("nginx:broken");
    w.settle();
    assert_eq!(
        w.progressing_reason().as_deref(),
        Some(conditions::REPLICA_SET_UPDATED)
    );
    let plan = w.plan();
    assert!(plan.steps.is_empty());
    // Last progress at t=1000, deadline 600 s: check again 1 s after it passes.
    assert_eq!(
        plan.requeue,
        Some(Requeue::After(std::time::Duration::from_secs(601)))
    );
    w.now = 1600;
    assert_eq!(
        w.plan().requeue,
        Some(Requeue::RateLimited),
        "less than a second left"
    );
    assert!(
        w.plan().steps.is_empty(),
        "exactly at the deadline is not past it"
    );
    w.now = 1601;
    w.sync();
    let c = conditions::get_in(w.d.status.as_ref(), PROGRESSING).unwrap();
    assert_eq!(c.status, "False");
    assert_eq!(
        c.reason.as_deref(),
        Some(conditions::PROGRESS_DEADLINE_EXCEEDED)
    );
    let new_name = rsu::name(w.rs("nginx:broken")).to_string();
    assert_eq!(
        c.message.clone().unwrap(),
        format!("ReplicaSet \"{new_name}\" has timed out progressing.")
    );
    assert_eq!(
        w.verdict(),
        RolloutVerdict::Failed("deployment \"web\" exceeded its progress deadline".into())
    );
    // Once timed out, nothing more to check.
    let plan = w.sync();
    assert!(plan.steps.is_empty());
    assert_eq!(plan.requeue, None);
    // A fix rolls out again and clears the failure.
    w.now = 2000;
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(
        w.progressing_reason().as_deref(),
        Some(conditions::NEW_REPLICA_SET_AVAILABLE)
    );
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}

#[test]
fn rollback_reuses_the_old_replica_set_and_bumps_its_revision() {
    let mut w = World::new(deployment(4, int(1), int(1)));
    w.settle();
    let v1_name = rsu::name(w.rs("nginx:1")).to_string();
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(revision::revision(&w.d), Ok(2));
    // `kubectl rollout undo` copies the old template back.
    w.plans.clear();
    w.set_image("nginx:1");
    w.settle();
    assert!(
        w.plans
            .iter()
            .flat_map(|p| p.actions())
            .all(|a| !matches!(a, DeploymentAction::CreateReplicaSet(_))),
        "rollback must not create a ReplicaSet"
    );
    let v1 = w.rs("nginx:1");
    assert_eq!(rsu::name(v1), v1_name);
    assert_eq!(annotation(v1, REVISION).as_deref(), Some("3"));
    assert_eq!(annotation(v1, REVISION_HISTORY).as_deref(), Some("1"));
    assert_eq!(revision::revision(&w.d), Ok(3));
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 4), ("nginx:2".to_string(), 0)]
    );
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_deleted_oldest_revision_first() {
    let mut d = deployment(2, int(1), int(0));
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let mut w = World::new(d);
    w.settle();
    for v in 2..=4 {
        w.set_image(&format!("nginx:{v}"));
        w.settle();
    }
    let images: Vec<String> = w.sizes().into_iter().map(|(i, _)| i).collect();
    assert_eq!(images, ["nginx:3", "nginx:4"]);
    let deleted: Vec<&DeploymentAction> = w
        .plans
        .iter()
        .flat_map(|p| p.actions())
        .filter(|a| matches!(a, DeploymentAction::DeleteReplicaSet { .. }))
        .collect();
    assert_eq!(deleted.len(), 2);
    // A limit of 0 keeps none; absent keeps all.
    w.d.spec.as_mut().unwrap().revision_history_limit = Some(0);
    w.settle();
    assert_eq!(w.rss.len(), 1);
}

#[test]
fn recreate_removes_every_old_pod_before_creating_new_ones() {
    let mut d = deployment(3, int(0), int(0));
    let strategy = d.spec.as_mut().unwrap().strategy.as_mut().unwrap();
    strategy.type_ = Some(util::RECREATE.into());
    strategy.rolling_update = None;
    let mut w = World::new(d);
    w.settle();
    let old_uid = w.rs("nginx:1").metadata.uid.clone().unwrap();
    w.set_image("nginx:2");
    let plan = w.sync();
    let actions: Vec<&DeploymentAction> = plan.actions().collect();
    assert!(
        matches!(
            actions[0],
            DeploymentAction::ScaleReplicaSet { from: 3, to: 0, .. }
        ),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .all(|a| !matches!(a, DeploymentAction::CreateReplicaSet(_)))
    );
    w.run_replica_sets();
    // One old pod is still terminating (Running): wait.
    let mut old_pod = pod("old-0");
    old_pod.status.as_mut().unwrap().phase = Some("Running".into());
    old_pod.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "x".into(),
        uid: old_uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    w.pods = vec![old_pod];
    let plan = w.sync();
    assert!(
        plan.actions()
            .all(|a| !matches!(a, DeploymentAction::CreateReplicaSet(_)))
    );
    // Succeeded pods do not block.
    w.pods[0].status.as_mut().unwrap().phase = Some("Succeeded".into());
    let plan = w.sync();
    let created: Vec<i32> = plan
        .actions()
        .filter_map(|a| match a {
            DeploymentAction::CreateReplicaSet(rs) => Some(spec_replicas(rs)),
            _ => None,
        })
        .collect();
    assert_eq!(created, [3], "the new RS starts at full size");
    w.settle();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 0), ("nginx:2".to_string(), 3)]
    );
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}

#[test]
fn paused_deployments_scale_but_do_not_roll_out() {
    let mut w = World::new(deployment(4, int(1), int(1)));
    w.settle();
    w.set_paused(true);
    w.sync();
    let c = conditions::get_in(w.d.status.as_ref(), PROGRESSING).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("Unknown", Some(conditions::DEPLOYMENT_PAUSED))
    );
    assert_eq!(c.message.as_deref(), Some("Deployment is paused"));
    w.set_image("nginx:2");
    w.settle();
    assert_eq!(w.rss.len(), 1, "no new ReplicaSet while paused");
    w.scale(6);
    w.settle();
    assert_eq!(w.sizes(), [("nginx:1".to_string(), 6)]);
    assert_eq!(
        w.d.status.as_ref().unwrap().observed_generation,
        w.d.metadata.generation
    );
    w.set_paused(false);
    let plan = w.sync();
    let first = plan.final_status_write().map(|d| {
        conditions::get_in(d.status.as_ref(), PROGRESSING)
            .unwrap()
            .clone()
    });
    assert!(first.is_some());
    // Resuming records DeploymentResumed before the rollout continues.
    let resumed = plan.actions().any(|a| match a {
        DeploymentAction::UpdateStatus(d) => conditions::get_in(d.status.as_ref(), PROGRESSING)
            .is_some_and(|c| c.reason.as_deref() == Some(conditions::DEPLOYMENT_RESUMED)),
        _ => false,
    });
    assert!(resumed);
    w.settle();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 0), ("nginx:2".to_string(), 6)]
    );
}

#[test]
fn scaling_a_settled_deployment_resizes_its_only_replica_set() {
    let mut w = World::new(deployment(3, int(1), int(1)));
    w.settle();
    w.scale(1);
    let plan = w.sync();
    let ev: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.event.as_ref().map(|e| e.message.clone()))
        .collect();
    let name = rsu::name(w.rs("nginx:1")).to_string();
    assert_eq!(ev, [format!("Scaled down replica set {name} from 3 to 1")]);
    w.settle();
    assert_eq!(w.sizes(), [("nginx:1".to_string(), 1)]);
}

#[test]
fn an_empty_selector_only_records_a_warning_and_the_generation() {
    let mut d = deployment(3, int(1), int(1));
    d.spec.as_mut().unwrap().selector = LabelSelector::default();
    let plan = plan_deployment(DeploymentInput {
        deployment: &d,
        replica_sets: &[],
        pods: &[],
        now: at(0),
    });
    assert_eq!(plan.events[0].reason, sync::EVENT_SELECTING_ALL);
    assert_eq!(plan.events[0].type_, "Warning");
    let written = plan.final_status_write().unwrap();
    assert_eq!(
        written.status.as_ref().unwrap().observed_generation,
        Some(1)
    );
    assert_eq!(plan.steps.len(), 1);
}

#[test]
fn a_deployment_being_deleted_only_gets_status() {
    let mut w = World::new(deployment(3, int(1), int(1)));
    w.settle();
    w.d.metadata.deletion_timestamp = Some(crate::util::time::k8s(at(5)));
    w.set_image("nginx:2");
    let plan = w.sync();
    assert!(
        plan.actions()
            .all(|a| matches!(a, DeploymentAction::UpdateStatus(_))),
        "{plan:?}"
    );
}

#[test]
fn hash_collisions_bump_the_collision_count_and_rename_the_new_replica_set() {
    let d = deployment(3, int(1), int(1));
    let mut w = World::new(d.clone());
    let plan = w.plan();
    let DeploymentAction::CreateReplicaSet(planned) = plan.actions().next().unwrap() else {
        panic!()
    };
    // Someone else's RS already has that name.
    let mut squatter = planned.clone();
    squatter.spec.as_mut().unwrap().template = Some(template("other"));
    let CreateConflict::Collision(bumped) = on_create_conflict(&d, &squatter) else {
        panic!("a different template is a collision");
    };
    assert_eq!(bumped.status.as_ref().unwrap().collision_count, Some(1));
    w.d = *bumped;
    let plan = w.plan();
    let DeploymentAction::CreateReplicaSet(renamed) = plan.actions().next().unwrap() else {
        panic!()
    };
    assert_ne!(rsu::name(renamed), rsu::name(planned));
    assert_eq!(
        rsu::name(renamed),
        format!("web-{}", compute_hash(&template("nginx:1"), Some(1)))
    );
    // Our own RS with our template is simply the new RS.
    assert_eq!(
        on_create_conflict(&d, planned),
        CreateConflict::AlreadyCreated
    );
}

#[test]
fn failed_creations_set_progressing_false() {
    let d = deployment(3, int(1), int(1));
    let (status, event) = on_create_failed(&d, "web-abc", "quota exceeded", at(3));
    assert_eq!(event.reason, conditions::FAILED_RS_CREATE);
    assert_eq!(
        event.message,
        "Failed to create new replica set \"web-abc\": quota exceeded"
    );
    let c = conditions::get_in(status.as_ref().unwrap().status.as_ref(), PROGRESSING).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some(conditions::FAILED_RS_CREATE))
    );
}

#[test]
fn replica_failures_are_promoted_to_the_deployment() {
    let mut w = World::new(deployment(3, int(1), int(1)));
    w.settle();
    let rs = w.rss.iter_mut().next().unwrap();
    rs.status.as_mut().unwrap().conditions =
        Some(vec![k8s_openapi::api::apps::v1::ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some("forbidden".into()),
            last_transition_time: Some(crate::util::time::k8s(at(1))),
        }]);
    w.sync();
    let c = conditions::get_in(w.d.status.as_ref(), conditions::REPLICA_FAILURE).unwrap();
    assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
    w.rss[0].status.as_mut().unwrap().conditions = None;
    w.sync();
    assert!(conditions::get_in(w.d.status.as_ref(), conditions::REPLICA_FAILURE).is_none());
}

#[test]
fn kubectl_waits_for_the_generation_to_be_observed() {
    let mut w = World::new(deployment(2, int(1), int(1)));
    w.settle();
    w.set_image("nginx:2");
    assert_eq!(
        w.verdict(),
        RolloutVerdict::Waiting("Waiting for deployment spec update to be observed...\n".into())
    );
    assert_eq!(
        rollout_verdict(&w.d, 7),
        RolloutVerdict::Failed(
            "desired revision (7) is different from the running revision (1)".into()
        )
    );
    // Walk the rollout and collect every message kubectl would print.
    let mut seen = Vec::new();
    w.settle_with(|w| {
        if let RolloutVerdict::Waiting(m) = w.verdict() {
            seen.push(m);
        }
    });
    assert!(
        seen.iter()
            .any(|m| m.contains("old replicas are pending termination")),
        "{seen:?}"
    );
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}

#[test]
fn unavailable_new_pods_never_let_old_replicas_go() {
    // Upstream's reconcileOldReplicaSets case 1: 10 replicas, surge 3,
    // unavailable 2, the new image crashloops, then a node failure makes an old
    // pod unavailable: 13 - 8 - 5 = 0, so the old RS is not touched.
    let mut w = World::new(deployment(10, int(3), int(2)));
    w.settle();
    w.broken.insert("nginx:broken".into());
    w.set_image("nginx:broken");
    w.settle();
    w.degraded.insert("nginx:1".into(), 1);
    w.run_replica_sets();
    w.settle();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 8), ("nginx:broken".to_string(), 5)]
    );
    // The user rolls back: the good RS is new again with 1 unavailable pod, so
    // 13 - 8 - 1 = 4 crashlooping pods are removed at once, and the rollback
    // then completes.
    w.plans.clear();
    w.set_image("nginx:1");
    w.sync();
    w.degraded.clear();
    w.run_replica_sets();
    w.settle();
    let first_down = w
        .plans
        .iter()
        .flat_map(|p| p.actions())
        .find_map(|a| match a {
            DeploymentAction::ScaleReplicaSet { rs, from, to } if image(rs) == "nginx:broken" => {
                Some((*from, *to))
            }
            _ => None,
        });
    assert_eq!(
        first_down,
        Some((5, 1)),
        "13 - 8 - 1 = 4 unhealthy replicas go first"
    );
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 10), ("nginx:broken".to_string(), 0)]
    );
}

#[test]
fn a_stale_old_replica_set_status_stops_the_scale_down() {
    // The ReplicaSet controller writes the status of the sync that deleted
    // pods from the pods it had before deleting them (upstream does the same),
    // so right after a scale-down an old RS can report more available replicas
    // than it asks for. Upstream's cleanupUnhealthyReplicas refuses that
    // ("invalid request to scale down") and the sync scales nothing down;
    // trusting those numbers would take away pods still counted as available.
    let mut w = World::new(deployment(10, int(3), int(2)));
    w.settle();
    w.set_image("nginx:2");
    w.sync();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 8), ("nginx:2".to_string(), 3)]
    );
    w.sync();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 8), ("nginx:2".to_string(), 5)]
    );
    let set_status = |w: &mut World, image_name: &str, replicas: i32, available: i32| {
        let rs = w
            .rss
            .iter_mut()
            .find(|r| image(r) == image_name)
            .expect("rs");
        let generation = rs.metadata.generation;
        let st = rs.status.get_or_insert_default();
        st.replicas = replicas;
        st.ready_replicas = Some(available);
        st.available_replicas = Some(available);
        st.observed_generation = generation;
    };
    // The old RS still reports the 10 pods it had before its scale-down to 8;
    // 3 of the 5 new pods are available.
    set_status(&mut w, "nginx:1", 10, 10);
    set_status(&mut w, "nginx:2", 5, 3);
    let plan = w.sync();
    let scaled: Vec<_> = plan
        .actions()
        .filter_map(|a| match a {
            DeploymentAction::ScaleReplicaSet { rs, from, to } => Some((image(rs), *from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(scaled, [], "nothing scaled on a stale status");
    // Once the old RS reports its 8 pods, 13 - 8 - 2 = 3 may go, and
    // 8 + 3 - 8 = 3 available ones do.
    set_status(&mut w, "nginx:1", 8, 8);
    w.sync();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 5), ("nginx:2".to_string(), 5)]
    );
}

use proptest::prelude::Strategy;

/// Total available pods as the ReplicaSets report them.
fn available(w: &World) -> i32 {
    w.rss.iter().map(rsu::available_replicas).sum()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Whatever the sizes and however slowly new pods become available, a
    /// rolling update never has more than `replicas + maxSurge` pods desired nor
    /// fewer than `replicas - maxUnavailable` available, and it completes.
    #[test]
    fn rolling_update_bounds_hold_for_any_parameters(
        n in 1i32..40,
        surge in proptest::prop_oneof![
            (0i32..6).prop_map(IntOrString::Int),
            (0i32..101).prop_map(|p| IntOrString::String(format!("{p}%"))),
        ],
        unavailable in proptest::prop_oneof![
            (0i32..6).prop_map(IntOrString::Int),
            (0i32..101).prop_map(|p| IntOrString::String(format!("{p}%"))),
        ],
        ramp in 1i32..4,
    ) {
        let mut w = World::new(deployment(n, surge.clone(), unavailable.clone()));
        w.settle();
        w.ramp = Some(ramp);
        w.set_image("nginx:2");
        let max_total = replicas(&w.d) + max_surge(&w.d);
        let min_avail = replicas(&w.d) - max_unavailable(&w.d);
        for round in 0..500 {
            let plan = w.sync();
            let total: i32 = w.rss.iter().map(spec_replicas).sum();
            proptest::prop_assert!(total <= max_total, "round {round}: {total} > {max_total}: {:?}", w.sizes());
            let changed = w.run_replica_sets();
            proptest::prop_assert!(available(&w) >= min_avail, "round {round}: available {} < {min_avail}: {:?}", available(&w), w.sizes());
            if plan.steps.is_empty() && !changed {
                break;
            }
        }
        proptest::prop_assert_eq!(w.sizes(), vec![("nginx:1".to_string(), 0), ("nginx:2".to_string(), n)]);
        proptest::prop_assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
    }
}

#[test]
fn rollout_restart_and_change_cause_reach_the_new_replica_set() {
    let mut w = World::new(deployment(3, int(1), int(0)));
    w.settle();
    // `kubectl rollout restart` stamps the template; `kubectl annotate` (or
    // `--record`) sets the change cause that `kubectl rollout history` shows.
    let spec = w.d.spec.as_mut().unwrap();
    spec.template
        .metadata
        .get_or_insert_default()
        .annotations
        .get_or_insert_default()
        .insert(
            "kubectl.kubernetes.io/restartedAt".into(),
            "2026-01-01T00:00:00Z".into(),
        );
    w.d.metadata.annotations.get_or_insert_default().insert(
        "kubernetes.io/change-cause".into(),
        "restart for config".into(),
    );
    w.bump_generation();
    w.settle();
    assert_eq!(
        w.rss.len(),
        2,
        "a restart is a new template, hence a new ReplicaSet"
    );
    let new = w
        .rss
        .iter()
        .max_by_key(|r| revision::revision(*r).unwrap_or(0))
        .unwrap();
    assert_eq!(spec_replicas(new), 3);
    assert_eq!(annotation(new, REVISION).as_deref(), Some("2"));
    assert_eq!(
        annotation(new, "kubernetes.io/change-cause").as_deref(),
        Some("restart for config")
    );
    let old = w
        .rss
        .iter()
        .min_by_key(|r| revision::revision(*r).unwrap_or(0))
        .unwrap();
    assert_eq!(spec_replicas(old), 0);
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}

#[test]
fn scaling_to_zero_mid_rollout_and_back() {
    let mut w = World::new(deployment(10, int(3), int(2)));
    w.settle();
    w.broken.insert("nginx:broken".into());
    w.set_image("nginx:broken");
    w.settle();
    w.scale(0);
    w.settle();
    assert_eq!(
        w.sizes(),
        [("nginx:1".to_string(), 0), ("nginx:broken".to_string(), 0)]
    );
    assert!(
        matches!(w.verdict(), RolloutVerdict::Done(_)),
        "{:?}",
        w.verdict()
    );
    // Back up with a fixed image: everything goes to the new template.
    w.broken.clear();
    w.set_image("nginx:2");
    w.scale(4);
    w.settle();
    let sizes = w.sizes();
    assert_eq!(sizes.iter().map(|(_, n)| n).sum::<i32>(), 4, "{sizes:?}");
    assert!(sizes.contains(&("nginx:2".to_string(), 4)), "{sizes:?}");
    assert!(matches!(w.verdict(), RolloutVerdict::Done(_)));
}
