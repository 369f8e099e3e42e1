//! Informers over HTTP against a real API server (capstan-apiserver's `TestServer`):
//! kube's watcher lists and watches, the DeltaFIFO arithmetic turns a relist after
//! `410 Gone` into updates, adds and tombstones — for typed, dynamic
//! (`DynamicObject`) and metadata-only (`PartialObjectMetadata`) informers alike —
//! and the factory shares, scopes and syncs its informers.
//!
//! The informers' client passes through a [`Gate`]: a tower layer that records every
//! request and, while closed, holds requests back. Closing it and cutting the server's
//! watches keeps an informer's watch down for as long as a test needs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use capstan_apiserver::{ServerConfig, TestServer};
use capstan_runtime::informer::{
    EventHandlerFns, Selectors, SharedInformer, SharedInformerFactory,
};
use http::Request;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams, PostParams,
};
use kube::{Api, Resource, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

type Log = Arc<Mutex<Vec<String>>>;

/// Records the requests of a client and holds them back while closed.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    closed: AtomicBool,
    opened: Notify,
    held: AtomicUsize,
    uris: Mutex<Vec<String>>,
    accepts: Mutex<Vec<String>>,
}

impl Gate {
    fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
    }

    fn open(&self) {
        self.0.closed.store(false, Ordering::SeqCst);
        self.0.opened.notify_waiters();
    }

    /// Requests waiting for the gate to open.
    fn held(&self) -> usize {
        self.0.held.load(Ordering::SeqCst)
    }

    /// The path and query of every request made so far, in order.
    fn uris(&self) -> Vec<String> {
        self.0.uris.lock().clone()
    }

    /// The `Accept` header of every request made so far, in order.
    fn accepts(&self) -> Vec<String> {
        self.0.accepts.lock().clone()
    }

    async fn pass(&self) {
        let mut counted = false;
        loop {
            let opened = self.0.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            if !self.0.closed.load(Ordering::SeqCst) {
                break;
            }
            if !counted {
                counted = true;
                self.0.held.fetch_add(1, Ordering::SeqCst);
            }
            opened.await;
        }
        if counted {
            self.0.held.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

struct GateService<S> {
    inner: S,
    gate: Gate,
}

impl<S, B> tower::Service<Request<B>> for GateService<S>
where
    S: tower::Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let uri = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        self.gate.0.uris.lock().push(uri);
        let accept = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.gate.0.accepts.lock().push(accept);
        let gate = self.gate.clone();
        // The client's request future does nothing until polled: the request is only
        // sent once the gate lets it through.
        let response = self.inner.call(req);
        Box::pin(async move {
            gate.pass().await;
            response.await
        })
    }
}

/// A client of `server` whose requests pass through the returned gate.
async fn gated_client(server: &TestServer) -> (kube::Client, Gate) {
    let gate = Gate::default();
    let g = gate.clone();
    let client = kube::client::ClientBuilder::try_from(server.config().await)
        .expect("client builder")
        .with_layer(&tower::layer::layer_fn(move |inner| GateService {
            inner,
            gate: g.clone(),
        }))
        .build();
    (client, gate)
}

fn is_watch(uri: &str) -> bool {
    uri.contains("watch=true")
}

fn config_map(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"informer-test": "relist"}, "annotations": {"v": v}},
        "data": {"v": v},
    }))
    .expect("config map")
}

fn pod(namespace: &str, name: &str, app: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
    }))
    .expect("pod")
}

fn v(cm: &ConfigMap) -> String {
    cm.data
        .as_ref()
        .and_then(|d| d.get("v").cloned())
        .unwrap_or_default()
}

