//! Unit tests of the graph and the decisions, with plain values.

use super::decide::*;
use super::graph::*;
use serde_json::json;

fn id(kind: &str, name: &str, uid: &str) -> Identity {
    Identity {
        api_version: "v1".into(),
        kind: kind.into(),
        namespace: Some("default".into()),
        name: name.into(),
        uid: uid.into(),
    }
}

fn oref(name: &str, uid: &str, block: bool) -> OwnerRef {
    OwnerRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: name.into(),
        uid: uid.into(),
        block_owner_deletion: block,
    }
}

fn obj(name: &str, uid: &str, owners: Vec<OwnerRef>) -> ObservedObject {
    ObservedObject {
        identity: id("ConfigMap", name, uid),
        owners,
        being_deleted: false,
        finalizers: vec![],
    }
}

fn deleting(mut o: ObservedObject, fin: &str) -> ObservedObject {
    o.being_deleted = true;
    o.finalizers = vec![fin.to_string()];
    o
}

fn del(uid: &str) -> Enqueue {
    Enqueue::AttemptToDelete(uid.into())
}

#[test]
fn unseen_owner_becomes_virtual_node_and_is_verified() {
    let mut g = Graph::new();
    let out = g.observe(obj("child", "c", vec![oref("parent", "p", false)]));
    assert_eq!(out, vec![del("p")]);
    let p = g.node("p").expect("virtual owner");
    assert!(!p.observed);
    assert_eq!(p.identity.namespace.as_deref(), Some("default"));
    assert_eq!(p.identity.name, "parent");
    assert!(p.dependents.contains("c"));
    // Observing the owner later makes it real and keeps the edge; no new work.
    let out = g.observe(obj("parent", "p", vec![]));
    assert!(out.is_empty());
    assert!(g.node("p").expect("owner").observed);
    assert!(g.node("p").expect("owner").dependents.contains("c"));
}

#[test]
fn known_owner_gets_edge_without_work() {
    let mut g = Graph::new();
    assert!(g.observe(obj("parent", "p", vec![])).is_empty());
    assert!(
        g.observe(obj("child", "c", vec![oref("parent", "p", true)]))
            .is_empty()
    );
    assert_eq!(g.dependents("p").len(), 1);
    assert_eq!(g.blocking_dependents("p").len(), 1);
}

#[test]
fn deleting_owner_enqueues_dependents() {
    let mut g = Graph::new();
    g.observe(obj("parent", "p", vec![]));
    g.observe(obj("a", "a", vec![oref("parent", "p", false)]));
    g.observe(obj("b", "b", vec![oref("parent", "p", true)]));
    let mut out = g.remove("p");
    out.sort();
    assert_eq!(out, vec![del("a"), del("b")]);
    assert!(g.node("p").is_none());
    assert!(g.remove("p").is_empty(), "second delete is a no-op");
}

#[test]
fn orphan_finalizer_enqueues_orphaning_once() {
    let mut g = Graph::new();
    g.observe(obj("parent", "p", vec![]));
    g.observe(obj("a", "a", vec![oref("parent", "p", false)]));
    let out = g.observe(deleting(obj("parent", "p", vec![]), ORPHAN_FINALIZER));
    assert_eq!(out, vec![Enqueue::AttemptToOrphan("p".into())]);
    // The same state seen again (a resync) is not a transition.
    let out = g.observe(deleting(obj("parent", "p", vec![]), ORPHAN_FINALIZER));
    assert!(out.is_empty());
}

#[test]
fn foreground_finalizer_marks_and_enqueues_dependents_and_owner() {
    let mut g = Graph::new();
    g.observe(obj("parent", "p", vec![]));
    g.observe(obj("a", "a", vec![oref("parent", "p", true)]));
    let out = g.observe(deleting(obj("parent", "p", vec![]), FOREGROUND_FINALIZER));
    assert_eq!(out, vec![del("a"), del("p")]);
    assert!(g.node("p").expect("p").deleting_dependents);
    // A blocking dependent going away wakes the owner up.
    assert_eq!(g.remove("a"), vec![del("p")]);
}

