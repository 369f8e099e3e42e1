//! The planning core against upstream's `disruption_test.go` cases: each test syncs
//! a budget over cached pods and workloads as the shell does (pods by selector,
//! controller scale from the finders, [`observe`], [`next_status`]) and checks the
//! status upstream's `VerifyPdbStatus` expects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::informer::{Indexer, Lister};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    Condition, LabelSelector, LabelSelectorRequirement, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::json;

use super::conditions::*;
use super::finders::{ControllerScale, FinderError, Workloads, implements_scale};
use super::matching::{pdb_selector, pdbs_for_pod};
use super::plan::*;
use super::stale::{STALE_POD_DISRUPTION_TIMEOUT, reset_disruption_target, stale_disruption_in};
use crate::util::testing::at;
use crate::util::time;

const NS: &str = "default";

fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
    serde_json::from_value(json!({
        "metadata": {"name": "foobar", "namespace": NS, "generation": 1, "uid": "pdb-uid"},
        "spec": {"minAvailable": min, "maxUnavailable": max, "selector": {"matchLabels": {"foo": "bar"}}}
    }))
    .unwrap()
}

fn min_available(v: IntOrString) -> PodDisruptionBudget {
    pdb(Some(v), None)
}

fn max_unavailable(v: IntOrString) -> PodDisruptionBudget {
    pdb(None, Some(v))
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.to_string())
}

/// A Ready pod labelled `foo=bar` (upstream `newPod`).
fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "labels": {"foo": "bar"}},
        "spec": {"containers": []},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

fn unready(mut p: Pod) -> Pod {
    p.status.as_mut().unwrap().conditions = Some(vec![]);
    p
}

fn owned_by<K: Resource<DynamicType = ()>>(mut p: Pod, owner: &K) -> Pod {
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.meta().name.clone().unwrap(),
        uid: owner.meta().uid.clone().unwrap(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

fn workload<K: serde::de::DeserializeOwned>(name: &str, replicas: i32) -> K {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "labels": {"foo": "bar"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"foo": "bar"}}}
    }))
    .unwrap()
}

fn rc(name: &str, replicas: i32) -> ReplicationController {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}")},
        "spec": {"replicas": replicas, "selector": {"foo": "bar"}}
    }))
    .unwrap()
}

fn lister<K: Resource<DynamicType = ()> + Send + Sync + 'static>(objs: Vec<K>) -> Lister<K> {
    let indexer = Arc::new(Indexer::new());
    for o in objs {
        indexer.upsert(ObjectKey::of(&o), Arc::new(o));
    }
    Lister::new(indexer)
}

/// The fake controller's caches (upstream `newFakeDisruptionController`).
#[derive(Default)]
struct Caches {
    pods: Vec<Pod>,
    rcs: Vec<ReplicationController>,
    rss: Vec<ReplicaSet>,
    deployments: Vec<Deployment>,
    statefulsets: Vec<StatefulSet>,
}

impl Caches {
    fn workloads(&self) -> Workloads {
        Workloads {
            rcs: lister(self.rcs.clone()),
            rss: lister(self.rss.clone()),
            deployments: lister(self.deployments.clone()),
            statefulsets: lister(self.statefulsets.clone()),
        }
    }

    /// The shell's sum of controller scales, the built-in finders only.
    fn scale(&self, pods: &[&Pod]) -> Result<i32, FinderError> {
        let workloads = self.workloads();
        let mut scales = BTreeMap::new();
        for p in pods {
            let Some(r) = capstan_runtime::ownership::controller_of(*p) else {
                continue;
            };
            match workloads.find(r, NS)? {
                Some(ControllerScale { uid, scale }) => {
                    scales.insert(uid, scale);
                }
                None => {
                    return Err(FinderError::NoControllers(
                        p.metadata.name.clone().unwrap_or_default(),
                    ));
                }
            }
        }
        Ok(scales.values().sum())
    }
}

