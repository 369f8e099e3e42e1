use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use capstan_runtime::fake_api::{self, Recorded};
use serde_json::json;

use super::*;
use crate::util::testing::{at, deletions_api, eventually, pod, pod_creations, rc, rs};

fn control(client: Client) -> (PodControl, Arc<UidTrackingExpectations<ObjectKey>>) {
    let exp = Arc::new(UidTrackingExpectations::new());
    (PodControl::new(client, exp.clone(), None), exp)
}

/// Answers pod creations in arrival order: those numbered in `refused` get a
/// 403 quota refusal, those in `terminating` a 403 with the NamespaceTerminating
/// cause, the others succeed.
fn creations(refused: &'static [usize], terminating: &'static [usize]) -> (Client, fake_api::Log) {
    let n = Arc::new(AtomicUsize::new(0));
    fake_api::client(move |rec| {
        if !(rec.method == "POST" && rec.path.ends_with("/pods")) {
            return fake_api::echo(rec, 0);
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        if refused.contains(&i) {
            fake_api::status(
                403,
                "Forbidden",
                "pods \"web-x\" is forbidden: exceeded quota: compute",
            )
        } else if terminating.contains(&i) {
            let (code, mut body) = fake_api::status(
                403,
                "Forbidden",
                "unable to create new content in namespace default because it is being terminated",
            );
            body["details"] = json!({"causes": [{"reason": "NamespaceTerminating"}]});
            (code, body)
        } else {
            fake_api::echo(rec, i)
        }
    })
}

#[tokio::test]
async fn creation_expectations_under_batch_failures() {
    struct Case {
        count: usize,
        refused: &'static [usize],
        terminating: &'static [usize],
        calls: usize,
        still_expected: i64,
        failed: bool,
    }
    #[rustfmt::skip]
    let cases = [
        // Everything created: all five expected until the informer sees them.
        Case { count: 5, refused: &[], terminating: &[], calls: 5, still_expected: 5, failed: false },
        // The first call refused: nothing more tried, nothing expected.
        Case { count: 16, refused: &[0], terminating: &[], calls: 1, still_expected: 0, failed: true },
        // Batches 1, 2, 4: the 4th call refused ends the third batch; 9 never tried.
        Case { count: 16, refused: &[3], terminating: &[], calls: 7, still_expected: 6, failed: true },
        // Both calls of the second batch refused.
        Case { count: 10, refused: &[1, 2], terminating: &[], calls: 3, still_expected: 1, failed: true },
        // The last call of the last batch refused.
        Case { count: 7, refused: &[6], terminating: &[], calls: 7, still_expected: 6, failed: true },
        // A terminating namespace: every creation counts as done, no error.
        Case { count: 3, refused: &[], terminating: &[0, 1, 2], calls: 3, still_expected: 3, failed: false },
        // Terminating beside a refusal in one batch: only the refusal is skipped.
        Case { count: 8, refused: &[5], terminating: &[4], calls: 7, still_expected: 6, failed: true },
    ];
    for (i, c) in cases.iter().enumerate() {
        let (client, log) = creations(c.refused, c.terminating);
        let (pods, exp) = control(client);
        let owner = rs("web", 20, at(0));
        let result = pods.create_pods(&owner, c.count).await;
        assert_eq!(pod_creations(&log).len(), c.calls, "case {i}: calls");
        let e = exp.get_expectations(&ObjectKey::of(&owner)).unwrap();
        assert_eq!(
            e.add, c.still_expected,
            "case {i}: creations still expected"
        );
        assert_eq!(e.del, 0, "case {i}");
        match result {
            Err(PodControlError::Create(err)) => {
                assert!(c.failed, "case {i}: unexpected error {err}");
                assert_eq!(
                    PodControlError::Create(err).condition_message(),
                    "pods \"web-x\" is forbidden: exceeded quota: compute",
                    "case {i}: the API's message for ReplicaFailure"
                );
            }
            Err(other) => panic!("case {i}: {other}"),
            Ok(()) => assert!(!c.failed, "case {i}: expected a failure"),
        }
        // Observing the pods that were created satisfies the owner again.
        for _ in 0..c.still_expected {
            exp.creation_observed(&ObjectKey::of(&owner));
        }
        assert!(pods.satisfied(&ObjectKey::of(&owner)), "case {i}");
    }
}

#[tokio::test]
async fn nothing_to_create_or_delete_sets_no_expectations() {
    let (client, log) = creations(&[], &[]);
    let (pods, exp) = control(client);
    let owner = rs("web", 0, at(0));
    pods.create_pods(&owner, 0).await.unwrap();
    pods.delete_pods(&owner, &[]).await.unwrap();
    assert!(log.lock().unwrap().is_empty());
    assert!(exp.get_expectations(&ObjectKey::of(&owner)).is_none());
}

#[tokio::test]
async fn deletion_expectations_under_failures() {
    struct Case {
        pods: &'static [&'static str],
        still_expected: &'static [&'static str],
        failed: bool,
    }
    // `gone` answers 404, `stuck` 500, the others succeed.
    #[rustfmt::skip]
    let cases = [
        Case { pods: &["a", "b", "c"], still_expected: &["default/a", "default/b", "default/c"], failed: false },
        Case { pods: &["a", "gone"], still_expected: &["default/a"], failed: false },
        Case { pods: &["a", "stuck"], still_expected: &["default/a"], failed: true },
        Case { pods: &["gone", "stuck"], still_expected: &[], failed: true },
    ];
    for (i, c) in cases.iter().enumerate() {
        let (client, log) = deletions_api();
        let (pods, exp) = control(client);
        let owner = rs("web", 0, at(0));
        let refs: Vec<PodRef> = c.pods.iter().map(|n| PodRef::of(&pod(n))).collect();
        let result = pods.delete_pods(&owner, &refs).await;
        assert_eq!(result.is_err(), c.failed, "case {i}");
        if let Err(e) = result {
            assert!(matches!(e, PodControlError::Delete(_)), "case {i}: {e}");
            assert_eq!(e.condition_message(), "etcd is sad");
        }
        let expected: BTreeSet<String> = exp
            .get_uids(&ObjectKey::of(&owner))
            .unwrap()
            .into_iter()
            .collect();
        let want: BTreeSet<String> = c.still_expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(expected, want, "case {i}: deletions still expected");
        // Every delete carries the pod's UID as a precondition.
        for d in log.lock().unwrap().iter().filter(|r| r.method == "DELETE") {
            let name = d.path.rsplit('/').next().unwrap();
            assert_eq!(d.body["preconditions"]["uid"], json!(format!("uid-{name}")));
        }
    }
}

