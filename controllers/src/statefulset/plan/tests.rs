use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::statefulset::identity::pod_name;
use crate::statefulset::retention::{DELETE, RETAIN};
use crate::statefulset::testing::{
    claim_template, member, on_delete, running, set, terminating, with_partition, with_phase,
    with_policy,
};
use crate::util::history::{
    UpdateRevision, next_revision, plan_update_revision, statefulset_revision,
};
use crate::util::testing::{at, template};

const NOW: i64 = 100;

/// Plans a sync of `s` with `pods`, the current revision `r1` and the update
/// revision `r2` (whose template is `update_image`, or the set's own).
fn plan_with(
    s: &StatefulSet,
    pods: &[Pod],
    claims: &BTreeMap<String, PersistentVolumeClaim>,
    update_image: Option<&str>,
) -> SyncPlan {
    let mut update_set = s.clone();
    if let Some(image) = update_image {
        update_set.spec.as_mut().unwrap().template = template(image);
    }
    let refs: Vec<&Pod> = pods.iter().collect();
    let (current, update) = if update_image.is_some() {
        ("r1", "r2")
    } else {
        ("r1", "r1")
    };
    plan_sync(&SyncInput {
        set: s,
        current_set: s,
        update_set: &update_set,
        current_revision: current,
        update_revision: update,
        collision_count: 0,
        pods: &refs,
        claims,
        now: at(NOW),
    })
    .unwrap()
}

fn plan(s: &StatefulSet, pods: &[Pod]) -> SyncPlan {
    plan_with(s, pods, &BTreeMap::new(), None)
}

fn ready(s: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    running(member(s, ordinal, revision), at(0))
}

/// The names of the pods the plan creates, in order.
fn created(p: &SyncPlan) -> Vec<String> {
    p.replicas
        .iter()
        .filter_map(|s| match s {
            ReplicaStep::Create { pod, .. } => pod.metadata.name.clone(),
            _ => None,
        })
        .collect()
}

fn names(refs: &[PodRef]) -> Vec<&str> {
    refs.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn ordered_ready_creates_one_pod_after_its_predecessors_are_ready() {
    let s = set("web", 3);
    let p = plan(&s, &[]);
    assert_eq!(created(&p), ["web-0"]);
    assert!(p.condemned.is_empty() && p.update.is_none());

    // web-0 exists but is not Running and Ready yet: nothing more.
    let p = plan(&s, &[member(&s, 0, "r1")]);
    assert!(created(&p).is_empty());
    assert!(p.waiting.unwrap().contains("web-0"));

    let p = plan(&s, &[ready(&s, 0, "r1")]);
    assert_eq!(created(&p), ["web-1"]);
    let p = plan(&s, &[ready(&s, 0, "r1"), ready(&s, 1, "r1")]);
    assert_eq!(created(&p), ["web-2"]);
    let all: Vec<Pod> = (0..3).map(|o| ready(&s, o, "r1")).collect();
    let p = plan(&s, &all);
    assert!(p.replicas.is_empty() && p.waiting.is_none());
    assert_eq!(p.status.replicas, 3);
    assert_eq!(p.status.ready_replicas, Some(3));
    assert_eq!(p.status.current_replicas, Some(3));
}

#[test]
fn ordinals_start_where_the_spec_says() {
    let mut s = set("web", 2);
    s.spec.as_mut().unwrap().ordinals =
        Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(3) });
    assert_eq!(created(&plan(&s, &[])), ["web-3"]);
    // web-0 is out of range now: condemned once web-3 and web-4 are healthy.
    let p = plan(
        &s,
        &[ready(&s, 3, "r1"), ready(&s, 4, "r1"), ready(&s, 0, "r1")],
    );
    assert_eq!(names(&p.condemned), ["web-0"]);
}

#[test]
fn parallel_creates_and_deletes_all_at_once() {
    let mut s = set("web", 3);
    s.spec.as_mut().unwrap().pod_management_policy = Some("Parallel".into());
    assert_eq!(created(&plan(&s, &[])), ["web-0", "web-1", "web-2"]);
    // An unready web-0 holds nothing up.
    let p = plan(&s, &[member(&s, 0, "r1")]);
    assert_eq!(created(&p), ["web-1", "web-2"]);
    // Scaled to 1 from 4: every condemned pod goes at once.
    s.spec.as_mut().unwrap().replicas = Some(1);
    let pods: Vec<Pod> = (0..4).map(|o| member(&s, o, "r1")).collect();
    assert_eq!(
        names(&plan(&s, &pods).condemned),
        ["web-3", "web-2", "web-1"]
    );
}

