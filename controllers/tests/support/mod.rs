//! A `capstan up` control plane in one process, for the scenario tests and the
//! rollout bench: the embedded API server (`TestServer`) with `capstan up`'s own
//! bootstrap around it (`capstan::up::ControlPlane`): the controllers (in a runtime
//! of their own, so they can be killed and restarted), the scheduler and the node
//! agent with a NodePool of sim nodes that run the pods and make them Ready.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use capstan::up::{ControlPlane, ControlPlaneConfig, ControllersRuntime, SimPool};
use capstan_apiserver::TestServer;
use capstan_node_agent::NodeAgentConfig;
use capstan_runtime::clock::{RealClock, SharedClock};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The namespace the scenarios use.
pub const NS: &str = "default";
/// The taint of the process pools [`Cluster::add_process_pool`] adds.
pub const PROCESS_TAINT: &str = "capstan.dev/process";
/// `deployment.kubernetes.io/revision`.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Polls `check` every 50 ms until it returns `Ok`, panicking with the last
/// `Err` after `secs` seconds.
pub async fn eventually_within<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: last seen {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// [`eventually_within`] 90 seconds (CI runs many of these on 2 loaded cores).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_within(90, what, check).await
}

/// [`eventually`] for checks that answer `Some` once done.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually(what, || {
        let next = check();
        async move { next.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

/// Waits until `nodes` nodes (those matching the label `selector`, if any) are
/// Ready.
async fn wait_nodes_ready(client: &Client, selector: Option<&str>, nodes: i32, what: &str) {
    let node_api: Api<Node> = Api::all(client.clone());
    let params = match selector {
        Some(s) => ListParams::default().labels(s),
        None => ListParams::default(),
    };
    eventually(what, || async {
        let ready = node_api
            .list(&params)
            .await
            .map_err(|e| e.to_string())?
            .items
            .iter()
            .filter(|n| capstan_node_agent::node::is_ready(n))
            .count();
        if ready == usize::try_from(nodes).unwrap_or(0) {
            Ok(())
        } else {
            Err(format!("{ready} of {nodes} nodes Ready"))
        }
    })
    .await;
}

/// Watches `api` with `config` in the background, handing every event to
/// `on_event`; returns the task once the watch's initial list is in.
pub async fn watch_in_background<K, F>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
    mut on_event: F,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
    F: FnMut(kube::runtime::watcher::Event<K>) + Send + 'static,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let mut stream = watcher(api, config).default_backoff().boxed();
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut listed_tx = Some(listed_tx);
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { continue };
            let done = matches!(ev, watcher::Event::InitDone);
            on_event(ev);
            if done && let Some(tx) = listed_tx.take() {
                let _ = tx.send(());
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), listed_rx)
        .await
        .expect("the watch lists in time")
        .expect("the watch lists");
    task
}

/// The whole control plane of `capstan up`, in process.
pub struct Cluster {
    /// The API server.
    pub server: TestServer,
    /// A client for the test itself.
    pub client: Client,
    plane: ControlPlane,
}

impl Cluster {
    /// Starts the server, a NodePool of `nodes` sim nodes (110 pods each) with
    /// the node agent, the scheduler and the controllers, and waits for every
    /// node to be Ready.
    pub async fn start(nodes: i32) -> Cluster {
        Cluster::start_with(nodes, NodeAgentConfig::default().pod_workers).await
    }

    /// [`Cluster::start`] with the controllers `--controllers` selects (`*` and
    /// `-name` entries).
    pub async fn start_selecting(nodes: i32, controllers: &[&str]) -> Cluster {
        let selection = capstan_controllers::manager::ControllerSelection::parse(controllers)
            .expect("known controllers");
        let workers = NodeAgentConfig::default().pod_workers;
        Cluster::start_on(nodes, workers, RealClock::shared(), selection, |_| {}).await
    }

    /// [`Cluster::start`] with `pod_workers` concurrent pod reconciles in the
    /// node agent (the kubelets of all its nodes at once).
    pub async fn start_with(nodes: i32, pod_workers: usize) -> Cluster {
        Cluster::start_on(
            nodes,
            pod_workers,
            RealClock::shared(),
            Default::default(),
            |_| {},
        )
        .await
    }

    /// [`Cluster::start`] with the controllers reading `now` from `clock` (a
    /// `FakeClock` the test moves).
    pub async fn start_with_clock(nodes: i32, clock: SharedClock) -> Cluster {
        let workers = NodeAgentConfig::default().pod_workers;
        Cluster::start_on(nodes, workers, clock, Default::default(), |_| {}).await
    }

