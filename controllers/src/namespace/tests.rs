//! Unit tests of the namespace controller's pure core.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use k8s_openapi::jiff::Timestamp;

use super::conditions::*;
use super::content::*;
use super::discovery::{Discovered, deletable_resources};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn find<'a>(cs: &'a [NamespaceCondition], ty: &str) -> &'a NamespaceCondition {
    cs.iter().find(|c| c.type_ == ty).expect(ty)
}

fn summary(cs: &[NamespaceCondition]) -> Vec<(String, String, String)> {
    cs.iter()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn nothing_remaining_gives_all_ok_conditions_in_upstream_order() {
    let mut u = ConditionUpdater::default();
    u.content_totals(&ContentTotals::default());
    let cs = u.conditions(t(0));
    assert_eq!(
        summary(&cs),
        vec![
            (
                DISCOVERY_FAILURE.into(),
                "False".into(),
                "ResourcesDiscovered".into()
            ),
            (
                GV_PARSING_FAILURE.into(),
                "False".into(),
                "ParsedGroupVersions".into()
            ),
            (
                CONTENT_FAILURE.into(),
                "False".into(),
                "ContentDeleted".into()
            ),
            (
                CONTENT_REMAINING.into(),
                "False".into(),
                "ContentRemoved".into()
            ),
            (
                FINALIZERS_REMAINING.into(),
                "False".into(),
                "ContentHasNoFinalizers".into()
            ),
        ]
    );
    assert_eq!(
        find(&cs, CONTENT_FAILURE).message.as_deref(),
        Some("All content successfully deleted, may be waiting on finalization")
    );
    assert_eq!(
        find(&cs, FINALIZERS_REMAINING).message.as_deref(),
        Some("All content-preserving finalizers finished")
    );
}

#[test]
fn remaining_content_with_finalizers_sets_both_remaining_conditions() {
    let mut totals = ContentTotals::default();
    totals.remaining.insert(Gvr::new("", "v1", "pods"), 2);
    totals
        .remaining
        .insert(Gvr::new("example.com", "v1", "widgets"), 1);
    totals.remaining.insert(Gvr::new("", "v1", "secrets"), 0);
    totals.finalizers.insert("example.com/hold".into(), 2);
    totals.finalizers.insert("a.io/x".into(), 1);
    let mut u = ConditionUpdater::default();
    u.content_totals(&totals);
    let cs = u.conditions(t(0));
    let remaining = find(&cs, CONTENT_REMAINING);
    assert_eq!(remaining.status, "True");
    assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        remaining.message.as_deref(),
        Some(
            "Some resources are remaining: pods. has 2 resource instances, \
             widgets.example.com has 1 resource instances"
        )
    );
    let fins = find(&cs, FINALIZERS_REMAINING);
    assert_eq!(fins.status, "True");
    assert_eq!(fins.reason.as_deref(), Some("SomeFinalizersRemain"));
    assert_eq!(
        fins.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: \
             a.io/x in 1 resource instances, example.com/hold in 2 resource instances"
        )
    );
    assert_eq!(find(&cs, CONTENT_FAILURE).status, "False");
}

#[test]
fn remaining_content_without_finalizers_only_sets_content_remaining() {
    let mut totals = ContentTotals::default();
    totals.remaining.insert(Gvr::new("", "v1", "pods"), 1);
    let mut u = ConditionUpdater::default();
    u.content_totals(&totals);
    u.delete_content_failed(
        "unexpected items still remain in namespace: x for gvr: /v1, Resource=pods",
    );
    let cs = u.conditions(t(0));
    assert_eq!(find(&cs, CONTENT_REMAINING).status, "True");
    assert_eq!(find(&cs, FINALIZERS_REMAINING).status, "False");
    let failure = find(&cs, CONTENT_FAILURE);
    assert_eq!(failure.status, "True");
    assert_eq!(failure.reason.as_deref(), Some("ContentDeletionFailed"));
    assert_eq!(
        failure.message.as_deref(),
        Some(
            "Failed to delete all resource types, 1 remaining: \
             unexpected items still remain in namespace: x for gvr: /v1, Resource=pods"
        )
    );
}