#[test]
fn a_failed_pod_is_deleted_and_the_sync_halts_there() {
    let s = set("web", 3);
    let failed = with_phase(ready(&s, 1, "r1"), "Failed");
    let p = plan(&s, &[ready(&s, 0, "r1"), failed.clone()]);
    assert_eq!(p.replicas, [ReplicaStep::DeleteFailed(PodRef::of(&failed))]);
    assert!(created(&p).is_empty());
    // Already being deleted: wait for it to go.
    let p = plan(&s, &[ready(&s, 0, "r1"), terminating(failed)]);
    assert!(p.replicas.is_empty());
    assert!(p.waiting.is_some());
    // Gone: recreated.
    assert_eq!(created(&plan(&s, &[ready(&s, 0, "r1")])), ["web-1"]);
}

#[test]
fn an_unhealthy_pod_halts_creation_and_scale_down() {
    let s = set("web", 3);
    let mut unready = ready(&s, 1, "r1");
    unready
        .status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()[0]
        .status = "False".into();
    let p = plan(&s, &[ready(&s, 0, "r1"), unready.clone()]);
    assert!(created(&p).is_empty(), "web-2 waits for web-1");
    // Scaling down while web-1 is unready: web-3 is not the first unhealthy pod,
    // so it stays.
    let p = plan(
        &s,
        &[
            ready(&s, 0, "r1"),
            unready,
            ready(&s, 2, "r1"),
            ready(&s, 3, "r1"),
        ],
    );
    assert!(p.condemned.is_empty());
    // minReadySeconds: a pod ready for less than it halts too.
    let mut slow = set("web", 3);
    slow.spec.as_mut().unwrap().min_ready_seconds = Some(60);
    let fresh = running(member(&slow, 0, "r1"), at(NOW - 10));
    assert!(created(&plan(&slow, &[fresh])).is_empty());
    let old = running(member(&slow, 0, "r1"), at(NOW - 61));
    let p = plan(&slow, &[old]);
    assert_eq!(created(&p), ["web-1"]);
    assert_eq!(p.status.available_replicas, Some(1));
}

#[test]
fn scale_down_goes_in_reverse_one_at_a_time() {
    let s = set("web", 2);
    let pods: Vec<Pod> = (0..5).map(|o| ready(&s, o, "r1")).collect();
    let p = plan(&s, &pods);
    assert_eq!(names(&p.condemned), ["web-4"]);
    // web-4 terminating: wait for it before web-3.
    let mut pods = pods;
    pods[4] = terminating(pods[4].clone());
    let p = plan(&s, &pods);
    assert!(p.condemned.is_empty());
    assert!(p.waiting.unwrap().contains("web-4"));
    pods.pop();
    assert_eq!(names(&plan(&s, &pods).condemned), ["web-3"]);
}