    /// [`Cluster::start`] with `configure` applied to the control plane's settings
    /// (the controllers' flags, the node agent's heartbeats) before it starts.
    pub async fn start_configured(
        nodes: i32,
        configure: impl FnOnce(&mut ControlPlaneConfig),
    ) -> Cluster {
        let workers = NodeAgentConfig::default().pod_workers;
        Cluster::start_on(
            nodes,
            workers,
            RealClock::shared(),
            Default::default(),
            configure,
        )
        .await
    }

    async fn start_on(
        nodes: i32,
        pod_workers: usize,
        clock: SharedClock,
        selection: capstan_controllers::manager::ControllerSelection,
        configure: impl FnOnce(&mut ControlPlaneConfig),
    ) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let mut config = ControlPlaneConfig {
            // Every controller, 5 workers each, in a runtime of their own so that
            // `kill_controllers` drops all their tasks at once.
            controllers_runtime: ControllersRuntime::Dedicated { worker_threads: 2 },
            pool: Some(SimPool {
                name: "sim".to_string(),
                nodes,
            }),
            node_agent: NodeAgentConfig {
                pod_workers,
                ..NodeAgentConfig::default()
            },
            ..ControlPlaneConfig::default()
        };
        config.controllers.clock = clock;
        config.controllers.selection = selection;
        configure(&mut config);
        let plane = ControlPlane::start_with(server.config().await, config)
            .await
            .expect("the control plane starts");
        wait_nodes_ready(&client, None, nodes, "every sim node Ready").await;
        Cluster {
            server,
            client,
            plane,
        }
    }

    /// Adds a NodePool `name` of `nodes` nodes of the `process` runtime
    /// (containers run as local processes with real exit codes), tainted
    /// `capstan.dev/process=true:NoSchedule` when `tainted` so that only pods
    /// tolerating it land there, and waits until its nodes are Ready.
    pub async fn add_process_pool(&self, name: &str, nodes: i32, tainted: bool) {
        use capstan_node_agent::{NodePool, NodePoolSpec};
        let mut spec = NodePoolSpec::process(nodes);
        if tainted {
            spec.taints = vec![k8s_openapi::api::core::v1::Taint {
                key: PROCESS_TAINT.to_string(),
                value: Some("true".to_string()),
                effect: "NoSchedule".to_string(),
                time_added: None,
            }];
        }
        let pools: Api<NodePool> = Api::all(self.client.clone());
        pools
            .create(
                &kube::api::PostParams::default(),
                &NodePool::new(name, spec),
            )
            .await
            .expect("create the process NodePool");
        let selector = format!("{}={name}", capstan_node_agent::node::POOL_LABEL);
        wait_nodes_ready(
            &self.client,
            Some(&selector),
            nodes,
            "every process node Ready",
        )
        .await;
    }

    /// Kills the running controllers (see [`ControlPlane::kill_controllers`]).
    pub async fn kill_controllers(&mut self) {
        self.plane
            .kill_controllers()
            .await
            .expect("controllers killed");
    }

    /// Starts a fresh set of controllers (after [`Cluster::kill_controllers`]).
    pub async fn start_controllers(&mut self) {
        self.plane.start_controllers().expect("controllers start");
    }

    /// `Api<K>` in [`NS`].
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Runs the real kubectl against this cluster in [`NS`] (see [`kubectl`]).
    pub async fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["-n", NS];
        all.extend_from_slice(args);
        kubectl(&self.server, &all).await
    }

    /// `kubectl rollout status deployment/<name>` with a generous timeout;
    /// panics unless it succeeds.
    pub async fn rollout_status(&self, name: &str) -> String {
        let (ok, out) = self
            .kubectl(&[
                "rollout",
                "status",
                &format!("deployment/{name}"),
                "--timeout=90s",
            ])
            .await;
        assert!(ok, "kubectl rollout status deployment/{name}: {out}");
        assert!(
            out.contains(&format!("deployment \"{name}\" successfully rolled out")),
            "{out}"
        );
        out
    }

    /// Stops everything, the controllers gracefully, and checks every component
    /// ended without error.
    pub async fn stop(self) {
        self.stop_control_plane().await;
    }

    /// [`Cluster::stop`], keeping the API server running: answers it, for a test
    /// that looks at what stopping the components leaves behind.
    pub async fn stop_control_plane(self) -> TestServer {
        tokio::time::timeout(Duration::from_secs(120), self.plane.stop())
            .await
            .expect("the control plane stops in time")
            .expect("the control plane stops cleanly");
        self.server
    }
}

