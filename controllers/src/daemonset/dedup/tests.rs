use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use serde_json::json;

use super::{plan_dedup, relabel_patch, revision_hash};
use crate::daemonset::testing::{daemonset, ready_pod};
use crate::util::history::{daemonset_revision, matches_template};

/// The revision `number` of `ds`'s current template, hashed with
/// `collision_count` (so equal templates get distinct names).
fn revision(ds: &DaemonSet, number: i64, collision_count: i32) -> ControllerRevision {
    let mut ds = ds.clone();
    ds.status = Some(DaemonSetStatus {
        collision_count: Some(collision_count),
        ..Default::default()
    });
    daemonset_revision(&ds, number).unwrap()
}

fn hash(r: &ControllerRevision) -> &str {
    revision_hash(r).unwrap()
}

#[test]
fn one_current_revision_relabels_and_deletes_nothing() {
    let ds = daemonset("agent", "agent:1");
    let only = revision(&ds, 2, 0);
    let pods = [ready_pod(&ds, "p0", "n0", hash(&only), 10)];
    let d = plan_dedup(std::slice::from_ref(&only), &pods).unwrap();
    assert_eq!(d.keep, &only);
    assert_eq!(d.hash, hash(&only));
    assert!(d.relabel.is_empty());
    assert!(d.delete.is_empty());
}

#[test]
fn no_revision_is_nothing_to_dedup() {
    let ds = daemonset("agent", "agent:1");
    let pods = [ready_pod(&ds, "p0", "n0", "h", 10)];
    assert_eq!(plan_dedup::<ControllerRevision, _>(&[], &pods), None);
}

#[test]
fn the_highest_revision_is_kept_and_the_duplicates_pods_are_relabelled_to_it() {
    let ds = daemonset("agent", "agent:2");
    let dup = revision(&ds, 2, 0);
    let keep = revision(&ds, 3, 1);
    assert_ne!(hash(&dup), hash(&keep), "distinct names of one template");
    let template = ds.spec.as_ref().unwrap().template.clone();
    assert!(matches_template(&template, &dup) && matches_template(&template, &keep));
    let old_ds = daemonset("agent", "agent:1");
    let old = revision(&old_ds, 1, 0);
    let pods = [
        ready_pod(&ds, "on-dup", "n0", hash(&dup), 10),
        ready_pod(&ds, "on-keep", "n1", hash(&keep), 10),
        ready_pod(&old_ds, "on-old", "n2", hash(&old), 10),
        ready_pod(&ds, "on-dup-too", "n3", hash(&dup), 10),
    ];
    // Listed in either order, the same choice.
    for current in [[dup.clone(), keep.clone()], [keep.clone(), dup.clone()]] {
        let d = plan_dedup(&current, &pods).unwrap();
        assert_eq!(d.keep.metadata.name, keep.metadata.name);
        assert_eq!(d.hash, hash(&keep));
        assert_eq!(d.relabel, ["on-dup", "on-dup-too"]);
        assert_eq!(d.delete, [dup.metadata.name.clone().unwrap()]);
    }
}

#[test]
fn pods_of_older_templates_keep_their_hash_so_the_rollout_still_replaces_them() {
    // Upstream relabels these too (kubernetes/kubernetes#111280); they are not
    // of the current template.
    let ds = daemonset("agent", "agent:2");
    let current = [revision(&ds, 4, 0), revision(&ds, 5, 1)];
    let old_ds = daemonset("agent", "agent:1");
    let old = revision(&old_ds, 3, 0);
    let pods = [
        ready_pod(&old_ds, "old-0", "n0", hash(&old), 10),
        ready_pod(&old_ds, "no-hash", "n1", hash(&old), 10),
    ];
    let mut pods = pods.to_vec();
    pods[1]
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove("controller-revision-hash");
    let d = plan_dedup(&current, &pods).unwrap();
    assert!(d.relabel.is_empty(), "{:?}", d.relabel);
    assert_eq!(d.delete.len(), 1);
}

#[test]
fn of_equal_numbers_the_last_listed_is_kept() {
    // Upstream keeps `cur.Revision >= maxRevision`: the last of equal numbers.
    let ds = daemonset("agent", "agent:1");
    let a = revision(&ds, 2, 0);
    let b = revision(&ds, 2, 1);
    let c = revision(&ds, 2, 2);
    let pods = [
        ready_pod(&ds, "pa", "n0", hash(&a), 10),
        ready_pod(&ds, "pb", "n1", hash(&b), 10),
        ready_pod(&ds, "pc", "n2", hash(&c), 10),
    ];
    let current = [a.clone(), b.clone(), c.clone()];
    let d = plan_dedup(&current, &pods).unwrap();
    assert_eq!(d.keep.metadata.name, c.metadata.name);
    assert_eq!(d.relabel, ["pa", "pb"]);
    assert_eq!(
        d.delete,
        [
            a.metadata.name.clone().unwrap(),
            b.metadata.name.clone().unwrap()
        ]
    );
}

#[test]
fn the_relabel_patch_sets_only_the_revision_label() {
    assert_eq!(
        relabel_patch("5d9c7f"),
        json!({"metadata": {"labels": {"controller-revision-hash": "5d9c7f"}}})
    );
}

#[test]
fn relabelled_pods_replace_their_cached_copies() {
    use super::with_relabelled;
    use std::sync::Arc;
    let ds = daemonset("agent", "agent:1");
    let cached = vec![
        Arc::new(ready_pod(&ds, "a", "n0", "dup", 10)),
        Arc::new(ready_pod(&ds, "b", "n1", "keep", 10)),
    ];
    let written = ready_pod(&ds, "a", "n0", "keep", 10);
    let pods = with_relabelled(cached.clone(), vec![written]);
    let hashes: Vec<&str> = pods
        .iter()
        .map(|p| p.metadata.labels.as_ref().unwrap()["controller-revision-hash"].as_str())
        .collect();
    assert_eq!(hashes, ["keep", "keep"]);
    assert!(
        Arc::ptr_eq(&pods[1], &cached[1]),
        "the others are the cache's"
    );
}
