use super::*;
use crate::util::testing::at;
use crate::volume::binder::testing::{bound_to, claim, class, volume};

fn dir() -> Provisioning<'static> {
    Provisioning {
        dir: Path::new("/data"),
    }
}

fn now() -> Timestamp {
    at(100)
}

fn ann<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    annotation(meta, key)
}

fn arcs(v: Vec<PersistentVolume>) -> Vec<Arc<PersistentVolume>> {
    v.into_iter().map(Arc::new).collect()
}

fn reasons(plan: &SyncPlan) -> Vec<&'static str> {
    plan.events.iter().map(|e| e.reason).collect()
}

fn wffc() -> StorageClass {
    class(
        "standard",
        LOCAL_PATH_PROVISIONER,
        "WaitForFirstConsumer",
        "Delete",
    )
}

fn immediate() -> StorageClass {
    class("standard", LOCAL_PATH_PROVISIONER, "Immediate", "Delete")
}

#[test]
fn a_claim_binds_the_matching_volume_and_both_sides_say_so() {
    let c = claim("data", "manual", "1Gi");
    let vols = arcs(vec![volume("pv1", "manual", "2Gi")]);
    let plan = plan_claim(&c, &vols, None, dir(), now());
    let v = plan.volume.expect("volume written");
    let r = v.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
    assert_eq!(
        (r.name.as_deref(), r.uid.as_deref()),
        (Some("data"), Some("uid-data"))
    );
    assert_eq!(ann(&v.metadata, ANN_BOUND_BY_CONTROLLER), Some("yes"));
    assert_eq!(volume_phase(&v), Some("Bound"));
    assert!(
        v.status
            .as_ref()
            .unwrap()
            .last_phase_transition_time
            .is_some()
    );
    let c2 = plan.claim.expect("claim written");
    assert_eq!(volume_name_of(&c2), "pv1");
    assert_eq!(ann(&c2.metadata, ANN_BIND_COMPLETED), Some("yes"));
    assert_eq!(ann(&c2.metadata, ANN_BOUND_BY_CONTROLLER), Some("yes"));
    let status = c2.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Bound"));
    assert_eq!(status.capacity.as_ref().unwrap()["storage"].0, "2Gi");
    assert_eq!(
        status.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_string()][..])
    );
    assert!(plan.create.is_none() && plan.delete.is_none());
}

#[test]
fn a_bound_pair_needs_no_write() {
    let c = claim("data", "manual", "1Gi");
    let vols = arcs(vec![volume("pv1", "manual", "2Gi")]);
    let first = plan_claim(&c, &vols, None, dir(), now());
    let (v, c) = (first.volume.unwrap(), first.claim.unwrap());
    let again = plan_claim(&c, &[Arc::new(v.clone())], None, dir(), at(200));
    assert_eq!((again.volume, again.claim), (None, None));
    let settled = plan_volume(&v, Some(&c), at(200));
    assert_eq!(settled, SyncPlan::default());
}

#[test]
fn a_user_prebound_volume_is_not_marked_bound_by_controller() {
    let c = claim("data", "manual", "1Gi");
    let mut pre = bound_to(volume("pv1", "manual", "1Gi"), &c);
    pre.spec.as_mut().unwrap().claim_ref.as_mut().unwrap().uid = None;
    let plan = plan_claim(&c, &arcs(vec![pre]), None, dir(), now());
    let v = plan.volume.unwrap();
    assert_eq!(ann(&v.metadata, ANN_BOUND_BY_CONTROLLER), None);
    assert_eq!(
        v.spec.unwrap().claim_ref.unwrap().uid.as_deref(),
        Some("uid-data"),
        "the uid is filled in"
    );
    assert_eq!(
        ann(&plan.claim.unwrap().metadata, ANN_BOUND_BY_CONTROLLER),
        Some("yes")
    );
}