/// Upstream `dc.sync`: the status written (or the fail-safe one) at `now`.
fn sync(budget: &mut PodDisruptionBudget, caches: &Caches, now: Timestamp) {
    let status = match try_sync(budget, caches, now) {
        Ok(Some(status)) => status,
        Ok(None) => return,
        Err(message) => fail_safe_status(budget, &message, now),
    };
    budget.status = Some(status);
}

fn try_sync(
    budget: &PodDisruptionBudget,
    caches: &Caches,
    now: Timestamp,
) -> Result<Option<PodDisruptionBudgetStatus>, String> {
    let selector = pdb_selector(budget).map_err(|e| e.to_string())?;
    let pods: Vec<&Pod> = caches
        .pods
        .iter()
        .filter(|p| selector.matches(p.metadata.labels.as_ref().unwrap()))
        .collect();
    let spec = budget.spec.clone().unwrap();
    let scale = if needs_controller_scale(&spec) {
        caches.scale(&pods).map_err(|e| e.to_string())?
    } else {
        0
    };
    let observation = observe(budget, &pods, scale, now).map_err(|e| e.to_string())?;
    Ok(next_status(budget, &observation.observed, now))
}

/// Upstream `VerifyPdbStatus`.
#[track_caller]
fn verify(
    budget: &PodDisruptionBudget,
    allowed: i32,
    current: i32,
    desired: i32,
    expected: i32,
    disrupted: &[(&str, Timestamp)],
) {
    let s = budget.status.clone().expect("a status");
    assert_eq!(
        (
            s.disruptions_allowed,
            s.current_healthy,
            s.desired_healthy,
            s.expected_pods
        ),
        (allowed, current, desired, expected),
        "(disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods)"
    );
    let want: BTreeMap<String, Time> = disrupted
        .iter()
        .map(|(n, t)| (n.to_string(), Time(*t)))
        .collect();
    assert_eq!(s.disrupted_pods.unwrap_or_default(), want);
    assert_eq!(s.observed_generation, budget.metadata.generation);
    let cond = s
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
        .expect("the DisruptionAllowed condition");
    assert_eq!(cond.status, if allowed > 0 { "True" } else { "False" });
}

fn allowed(budget: &PodDisruptionBudget) -> i32 {
    budget.status.as_ref().unwrap().disruptions_allowed
}

fn now() -> Timestamp {
    at(1000)
}

#[test]
fn an_empty_selector_selects_every_pod() {
    // TestNoSelector.
    let mut b = min_available(IntOrString::Int(3));
    b.spec.as_mut().unwrap().selector = Some(LabelSelector::default());
    let mut c = Caches::default();
    sync(&mut b, &c, now());
    verify(&b, 0, 0, 3, 0, &[]);
    c.pods.push(pod("yo-yo-yo"));
    sync(&mut b, &c, now());
    verify(&b, 0, 1, 3, 1, &[]);
}

#[test]
fn counts_follow_the_pods_and_their_readiness() {
    // TestUnavailable.
    let mut b = min_available(IntOrString::Int(3));
    let mut c = Caches::default();
    sync(&mut b, &c, now());
    for i in 0..4 {
        verify(&b, 0, i, 3, i, &[]);
        c.pods.push(pod(&format!("yo-yo-yo {i}")));
        sync(&mut b, &c, now());
    }
    verify(&b, 1, 4, 3, 4, &[]);
    c.pods[0] = unready(c.pods[0].clone());
    sync(&mut b, &c, now());
    verify(&b, 0, 3, 3, 4, &[]);
}

#[test]
fn an_integer_max_unavailable_allows_nothing_for_pods_without_controller() {
    // TestIntegerMaxUnavailable: no pods, then one naked pod (unmanaged, not counted).
    let mut b = max_unavailable(IntOrString::Int(1));
    let mut c = Caches::default();
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 0);
    c.pods.push(pod("naked"));
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 0);
    verify(&b, 0, 1, 0, 0, &[]);
}

