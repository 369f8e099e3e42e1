//! Decision logic on plain values, and the I/O against a recording fake API.

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;

use super::*;

const RS_UID: &str = "rs-uid";

fn rs(deleting: bool) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some(RS_UID.into()),
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..ObjectMeta::default()
        },
        ..ReplicaSet::default()
    }
}

fn owner(deleting: bool) -> Owner {
    Owner::of(&rs(deleting)).expect("owner")
}

fn other_ref(uid: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: format!("owner-{uid}"),
        uid: uid.into(),
        controller: Some(controller),
        block_owner_deletion: Some(true),
    }
}

fn pod(name: &str, app: &str, refs: Vec<OwnerReference>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            resource_version: Some("42".into()),
            labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
            owner_references: (!refs.is_empty()).then_some(refs),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    }
}

fn ours() -> OwnerReference {
    owner(false).controller_ref()
}

#[test]
fn owner_reference_is_a_blocking_controller_ref() {
    let r = ours();
    assert_eq!(r.api_version, "apps/v1");
    assert_eq!(r.kind, "ReplicaSet");
    assert_eq!(r.name, "web");
    assert_eq!(r.uid, RS_UID);
    assert_eq!(r.controller, Some(true));
    assert_eq!(r.block_owner_deletion, Some(true));
    let mut nameless = rs(false);
    nameless.metadata.uid = None;
    assert!(matches!(
        Owner::of(&nameless),
        Err(OwnershipError::MissingOwnerField("uid"))
    ));
}

#[test]
fn decisions_follow_claim_object() {
    let o = owner(false);
    // Ours and matching: keep. Ours and not matching: release.
    assert_eq!(
        decide(&o, &pod("a", "web", vec![ours()]), true),
        ClaimDecision::Keep
    );
    assert_eq!(
        decide(&o, &pod("a", "db", vec![ours()]), false),
        ClaimDecision::Release
    );
    // Someone else's controller: ignore, even when matching.
    let theirs = pod("b", "web", vec![other_ref("x", true)]);
    assert_eq!(decide(&o, &theirs, true), ClaimDecision::Ignore);
    // A non-controller owner reference does not make an object owned.
    let shared = pod("c", "web", vec![other_ref("x", false)]);
    assert_eq!(decide(&o, &shared, true), ClaimDecision::Adopt);
    // Orphans: adopt when matching, ignore otherwise.
    assert_eq!(
        decide(&o, &pod("d", "web", vec![]), true),
        ClaimDecision::Adopt
    );
    assert_eq!(
        decide(&o, &pod("d", "db", vec![]), false),
        ClaimDecision::Ignore
    );
    // Orphans being deleted are not adopted.
    let mut dying = pod("e", "web", vec![]);
    dying.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    assert_eq!(decide(&o, &dying, true), ClaimDecision::Ignore);
    // Orphans in another namespace are not adopted.
    let mut elsewhere = pod("f", "web", vec![]);
    elsewhere.metadata.namespace = Some("other".into());
    assert_eq!(decide(&o, &elsewhere, true), ClaimDecision::Ignore);
}

#[test]
fn an_owner_being_deleted_neither_adopts_nor_releases() {
    let o = owner(true);
    assert_eq!(
        decide(&o, &pod("a", "web", vec![]), true),
        ClaimDecision::Ignore
    );
    assert_eq!(
        decide(&o, &pod("a", "db", vec![ours()]), false),
        ClaimDecision::Ignore
    );
    assert_eq!(
        decide(&o, &pod("a", "web", vec![ours()]), true),
        ClaimDecision::Keep
    );
}

#[test]
fn strategic_patches_are_upstreams() {
    let o = owner(false);
    let adopt = adopt_patch(PatchStrategy::StrategicMerge, &o, "pod-uid", &[], Some("7"));
    assert_eq!(
        adopt,
        json!({"metadata": {
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": RS_UID,
                "controller": true, "blockOwnerDeletion": true
            }],
            "uid": "pod-uid"
        }})
    );
    let release = release_patch(
        PatchStrategy::StrategicMerge,
        RS_UID,
        "pod-uid",
        &[ours()],
        None,
    );
    assert_eq!(
        release,
        json!({"metadata": {
            "uid": "pod-uid",
            "ownerReferences": [{"$patch": "delete", "uid": RS_UID}]
        }})
    );
}

