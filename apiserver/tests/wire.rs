//! Wire fidelity with kube-rs and raw HTTP: objects come back in the form upstream's Go
//! types give them (non-`omitempty` zeros written, emptied `omitempty` fields left out,
//! keys in the order the Go structs declare them).

mod common;

use capstan_apiserver::TestServer;
use common::written::Written;
use common::{deployment, get_json, send_raw};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ContainerPort, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
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
    // The typed read right after create decodes all four (k8s-openapi defaults a missing
    // one to 0, so the text kube-rs receives is checked too, keys in Go's order).
    let read = daemonsets.get("agent").await.unwrap().status.unwrap();
    assert_eq!(
        (
            read.current_number_scheduled,
            read.number_misscheduled,
            read.desired_number_scheduled,
            read.number_ready
        ),
        (0, 0, 0, 0)
    );
    let text = client
        .request_text(
            http::Request::get("/apis/apps/v1/namespaces/default/daemonsets/agent")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = Written::parse(text.as_bytes());
    let status = status.get("status");
    assert_eq!(
        status.keys(),
        [
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady"
        ]
    );
    for key in status.keys() {
        assert_eq!(status.get(key), &Written::Scalar(json!(0)), "{key}");
    }
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

/// A pod whose container has ports and resources too (their keys' order is checked).
fn pod(name: &str) -> Pod {
    let mut pod = common::pod(name);
    if let Some(spec) = pod.spec.as_mut() {
        spec.containers[0].ports = Some(vec![ContainerPort {
            container_port: 80,
            ..ContainerPort::default()
        }]);
        spec.containers[0].resources = Some(ResourceRequirements {
            requests: Some([("cpu".to_string(), Quantity("100m".into()))].into()),
            ..ResourceRequirements::default()
        });
    }
    pod
}

/// Creates the pod `p` and the Deployment `web` in `default`.
async fn create_pod_and_deployment(client: &kube::Client) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
}

/// GETs `path` and returns the body as written (panics unless `code`).
async fn written(client: &kube::Client, path: &str, code: u16) -> Written {
    let (got, _, body) = send_raw(client, "GET", path, &[], Vec::new()).await;
    assert_eq!(got, code, "GET {path}: {}", String::from_utf8_lossy(&body));
    Written::parse(&body)
}

/// ObjectMeta's keys in Go's declaration order (`k8s.io/apimachinery` `ObjectMeta`).
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// A created pod's metadata keys, in ObjectMeta's order.
const POD_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "labels",
    "managedFields",
];

/// Asserts `keys` are exactly `expected` in that order, and that they are in ObjectMeta's
/// order (the server writes what it sets, so the expected list is checked twice).
fn assert_meta_keys(meta: &Written, expected: &[&str]) {
    assert_eq!(meta.keys(), expected);
    let positions: Vec<usize> = expected
        .iter()
        .map(|k| OBJECT_META.iter().position(|m| m == k).unwrap())
        .collect();
    assert!(positions.is_sorted(), "{expected:?}");
}

#[tokio::test]
async fn objects_and_lists_come_with_go_key_order() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    create_pod_and_deployment(&client).await;

    let pod = written(&client, "/api/v1/namespaces/default/pods/p", 200).await;
    assert_eq!(
        pod.keys(),
        ["kind", "apiVersion", "metadata", "spec", "status"]
    );
    assert_meta_keys(pod.get("metadata"), POD_META);
    let managed = pod.get("metadata").get("managedFields").at(0);
    assert_eq!(
        managed.keys(),
        [
            "manager",
            "operation",
            "apiVersion",
            "time",
            "fieldsType",
            "fieldsV1"
        ]
    );
    let container = pod.get("spec").get("containers").at(0);
    assert_eq!(
        container.keys(),
        [
            "name",
            "image",
            "ports",
            "resources",
            // The ServiceAccount admission step's token mount.
            "volumeMounts",
            "terminationMessagePath",
            "terminationMessagePolicy",
            "imagePullPolicy"
        ]
    );
    assert_eq!(
        container.get("ports").at(0).keys(),
        ["containerPort", "protocol"]
    );
    let spec = pod.get("spec").keys();
    let (containers, restart, dns) = (
        spec.iter().position(|k| *k == "containers").unwrap(),
        spec.iter().position(|k| *k == "restartPolicy").unwrap(),
        spec.iter().position(|k| *k == "dnsPolicy").unwrap(),
    );
    assert!(containers < restart && restart < dns, "{spec:?}");

    let deploy = written(
        &client,
        "/apis/apps/v1/namespaces/default/deployments/web",
        200,
    )
    .await;
    assert_eq!(
        deploy.keys(),
        ["kind", "apiVersion", "metadata", "spec", "status"]
    );
    assert_meta_keys(
        deploy.get("metadata"),
        &[
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
        ],
    );
    assert_eq!(
        deploy.get("spec").keys(),
        [
            "replicas",
            "selector",
            "template",
            "strategy",
            "revisionHistoryLimit",
            "progressDeadlineSeconds"
        ]
    );
    assert_eq!(
        deploy.get("spec").get("strategy").keys(),
        ["type", "rollingUpdate"]
    );
    assert_eq!(
        deploy
            .get("spec")
            .get("strategy")
            .get("rollingUpdate")
            .keys(),
        ["maxUnavailable", "maxSurge"]
    );

    let list = written(&client, "/api/v1/namespaces/default/pods", 200).await;
    assert_eq!(list.keys(), ["kind", "apiVersion", "metadata", "items"]);
    assert_eq!(list.get("items").at(0), &pod);
    let list = written(
        &client,
        "/apis/apps/v1/namespaces/default/deployments?limit=1",
        200,
    )
    .await;
    assert_eq!(list.keys(), ["kind", "apiVersion", "metadata", "items"]);
    assert_eq!(list.get("items").at(0), &deploy);
}

