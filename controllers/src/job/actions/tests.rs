//! The Job shell's writes against a scripted fake API.

use std::sync::atomic::{AtomicUsize, Ordering};

use capstan_runtime::fake_api::{self, Recorded};
use serde_json::json;

use super::*;
use crate::job::testing::{indexed_job, job};
use crate::util::testing::pod_creations;

fn performer(
    client: Client,
) -> (
    JobActions,
    Arc<UidTrackingExpectations<ObjectKey>>,
    Arc<FinalizerExpectations>,
) {
    let exp = Arc::new(UidTrackingExpectations::new());
    let fin = Arc::new(FinalizerExpectations::default());
    (
        JobActions::new(client, exp.clone(), fin.clone(), None),
        exp,
        fin,
    )
}

fn to_delete(name: &str, ready: bool) -> PodToDelete {
    PodToDelete {
        pod: PodRef {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        },
        ready,
    }
}

/// Answers PATCHes of pod `stuck` with 500, others by echoing; DELETEs succeed.
fn api() -> (Client, fake_api::Log) {
    fake_api::client(|rec: &Recorded| {
        if rec.method == "PATCH" && rec.path.ends_with("/stuck") {
            return fake_api::status(500, "InternalError", "etcd is sad");
        }
        if rec.method == "PATCH" && rec.path.ends_with("/gone") {
            return fake_api::status(404, "NotFound", "pods \"gone\" not found");
        }
        match rec.method.as_str() {
            "DELETE" => (
                http::StatusCode::OK,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            _ => fake_api::echo(rec, 0),
        }
    })
}

fn calls(log: &fake_api::Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path.rsplit('/').next().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn untracked_deletions_remove_the_finalizer_first() {
    let (client, log) = api();
    let (actions, exp, _) = performer(client);
    let j = job("pi", Some(3), 3);
    let plan = PodsPlan::Delete(vec![to_delete("a", true), to_delete("stuck", false)]);
    let (out, result) = actions.perform_pods(&j, &plan).await;
    assert_eq!(
        out,
        ManageOutcome {
            deleted: 1,
            deleted_ready: 1,
            created: 0,
            failed_creates: 0,
        }
    );
    assert!(result.is_err(), "the failed patch is reported");
    let c = calls(&log);
    let patch_a = c.iter().position(|x| x == "PATCH a").expect("a patched");
    let delete_a = c.iter().position(|x| x == "DELETE a").expect("a deleted");
    assert!(patch_a < delete_a, "{c:?}");
    assert!(
        !c.contains(&"DELETE stuck".to_string()),
        "a pod keeping its finalizer is not deleted"
    );
    let patch = &log.lock().unwrap()[patch_a].body;
    assert_eq!(
        patch,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["batch.kubernetes.io/job-tracking"]}})
    );
    // Only the deletion issued is expected.
    let key = ObjectKey::of(&j);
    assert!(!exp.satisfied_expectations(&key));
    exp.deletion_observed(&key, "default/a");
    assert!(exp.satisfied_expectations(&key));
}

#[tokio::test]
async fn a_finishing_job_deletes_its_pods_keeping_their_finalizers() {
    let (client, log) = api();
    let (actions, _, _) = performer(client);
    let j = job("pi", Some(3), 3);
    let plan = PodsPlan::DeleteActive(vec![to_delete("a", false), to_delete("b", true)]);
    let (out, result) = actions.perform_pods(&j, &plan).await;
    result.unwrap();
    assert_eq!(
        out,
        ManageOutcome {
            deleted: 2,
            deleted_ready: 1,
            created: 0,
            failed_creates: 0,
        }
    );
    assert!(calls(&log).iter().all(|c| c.starts_with("DELETE")));
}

#[tokio::test]
async fn finalizer_removals_are_expected_until_observed_or_failed() {
    let (client, _) = api();
    let (actions, _, fin) = performer(client);
    let key = ObjectKey::new(Some("default"), "pi");
    let pods: Vec<PodRef> = ["a", "stuck", "gone"]
        .iter()
        .map(|n| to_delete(n, false).pod)
        .collect();
    let (ok, err) = actions.remove_finalizers(&key, &pods).await;
    assert_eq!(
        ok,
        [true, false, true],
        "a pod already gone counts as removed"
    );
    assert!(err.is_some());
    let still: Vec<String> = fin.expected(&key).into_iter().collect();
    assert_eq!(
        still,
        ["uid-a", "uid-gone"],
        "the failed removal is not awaited"
    );
}

#[tokio::test]
async fn indexed_pods_are_created_with_their_indexes() {
    let n = Arc::new(AtomicUsize::new(0));
    let (client, log) =
        fake_api::client(move |rec| fake_api::echo(rec, n.fetch_add(1, Ordering::SeqCst)));
    let (actions, _, _) = performer(client);
    let j = indexed_job("ix", 4, 2);
    let plan = PodsPlan::Create(vec![
        NewPod {
            index: Some(1),
            failure_counts: None,
        },
        NewPod {
            index: Some(3),
            failure_counts: None,
        },
    ]);
    let (out, result) = actions.perform_pods(&j, &plan).await;
    result.unwrap();
    assert_eq!(out.created, 2);
    let mut names: Vec<String> = pod_creations(&log)
        .iter()
        .map(|p| {
            p.body["metadata"]["generateName"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["ix-1-", "ix-3-"]);
}

#[tokio::test]
async fn status_writes_carry_the_cached_version_and_never_retry() {
    let (client, log) =
        fake_api::client(|_| fake_api::status(409, "Conflict", "the object has been modified"));
    let (actions, _, _) = performer(client);
    let mut j = job("pi", Some(1), 1);
    j.metadata.resource_version = Some("7".into());
    let status = k8s_openapi::api::batch::v1::JobStatus {
        active: Some(1),
        ..Default::default()
    };
    let err = actions.write_status(&j, &status).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    let log = log.lock().unwrap();
    assert_eq!(
        log.len(),
        1,
        "no re-read: a stale status must not be applied"
    );
    assert_eq!(
        log[0].path,
        "/apis/batch/v1/namespaces/default/jobs/pi/status"
    );
    assert_eq!(log[0].body["metadata"]["resourceVersion"], json!("7"));
}

#[tokio::test]
async fn a_status_the_sync_decided_to_write_is_written() {
    // The sync compares with the status it started from; the Job it passes may
    // already carry the new status.
    let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 1));
    let (actions, _, _) = performer(client);
    let mut j = job("pi", Some(1), 1);
    let status = k8s_openapi::api::batch::v1::JobStatus {
        active: Some(1),
        ..Default::default()
    };
    j.status = Some(status.clone());
    let stored = actions.write_status(&j, &status).await.unwrap();
    assert_eq!(stored.status, Some(status));
    assert_eq!(log.lock().unwrap().len(), 1);
}