#[test]
fn max_unavailable_follows_the_controllers_scale() {
    // TestIntegerMaxUnavailableWithScaling and TestPercentageMaxUnavailableWithScaling.
    // (maxUnavailable, desiredHealthy at 7 replicas, replicas after, desiredHealthy then)
    for (max, first, replicas, second) in [(IntOrString::Int(2), 5, 5, 3), (pct("30%"), 4, 3, 2)] {
        let mut b = max_unavailable(max);
        let rs: ReplicaSet = workload("rs", 7);
        let mut c = Caches {
            pods: vec![owned_by(pod("pod"), &rs)],
            rss: vec![rs],
            ..Caches::default()
        };
        sync(&mut b, &c, now());
        verify(&b, 0, 1, first, 7, &[]);
        c.rss = vec![workload("rs", replicas)];
        sync(&mut b, &c, now());
        verify(&b, 0, 1, second, replicas, &[]);
    }
}

#[test]
fn a_percentage_over_naked_pods_allows_nothing_and_does_not_fail() {
    // TestNakedPod, TestStatusForUnmanagedPod.
    let mut b = min_available(pct("28%"));
    let mut c = Caches::default();
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 0);
    c.pods.push(pod("naked"));
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 0);
    let cond = &b.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
    assert_eq!(
        cond.reason, INSUFFICIENT_PODS,
        "not a sync failure: {cond:?}"
    );
}

#[test]
fn an_unknown_controller_fails_safe() {
    // TestUnsupportedControllerPod: the built-in finders know no TestWorkload (the
    // scale finder, which would be asked next, is the shell's).
    let mut b = min_available(pct("28%"));
    let mut p = pod("naked");
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps.test.io/v1".into(),
        kind: "TestWorkload".into(),
        name: "fake-controller".into(),
        uid: "b7329742".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    let c = Caches {
        pods: vec![p],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    let s = b.status.unwrap();
    assert_eq!(s.disruptions_allowed, 0);
    let cond = &s.conditions.unwrap()[0];
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", SYNC_FAILED)
    );
    assert_eq!(cond.message, "found no controllers for pod \"naked\"");
}