/// Reads a watch until its first event and returns it as written.
async fn first_watch_event(client: &kube::Client, path: &str) -> Written {
    let req = http::Request::get(path).body(Vec::new().into()).unwrap();
    let mut body = client.send(req).await.unwrap().into_body();
    let mut buf = Vec::new();
    while !buf.contains(&b'\n') {
        let frame = body.frame().await.expect("the watch ended").unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap();
    Written::parse(line)
}

#[tokio::test]
async fn watch_events_come_with_go_key_order() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let stored = written(&client, "/api/v1/namespaces/default/pods/p", 200).await;
    // The current state as ADDED, and the same change replayed from the history.
    for path in [
        "/api/v1/namespaces/default/pods?watch=1".to_string(),
        format!(
            "/api/v1/namespaces/default/pods?watch=1&resourceVersion={}",
            rv.parse::<u64>().unwrap() - 1
        ),
    ] {
        let event = first_watch_event(&client, &path).await;
        assert_eq!(event.keys(), ["type", "object"], "{path}");
        assert_eq!(event.get("object"), &stored, "{path}");
    }
    // A live MODIFIED event.
    let watch = tokio::spawn({
        let client = client.clone();
        let path = format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}");
        async move { first_watch_event(&client, &path).await }
    });
    pods.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
    )
    .await
    .unwrap();
    let event = watch.await.unwrap();
    assert_eq!(event.get("type"), &Written::Scalar(json!("MODIFIED")));
    let object = event.get("object");
    assert_eq!(
        object.keys(),
        ["kind", "apiVersion", "metadata", "spec", "status"]
    );
    // The annotation the patch added, where ObjectMeta declares it.
    let mut expected = POD_META.to_vec();
    expected.insert(6, "annotations");
    assert_meta_keys(object.get("metadata"), &expected);
}

/// `meta/v1.Status`'s keys in Go's order, as an error writes them.
const STATUS_KEYS: &[&str] = &[
    "kind",
    "apiVersion",
    "metadata",
    "status",
    "message",
    "reason",
    "details",
    "code",
];

#[tokio::test]
async fn errors_come_as_statuses_with_go_key_order() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let missing = written(&client, "/api/v1/namespaces/default/pods/nope", 404).await;
    assert_eq!(missing.keys(), STATUS_KEYS);
    assert_eq!(missing.get("details").keys(), ["name", "kind"]);

    let invalid = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
                         "spec": {"containers": []}});
    let (code, _, body) = send_raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods",
        &[("content-type", "application/json")],
        serde_json::to_vec(&invalid).unwrap(),
    )
    .await;
    assert_eq!(code, 422, "{}", String::from_utf8_lossy(&body));
    let status = Written::parse(&body);
    assert_eq!(status.keys(), STATUS_KEYS);
    assert_eq!(status.get("details").keys(), ["name", "kind", "causes"]);
    assert_eq!(
        status.get("details").get("causes").at(0).keys(),
        ["reason", "message", "field"]
    );
}

/// A type whose `kind` is not a string: decoding any object into it fails on its `kind`.
#[derive(Debug, serde::Deserialize)]
struct KindAsNumber {
    #[allow(dead_code)]
    kind: u32,
}

/// The issue's case: a client comparing a decode error's position. A real server's
/// bytes start `{"kind":…,"apiVersion":…`, so the error is where `kind`'s value ends
/// (column 13 of `{"kind":"Pod"`); alphabetical keys would put it after `apiVersion`.
#[tokio::test]
async fn decode_errors_point_where_a_real_servers_bytes_put_them() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    create_pod_and_deployment(&client).await;
    for (path, column) in [
        (
            "/api/v1/namespaces/default/pods/p",
            r#"{"kind":"Pod""#.len(),
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments/web",
            r#"{"kind":"Deployment""#.len(),
        ),
    ] {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        match client.request::<KindAsNumber>(req).await {
            Err(kube::Error::SerdeError(e)) => {
                assert_eq!((e.line(), e.column()), (1, column), "{path}: {e}");
                assert!(e.to_string().contains("expected u32"), "{e}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}