#[test]
fn rolling_updates_go_in_reverse_down_to_the_partition() {
    let s = set("web", 5);
    let at_rev = |s: &StatefulSet, updated: &[i32]| -> Vec<Pod> {
        (0..5)
            .map(|o| ready(s, o, if updated.contains(&o) { "r2" } else { "r1" }))
            .collect()
    };
    let p = plan_with(&s, &at_rev(&s, &[]), &BTreeMap::new(), Some("nginx:2"));
    assert_eq!(p.update.as_ref().map(|r| r.name.as_str()), Some("web-4"));
    assert_eq!(
        p.status.current_replicas,
        Some(4),
        "the deleted pod no longer counts"
    );
    assert_eq!(p.status.updated_replicas, Some(0));

    // web-4 updated but not ready yet: wait.
    let mut pods = at_rev(&s, &[4]);
    pods[4] = member(&s, 4, "r2");
    let p = plan_with(&s, &pods, &BTreeMap::new(), Some("nginx:2"));
    assert!(p.update.is_none());
    let p = plan_with(&s, &at_rev(&s, &[4]), &BTreeMap::new(), Some("nginx:2"));
    assert_eq!(p.update.as_ref().map(|r| r.name.as_str()), Some("web-3"));

    // A canary: partition 4 updates web-4 only.
    let s = with_partition(s, 4);
    let p = plan_with(&s, &at_rev(&s, &[4]), &BTreeMap::new(), Some("nginx:2"));
    assert!(p.update.is_none());
    assert_eq!(p.status.updated_replicas, Some(1));
    // A pod below the partition that is deleted comes back at the current
    // revision; one above at the update revision.
    for (gone, revision, image) in [(2, "r1", "nginx:1"), (4, "r2", "nginx:2")] {
        let mut pods = at_rev(&s, &[4]);
        pods.remove(gone);
        let p = plan_with(&s, &pods, &BTreeMap::new(), Some("nginx:2"));
        assert_eq!(recreated(&p), (revision.to_string(), image.to_string()));
    }
}

/// The revision and image of the first pod the plan creates.
fn recreated(p: &SyncPlan) -> (String, String) {
    let Some(ReplicaStep::Create { pod, .. }) = p.replicas.first() else {
        panic!("{:?}", p.replicas)
    };
    let image = pod.spec.as_ref().unwrap().containers[0].image.clone();
    (pod_revision(pod).to_string(), image.unwrap_or_default())
}

#[test]
fn on_delete_never_deletes_for_an_update() {
    let s = on_delete(set("web", 2));
    let pods = [ready(&s, 0, "r1"), ready(&s, 1, "r1")];
    let p = plan_with(&s, &pods, &BTreeMap::new(), Some("nginx:2"));
    assert!(p.update.is_none() && p.replicas.is_empty());
    // A deleted pod comes back at the update revision.
    let p = plan_with(&s, &pods[..1], &BTreeMap::new(), Some("nginx:2"));
    assert_eq!(recreated(&p).0, "r2");
}

fn with_claims(s: StatefulSet) -> StatefulSet {
    let mut s = s;
    s.spec.as_mut().unwrap().volume_claim_templates = Some(vec![claim_template("www")]);
    s
}

fn claim_of(s: &StatefulSet, ordinal: i32) -> PersistentVolumeClaim {
    let mut c = claims_for(s, ordinal).remove(0).1;
    c.metadata.uid = Some(format!("uid-claim-{ordinal}"));
    c
}

fn cache(claims: &[PersistentVolumeClaim]) -> BTreeMap<String, PersistentVolumeClaim> {
    claims
        .iter()
        .map(|c| (c.metadata.name.clone().unwrap(), c.clone()))
        .collect()
}

fn owner_uids(c: &PersistentVolumeClaim) -> Vec<&str> {
    c.metadata
        .owner_references
        .iter()
        .flatten()
        .map(|r| r.uid.as_str())
        .collect()
}

#[test]
fn claims_are_created_before_their_pod_and_reused_when_it_is_recreated() {
    let s = with_claims(set("web", 2));
    let p = plan(&s, &[]);
    let ReplicaStep::Create { pod, claims } = &p.replicas[0] else {
        panic!("{:?}", p.replicas)
    };
    assert_eq!(pod.metadata.name.as_deref(), Some("web-0"));
    let created: Vec<_> = claims
        .create
        .iter()
        .map(|c| c.metadata.name.as_deref())
        .collect();
    assert_eq!(created, [Some("www-web-0")]);
    assert!(
        claims.create[0].metadata.owner_references.is_none(),
        "Retain/Retain"
    );

    // web-0 was deleted; its claim is still there: the new web-0 reuses it.
    let p = plan_with(&s, &[], &cache(&[claim_of(&s, 0)]), None);
    let ReplicaStep::Create { pod, claims } = &p.replicas[0] else {
        panic!("{:?}", p.replicas)
    };
    assert!(claims.is_empty() || (claims.create.is_empty() && claims.update.is_empty()));
    let vol = &pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        "www-web-0"
    );

    // A claim being deleted keeps its pod from being created.
    let mut going = claim_of(&s, 0);
    going.metadata.deletion_timestamp = Some(Time(at(1)));
    let p = plan_with(&s, &[], &cache(&[going]), None);
    let ReplicaStep::Create { claims, .. } = &p.replicas[0] else {
        panic!("{:?}", p.replicas)
    };
    assert_eq!(claims.being_deleted, ["www-web-0"]);
}