/// A Deployment of `replicas` pods of `image`, selected by `app=<name>`, with
/// a RollingUpdate strategy of `max_surge`/`max_unavailable` (ints or
/// percentages as JSON).
pub fn deployment(
    name: &str,
    replicas: i32,
    image: &str,
    max_surge: serde_json::Value,
    max_unavailable: serde_json::Value,
) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .expect("valid deployment")
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The image of a pod's first container.
pub fn pod_image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The ReplicaSets controlled by the Deployment with `uid`, by name.
pub async fn owned_rss(rss: &Api<ReplicaSet>, uid: &str) -> BTreeMap<String, ReplicaSet> {
    rss.list(&ListParams::default())
        .await
        .expect("list replica sets")
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| r.controller == Some(true) && r.uid == uid && r.kind == "Deployment")
        })
        .map(|rs| (rs.name_any(), rs))
        .collect()
}

/// `spec.replicas` of a ReplicaSet.
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// What a pod watch saw of one Deployment's pods: every state after every
/// event is checked against the availability bound.
#[derive(Debug, Default, Clone)]
pub struct PodCensus {
    /// Per pod name: (image, Ready, terminating).
    pub pods: BTreeMap<String, (String, bool, bool)>,
    /// The most non-terminating pods seen at once (reported, not bounded: the
    /// surge bound is on the ReplicaSets' sizes, see [`RsWatch`]).
    pub max_live: usize,
    /// The fewest Ready non-terminating pods seen at once after `armed`.
    pub min_available: Option<usize>,
    /// States seen (events applied).
    pub states: usize,
    /// Whether `min_available` is being tracked.
    pub armed: bool,
    /// The first state that broke the availability bound after arming, if any.
    pub first_under: Option<String>,
    /// Every state seen, as `event pod: live (ready) per image`, for failure
    /// messages.
    pub history: Vec<String>,
    /// Every pod name ever seen, per image.
    pub ever: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl PodCensus {
    /// Non-terminating pods.
    pub fn live(&self) -> usize {
        self.pods.values().filter(|p| !p.2).count()
    }

    /// The states seen up to the first broken bound (all when none broke),
    /// at most the last `n`, one per line.
    pub fn history_before_failure(&self, n: usize) -> String {
        let end = self
            .first_under
            .as_ref()
            .and_then(|s| s.rsplit("(state ").next())
            .and_then(|s| s.trim_end_matches(')').parse::<usize>().ok())
            .unwrap_or(self.history.len())
            .min(self.history.len());
        self.history[end.saturating_sub(n)..end].join("\n")
    }

    /// Ready non-terminating pods.
    pub fn available(&self) -> usize {
        self.pods.values().filter(|p| p.1 && !p.2).count()
    }

    /// Non-terminating pods per image: (live, Ready).
    pub fn live_by_image(&self) -> BTreeMap<String, (usize, usize)> {
        let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (image, ready, terminating) in self.pods.values() {
            if !terminating {
                let e = m.entry(image.clone()).or_default();
                e.0 += 1;
                if *ready {
                    e.1 += 1;
                }
            }
        }
        m
    }
}

/// Watches the pods labelled `app=<app>` in the background and checks, after
/// every event (once armed), at least `min_available` Ready non-terminating
/// pods — the user-visible side of `maxUnavailable`.
pub struct PodWatch {
    census: std::sync::Arc<parking_lot::Mutex<PodCensus>>,
    task: JoinHandle<()>,
}

impl PodWatch {
    /// Starts the watch; returns once its initial list is in.
    pub async fn start(client: &Client, app: &str, min_available: usize) -> Self {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let census = std::sync::Arc::new(parking_lot::Mutex::new(PodCensus::default()));
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let mut stream = watcher(
            pods,
            watcher::Config::default().labels(&format!("app={app}")),
        )
        .default_backoff()
        .boxed();
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn({
            let census = census.clone();
            async move {
                let mut listed_tx = Some(listed_tx);
                let mut init: BTreeMap<String, (String, bool, bool)> = BTreeMap::new();
                let entry = |p: &Pod| {
                    (
                        p.name_any(),
                        (
                            pod_image(p),
                            is_ready(p),
                            p.metadata.deletion_timestamp.is_some(),
                        ),
                    )
                };
                while let Some(ev) = stream.next().await {
                    let Ok(ev) = ev else { continue };
                    let mut c = census.lock();
                    let what = match &ev {
                        watcher::Event::Apply(p) => format!(
                            "apply {} ready={} terminating={}",
                            p.name_any(),
                            is_ready(p),
                            p.metadata.deletion_timestamp.is_some()
                        ),
                        watcher::Event::Delete(p) => format!("delete {}", p.name_any()),
                        _ => "list".to_string(),
                    };
                    match ev {
                        watcher::Event::Init => init.clear(),
                        watcher::Event::InitApply(p) => {
                            let (k, v) = entry(&p);
                            init.insert(k, v);
                            continue;
                        }
                        watcher::Event::InitDone => {
                            for (k, v) in &init {
                                c.ever.entry(v.0.clone()).or_default().insert(k.clone());
                            }
                            c.pods = std::mem::take(&mut init);
                            if let Some(tx) = listed_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        watcher::Event::Apply(p) => {
                            let (k, v) = entry(&p);
                            c.ever.entry(v.0.clone()).or_default().insert(k.clone());
                            c.pods.insert(k, v);
                        }
                        watcher::Event::Delete(p) => {
                            c.pods.remove(&p.name_any());
                        }
                    }
                    c.states += 1;
                    let line = format!(
                        "{} {what}: {:?}",
                        k8s_openapi::jiff::Timestamp::now(),
                        c.live_by_image()
                    );
                    c.history.push(line);
                    let live = c.live();
                    c.max_live = c.max_live.max(live);
                    if c.armed {
                        let avail = c.available();
                        c.min_available = Some(c.min_available.map_or(avail, |m| m.min(avail)));
                        if avail < min_available && c.first_under.is_none() {
                            c.first_under = Some(format!(
                                "{avail} available: {:?} (state {})",
                                c.live_by_image(),
                                c.history.len()
                            ));
                        }
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .expect("pod watch lists in time")
            .expect("pod watch lists");
        PodWatch { census, task }
    }

    /// Starts checking the availability bound from the current state on.
    pub fn arm(&self) {
        let mut c = self.census.lock();
        c.armed = true;
        let avail = c.available();
        c.min_available = Some(avail);
    }

    /// Adds a line to the history (e.g. what the test just did).
    pub fn note(&self, line: &str) {
        self.census.lock().history.push(format!(
            "--- {} {line}",
            k8s_openapi::jiff::Timestamp::now()
        ));
    }

    /// A copy of what the watch has seen so far.
    pub fn census(&self) -> PodCensus {
        self.census.lock().clone()
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a ReplicaSet watch saw of one Deployment's ReplicaSets.
#[derive(Debug, Default, Clone)]
pub struct RsCensus {
    /// Per ReplicaSet name: (image, spec.replicas).
    pub sizes: BTreeMap<String, (String, i32)>,
    /// The largest sum of `spec.replicas` seen at once.
    pub max_total: i32,
    /// The first state whose sum broke the bound, if any.
    pub first_over: Option<String>,
    /// States seen.
    pub states: usize,
    /// Every event, as `name spec (status replicas/available, observed/generation)`.
    pub history: Vec<String>,
}

/// Watches the ReplicaSets labelled `app=<app>` and checks, after every event,
/// that their `spec.replicas` add up to at most `max_total` — upstream's own
/// surge check in its rollout tests ("total pods created", the sum of the
/// ReplicaSets' replicas, at most `replicas + maxSurge`). Pods follow those
/// sizes with the ReplicaSet controller's lag (an old ReplicaSet's pods go a
/// sync after its scale-down, possibly after the new one's pods came), so a
/// pod count can pass the bound for a moment on a real cluster too.
pub struct RsWatch {
    census: std::sync::Arc<parking_lot::Mutex<RsCensus>>,
    task: JoinHandle<()>,
}

impl RsWatch {
    /// Starts the watch; returns once its initial list is in.
    pub async fn start(client: &Client, app: &str, max_total: i32) -> Self {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let census = std::sync::Arc::new(parking_lot::Mutex::new(RsCensus::default()));
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        let mut stream = watcher(
            api,
            watcher::Config::default().labels(&format!("app={app}")),
        )
        .default_backoff()
        .boxed();
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn({
            let census = census.clone();
            async move {
                let mut listed_tx = Some(listed_tx);
                let mut init = BTreeMap::new();
                let entry = |rs: &ReplicaSet| {
                    let image = rs
                        .spec
                        .as_ref()
                        .and_then(|s| s.template.as_ref())
                        .and_then(|t| t.spec.as_ref())
                        .and_then(|s| s.containers.first())
                        .and_then(|c| c.image.clone())
                        .unwrap_or_default();
                    (rs.name_any(), (image, rs_replicas(rs)))
                };
                while let Some(ev) = stream.next().await {
                    let Ok(ev) = ev else { continue };
                    let mut c = census.lock();
                    match ev {
                        watcher::Event::Init => init.clear(),
                        watcher::Event::InitApply(rs) => {
                            let (k, v) = entry(&rs);
                            init.insert(k, v);
                            continue;
                        }
                        watcher::Event::InitDone => {
                            c.sizes = std::mem::take(&mut init);
                            if let Some(tx) = listed_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        watcher::Event::Apply(rs) => {
                            let st = rs.status.clone().unwrap_or_default();
                            let line = format!(
                                "{} {} spec {} (status {}/{}, observed {:?}/{:?})",
                                k8s_openapi::jiff::Timestamp::now(),
                                rs.name_any(),
                                rs_replicas(&rs),
                                st.replicas,
                                st.available_replicas.unwrap_or(0),
                                st.observed_generation,
                                rs.metadata.generation
                            );
                            c.history.push(line);
                            let (k, v) = entry(&rs);
                            c.sizes.insert(k, v);
                        }
                        watcher::Event::Delete(rs) => {
                            c.sizes.remove(&rs.name_any());
                        }
                    }
                    c.states += 1;
                    let total: i32 = c.sizes.values().map(|s| s.1).sum();
                    c.max_total = c.max_total.max(total);
                    if total > max_total && c.first_over.is_none() {
                        c.first_over = Some(format!("{total} replicas: {:?}", c.sizes));
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .expect("replica set watch lists in time")
            .expect("replica set watch lists");
        RsWatch { census, task }
    }

    /// A copy of what the watch has seen so far.
    pub fn census(&self) -> RsCensus {
        self.census.lock().clone()
    }
}

impl Drop for RsWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records, from a watch on one Deployment, every change of its `Progressing`
/// condition as `(status, reason)`, in order.
pub struct ProgressingLog {
    seen: std::sync::Arc<parking_lot::Mutex<Vec<(String, String)>>>,
    task: JoinHandle<()>,
}

impl ProgressingLog {
    /// Starts watching the Deployment `name`; returns once the watch listed.
    pub async fn start(client: &Client, name: &str) -> Self {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let mut stream = watcher(
            api,
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
        .default_backoff()
        .boxed();
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                let mut listed_tx = Some(listed_tx);
                while let Some(ev) = stream.next().await {
                    let d = match ev {
                        Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => d,
                        Ok(watcher::Event::InitDone) => {
                            if let Some(tx) = listed_tx.take() {
                                let _ = tx.send(());
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let cond = d
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"))
                        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()));
                    if let Some(cond) = cond {
                        let mut seen = seen.lock();
                        if seen.last() != Some(&cond) {
                            seen.push(cond);
                        }
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .expect("deployment watch lists in time")
            .expect("deployment watch lists");
        ProgressingLog { seen, task }
    }

    /// The reasons seen so far, in order.
    pub fn reasons(&self) -> Vec<String> {
        self.seen.lock().iter().map(|c| c.1.clone()).collect()
    }

    /// The `(status, reason)` pairs seen so far, in order.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().clone()
    }
}

impl Drop for ProgressingLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The condition of `type_` in a Deployment's status, if any.
pub fn condition(
    d: &Deployment,
    type_: &str,
) -> Option<k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// Live (not terminating) pods labelled `app=<app>`.
pub async fn live_pods(cluster: &Cluster, app: &str) -> Vec<Pod> {
    cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// The uid of the object controlling `obj` (its controller reference), if any.
pub fn controller_uid<K: kube::Resource>(obj: &K) -> Option<String> {
    capstan_runtime::ownership::controller_of(obj).map(|r| r.uid.clone())
}

/// Writes `manifest` (YAML or JSON) under the server's directory and runs
/// `kubectl create -f` on it.
pub async fn kubectl_create(cluster: &Cluster, file: &str, manifest: &serde_json::Value) {
    let path = cluster.server.dir().join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(manifest).expect("json")).expect("write");
    let (ok, out) = cluster
        .kubectl(&["create", "-f", path.to_str().expect("utf-8 path")])
        .await;
    assert!(ok, "kubectl create -f {file}: {out}");
}

/// Runs the real kubectl against `server` (120 s at most); returns whether it
/// succeeded and its stdout followed by its stderr.
pub async fn kubectl(server: &TestServer, args: &[&str]) -> (bool, String) {
    kubectl_binary("/usr/bin/kubectl", server, args).await
}

/// [`kubectl`] with the kubectl binary at `path` (e.g. one release of the
/// installed `kubectl.1.27` … `kubectl.1.33`).
pub async fn kubectl_binary(path: &str, server: &TestServer, args: &[&str]) -> (bool, String) {
    let cache = server.dir().join("kubectl-cache");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(path)
            .arg("--kubeconfig")
            .arg(server.kubeconfig_path())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .output(),
    )
    .await
    .expect("kubectl finishes")
    .expect("kubectl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