/// `data.v` of a config map read as a [`DynamicObject`].
fn dynamic_v(cm: &DynamicObject) -> String {
    cm.data["data"]["v"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The `v` annotation, which mirrors `data.v`, of a config map's metadata.
fn metadata_v(cm: &PartialObjectMeta<DynamicObject>) -> String {
    cm.annotations().get("v").cloned().unwrap_or_default()
}

fn config_maps() -> ApiResource {
    ApiResource::erase::<ConfigMap>(&())
}

/// A handler recording `add a v=1 initial=true`, `update a 1->2`,
/// `delete b v=1 live|tombstone`, reading `v` with `v`.
fn recorder<K>(v: fn(&K) -> String) -> (EventHandlerFns<K>, Log)
where
    K: Resource + Send + Sync + 'static,
{
    let log: Log = Arc::default();
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    let h = EventHandlerFns::new()
        .on_add(move |cm: Arc<K>, initial| {
            a.lock().push(format!(
                "add {} v={} initial={initial}",
                cm.name_any(),
                v(&cm)
            ))
        })
        .on_update(move |old: Arc<K>, new: Arc<K>| {
            u.lock().push(format!(
                "update {} {}->{}",
                new.name_any(),
                v(&old),
                v(&new)
            ))
        })
        .on_delete(move |gone| {
            let cm = gone.last_state();
            let how = if gone.is_tombstone() {
                "tombstone"
            } else {
                "live"
            };
            d.lock()
                .push(format!("delete {} v={} {how}", cm.name_any(), v(cm)));
        });
    (h, log)
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn set_v(api: &Api<ConfigMap>, name: &str, value: &str) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"v": value}}, "data": {"v": value}})),
    )
    .await
    .expect("patch");
}

#[tokio::test]
async fn informer_lists_watches_and_relists_after_410_gone() {
    lists_watches_and_relists_after_410_gone(
        |f| f.informer_with::<ConfigMap>(Selectors::default().labels("informer-test=relist")),
        v,
    )
    .await;
}

#[tokio::test]
async fn dynamic_informer_lists_watches_and_relists_after_410_gone() {
    lists_watches_and_relists_after_410_gone(
        |f| {
            f.dynamic_informer_with(
                &config_maps(),
                None,
                Selectors::default().labels("informer-test=relist"),
            )
        },
        dynamic_v,
    )
    .await;
}

#[tokio::test]
async fn metadata_informer_lists_watches_and_relists_after_410_gone() {
    lists_watches_and_relists_after_410_gone(
        |f| {
            f.metadata_informer_with(
                &config_maps(),
                None,
                Selectors::default().labels("informer-test=relist"),
            )
        },
        metadata_v,
    )
    .await;
}

/// The informer `make` creates (of config maps labelled `informer-test=relist`)
/// delivers the initial list, live events, and a relist after `410 Gone` as adds,
/// updates and tombstones; `v` reads an object's `v` value.
async fn lists_watches_and_relists_after_410_gone<K>(
    make: impl FnOnce(&SharedInformerFactory) -> SharedInformer<K>,
    v: fn(&K) -> String,
) where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    // Two events of history per resource: a watch down for three writes cannot resume.
    let server = TestServer::start_with(ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        watch_history: 2,
        ..ServerConfig::default()
    })
    .await
    .expect("test server starts");
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    for name in ["a", "b"] {
        cms.create(&PostParams::default(), &config_map(name, "1"))
            .await
            .expect("create");
    }

    let (client, gate) = gated_client(&server).await;
    let factory = SharedInformerFactory::new(client, None);
    let informer = make(&factory);
    let (handler, log) = recorder(v);
    let registration = informer.add_event_handler(handler).unwrap();
    factory.start().unwrap();
    factory
        .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    eventually("handler sync", || registration.has_synced()).await;
    let first = gate.uris()[0].clone();
    assert!(
        first.starts_with("/api/v1/configmaps?") && !is_watch(&first),
        "the first request is a list: {first}"
    );
    assert!(
        first.contains("labelSelector=informer-test%3Drelist"),
        "{first}"
    );
    let cached = informer.lister().get("default", "a").unwrap();
    assert!(
        cached.meta().managed_fields.is_none(),
        "the default transform drops managedFields"
    );
    let stored = cms.get("a").await.unwrap();
    assert!(
        stored
            .metadata
            .managed_fields
            .is_some_and(|m| !m.is_empty()),
        "the server returns managedFields"
    );

    // Live watch events, one at a time so none is left to the (tiny) history.
    cms.create(&PostParams::default(), &config_map("c", "1"))
        .await
        .unwrap();
    eventually("c added", || log.lock().len() == 3).await;
    set_v(&cms, "a", "2").await;
    eventually("a updated", || log.lock().len() == 4).await;
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    eventually("b deleted", || log.lock().len() == 5).await;

    // The watch goes down and stays down (its resumption is held at the gate) while c
    // is deleted, d created and a updated: more events than the server keeps.
    let before_outage = gate.uris().len();
    gate.close();
    server.cut_watches();
    eventually("the watcher to try to resume", || gate.held() >= 1).await;
    cms.delete("c", &DeleteParams::default()).await.unwrap();
    cms.create(&PostParams::default(), &config_map("d", "1"))
        .await
        .unwrap();
    set_v(&cms, "a", "3").await;
    gate.open();

    eventually("relist notifications", || log.lock().len() == 8).await;
    let got = log.lock().clone();
    let mut initial = got[..2].to_vec();
    initial.sort();
    assert_eq!(
        initial,
        ["add a v=1 initial=true", "add b v=1 initial=true"]
    );
    assert_eq!(
        got[2..],
        [
            "add c v=1 initial=false",
            "update a 1->2",
            "delete b v=1 live",
            // The relist: a survived (update), d is new (add), c vanished (tombstone
            // with its last known state).
            "update a 2->3",
            "add d v=1 initial=false",
            "delete c v=1 tombstone",
        ]
    );
    let after: Vec<String> = gate.uris()[before_outage..].to_vec();
    assert!(
        after.len() >= 2 && is_watch(&after[0]) && after[0].contains("resourceVersion="),
        "the watcher first tried to resume: {after:?}"
    );
    assert!(
        after[1..].iter().any(|u| !is_watch(u)),
        "410 Gone led to a relist: {after:?}"
    );
    let mut cached: Vec<String> = informer
        .lister()
        .list_all()
        .iter()
        .map(|cm| format!("{}={}", cm.name_any(), v(cm.as_ref())))
        .collect();
    cached.sort();
    assert_eq!(cached, ["a=3", "d=1"]);
    factory.shutdown().await;
    assert!(informer.is_stopped());
}