#[test]
fn retention_policies_set_owner_references_on_claims() {
    // whenDeleted: Delete — new claims are owned by the set.
    let s = with_claims(with_policy(set("web", 2), DELETE, RETAIN));
    let p = plan(&s, &[]);
    let ReplicaStep::Create { claims, .. } = &p.replicas[0] else {
        panic!("{:?}", p.replicas)
    };
    assert_eq!(owner_uids(&claims.create[0]), ["uid-web"]);

    // An existing claim of a healthy pod without the reference gets it.
    let pods = [ready(&s, 0, "r1"), ready(&s, 1, "r1")];
    let p = plan_with(&s, &pods, &cache(&[claim_of(&s, 0), claim_of(&s, 1)]), None);
    let updated: Vec<Vec<&str>> = p
        .replicas
        .iter()
        .filter_map(|st| match st {
            ReplicaStep::Repair { pod: None, claims } => {
                Some(claims.update.iter().map(owner_uids).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(updated, [["uid-web"], ["uid-web"]]);

    // whenScaled: Delete — a condemned pod's claim becomes owned by the pod
    // before the pod is deleted, so the garbage collector takes it along.
    let s = with_claims(with_policy(set("web", 1), RETAIN, DELETE));
    let pods = [ready(&s, 0, "r1"), ready(&s, 1, "r1")];
    let p = plan_with(&s, &pods, &cache(&[claim_of(&s, 0), claim_of(&s, 1)]), None);
    assert_eq!(p.condemned_claims.len(), 1);
    assert_eq!(owner_uids(&p.condemned_claims[0]), ["uid-web-1"]);
    assert_eq!(names(&p.condemned), ["web-1"]);

    // That claim still references the old web-1 after a scale back up: the new
    // web-1 waits for the garbage collector.
    let s2 = with_claims(with_policy(set("web", 2), RETAIN, DELETE));
    let mut stale = claim_of(&s2, 1);
    stale.metadata.owner_references = Some(
        p.condemned_claims[0]
            .metadata
            .owner_references
            .clone()
            .unwrap(),
    );
    let p = plan_with(
        &s2,
        &[ready(&s2, 0, "r1")],
        &cache(&[claim_of(&s2, 0), stale]),
        None,
    );
    assert!(created(&p).is_empty());
    assert!(p.waiting.unwrap().contains(&pod_name(&s2, 1)));
}

#[test]
fn going_back_to_an_earlier_template_reuses_its_revision() {
    let mut s = set("web", 1);
    let r1 = statefulset_revision(&s, 1, Some(0)).unwrap();
    s.spec.as_mut().unwrap().template = template("nginx:2");
    let r2 = statefulset_revision(&s, 2, Some(0)).unwrap();
    let history = [r1.clone(), r2.clone()];
    // Same template: the newest revision.
    let same = statefulset_revision(&s, next_revision(&history), Some(0)).unwrap();
    assert_eq!(
        plan_update_revision(&history, same),
        UpdateRevision::Unchanged(1)
    );
    // `rollout undo`: back to nginx:1 renumbers r1 instead of storing it again.
    s.spec.as_mut().unwrap().template = template("nginx:1");
    let back = statefulset_revision(&s, next_revision(&history), Some(0)).unwrap();
    assert_eq!(back.metadata.name, r1.metadata.name, "same data, same name");
    assert_eq!(
        plan_update_revision(&history, back),
        UpdateRevision::Renumber {
            index: 0,
            revision: 3
        }
    );
}

#[test]
fn a_deleting_set_only_reports_its_status() {
    let mut s = set("web", 3);
    s.metadata.deletion_timestamp = Some(Time(at(1)));
    let p = plan(&s, &[ready(&s, 0, "r1")]);
    assert!(p.replicas.is_empty() && p.condemned.is_empty());
    assert_eq!(p.status.replicas, 1);
    assert_eq!(p.status.observed_generation, Some(1));
}