#[test]
fn json_merge_patches_carry_the_whole_list_and_preconditions() {
    let o = owner(false);
    let keep = other_ref("x", false);
    let adopt = adopt_patch(
        PatchStrategy::JsonMerge,
        &o,
        "pod-uid",
        std::slice::from_ref(&keep),
        Some("7"),
    );
    assert_eq!(adopt["metadata"]["uid"], "pod-uid");
    assert_eq!(adopt["metadata"]["resourceVersion"], "7");
    let refs = adopt["metadata"]["ownerReferences"]
        .as_array()
        .expect("list");
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0]["uid"], "x");
    assert_eq!(refs[1]["uid"], RS_UID);
    assert_eq!(refs[1]["controller"], true);

    let release = release_patch(
        PatchStrategy::JsonMerge,
        RS_UID,
        "pod-uid",
        &[keep, ours()],
        Some("8"),
    );
    let refs = release["metadata"]["ownerReferences"]
        .as_array()
        .expect("list");
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["uid"], "x");
    assert_eq!(release["metadata"]["resourceVersion"], "8");
}

#[test]
fn selectors_convert_from_label_selectors() {
    let sel = LabelSelector {
        match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
        ..LabelSelector::default()
    };
    let s = ControllerRefManager::<Pod>::selector_from(&sel).expect("valid");
    assert!(s.matches(&BTreeMap::from([("app".to_string(), "web".to_string())])));
    assert!(!s.matches(&BTreeMap::new()));
    let bad = LabelSelector {
        match_expressions: Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                key: "app".into(),
                operator: "Near".into(),
                values: None,
            },
        ]),
        ..LabelSelector::default()
    };
    assert!(matches!(
        ControllerRefManager::<Pod>::selector_from(&bad),
        Err(OwnershipError::InvalidSelector(_))
    ));
}

/// A recorded request: method, path, content type, JSON body.
type Recorded = (String, String, String, Value);

/// A fake API server: serves the owner ReplicaSet (with `owner_uid` and
/// `owner_deleting`), answers pod patches, 404 for pods named `gone`.
fn fake_client(
    owner_uid: &'static str,
    owner_deleting: bool,
) -> (kube::Client, Arc<Mutex<Vec<Recorded>>>) {
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let seen = log.clone();
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let seen = seen.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let ctype = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = req.into_body().collect_bytes().await.unwrap_or_default();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock()
                .push((method.clone(), path.clone(), ctype, json));
            let name = path.rsplit('/').next().unwrap_or("").to_string();
            let (status, body) = if method == "GET" && path.contains("/replicasets/") {
                let mut owner = serde_json::to_value(rs(owner_deleting)).unwrap_or_default();
                owner["metadata"]["uid"] = json!(owner_uid);
                owner["apiVersion"] = json!("apps/v1");
                owner["kind"] = json!("ReplicaSet");
                (StatusCode::OK, owner)
            } else if name == "gone" {
                (
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": "NotFound", "code": 404, "message": "pods \"gone\" not found"}),
                )
            } else {
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default"}}),
                )
            };
            let resp = Response::builder()
                .status(status)
                .header("Content-Type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap_or_default();
            Ok::<_, Infallible>(resp)
        }
    });
    (kube::Client::new(svc, "default"), log)
}

fn web_selector() -> Selector {
    Selector::from_iter([("app", "web")])
}

