use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use serde_json::json;

use super::*;
use crate::replicaset::status::plan_status;
use crate::util::pod_control::PodRef;
use crate::util::testing::{at, pod, rs};
use capstan_runtime::fake_api::{self, Recorded};

fn performer(client: Client) -> (ReplicaSetActions, Arc<UidTrackingExpectations<ObjectKey>>) {
    let exp = Arc::new(UidTrackingExpectations::new());
    (ReplicaSetActions::new(client, exp.clone(), None), exp)
}

use crate::util::testing::pod_creations as creates;

#[tokio::test]
async fn creations_post_template_pods_and_expect_them() {
    let n = Arc::new(AtomicUsize::new(0));
    let (client, log) =
        fake_api::client(move |rec| fake_api::echo(rec, n.fetch_add(1, Ordering::SeqCst)));
    let (actions, exp) = performer(client);
    let r = rs("web", 5, at(0));
    actions
        .manage(&r, &ManageReplicas::Create { count: 5 })
        .await
        .unwrap();
    let posts = creates(&log);
    assert_eq!(posts.len(), 5);
    let body = &posts[0].body;
    assert_eq!(posts[0].path, "/api/v1/namespaces/default/pods");
    assert_eq!(body["metadata"]["generateName"], json!("web-"));
    assert_eq!(body["metadata"]["labels"], json!({"app": "web"}));
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], json!("ReplicaSet"));
    assert_eq!(owner["uid"], json!("uid-web"));
    assert_eq!(owner["controller"], json!(true));
    assert_eq!(owner["blockOwnerDeletion"], json!(true));
    // Five creations expected until the informer observes them.
    let key = ObjectKey::of(&r);
    assert!(!exp.satisfied_expectations(&key));
    for _ in 0..5 {
        exp.creation_observed(&key);
    }
    assert!(exp.satisfied_expectations(&key));
}

#[tokio::test]
async fn a_failing_batch_stops_creation_and_lowers_expectations() {
    // The 4th creation is rejected (quota): batches 1, 2, 4 → 3 + 3 succeed,
    // the remaining 9 of 16 are never attempted.
    let n = Arc::new(AtomicUsize::new(0));
    let (client, log) = fake_api::client(move |rec| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        if i == 3 {
            fake_api::status(
                403,
                "Forbidden",
                "pods \"web-x\" is forbidden: exceeded quota",
            )
        } else {
            fake_api::echo(rec, i)
        }
    });
    let (actions, exp) = performer(client);
    let r = rs("web", 16, at(0));
    let err = actions
        .manage(&r, &ManageReplicas::Create { count: 16 })
        .await
        .unwrap_err();
    assert_eq!(creates(&log).len(), 7);
    assert_eq!(
        err.condition_message(),
        "pods \"web-x\" is forbidden: exceeded quota"
    );
    // Only the 6 successful creations remain expected.
    let key = ObjectKey::of(&r);
    let e = exp.get_expectations(&key).unwrap();
    assert_eq!(e.add, 6);
    // And the status records FailedCreate with the API's message.
    let p = pod("a");
    let plan = plan_status(&r, &[&p], Some(&err.condition_message()), at(1));
    let c = &plan.status.conditions.unwrap()[0];
    assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
}

#[tokio::test]
async fn a_terminating_namespace_is_not_an_error() {
    let (client, _log) = fake_api::client(|_| {
        let (code, mut body) =
            fake_api::status(403, "Forbidden", "namespace default is being terminated");
        body["details"] = json!({"causes": [{"reason": "NamespaceTerminating"}]});
        (code, body)
    });
    let (actions, _) = performer(client);
    actions
        .manage(&rs("web", 2, at(0)), &ManageReplicas::Create { count: 2 })
        .await
        .unwrap();
}

#[tokio::test]
async fn deletions_use_uid_preconditions_and_forgive_not_found() {
    let (client, log) = crate::util::testing::deletions_api();
    let (actions, exp) = performer(client);
    let r = rs("web", 0, at(0));
    let key = ObjectKey::of(&r);
    let refs: Vec<PodRef> = ["a", "gone"].iter().map(|n| PodRef::of(&pod(n))).collect();
    actions
        .manage(&r, &ManageReplicas::Delete { pods: refs })
        .await
        .unwrap();
    let dels: Vec<Recorded> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "DELETE")
        .cloned()
        .collect();
    assert_eq!(dels.len(), 2);
    let a = dels.iter().find(|d| d.path.ends_with("/pods/a")).unwrap();
    assert_eq!(a.body["preconditions"]["uid"], json!("uid-a"));
    // `gone` will never be observed: only `a` is still expected.
    assert_eq!(
        exp.get_uids(&key).unwrap().into_iter().collect::<Vec<_>>(),
        ["default/a"]
    );
    exp.deletion_observed(&key, "default/a");
    assert!(exp.satisfied_expectations(&key));

    let err = actions
        .manage(
            &r,
            &ManageReplicas::Delete {
                pods: vec![PodRef::of(&pod("stuck"))],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PodControlError::Delete(_)));
    assert!(exp.satisfied_expectations(&key));
}

