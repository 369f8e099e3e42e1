//! Informers over HTTP: a mock API server (tower_test) answers the watcher's list and
//! watch requests, so these tests exercise kube's watcher, the DeltaFIFO arithmetic and
//! the factory end to end. Kept apart so they can move to capstan-apiserver's TestServer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use capstan_runtime::informer::{EventHandlerFns, Selectors, SharedInformerFactory};
use futures::StreamExt;
use futures::channel::mpsc;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::client::Body;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tower_test::mock;

type MockBody = BoxBody<Bytes, Infallible>;
type Handle = mock::Handle<Request<Body>, Response<MockBody>>;
type Log = Arc<Mutex<Vec<String>>>;

fn mock_client() -> (kube::Client, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<MockBody>>();
    (kube::Client::new(service, "default"), handle)
}

fn pod(name: &str, rv: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "resourceVersion": rv,
            "uid": format!("uid-{name}"),
            "managedFields": [{
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
            }]
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    })
}

fn pod_list(rv: &str, items: Vec<Value>) -> Response<MockBody> {
    let list = json!({
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {"resourceVersion": rv},
        "items": items,
    });
    Response::new(Full::new(Bytes::from(list.to_string())).boxed())
}

/// A watch response whose events are sent through the returned channel, one JSON
/// document per line, for as long as the sender lives.
fn watch_stream() -> (mpsc::UnboundedSender<Value>, Response<MockBody>) {
    let (tx, rx) = mpsc::unbounded::<Value>();
    let frames =
        rx.map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n")))));
    (tx, Response::new(BodyExt::boxed(StreamBody::new(frames))))
}

async fn next_request(handle: &mut Handle) -> (String, mock::SendResponse<Response<MockBody>>) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(30), handle.next_request())
        .await
        .expect("the watcher made no request in time")
        .expect("the client was dropped");
    (req.uri().to_string(), send)
}