#[tokio::test]
async fn claim_adopts_orphans_releases_strays_and_keeps_its_own() {
    let (client, log) = fake_client(RS_UID, false);
    let mgr =
        ControllerRefManager::<Pod>::new(client, &rs(false), web_selector()).expect("manager");
    let pods = [
        pod("kept", "web", vec![ours()]),
        pod("orphan", "web", vec![]),
        pod("stray", "db", vec![ours()]),
        pod("theirs", "web", vec![other_ref("x", true)]),
        pod("orphan2", "web", vec![]),
    ];
    let claimed = mgr.claim(pods.iter(), |_| true).await;
    assert!(claimed.errors.is_empty(), "{:?}", claimed.errors);
    let names: Vec<&str> = claimed
        .claimed
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, ["kept", "orphan", "orphan2"]);

    let log = log.lock().clone();
    let calls: Vec<(&str, &str)> = log
        .iter()
        .map(|(m, p, _, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            // One uncached recheck of the owner for both adoptions.
            ("GET", "/apis/apps/v1/namespaces/default/replicasets/web"),
            ("PATCH", "/api/v1/namespaces/default/pods/orphan"),
            ("PATCH", "/api/v1/namespaces/default/pods/stray"),
            ("PATCH", "/api/v1/namespaces/default/pods/orphan2"),
        ]
    );
    let (_, _, ctype, body) = &log[1];
    assert_eq!(ctype, "application/strategic-merge-patch+json");
    assert_eq!(body["metadata"]["uid"], "orphan-uid");
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], RS_UID);
    let (_, _, _, body) = &log[2];
    assert_eq!(body["metadata"]["ownerReferences"][0]["$patch"], "delete");
    assert_eq!(body["metadata"]["uid"], "stray-uid");
}

#[tokio::test]
async fn a_replaced_owner_adopts_nothing() {
    // The cache says uid rs-uid, the API server has a namesake with another uid.
    let (client, log) = fake_client("new-uid", false);
    let mgr =
        ControllerRefManager::<Pod>::new(client, &rs(false), web_selector()).expect("manager");
    let claimed = mgr
        .claim(
            vec![pod("o1", "web", vec![]), pod("o2", "web", vec![])],
            |_| true,
        )
        .await;
    assert!(claimed.claimed.is_empty());
    assert_eq!(claimed.errors.len(), 2);
    let msg = claimed.errors[0].to_string();
    assert!(msg.contains("is gone") && msg.contains("new-uid"), "{msg}");
    // Rechecked once, nothing patched.
    assert_eq!(log.lock().len(), 1);
}

#[tokio::test]
async fn an_owner_deleted_since_caching_adopts_nothing() {
    let (client, log) = fake_client(RS_UID, true);
    let mgr =
        ControllerRefManager::<Pod>::new(client, &rs(false), web_selector()).expect("manager");
    let result = mgr
        .claim(vec![pod("o1", "web", vec![])], |_| true)
        .await
        .into_result();
    let err = result.expect_err("refused");
    assert!(err.to_string().contains("has just been deleted"), "{err}");
    assert!(log.lock().iter().all(|(m, _, _, _)| m == "GET"));
}

#[tokio::test]
async fn vanished_objects_are_not_errors() {
    let (client, _) = fake_client(RS_UID, false);
    let mgr =
        ControllerRefManager::<Pod>::new(client, &rs(false), web_selector()).expect("manager");
    let claimed = mgr
        .claim(
            vec![pod("gone", "web", vec![]), pod("gone", "db", vec![ours()])],
            |_| true,
        )
        .await;
    assert!(claimed.errors.is_empty(), "{:?}", claimed.errors);
    assert!(
        claimed.claimed.is_empty(),
        "a pod that vanished is not claimed"
    );
}