#[test]
fn dropping_or_unblocking_reference_wakes_foreground_owner() {
    let mut g = Graph::new();
    g.observe(obj("parent", "p", vec![]));
    g.observe(obj("a", "a", vec![oref("parent", "p", true)]));
    g.observe(obj("b", "b", vec![oref("parent", "p", true)]));
    g.observe(deleting(obj("parent", "p", vec![]), FOREGROUND_FINALIZER));
    // b's reference becomes non-blocking.
    assert_eq!(
        g.observe(obj("b", "b", vec![oref("parent", "p", false)])),
        vec![del("p")]
    );
    assert_eq!(g.blocking_dependents("p").len(), 1);
    // a drops its reference.
    assert_eq!(g.observe(obj("a", "a", vec![])), vec![del("p")]);
    assert!(g.blocking_dependents("p").is_empty());
    assert_eq!(g.dependents("p").len(), 1);
}

#[test]
fn references_diff_finds_added_removed_changed() {
    let (a, r, c) = references_diff(
        &[oref("x", "1", false), oref("y", "2", false)],
        &[oref("y", "2", true), oref("z", "3", false)],
    );
    assert_eq!(a, vec![oref("z", "3", false)]);
    assert_eq!(r, vec![oref("x", "1", false)]);
    assert_eq!(c, vec![(oref("y", "2", false), oref("y", "2", true))]);
}

fn node(g: &mut Graph, o: ObservedObject) -> Node {
    let uid = o.identity.uid.clone();
    g.observe(o);
    g.node(&uid).expect("node").clone()
}

fn latest(uid: &str, owners: Vec<OwnerRef>, finalizers: &[&str]) -> Latest {
    Latest {
        uid: uid.into(),
        owners,
        finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        being_deleted: false,
    }
}

#[test]
fn precheck_cases() {
    let mut g = Graph::new();
    let n = node(&mut g, obj("c", "c", vec![oref("p", "p", false)]));
    assert_eq!(precheck(&n, None), Precheck::Vanished);
    assert_eq!(
        precheck(&n, Some(&latest("other", vec![], &[]))),
        Precheck::Vanished
    );
    assert_eq!(
        precheck(&n, Some(&latest("c", vec![], &[]))),
        Precheck::NoOwners
    );
    let owners = vec![oref("p", "p", false)];
    assert_eq!(
        precheck(&n, Some(&latest("c", owners.clone(), &[]))),
        Precheck::ClassifyOwners(owners)
    );
    let n = node(&mut g, deleting(obj("c", "c", vec![]), ORPHAN_FINALIZER));
    assert_eq!(precheck(&n, None), Precheck::WaitForDeletion);
    let n = node(
        &mut g,
        deleting(obj("d", "d", vec![]), FOREGROUND_FINALIZER),
    );
    assert_eq!(
        precheck(&n, Some(&latest("d", vec![], &[FOREGROUND_FINALIZER]))),
        Precheck::DeletingDependents
    );
    assert_eq!(precheck(&n, None), Precheck::Vanished);
}