#[tokio::test]
async fn pods_of_a_replication_controller_point_back_at_it() {
    let (client, log) = creations(&[], &[]);
    let (pods, exp) = control(client);
    let owner = rc("frontend", 2, at(0));
    pods.create_pods(&owner, 2).await.unwrap();
    let posts = pod_creations(&log);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].path, "/api/v1/namespaces/default/pods");
    let r = &posts[0].body["metadata"]["ownerReferences"][0];
    assert_eq!(r["apiVersion"], json!("v1"));
    assert_eq!(r["kind"], json!("ReplicationController"));
    assert_eq!(r["uid"], json!("uid-frontend"));
    assert_eq!(
        posts[0].body["metadata"]["generateName"],
        json!("frontend-")
    );
    assert_eq!(exp.get_expectations(&ObjectKey::of(&owner)).unwrap().add, 2);
}

#[tokio::test]
async fn events_name_the_owner_with_upstream_reasons_and_messages() {
    let (client, log) = creations(&[1], &[]);
    let recorder = Recorder::new(client.clone(), "replication-controller", "test");
    let pods = PodControl::new(
        client,
        Arc::new(UidTrackingExpectations::new()),
        Some(recorder),
    );
    // Batches [0] and [1]: one pod created, the second refused.
    let owner = rc("frontend", 2, at(0));
    pods.create_pods(&owner, 2).await.unwrap_err();
    // The recorder writes asynchronously: wait for both Events.
    let events = || -> Vec<Recorded> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/events"))
            .cloned()
            .collect()
    };
    eventually("both Events written", || events().len() >= 2).await;
    let events = events();
    let summary: BTreeSet<(String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(
                e.body["involvedObject"]["kind"],
                json!("ReplicationController")
            );
            assert_eq!(e.body["involvedObject"]["name"], json!("frontend"));
            (
                e.body["reason"].as_str().unwrap().to_string(),
                e.body["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        BTreeSet::from([
            (
                EVENT_SUCCESSFUL_CREATE.to_string(),
                "Created pod: frontend-00000".to_string()
            ),
            (
                EVENT_FAILED_CREATE.to_string(),
                "Error creating: pods \"web-x\" is forbidden: exceeded quota: compute".to_string()
            ),
        ])
    );
}