#[tokio::test]
async fn filters_narrow_matching_and_json_merge_is_used_when_asked() {
    let (client, log) = fake_client(RS_UID, false);
    let mgr = ControllerRefManager::<Pod>::new(client, &rs(false), web_selector())
        .expect("manager")
        .with_patch_strategy(PatchStrategy::JsonMerge)
        .with_can_adopt(|| async { Ok(()) });
    // The filter rejects "inactive": ours, so it is released; "fresh" is adopted.
    let claimed = mgr
        .claim(
            vec![
                pod("inactive", "web", vec![ours()]),
                pod("fresh", "web", vec![]),
            ],
            |p: &Pod| p.metadata.name.as_deref() != Some("inactive"),
        )
        .await
        .into_result()
        .expect("no errors");
    assert_eq!(claimed.len(), 1);
    let log = log.lock().clone();
    assert_eq!(log.len(), 2, "no owner GET with a custom recheck");
    assert!(
        log.iter()
            .all(|(_, _, ctype, _)| ctype == "application/merge-patch+json")
    );
    assert_eq!(log[0].3["metadata"]["ownerReferences"], json!([]));
    assert_eq!(log[0].3["metadata"]["resourceVersion"], "42");
}

#[test]
fn controller_refs_resolve_to_the_same_kind_name_namespace_and_uid_only() {
    use k8s_openapi::api::core::v1::ReplicationController;
    let web = rs(false);
    let mut other_ns = rs(false);
    other_ns.metadata.namespace = Some("other".into());
    let candidates = [&other_ns, &web];
    let r = owner(false).controller_ref();
    assert!(std::ptr::eq(
        resolve_controller_ref(Some("default"), &r, &candidates).unwrap(),
        &web
    ));
    // Replaced (another UID), another name, or another namespace: nothing.
    let mut replaced = r.clone();
    replaced.uid = "new-uid".into();
    assert!(resolve_controller_ref(Some("default"), &replaced, &candidates).is_none());
    let mut renamed = r.clone();
    renamed.name = "db".into();
    assert!(resolve_controller_ref(Some("default"), &renamed, &candidates).is_none());
    assert!(resolve_controller_ref(Some("third"), &r, &candidates).is_none());
    // A ReplicaSet's reference never names a ReplicationController of that name.
    let rc = ReplicationController {
        metadata: web.metadata.clone(),
        ..Default::default()
    };
    assert!(resolve_controller_ref(Some("default"), &r, &[&rc]).is_none());
    // The controller reference is the one with controller: true.
    let p = pod(
        "p",
        "web",
        vec![other_ref("a", false), other_ref("b", true)],
    );
    assert_eq!(controller_of(&p).map(|o| o.uid.as_str()), Some("b"));
}

#[test]
fn finalizers_ride_on_adoption_and_release_patches() {
    let fin = vec!["batch.kubernetes.io/job-tracking".to_string()];
    let existing = vec!["example.com/keep".to_string()];
    let mut adopt = json!({"metadata": {"ownerReferences": [], "uid": "u"}});
    patch_finalizers(
        &mut adopt,
        PatchStrategy::StrategicMerge,
        &existing,
        &fin,
        true,
    );
    assert_eq!(adopt["metadata"]["finalizers"], json!(fin));
    let mut release = json!({"metadata": {"uid": "u"}});
    patch_finalizers(
        &mut release,
        PatchStrategy::StrategicMerge,
        &existing,
        &fin,
        false,
    );
    assert_eq!(
        release["metadata"]["$deleteFromPrimitiveList/finalizers"],
        json!(fin)
    );
    // A JSON merge patch carries the whole list.
    let mut adopt = json!({"metadata": {}});
    patch_finalizers(&mut adopt, PatchStrategy::JsonMerge, &existing, &fin, true);
    assert_eq!(
        adopt["metadata"]["finalizers"],
        json!(["example.com/keep", "batch.kubernetes.io/job-tracking"])
    );
    let mut with_both = existing.clone();
    with_both.extend(fin.clone());
    let mut release = json!({"metadata": {}});
    patch_finalizers(
        &mut release,
        PatchStrategy::JsonMerge,
        &with_both,
        &fin,
        false,
    );
    assert_eq!(
        release["metadata"]["finalizers"],
        json!(["example.com/keep"])
    );
    // No finalizers: the patch is untouched.
    let mut plain = json!({"metadata": {"uid": "u"}});
    patch_finalizers(
        &mut plain,
        PatchStrategy::StrategicMerge,
        &existing,
        &[],
        true,
    );
    assert_eq!(plain, json!({"metadata": {"uid": "u"}}));
}