#[test]
fn classify_owner_cases() {
    let r = oref("p", "p", true);
    assert_eq!(
        classify_owner(&r, &OwnerLookup::Absent),
        OwnerState::Dangling
    );
    let found = |uid: &str, del: bool, fins: &[&str]| OwnerLookup::Found {
        uid: uid.into(),
        being_deleted: del,
        finalizers: fins.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(
        classify_owner(&r, &found("q", false, &[])),
        OwnerState::Dangling
    );
    assert_eq!(
        classify_owner(&r, &found("p", false, &[])),
        OwnerState::Solid
    );
    assert_eq!(
        classify_owner(&r, &found("p", true, &[])),
        OwnerState::Solid
    );
    assert_eq!(
        classify_owner(&r, &found("p", true, &[ORPHAN_FINALIZER])),
        OwnerState::Solid
    );
    assert_eq!(
        classify_owner(&r, &found("p", true, &[FOREGROUND_FINALIZER])),
        OwnerState::WaitingForDependentsDeletion
    );
    // The finalizer alone, without a deletionTimestamp, is not a deletion.
    assert_eq!(
        classify_owner(&r, &found("p", false, &[FOREGROUND_FINALIZER])),
        OwnerState::Solid
    );
}

#[test]
fn decide_delete_table() {
    use OwnerState::*;
    let l = latest("c", vec![], &[]);
    let none = DependentsFacts::default();
    let bg = DeleteDecision::Delete {
        propagation: Propagation::Background,
        unblock_first: false,
    };
    type Case<'a> = (Vec<(&'a str, OwnerState)>, DependentsFacts, DeleteDecision);
    let cases: Vec<Case> = vec![
        (vec![("a", Solid)], none, DeleteDecision::Keep),
        (vec![("a", Solid), ("b", Solid)], none, DeleteDecision::Keep),
        (
            vec![("a", Solid), ("b", Dangling)],
            none,
            DeleteDecision::RemoveOwnerRefs(vec!["b".into()]),
        ),
        (
            vec![
                ("w", WaitingForDependentsDeletion),
                ("a", Solid),
                ("b", Dangling),
            ],
            none,
            DeleteDecision::RemoveOwnerRefs(vec!["b".into(), "w".into()]),
        ),
        (vec![("b", Dangling)], none, bg.clone()),
        (vec![("b", Dangling), ("c", Dangling)], none, bg.clone()),
        // Waiting owner, no dependents of our own: plain delete.
        (vec![("w", WaitingForDependentsDeletion)], none, bg.clone()),
        (
            vec![("w", WaitingForDependentsDeletion)],
            DependentsFacts {
                has_dependents: true,
                some_deleting_dependents: false,
            },
            DeleteDecision::Delete {
                propagation: Propagation::Foreground,
                unblock_first: false,
            },
        ),
        (
            vec![("w", WaitingForDependentsDeletion), ("d", Dangling)],
            DependentsFacts {
                has_dependents: true,
                some_deleting_dependents: true,
            },
            DeleteDecision::Delete {
                propagation: Propagation::Foreground,
                unblock_first: true,
            },
        ),
    ];
    for (owners, facts, want) in cases {
        let classified: Vec<(OwnerRef, OwnerState)> =
            owners.iter().map(|(u, s)| (oref(u, u, true), *s)).collect();
        assert_eq!(
            decide_delete(&classified, &l, facts),
            want,
            "{owners:?} {facts:?}"
        );
    }
}