#[test]
fn a_first_consumer_claim_waits_for_its_node_then_is_provisioned_there() {
    let c = claim("data", "standard", "1Gi");
    let sc = wffc();
    let free = arcs(vec![volume("free", "standard", "5Gi")]);
    let waiting = plan_claim(&c, &free, Some(&sc), dir(), now());
    assert_eq!(reasons(&waiting), ["WaitForFirstConsumer"]);
    assert!(waiting.create.is_none() && waiting.volume.is_none());
    assert_eq!(waiting.claim, None, "already Pending");

    let mut scheduled = c.clone();
    set_annotation(&mut scheduled.metadata, ANN_SELECTED_NODE, "node-2");
    let plan = plan_claim(&scheduled, &free, Some(&sc), dir(), now());
    assert_eq!(reasons(&plan), ["ProvisioningSucceeded"]);
    let pv = plan.create.expect("provisioned");
    let affinity = serde_json::to_value(&pv.spec.as_ref().unwrap().node_affinity).unwrap();
    assert_eq!(
        affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0],
        "node-2"
    );
    let annotated = plan.claim.expect("annotated");
    assert_eq!(
        ann(&annotated.metadata, ANN_STORAGE_PROVISIONER),
        Some(LOCAL_PATH_PROVISIONER)
    );
    assert_eq!(
        ann(&annotated.metadata, ANN_BETA_STORAGE_PROVISIONER),
        Some(LOCAL_PATH_PROVISIONER)
    );

    // Once the volume exists the claim binds to it, delay or not.
    let bound = plan_claim(&annotated, &arcs(vec![pv]), Some(&sc), dir(), now());
    assert!(bound.create.is_none());
    assert_eq!(volume_name_of(&bound.claim.unwrap()), "pvc-uid-data");
}

#[test]
fn an_immediate_claim_is_provisioned_at_once_on_no_node() {
    let c = claim("data", "standard", "1Gi");
    let plan = plan_claim(&c, &[], Some(&immediate()), dir(), now());
    let pv = plan.create.expect("provisioned");
    assert!(pv.spec.unwrap().node_affinity.is_none());
}

#[test]
fn an_immediate_claim_takes_a_matching_static_volume_before_provisioning() {
    let c = claim("data", "standard", "1Gi");
    let vols = arcs(vec![volume("static", "standard", "1Gi")]);
    let plan = plan_claim(&c, &vols, Some(&immediate()), dir(), now());
    assert!(plan.create.is_none());
    assert_eq!(volume_name_of(&plan.claim.unwrap()), "static");
}

#[test]
fn a_claim_of_another_provisioner_waits_for_it() {
    let c = claim("data", "ebs", "1Gi");
    let sc = class("ebs", "ebs.csi.aws.com", "Immediate", "Delete");
    let plan = plan_claim(&c, &[], Some(&sc), dir(), now());
    assert_eq!(reasons(&plan), ["ExternalProvisioning"]);
    assert!(plan.create.is_none() && plan.pending);
    assert_eq!(
        ann(&plan.claim.unwrap().metadata, ANN_STORAGE_PROVISIONER),
        Some("ebs.csi.aws.com")
    );
}

#[test]
fn claims_without_a_way_to_a_volume_stay_pending() {
    let no_class = claim("data", "", "1Gi");
    let plan = plan_claim(&no_class, &[], None, dir(), now());
    assert_eq!(reasons(&plan), ["FailedBinding"]);
    assert!(plan.pending);
    let missing = claim("data", "gone", "1Gi");
    let plan = plan_claim(&missing, &[], None, dir(), now());
    assert_eq!(reasons(&plan), ["ProvisioningFailed"]);
    assert_eq!(
        plan.events[0].message,
        "storageclass.storage.k8s.io \"gone\" not found"
    );
}

#[test]
fn a_claim_naming_a_volume_takes_it_only_when_it_fits() {
    let mut c = claim("data", "manual", "5Gi");
    c.spec.as_mut().unwrap().volume_name = Some("small".into());
    let plan = plan_claim(
        &c,
        &arcs(vec![volume("small", "manual", "1Gi")]),
        None,
        dir(),
        now(),
    );
    assert_eq!(reasons(&plan), ["VolumeMismatch"]);
    assert_eq!(
        plan.events[0].message,
        "Cannot bind to requested volume \"small\": requested PV is too small"
    );
    assert!(plan.volume.is_none());
    let plan = plan_claim(
        &c,
        &arcs(vec![volume("small", "manual", "5Gi")]),
        None,
        dir(),
        now(),
    );
    assert_eq!(
        ann(&plan.claim.unwrap().metadata, ANN_BOUND_BY_CONTROLLER),
        None
    );
    let taken = bound_to(
        volume("small", "manual", "5Gi"),
        &claim("other", "manual", "1Gi"),
    );
    let plan = plan_claim(&c, &arcs(vec![taken]), None, dir(), now());
    assert_eq!(reasons(&plan), ["FailedBinding"]);
}