#[test]
fn a_replica_set_without_deployment_counts_its_scale() {
    // TestReplicaSet: 20% of 10 rounds to 2.
    let mut b = min_available(pct("20%"));
    let rs: ReplicaSet = workload("rs", 10);
    let c = Caches {
        pods: vec![owned_by(pod("pod"), &rs)],
        rss: vec![rs],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    verify(&b, 0, 1, 2, 10, &[]);
}

#[test]
fn several_controllers_add_up_and_percentages_round_up() {
    // TestMultipleControllers: 1% of an RC of 1 over two ready pods.
    let mut b = min_available(pct("1%"));
    let mut c = Caches {
        pods: vec![pod("pod 0"), pod("pod 1")],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 0, "no controllers yet");
    let rc1 = rc("rc 1", 1);
    c.pods = c.pods.into_iter().map(|p| owned_by(p, &rc1)).collect();
    c.rcs.push(rc1);
    sync(&mut b, &c, now());
    assert_eq!(allowed(&b), 1);
}

#[test]
fn replication_controllers_and_stateful_sets_count_as_upstream() {
    // TestReplicationController / TestStatefulSetController: 34% of 3 rounds up to 2.
    for kind in ["rc", "ss"] {
        let mut b = min_available(pct("34%"));
        let mut c = Caches::default();
        let rc1 = rc("foobar", 3);
        let ss: StatefulSet = workload("foobar", 3);
        if kind == "rc" {
            c.rcs.push(rc1.clone());
        } else {
            c.statefulsets.push(ss.clone());
        }
        sync(&mut b, &c, now());
        verify(&b, 0, 0, 0, 0, &[]);
        for i in 0..3 {
            let p = pod(&format!("foobar {i}"));
            let p = if kind == "rc" {
                owned_by(p, &rc1)
            } else {
                owned_by(p, &ss)
            };
            c.pods.push(p);
            sync(&mut b, &c, now());
            if i < 2 {
                verify(&b, 0, i + 1, 2, 3, &[]);
            } else {
                verify(&b, 1, 3, 2, 3, &[]);
            }
        }
        if kind == "rc" {
            // A rogue pod matching the budget, without controller: counted healthy,
            // not expected.
            c.pods.push(pod("rogue"));
            sync(&mut b, &c, now());
            assert_eq!(allowed(&b), 2);
        }
    }
}

#[test]
fn two_controllers_as_upstreams_test() {
    // TestTwoControllers: an RC and a Deployment (through its ReplicaSet) of 11
    // each, minAvailable 28%.
    const SIZE: i32 = 11;
    const MIN_ONE: i32 = 4;
    const MIN_TWO: i32 = 7;
    let mut b = min_available(pct("28%"));
    let rc1 = rc("rc", SIZE);
    let mut c = Caches {
        rcs: vec![rc1.clone()],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    verify(&b, 0, 0, 0, 0, &[]);
    let mut unavailable = SIZE - MIN_ONE - 1;
    for i in 1..=SIZE {
        let mut p = owned_by(pod(&format!("quux {i}")), &rc1);
        if i <= unavailable {
            p = unready(p);
        }
        c.pods.push(p);
        sync(&mut b, &c, now());
        if i <= unavailable {
            verify(&b, 0, 0, MIN_ONE, SIZE, &[]);
        } else if i - unavailable <= MIN_ONE {
            verify(&b, 0, i - unavailable, MIN_ONE, SIZE, &[]);
        } else {
            verify(&b, 1, i - unavailable, MIN_ONE, SIZE, &[]);
        }
    }
    let d: Deployment = workload("d", SIZE);
    c.deployments.push(d.clone());
    sync(&mut b, &c, now());
    verify(&b, 1, MIN_ONE + 1, MIN_ONE, SIZE, &[]);
    let mut rs: ReplicaSet = workload("rs", SIZE);
    rs.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "d".into(),
        uid: "uid-d".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    c.rss.push(rs.clone());
    sync(&mut b, &c, now());
    verify(&b, 1, MIN_ONE + 1, MIN_ONE, SIZE, &[]);
    unavailable = 2 * SIZE - (MIN_TWO + 2) - unavailable;
    for i in 1..=SIZE {
        let mut p = owned_by(pod(&format!("quuux {i}")), &rs);
        if i <= unavailable {
            p = unready(p);
        }
        c.pods.push(p);
        sync(&mut b, &c, now());
        if i <= unavailable {
            verify(&b, 0, MIN_ONE + 1, MIN_TWO, 2 * SIZE, &[]);
        } else if i - unavailable <= MIN_TWO - (MIN_ONE + 1) {
            verify(
                &b,
                0,
                (MIN_ONE + 1) + (i - unavailable),
                MIN_TWO,
                2 * SIZE,
                &[],
            );
        } else {
            verify(
                &b,
                i - unavailable - (MIN_TWO - (MIN_ONE + 1)),
                (MIN_ONE + 1) + (i - unavailable),
                MIN_TWO,
                2 * SIZE,
                &[],
            );
        }
    }
    verify(&b, 2, 2 + MIN_TWO, MIN_TWO, 2 * SIZE, &[]);
    let last = c.pods.len() - 1;
    c.pods[last] = unready(c.pods[last].clone());
    sync(&mut b, &c, now());
    verify(&b, 1, 1 + MIN_TWO, MIN_TWO, 2 * SIZE, &[]);
    c.pods[last - 1] = unready(c.pods[last - 1].clone());
    sync(&mut b, &c, now());
    verify(&b, 0, MIN_TWO, MIN_TWO, 2 * SIZE, &[]);
    c.pods[last] = owned_by(pod(&format!("quuux {SIZE}")), &rs);
    sync(&mut b, &c, now());
    verify(&b, 1, 1 + MIN_TWO, MIN_TWO, 2 * SIZE, &[]);
}

#[test]
fn disrupted_pods_expire_and_deleted_ones_leave_the_map() {
    // TestUpdateDisruptedPods.
    let t = now();
    let mut b = min_available(IntOrString::Int(1));
    b.status = Some(PodDisruptionBudgetStatus {
        disrupted_pods: Some(BTreeMap::from([
            ("p1".to_string(), Time(t)),
            ("p2".to_string(), Time(time_minus(t, 180))),
            ("p3".to_string(), Time(time_minus(t, 60))),
            ("notthere".to_string(), Time(t)),
        ])),
        ..Default::default()
    });
    let mut p1 = pod("p1");
    p1.metadata.deletion_timestamp = Some(Time(t));
    let c = Caches {
        pods: vec![p1.clone(), pod("p2"), pod("p3")],
        ..Caches::default()
    };
    let observation = observe(&b, &c.pods.iter().collect::<Vec<_>>(), 0, t).unwrap();
    assert_eq!(observation.expired, ["p2"]);
    assert_eq!(
        observation.recheck_at,
        Some(time::add(time_minus(t, 60), DELETION_TIMEOUT))
    );
    sync(&mut b, &c, t);
    verify(&b, 0, 1, 1, 3, &[("p3", time_minus(t, 60))]);
}

fn time_minus(t: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_second(t.as_second() - secs).unwrap()
}

#[test]
fn invalid_selectors_fail_safe_with_zeroes() {
    // TestInvalidSelectors.
    let bad_key = LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "k8s.io/too/many/slashes".to_string(),
            "value".to_string(),
        )])),
        ..Default::default()
    };
    let bad_op = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "foo".into(),
            operator: "illegal".into(),
            values: Some(vec!["bar".into()]),
        }]),
        ..Default::default()
    };
    for sel in [bad_key, bad_op] {
        let mut b = min_available(IntOrString::Int(3));
        b.spec.as_mut().unwrap().selector = Some(sel);
        // The fail-safe status keeps what was stored: nothing but the condition.
        sync(&mut b, &Caches::default(), now());
        let s = b.status.clone().unwrap();
        assert_eq!(
            (
                s.disruptions_allowed,
                s.current_healthy,
                s.desired_healthy,
                s.expected_pods
            ),
            (0, 0, 0, 0)
        );
        let cond = &s.conditions.unwrap()[0];
        assert_eq!(
            (
                cond.type_.as_str(),
                cond.status.as_str(),
                cond.reason.as_str()
            ),
            (DISRUPTION_ALLOWED, "False", SYNC_FAILED)
        );
    }
}