#[test]
fn decide_delete_honours_existing_finalizers() {
    let classified = vec![(oref("p", "p", false), OwnerState::Dangling)];
    let facts = DependentsFacts::default();
    let prop = |fins: &[&str]| match decide_delete(&classified, &latest("c", vec![], fins), facts) {
        DeleteDecision::Delete { propagation, .. } => propagation,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(prop(&[]), Propagation::Background);
    assert_eq!(prop(&[ORPHAN_FINALIZER]), Propagation::Orphan);
    assert_eq!(prop(&[FOREGROUND_FINALIZER]), Propagation::Foreground);
    assert_eq!(
        prop(&[FOREGROUND_FINALIZER, ORPHAN_FINALIZER]),
        Propagation::Orphan
    );
}

#[test]
fn deleting_dependents_step_cases() {
    let mut g = Graph::new();
    g.observe(obj("p", "p", vec![]));
    assert_eq!(
        deleting_dependents_step(&[]),
        DeletingDependentsStep::RemoveFinalizer
    );
    g.observe(obj("a", "a", vec![oref("p", "p", true)]));
    g.observe(deleting(
        obj("b", "b", vec![oref("p", "p", true)]),
        FOREGROUND_FINALIZER,
    ));
    g.observe(obj("c", "c", vec![oref("p", "p", false)]));
    let blocking = g.blocking_dependents("p");
    assert_eq!(blocking.len(), 2);
    // b is already deleting its own dependents: not re-enqueued.
    assert_eq!(
        deleting_dependents_step(&blocking),
        DeletingDependentsStep::Enqueue(vec!["a".into()])
    );
}

#[test]
fn patches() {
    let refs = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1", "blockOwnerDeletion": true}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "uid": "2"}),
    ];
    assert_eq!(
        remove_owner_refs_patch(&refs, "me", &["1".into()]),
        Some(json!({"metadata": {"ownerReferences": [refs[1].clone()], "uid": "me"}}))
    );
    assert_eq!(
        remove_owner_refs_patch(&refs, "me", &["1".into(), "2".into()]),
        Some(json!({"metadata": {"ownerReferences": [], "uid": "me"}}))
    );
    assert_eq!(remove_owner_refs_patch(&refs, "me", &["9".into()]), None);
    let p = unblock_owner_refs_patch(&refs, "me").expect("one blocks");
    assert_eq!(
        p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        json!(false)
    );
    assert_eq!(p["metadata"]["ownerReferences"][1], refs[1]);
    assert_eq!(unblock_owner_refs_patch(&refs[1..], "me"), None);
    let fins = vec!["a".to_string(), FOREGROUND_FINALIZER.to_string()];
    assert_eq!(
        remove_finalizer_patch(&fins, FOREGROUND_FINALIZER, "7"),
        Some(json!({"metadata": {"finalizers": ["a"], "resourceVersion": "7"}}))
    );
    assert_eq!(remove_finalizer_patch(&fins, ORPHAN_FINALIZER, "7"), None);
}

#[test]
fn observing_a_virtual_owner_under_other_coordinates_rechecks_mismatching_dependents() {
    let mut g = Graph::new();
    // Two dependents name owner UID "p": one as ConfigMap "parent", one as Secret "parent".
    g.observe(obj("good", "good", vec![oref("parent", "p", false)]));
    let mut wrong_kind = oref("parent", "p", false);
    wrong_kind.kind = "Secret".into();
    assert_eq!(
        g.observe(obj("bad", "bad", vec![wrong_kind])),
        vec![del("bad")]
    );
    let mut other_ns = obj("far", "far", vec![oref("parent", "p", false)]);
    other_ns.identity.namespace = Some("elsewhere".into());
    assert_eq!(g.observe(other_ns), vec![del("far")]);
    // The real owner is a Secret "parent" in "default": "good" and "far" are
    // now the suspicious ones ("bad" was already flagged when it was added).
    let mut owner = obj("parent", "p", vec![]);
    owner.identity.kind = "Secret".into();
    let mut out = g.observe(owner.clone());
    out.sort();
    assert_eq!(out, vec![del("far"), del("good")]);
    // Seen again with the same coordinates: nothing to verify.
    assert!(g.observe(owner).is_empty());
}

#[test]
fn dependent_naming_a_known_owner_wrongly_is_verified() {
    let mut g = Graph::new();
    g.observe(obj("parent", "p", vec![]));
    // Matching reference: nothing to verify.
    assert!(
        g.observe(obj("good", "good", vec![oref("parent", "p", false)]))
            .is_empty()
    );
    // Wrong name for the UID.
    assert_eq!(
        g.observe(obj("bad", "bad", vec![oref("other", "p", false)])),
        vec![del("bad")]
    );
    // Same coordinates from another namespace than the namespaced owner.
    let mut far = obj("far", "far", vec![oref("parent", "p", false)]);
    far.identity.namespace = Some("elsewhere".into());
    assert_eq!(g.observe(far), vec![del("far")]);
}

#[test]
fn api_group_of_api_versions() {
    assert_eq!(api_group("v1"), "");
    assert_eq!(api_group("apps/v1"), "apps");
}