#[tokio::test]
async fn factory_shares_one_informer_per_type_and_scope() {
    let server = TestServer::start().await.expect("test server starts");
    let (client, gate) = gated_client(&server).await;
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

    // One list (and one watch) per informer, however often each was asked for.
    factory.start().unwrap();
    factory
        .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    let mut lists: Vec<String> = gate.uris().into_iter().filter(|u| !is_watch(u)).collect();
    lists.sort();
    assert_eq!(lists.len(), 6, "{lists:?}");
    lists.dedup();
    assert_eq!(lists.len(), 6, "one list per distinct scope: {lists:?}");
    factory.shutdown().await;
}

#[tokio::test]
async fn dynamic_and_metadata_informers_are_shared_by_resource_and_removable() {
    let server = TestServer::start().await.expect("test server starts");
    let (client, gate) = gated_client(&server).await;
    let factory = SharedInformerFactory::new(client, None);
    let cms = config_maps();
    let dynamic = factory.dynamic_informer(&cms);
    assert!(dynamic.same_as(&factory.dynamic_informer(&cms)));
    let metadata = factory.metadata_informer(&cms);
    assert!(metadata.same_as(&factory.metadata_informer(&cms)));
    let in_ns = factory.dynamic_informer_with(&cms, Some("kube-system"), Selectors::default());
    assert!(!in_ns.same_as(&dynamic));
    assert!(in_ns.same_as(&factory.dynamic_informer_with(
        &cms,
        Some("kube-system"),
        Selectors::default()
    )));
    let secrets = factory.dynamic_informer(&ApiResource::erase::<Secret>(&()));
    assert!(!secrets.same_as(&dynamic));
    // Typed informers of the same resource cache other types: informers of their own.
    factory.informer::<ConfigMap>();
    let typed_metadata = factory.metadata_informer_for::<ConfigMap>();
    assert!(typed_metadata.same_as(&factory.metadata_informer_for::<ConfigMap>()));
    assert_eq!(factory.len(), 6);
    assert_eq!(dynamic.name(), "ConfigMap.v1");
    assert_eq!(metadata.name(), "ConfigMap.v1[metadata]");
    assert_eq!(in_ns.name(), "ConfigMap.v1[namespace=kube-system]");
    assert_eq!(typed_metadata.name(), "ConfigMap[metadata]");

    factory.start().unwrap();
    factory
        .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    let lists: Vec<(String, String)> = gate
        .uris()
        .into_iter()
        .zip(gate.accepts())
        .filter(|(u, _)| !is_watch(u))
        .collect();
    assert_eq!(lists.len(), 6, "one list per informer: {lists:?}");
    let metadata_lists = lists
        .iter()
        .filter(|(_, accept)| accept.contains("as=PartialObjectMetadataList"))
        .count();
    assert_eq!(
        metadata_lists, 2,
        "metadata informers list metadata only: {lists:?}"
    );

    // Removing the resource stops and forgets its dynamic and metadata informers.
    assert_eq!(factory.remove_resource(&cms).await, 3);
    assert!(dynamic.is_stopped() && metadata.is_stopped() && in_ns.is_stopped());
    assert!(!secrets.is_stopped() && !typed_metadata.is_stopped());
    assert_eq!(factory.len(), 3);
    let again = factory.dynamic_informer(&cms);
    assert!(!again.same_as(&dynamic));
    tokio::time::timeout(Duration::from_secs(30), again.wait_for_sync())
        .await
        .expect("a new informer starts and syncs")
        .unwrap();
    factory.shutdown().await;
}