#[test]
fn an_up_to_date_status_is_not_written_again() {
    let mut b = min_available(IntOrString::Int(1));
    let c = Caches {
        pods: vec![pod("a"), pod("b")],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    verify(&b, 1, 2, 1, 2, &[]);
    assert_eq!(try_sync(&b, &c, at(2000)), Ok(None));
    // A new generation is observed even with the same counts.
    b.metadata.generation = Some(2);
    let s = try_sync(&b, &c, at(2000)).unwrap().expect("rewritten");
    assert_eq!(s.observed_generation, Some(2));
    let cond = &s.conditions.unwrap()[0];
    assert_eq!(cond.observed_generation, Some(2));
    assert_eq!(
        cond.last_transition_time,
        Time(now()),
        "status unchanged: the transition time stays"
    );
}

#[test]
fn the_condition_keeps_other_conditions_and_moves_only_on_a_change() {
    // TestKeepExistingPDBConditionDuringSync.
    let mut b = min_available(IntOrString::Int(1));
    b.status = Some(PodDisruptionBudgetStatus {
        conditions: Some(vec![Condition {
            type_: "ExistingTestCondition".into(),
            status: "True".into(),
            reason: "ExistingReason".into(),
            message: "".into(),
            observed_generation: None,
            last_transition_time: Time(at(0)),
        }]),
        ..Default::default()
    });
    let c = Caches {
        pods: vec![pod("a")],
        ..Caches::default()
    };
    sync(&mut b, &c, now());
    let conds = b.status.as_ref().unwrap().conditions.clone().unwrap();
    assert_eq!(conds.len(), 2);
    assert_eq!(conds[0].type_, "ExistingTestCondition");
    assert_eq!(
        (conds[1].status.as_str(), conds[1].reason.as_str()),
        ("False", INSUFFICIENT_PODS)
    );
    let mut c2 = Caches {
        pods: vec![pod("a"), pod("b")],
        ..Caches::default()
    };
    sync(&mut b, &c2, at(1500));
    let cond = b.status.as_ref().unwrap().conditions.clone().unwrap()[1].clone();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("True", SUFFICIENT_PODS)
    );
    assert_eq!(cond.last_transition_time, Time(at(1500)));
    // A failed sync keeps the counts but allows nothing.
    c2.pods[0].metadata.owner_references = Some(vec![OwnerReference {
        api_version: "a/b/c".into(),
        kind: "X".into(),
        name: "x".into(),
        uid: "x".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    b.spec.as_mut().unwrap().min_available = Some(pct("50%"));
    sync(&mut b, &c2, at(1600));
    let s = b.status.clone().unwrap();
    assert_eq!((s.disruptions_allowed, s.current_healthy), (0, 2));
    assert_eq!(
        s.conditions.unwrap()[1].message,
        "unexpected GroupVersion string: a/b/c"
    );
}

#[test]
fn expectations_resolve_ints_and_percentages_as_upstream() {
    let spec = |min: Option<IntOrString>, max: Option<IntOrString>| {
        min_available(IntOrString::Int(0)).spec.map(|mut s| {
            s.min_available = min;
            s.max_unavailable = max;
            s
        })
    };
    let cases = [
        // (minAvailable, maxUnavailable, pods, scale) -> (expected, desired)
        (Some(IntOrString::Int(2)), None, 3, 0, (3, 2)),
        (Some(pct("50%")), None, 3, 3, (3, 2)),
        (Some(pct("34%")), None, 3, 3, (3, 2)),
        (Some(pct("100%")), None, 3, 5, (5, 5)),
        (None, Some(IntOrString::Int(1)), 3, 3, (3, 2)),
        (None, Some(pct("34%")), 3, 3, (3, 1)),
        (None, Some(pct("50%")), 4, 5, (5, 2)),
        (None, Some(IntOrString::Int(9)), 3, 3, (3, 0)),
        (None, None, 3, 3, (0, 0)),
    ];
    for (min, max, pods, scale, want) in cases {
        let s = spec(min.clone(), max.clone()).unwrap();
        assert_eq!(
            needs_controller_scale(&s),
            max.is_some() || matches!(min, Some(IntOrString::String(_)))
        );
        let got = expectation(&s, pods, scale).unwrap();
        assert_eq!(
            (got.expected_count, got.desired_healthy),
            want,
            "{min:?} {max:?}"
        );
    }
    let bad = spec(Some(pct("half")), None).unwrap();
    assert!(expectation(&bad, 3, 3).is_err());
    assert_eq!(disruptions_allowed(3, 2, 0), 0, "nothing expected yet");
    assert_eq!(disruptions_allowed(1, 2, 3), 0);
    assert_eq!(disruptions_allowed(3, 1, 3), 2);
}

#[test]
fn finders_check_group_kind_and_uid() {
    // TestBasicFinderFunctions and TestDeploymentFinderFunction.
    let rs: ReplicaSet = workload("rs", 10);
    let rc1 = rc("rc", 12);
    let ss: StatefulSet = workload("ss", 14);
    let c = Caches {
        rss: vec![rs],
        rcs: vec![rc1],
        statefulsets: vec![ss],
        ..Caches::default()
    };
    let w = c.workloads();
    let r = |api_version: &str, kind: &str, name: &str| OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        ..Default::default()
    };
    let scale = |f: Result<Option<ControllerScale>, FinderError>| f.unwrap().map(|s| s.scale);
    assert_eq!(
        scale(w.replica_set_scale(&r("apps/v1", "ReplicaSet", "rs"), NS)),
        Some(10)
    );
    assert_eq!(
        scale(w.replica_set_scale(&r("invalid/v1", "ReplicaSet", "rs"), NS)),
        None
    );
    assert_eq!(
        scale(w.replication_controller(&r("/v1", "ReplicationController", "rc"), NS)),
        Some(12)
    );
    assert_eq!(
        scale(w.replication_controller(&r("apps/v1", "ReplicationController", "rc"), NS)),
        None
    );
    assert_eq!(
        scale(w.stateful_set(&r("apps/v1", "StatefulSet", "ss"), NS)),
        Some(14)
    );
    assert_eq!(
        scale(w.stateful_set(&r("apps/v1", "ReplicaSet", "ss"), NS)),
        None
    );
    let mut replaced = r("apps/v1", "StatefulSet", "ss");
    replaced.uid = "another".into();
    assert_eq!(scale(w.stateful_set(&replaced, NS)), None, "another uid");
    assert!(w.find(&r("a/b/c", "ReplicaSet", "rs"), NS).is_err());

    for (rs_api, rs_kind, dep_api, dep_kind, want) in [
        (
            "apps/v1",
            "ReplicaSet",
            "extensions/v1",
            "Deployment",
            Some(10),
        ),
        ("invalid/v1", "ReplicaSet", "apps/v1", "Deployment", None),
        ("apps/v1", "InvalidKind", "apps/v1", "Deployment", None),
        (
            "extensions/v1",
            "ReplicaSet",
            "deployment/v1",
            "Deployment",
            None,
        ),
        (
            "apps/v1",
            "ReplicaSet",
            "extensions/v1",
            "InvalidKind",
            None,
        ),
    ] {
        let dep: Deployment = workload("dep", 10);
        let mut rs: ReplicaSet = workload("rs", 5);
        rs.metadata.owner_references = Some(vec![OwnerReference {
            api_version: dep_api.into(),
            kind: dep_kind.into(),
            name: "dep".into(),
            uid: "uid-dep".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        let c = Caches {
            rss: vec![rs],
            deployments: vec![dep],
            ..Caches::default()
        };
        let w = c.workloads();
        let found = w.deployment(&r(rs_api, rs_kind, "rs"), NS).unwrap();
        assert_eq!(
            found.as_ref().map(|f| f.scale),
            want,
            "{rs_api} {rs_kind} {dep_api} {dep_kind}"
        );
        if let Some(f) = found {
            assert_eq!(f.uid, "uid-dep", "the Deployment is the controller counted");
        }
    }
}

#[test]
fn a_resource_implements_scale_when_discovery_lists_an_autoscaling_scale() {
    // TestScaleFinderNoResource.
    let sub = |kind: &str, group: &str| {
        (
            ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: if group.is_empty() {
                    "v1".into()
                } else {
                    format!("{group}/v1")
                },
                kind: kind.into(),
                plural: "scale".into(),
            },
            ApiCapabilities {
                scope: Scope::Namespaced,
                subresources: vec![],
                operations: vec![],
            },
        )
    };
    let caps = |subresources| ApiCapabilities {
        scope: Scope::Namespaced,
        subresources,
        operations: vec![],
    };
    assert!(implements_scale(&caps(vec![sub("Scale", "autoscaling")])));
    assert!(!implements_scale(&caps(vec![sub(
        "customresource",
        "custom.k8s.io"
    )])));
    assert!(!implements_scale(&caps(vec![])));
}

#[test]
fn pods_wake_the_first_budget_selecting_them() {
    let mk = |name: &str, sel: serde_json::Value| -> Arc<PodDisruptionBudget> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": NS},
                "spec": {"selector": sel}
            }))
            .unwrap(),
        )
    };
    let pdbs = vec![
        mk("b-all", json!({})),
        mk("a-foo", json!({"matchLabels": {"foo": "bar"}})),
        mk("c-other", json!({"matchLabels": {"foo": "baz"}})),
        mk("d-null", serde_json::Value::Null),
    ];
    let names = |found: Vec<Arc<PodDisruptionBudget>>| {
        found
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(pdbs_for_pod(&pod("p"), &pdbs)), ["a-foo", "b-all"]);
    let mut bare = pod("bare");
    bare.metadata.labels = None;
    assert!(
        pdbs_for_pod(&bare, &pdbs).is_empty(),
        "no labels, no budget"
    );
    let mut elsewhere = pod("p");
    elsewhere.metadata.namespace = Some("other".into());
    assert!(pdbs_for_pod(&elsewhere, &pdbs).is_empty());
}