#[tokio::test]
async fn status_is_written_only_when_changed_and_retried_once_after_a_reread() {
    let n = Arc::new(AtomicUsize::new(0));
    let (client, log) = fake_api::client(move |rec| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        match (rec.method.as_str(), i) {
            ("PUT", 0) => fake_api::status(409, "Conflict", "the object has been modified"),
            ("GET", _) => {
                let mut fresh = serde_json::to_value(rs("web", 1, at(0))).unwrap();
                fresh["metadata"]["resourceVersion"] = json!("777");
                (StatusCode::OK, fresh)
            }
            _ => fake_api::echo(rec, i),
        }
    });
    let (actions, _) = performer(client);
    let mut r = rs("web", 1, at(0));
    r.metadata.generation = Some(2);
    let p = crate::util::testing::ready_pod("a", at(0));
    let plan = plan_status(&r, &[&p], None, at(1));
    assert!(plan.write);
    let stored = actions.write_status(&r, &plan).await.unwrap().unwrap();
    assert_eq!(stored.status.unwrap().observed_generation, Some(2));
    let puts: Vec<Recorded> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "PUT")
        .cloned()
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(
        puts[0].path,
        "/apis/apps/v1/namespaces/default/replicasets/web/status"
    );
    assert_eq!(puts[1].body["metadata"]["resourceVersion"], json!("777"));

    let mut same = r.clone();
    same.status = Some(plan.status.clone());
    let again = plan_status(&same, &[&p], None, at(2));
    assert!(actions.write_status(&same, &again).await.unwrap().is_none());
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_sync_creates_missing_pods_then_waits_for_expectations() {
    let n = Arc::new(AtomicUsize::new(0));
    let (client, log) =
        fake_api::client(move |rec| fake_api::echo(rec, n.fetch_add(1, Ordering::SeqCst)));
    let (actions, exp) = performer(client);
    let mut r = rs("web", 3, at(0));
    r.status = None;
    let key = ObjectKey::of(&r);
    let requeue = one_sync(&actions, &r, actions.needs_sync(&key), at(1))
        .await
        .unwrap();
    assert_eq!(requeue, None);
    assert_eq!(creates(&log).len(), 3);
    let status_put = log
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r.method == "PUT")
        .cloned()
        .unwrap();
    assert!(status_put.path.ends_with("/replicasets/web/status"));
    assert_eq!(status_put.body["status"]["replicas"], json!(0));
    // The cache has not shown the pods yet: a second sync creates nothing.
    one_sync(&actions, &r, actions.needs_sync(&key), at(2))
        .await
        .unwrap();
    assert_eq!(creates(&log).len(), 3);
    // A sync that asked before its (stale, empty) cache read, while the last
    // creations were still expected, creates nothing even if they are observed
    // before it acts.
    let needs_sync = actions.needs_sync(&key);
    for _ in 0..3 {
        exp.creation_observed(&key);
    }
    one_sync(&actions, &r, needs_sync, at(3)).await.unwrap();
    assert_eq!(creates(&log).len(), 3);
    one_sync(&actions, &r, actions.needs_sync(&key), at(4))
        .await
        .unwrap();
    assert_eq!(creates(&log).len(), 6);
}

#[tokio::test]
async fn a_failed_sync_still_records_replica_failure() {
    let (client, log) = fake_api::client(|rec| {
        if rec.method == "POST" {
            fake_api::status(403, "Forbidden", "exceeded quota")
        } else {
            fake_api::echo(rec, 0)
        }
    });
    let (actions, _) = performer(client);
    let mut r = rs("web", 2, at(0));
    r.status = None;
    let err = one_sync(&actions, &r, true, at(1)).await.unwrap_err();
    assert!(matches!(err, SyncError::Manage(PodControlError::Create(_))));
    let put = log
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == "PUT")
        .cloned()
        .unwrap();
    let cond = &put.body["status"]["conditions"][0];
    assert_eq!(cond["type"], json!("ReplicaFailure"));
    assert_eq!(cond["reason"], json!("FailedCreate"));
    assert_eq!(cond["message"], json!("exceeded quota"));
}

/// One sync of `r` without pods: [`super::super::plan_sync`], then
/// [`ReplicaSetActions::perform`], as the controller's `reconcile` runs them.
async fn one_sync(
    actions: &ReplicaSetActions,
    r: &ReplicaSet,
    needs_sync: bool,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<Option<std::time::Duration>, SyncError> {
    let plan = super::super::plan_sync(r, &[], &[], needs_sync, now);
    actions.perform(r, &plan, &[], now).await
}
