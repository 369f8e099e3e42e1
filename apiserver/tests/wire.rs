//! Wire fidelity with kube-rs: objects come back in the form upstream's Go types give
//! them (non-`omitempty` zeros written, emptied `omitempty` fields left out).

mod common;

use capstan_apiserver::TestServer;
use common::get_json;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn new_daemonset_status_carries_the_zero_counts() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        }
    }))
    .unwrap();
    daemonsets
        .create(&PostParams::default(), &ds)
        .await
        .unwrap();
    let status = daemonsets
        .get_status("agent")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.current_number_scheduled, 0);
    assert_eq!(status.desired_number_scheduled, 0);
    let raw = get_json(
        &client,
        "/apis/apps/v1/namespaces/default/daemonsets/agent/status",
    )
    .await;
    assert_eq!(
        raw["status"],
        json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
               "desiredNumberScheduled": 0, "numberReady": 0})
    );
}

#[tokio::test]
async fn released_pod_has_no_owner_references_key() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
            "uid": "6f1c1a52-8c4e-4f0e-9a51-0d8a3c1b2f11", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let released = pods
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"ownerReferences": []}})),
        )
        .await
        .unwrap();
    assert!(released.metadata.owner_references.is_none());
    let raw = get_json(&client, "/api/v1/namespaces/default/pods/p").await;
    assert!(
        raw["metadata"].get("ownerReferences").is_none(),
        "{}",
        raw["metadata"]
    );
}