#[test]
fn a_bound_claim_whose_volume_goes_is_lost() {
    let c = claim("data", "manual", "1Gi");
    let first = plan_claim(
        &c,
        &arcs(vec![volume("pv1", "manual", "1Gi")]),
        None,
        dir(),
        now(),
    );
    let bound = first.claim.unwrap();
    let plan = plan_claim(&bound, &[], None, dir(), now());
    assert_eq!(reasons(&plan), ["ClaimLost"]);
    assert_eq!(claim_phase(plan.claim.as_ref().unwrap()), Some("Lost"));
    let elsewhere = bound_to(
        volume("pv1", "manual", "1Gi"),
        &claim("other", "manual", "1Gi"),
    );
    let plan = plan_claim(&bound, &arcs(vec![elsewhere]), None, dir(), now());
    assert_eq!(reasons(&plan), ["ClaimMisbound"]);
}

#[test]
fn volumes_without_claims_are_available() {
    let mut v = volume("pv1", "manual", "1Gi");
    v.status = None;
    let plan = plan_volume(&v, None, now());
    assert_eq!(
        volume_phase(plan.volume.as_ref().unwrap()),
        Some("Available")
    );
}

#[test]
fn a_half_bound_volume_hands_over_to_its_claim() {
    let c = claim("data", "standard", "1Gi");
    let v = bound_to(volume("pvc-uid-data", "standard", "1Gi"), &c);
    let plan = plan_volume(&v, Some(&c), now());
    assert_eq!(plan.sync_claim, Some(ObjectKey::namespaced("ns", "data")));
    assert!(plan.volume.is_none());
}

#[test]
fn released_volumes_are_reclaimed_by_their_policy() {
    let c = claim("data", "standard", "1Gi");
    let provisioned = local_path::provision(&c, &immediate(), None, Path::new("/d"));
    let plan = plan_volume(&provisioned, None, now());
    assert_eq!(plan.delete.as_deref(), Some("pvc-uid-data"), "Delete");
    assert_eq!(
        volume_phase(plan.volume.as_ref().unwrap()),
        Some("Released")
    );

    let retained = bound_to(volume("keep", "manual", "1Gi"), &c);
    let plan = plan_volume(&retained, None, now());
    assert_eq!(plan.delete, None, "Retain");
    assert_eq!(
        volume_phase(plan.volume.as_ref().unwrap()),
        Some("Released")
    );
    let again = plan_volume(plan.volume.as_ref().unwrap(), None, at(200));
    assert_eq!(again, SyncPlan::default(), "stays Released");

    let mut unknown = retained.clone();
    unknown
        .spec
        .as_mut()
        .unwrap()
        .persistent_volume_reclaim_policy = Some("Delete".into());
    let plan = plan_volume(&unknown, None, now());
    assert_eq!(reasons(&plan), ["VolumeFailedDelete"]);
    assert_eq!(volume_phase(plan.volume.as_ref().unwrap()), Some("Failed"));
    assert_eq!(plan.delete, None);

    let mut recycle = retained;
    recycle
        .spec
        .as_mut()
        .unwrap()
        .persistent_volume_reclaim_policy = Some("Recycle".into());
    assert_eq!(
        reasons(&plan_volume(&recycle, None, now())),
        ["VolumeFailedRecycle"]
    );
}

#[test]
fn a_recreated_claim_of_the_same_name_releases_the_old_volume() {
    let old = claim("data", "manual", "1Gi");
    let v = bound_to(volume("pv1", "manual", "1Gi"), &old);
    let mut new = old.clone();
    new.metadata.uid = Some("uid-new".into());
    let plan = plan_volume(&v, Some(&new), now());
    assert_eq!(
        volume_phase(plan.volume.as_ref().unwrap()),
        Some("Released")
    );
}

#[test]
fn a_volume_its_claim_left_for_another_is_freed() {
    let c = claim("data", "manual", "1Gi");
    let mut v = bound_to(volume("pv1", "manual", "1Gi"), &c);
    set_annotation(&mut v.metadata, ANN_BOUND_BY_CONTROLLER, ANN_YES);
    let mut elsewhere = c.clone();
    elsewhere.spec.as_mut().unwrap().volume_name = Some("pv2".into());
    let plan = plan_volume(&v, Some(&elsewhere), now());
    let freed = plan.volume.unwrap();
    assert!(freed.spec.as_ref().unwrap().claim_ref.is_none());
    assert_eq!(ann(&freed.metadata, ANN_BOUND_BY_CONTROLLER), None);
    assert_eq!(volume_phase(&freed), Some("Available"));
}