#[test]
fn discovery_and_parsing_failures() {
    let mut u = ConditionUpdater::default();
    u.discovery_failed(
        Some(1),
        "unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: boom",
    );
    u.group_version_failed("unexpected GroupVersion string: a/b/c");
    let cs = u.conditions(t(0));
    let d = find(&cs, DISCOVERY_FAILURE);
    assert_eq!(
        (d.status.as_str(), d.reason.as_deref()),
        ("True", Some("DiscoveryFailed"))
    );
    assert_eq!(
        d.message.as_deref(),
        Some(
            "Discovery failed for some groups, 1 failing: unable to retrieve the complete \
             list of server APIs: metrics.k8s.io/v1beta1: boom"
        )
    );
    let g = find(&cs, GV_PARSING_FAILURE);
    assert_eq!(
        (g.status.as_str(), g.reason.as_deref(), g.message.as_deref()),
        (
            "True",
            Some("GroupVersionParsingFailed"),
            Some("unexpected GroupVersion string: a/b/c")
        )
    );
    let mut whole = ConditionUpdater::default();
    whole.discovery_failed(None, "connection refused");
    assert_eq!(
        find(&whole.conditions(t(0)), DISCOVERY_FAILURE)
            .message
            .as_deref(),
        Some("connection refused")
    );
}

#[test]
fn conditions_are_written_only_on_change_and_keep_transition_times() {
    let mut status = NamespaceStatus {
        phase: Some("Terminating".into()),
        conditions: None,
    };
    let mut totals = ContentTotals::default();
    totals.remaining.insert(Gvr::new("", "v1", "pods"), 1);
    totals.finalizers.insert("example.com/hold".into(), 1);
    let mut u = ConditionUpdater::default();
    u.content_totals(&totals);
    assert!(u.update(&mut status, t(0)), "first pass adds every type");
    assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
    assert!(!u.update(&mut status, t(10)), "same pass: no write");
    let time_of = |s: &NamespaceStatus, ty: &str| {
        find(s.conditions.as_ref().unwrap(), ty)
            .last_transition_time
            .clone()
            .unwrap()
            .0
    };
    assert_eq!(time_of(&status, CONTENT_REMAINING), t(0));

    // The finalizer goes: content remaining flips to ok, its time moves; the
    // unchanged types keep theirs.
    let mut done = ConditionUpdater::default();
    done.content_totals(&ContentTotals::default());
    assert!(done.update(&mut status, t(20)));
    let cs = status.conditions.as_ref().unwrap();
    assert_eq!(find(cs, CONTENT_REMAINING).status, "False");
    assert_eq!(find(cs, FINALIZERS_REMAINING).status, "False");
    assert_eq!(time_of(&status, CONTENT_REMAINING), t(20));
    assert_eq!(time_of(&status, DISCOVERY_FAILURE), t(0));
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
}

#[test]
fn other_conditions_on_the_namespace_are_kept() {
    let mut status = NamespaceStatus {
        phase: Some("Terminating".into()),
        conditions: Some(vec![NamespaceCondition {
            type_: "Custom".into(),
            status: "True".into(),
            ..Default::default()
        }]),
    };
    assert!(ConditionUpdater::default().update(&mut status, t(0)));
    let cs = status.conditions.unwrap();
    assert_eq!(cs.len(), 6);
    assert_eq!(cs[0].type_, "Custom");
}

#[test]
fn pod_estimate_is_the_longest_grace_of_live_pods_until_it_elapsed() {
    let pod = |phase: &str, grace: Option<i64>| PodGrace {
        phase: Some(phase.into()),
        grace_seconds: grace,
    };
    let pods = vec![
        pod("Running", Some(30)),
        pod("Pending", Some(10)),
        pod("Succeeded", Some(600)),
        pod("Failed", Some(600)),
        pod("Running", None),
    ];
    assert_eq!(estimate_pod_termination(&pods, 0), 30);
    assert_eq!(estimate_pod_termination(&pods, 29), 30);
    assert_eq!(estimate_pod_termination(&pods, 30), 0);
    assert_eq!(estimate_pod_termination(&[], 0), 0);
}