#[tokio::test]
async fn selectors_reach_the_request_and_late_informers_start_on_their_own() {
    let server = TestServer::start().await.expect("test server starts");
    let writer = server.client().await;
    for p in [
        pod("default", "match", "web", "n1"),
        pod("default", "wrong-node", "web", "n2"),
        pod("default", "wrong-label", "db", "n1"),
        pod("kube-system", "wrong-namespace", "web", "n1"),
    ] {
        let ns = p.namespace().unwrap();
        Api::<Pod>::namespaced(writer.clone(), &ns)
            .create(&PostParams::default(), &p)
            .await
            .expect("create pod");
    }
    let (client, gate) = gated_client(&server).await;
    let factory = SharedInformerFactory::new(client, None);
    factory.start().unwrap();
    // Created after start: must start without another start() call.
    let web = factory.namespaced_informer_with::<Pod>(
        "default",
        Selectors::default()
            .labels("app=web")
            .fields("spec.nodeName=n1"),
    );
    tokio::time::timeout(Duration::from_secs(30), web.wait_for_sync())
        .await
        .expect("synced in time")
        .unwrap();
    let uri = gate.uris()[0].clone();
    assert!(uri.starts_with("/api/v1/namespaces/default/pods?"), "{uri}");
    assert!(uri.contains("labelSelector=app%3Dweb"), "{uri}");
    assert!(uri.contains("fieldSelector=spec.nodeName%3Dn1"), "{uri}");
    let cached: Vec<String> = web
        .lister()
        .list_all()
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(cached, ["match"]);
    factory.shutdown().await;
}

#[tokio::test]
async fn wait_for_cache_sync_names_informers_that_missed_the_deadline() {
    let server = TestServer::start().await.expect("test server starts");
    let (client, gate) = gated_client(&server).await;
    let factory = SharedInformerFactory::new(client, None);
    factory.informer::<Pod>();
    factory.informer::<Node>();
    gate.close();
    factory.start().unwrap();
    // The server gets no request until the gate opens.
    let err = factory
        .wait_for_cache_sync(Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.unsynced, ["Node", "Pod"]);
    gate.open();
    factory
        .wait_for_cache_sync(Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    factory.shutdown().await;
}

/// One informer per type and scope, however many callers ask for it, each named by
/// its kind and scope.
#[tokio::test]
async fn informer_names_lists_each_shared_informer_once() {
    let server = TestServer::start().await.expect("test server starts");
    let factory = SharedInformerFactory::new(server.client().await, None);
    assert!(factory.informer_names().is_empty());
    factory.informer::<Pod>();
    factory.informer::<Pod>();
    factory.informer::<Node>();
    factory.namespaced_informer::<Pod>("default");
    assert_eq!(
        factory.informer_names(),
        ["Node", "Pod", "Pod[namespace=default]"]
    );
}