fn disruption_target(status: &str, reason: Option<&str>, since: Timestamp) -> PodCondition {
    PodCondition {
        type_: DISRUPTION_TARGET.into(),
        status: status.into(),
        reason: reason.map(String::from),
        last_transition_time: Some(Time(since)),
        ..Default::default()
    }
}

#[test]
fn stale_disruption_conditions_are_reset_after_two_minutes() {
    // TestStalePodDisruption.
    let t = now();
    let with = |cond: Option<PodCondition>, deleted: bool, phase: &str| {
        let mut p = pod("foo");
        let st = p.status.as_mut().unwrap();
        st.phase = Some(phase.into());
        st.conditions = cond.map(|c| vec![c]);
        if deleted {
            p.metadata.deletion_timestamp = Some(Time(t));
        }
        p
    };
    let target = |s: &str| Some(disruption_target(s, Some("EvictionByEvictionAPI"), t));
    let after = |secs: u64| time::add(t, Duration::from_secs(secs));
    let stale = with(target("True"), false, "Running");
    assert_eq!(
        stale_disruption_in(&stale, after(121), STALE_POD_DISRUPTION_TIMEOUT),
        Some(Duration::ZERO)
    );
    assert_eq!(
        stale_disruption_in(&stale, after(119), STALE_POD_DISRUPTION_TIMEOUT),
        Some(Duration::from_secs(1)),
        "in progress: looked at again in a second"
    );
    for (case, p) in [
        ("actuated", with(target("True"), true, "Running")),
        ("no condition", with(None, true, "Running")),
        ("cleared", with(target("False"), false, "Running")),
        ("terminal", with(target("True"), false, "Failed")),
        (
            "set by the kubelet",
            with(
                Some(disruption_target("True", Some(TERMINATION_BY_KUBELET), t)),
                false,
                "Running",
            ),
        ),
    ] {
        assert_eq!(
            stale_disruption_in(&p, after(121), STALE_POD_DISRUPTION_TIMEOUT),
            None,
            "{case}"
        );
    }
    let reset = reset_disruption_target(&stale, after(121)).expect("changed");
    let cond = &reset.conditions.unwrap()[0];
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason, None, "upstream writes no reason");
    assert_eq!(cond.message, None);
    assert_eq!(cond.last_transition_time, Some(Time(after(121))));
    let mut done = stale.clone();
    done.status = Some(PodStatus {
        conditions: Some(vec![disruption_target("False", None, t)]),
        ..Default::default()
    });
    assert_eq!(reset_disruption_target(&done, after(200)), None);
}