#[test]
fn leftovers_are_judged_as_upstream() {
    let pods = Gvr::new("", "v1", "pods");
    // Nothing left.
    assert_eq!(
        judge_remaining(&pods, "ns", 0, &[]),
        Ok(GvrRemaining::default())
    );
    // Finalizers hold objects: the default finalizer estimate.
    let held = judge_remaining(&pods, "ns", 0, &[vec!["a/b".into()], vec![]]).unwrap();
    assert_eq!(held.estimate, FINALIZER_ESTIMATE_SECONDS);
    assert_eq!(held.remaining, 2);
    assert_eq!(held.finalizers, BTreeMap::from([("a/b".to_string(), 1)]));
    // Graceful termination under way: its estimate, no error.
    let graceful = judge_remaining(&pods, "ns", 30, &[vec![]]).unwrap();
    assert_eq!((graceful.estimate, graceful.remaining), (30, 1));
    // Objects left for no reason: upstream's error.
    let (meta, msg) = judge_remaining(&pods, "ns", 0, &[vec![]]).unwrap_err();
    assert_eq!(meta.remaining, 1);
    assert_eq!(
        msg,
        "unexpected items still remain in namespace: ns for gvr: /v1, Resource=pods"
    );
}

#[test]
fn requeue_delay_is_half_the_estimate_plus_one() {
    assert_eq!(requeue_after(15), Duration::from_secs(8));
    assert_eq!(requeue_after(30), Duration::from_secs(16));
    assert_eq!(requeue_after(0), Duration::from_secs(1));
}

#[test]
fn finalize_removes_only_the_kubernetes_token() {
    assert_eq!(finalized_spec(&["kubernetes".into()]), Some(vec![]));
    assert_eq!(
        finalized_spec(&[
            "z/y".into(),
            "kubernetes".into(),
            "a/b".into(),
            "a/b".into()
        ]),
        Some(vec!["a/b".to_string(), "z/y".to_string()])
    );
    assert_eq!(finalized_spec(&["a/b".into()]), None);
    assert_eq!(finalized_spec(&[]), None);
}

#[test]
fn discovery_keeps_namespaced_deletable_top_level_resources() {
    let res = |name: &str, namespaced: bool, verbs: &[&str]| APIResource {
        name: name.into(),
        kind: "K".into(),
        namespaced,
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    };
    let list = APIResourceList {
        group_version: "example.com/v1".into(),
        resources: vec![
            res("widgets", true, &["list", "delete", "deletecollection"]),
            res("widgets/status", true, &["get", "update", "delete"]),
            res("gadgets", true, &["delete"]),
            res("clusterthings", false, &["list", "delete"]),
            res("readonly", true, &["get", "list"]),
        ],
    };
    let found = deletable_resources(&list).unwrap();
    let names: Vec<(&str, bool, bool)> = found
        .iter()
        .map(|r| (r.gvr.resource.as_str(), r.list, r.delete_collection))
        .collect();
    assert_eq!(
        names,
        vec![("widgets", true, true), ("gadgets", false, false)]
    );
    assert_eq!(found[0].gvr, Gvr::new("example.com", "v1", "widgets"));
    let core = APIResourceList {
        group_version: "v1".into(),
        resources: vec![res("pods", true, &["list", "delete"])],
    };
    assert_eq!(
        deletable_resources(&core).unwrap()[0].gvr,
        Gvr::new("", "v1", "pods")
    );
    let bad = APIResourceList {
        group_version: "a/b/c".into(),
        resources: vec![],
    };
    assert_eq!(
        deletable_resources(&bad).unwrap_err(),
        "unexpected GroupVersion string: a/b/c"
    );
}

#[test]
fn partial_discovery_failure_names_the_failing_groups() {
    let d = Discovered {
        failed_groups: vec![
            ("metrics.k8s.io/v1beta1".into(), "503".into()),
            ("a.io/v1".into(), "timeout".into()),
        ],
        ..Default::default()
    };
    assert_eq!(
        d.error(),
        Some((
            Some(2),
            "unable to retrieve the complete list of server APIs: a.io/v1: timeout, \
             metrics.k8s.io/v1beta1: 503"
                .to_string()
        ))
    );
    assert_eq!(Discovered::default().error(), None);
}