fn recorder() -> (EventHandlerFns<Pod>, Log) {
    let log: Log = Arc::default();
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    let rv = |p: &Pod| p.metadata.resource_version.clone().unwrap_or_default();
    let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
    let h = EventHandlerFns::new()
        .on_add(move |p, initial| {
            a.lock()
                .push(format!("add {}@{} {initial}", name(&p), rv(&p)))
        })
        .on_update(move |o, n| {
            u.lock()
                .push(format!("update {} {}->{}", name(&n), rv(&o), rv(&n)))
        })
        .on_delete(move |gone| {
            let p = gone.last_state();
            let how = if gone.is_tombstone() {
                "tombstone"
            } else {
                "live"
            };
            d.lock().push(format!("delete {}@{} {how}", name(p), rv(p)));
        });
    (h, log)
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn informer_lists_watches_and_relists_after_410_gone() {
    let (client, mut server) = mock_client();
    let factory = SharedInformerFactory::new(client, None);
    let pods = factory.informer::<Pod>();
    let (handler, log) = recorder();
    let registration = pods.add_event_handler(handler).unwrap();
    factory.start().unwrap();

    let (uri, send) = next_request(&mut server).await;
    assert!(uri.starts_with("/api/v1/pods?"), "{uri}");
    assert!(
        !uri.contains("watch=true"),
        "first request must be a list: {uri}"
    );
    send.send_response(pod_list("10", vec![pod("a", "5"), pod("b", "6")]));
    factory
        .wait_for_cache_sync(tokio::time::Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    eventually("handler sync", || registration.has_synced()).await;
    let a = pods.lister().get("default", "a").unwrap();
    assert!(
        a.metadata.managed_fields.is_none(),
        "managedFields must be dropped"
    );
    assert_eq!(a.metadata.uid.as_deref(), Some("uid-a"));

    let (uri, send) = next_request(&mut server).await;
    assert!(
        uri.contains("watch=true") && uri.contains("resourceVersion=10"),
        "{uri}"
    );
    let (events, response) = watch_stream();
    send.send_response(response);
    for (kind, obj) in [
        ("ADDED", pod("c", "11")),
        ("MODIFIED", pod("a", "12")),
        ("DELETED", pod("b", "13")),
    ] {
        events
            .unbounded_send(json!({"type": kind, "object": obj}))
            .unwrap();
    }
    eventually("watch events", || log.lock().len() == 5).await;

    // The server compacted its history: the watch ends with 410 Gone and the watcher
    // relists. Meanwhile c was deleted and d created.
    events
        .unbounded_send(json!({"type": "ERROR", "object": {
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "reason": "Expired", "code": 410, "message": "too old resource version: 13"
        }}))
        .unwrap();
    let (uri, send) = next_request(&mut server).await;
    assert!(
        !uri.contains("watch=true"),
        "410 must lead to a relist: {uri}"
    );
    send.send_response(pod_list("20", vec![pod("a", "12"), pod("d", "20")]));
    let (uri, send) = next_request(&mut server).await;
    assert!(
        uri.contains("watch=true") && uri.contains("resourceVersion=20"),
        "{uri}"
    );
    let (_events, response) = watch_stream();
    send.send_response(response);

    eventually("relist notifications", || log.lock().len() == 7).await;
    let got = log.lock().clone();
    let mut initial = got[..2].to_vec();
    initial.sort();
    assert_eq!(initial, ["add a@5 true", "add b@6 true"]);
    assert_eq!(
        got[2..],
        [
            "add c@11 false",
            "update a 5->12",
            "delete b@13 live",
            "add d@20 false",
            "delete c@11 tombstone",
        ]
    );
    let mut cached: Vec<String> = pods
        .lister()
        .list_all()
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    cached.sort();
    assert_eq!(cached, ["a", "d"]);
    factory.shutdown().await;
    assert!(pods.is_stopped());
}

#[tokio::test]
async fn factory_shares_one_informer_per_type_and_scope() {
    let (client, _server) = mock_client();
    let factory = SharedInformerFactory::new(client, Some(Duration::from_secs(60)));
    let all = factory.informer::<Pod>();
    assert!(all.same_as(&factory.informer::<Pod>()));
    let in_ns = factory.namespaced_informer::<Pod>("kube-system");
    assert!(!in_ns.same_as(&all));
    assert!(in_ns.same_as(&factory.namespaced_informer::<Pod>("kube-system")));
    let labelled = factory.informer_with::<Pod>(Selectors::default().labels("app=web"));
    assert!(!labelled.same_as(&all));
    assert!(
        labelled.same_as(&factory.informer_with::<Pod>(Selectors::default().labels("app=web")))
    );
    let on_node = factory.informer_with::<Pod>(Selectors::default().fields("spec.nodeName=n1"));
    assert!(!on_node.same_as(&labelled));
    factory.informer::<Node>();
    factory.informer::<ConfigMap>();
    assert_eq!(factory.len(), 6);
    assert_eq!(in_ns.name(), "Pod[namespace=kube-system]");
}

#[tokio::test]
async fn selectors_reach_the_request_and_late_informers_start_on_their_own() {
    let (client, mut server) = mock_client();
    let factory = SharedInformerFactory::new(client, None);
    factory.start().unwrap();
    // Created after start: must start without another start() call.
    let web = factory.namespaced_informer_with::<Pod>(
        "prod",
        Selectors::default()
            .labels("app=web")
            .fields("spec.nodeName=n1"),
    );
    let (uri, send) = next_request(&mut server).await;
    assert!(uri.starts_with("/api/v1/namespaces/prod/pods?"), "{uri}");
    assert!(uri.contains("labelSelector=app%3Dweb"), "{uri}");
    assert!(uri.contains("fieldSelector=spec.nodeName%3Dn1"), "{uri}");
    send.send_response(pod_list("3", vec![]));
    web.wait_for_sync().await.unwrap();
    factory.shutdown().await;
}

#[tokio::test]
async fn wait_for_cache_sync_names_informers_that_missed_the_deadline() {
    let (client, _server) = mock_client();
    let factory = SharedInformerFactory::new(client, None);
    factory.informer::<Pod>();
    factory.informer::<Node>();
    factory.start().unwrap();
    // The server never answers.
    let err = factory
        .wait_for_cache_sync(tokio::time::Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.unsynced, ["Node", "Pod"]);
    factory.shutdown().await;
}
