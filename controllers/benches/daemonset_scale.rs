//! Issue 12's DaemonSet figure: a DaemonSet on 5,000 virtual nodes, the whole
//! control plane of `capstan up` in one process (`TestServer`, the controllers,
//! the scheduler, the node agent with a NodePool of sim nodes).
//!
//! Every controller but the DaemonSet controller runs as `capstan up` runs them
//! (`Cluster::start_selecting(.., ["*", "-daemonset-controller"])`); the DaemonSet
//! controller runs beside them with the same defaults (2 workers, Events on) on
//! its own informer factory and a client carrying the kit's request counter
//! (`RequestMetricsLayer`), the only counted client in the process, so
//! `RequestCounts` holds exactly the DaemonSet controller's requests.
//!
//! 1. Create the DaemonSet and time it until a pod watch has seen one pod
//!    Running on every node, then until the DaemonSet's status reports them all
//!    ready (`numberReady` = `desiredNumberScheduled` = nodes, at the observed
//!    generation).
//! 2. Wait until the controller has written nothing for 2 s, then print its
//!    writes by verb and resource, and per node (upstream: one pod create per
//!    node, and one status write per sync that changed a count, not per pod).
//!
//! Run: `cargo bench -p capstan-controllers --bench daemonset_scale`
//! (`DS_BENCH_NODES=N` for another size; `cargo test --benches` runs 50 nodes).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_controllers::daemonset::{DaemonSetController, DaemonSetControllerConfig};
use capstan_runtime::client::{RequestCounts, RequestMetricsLayer};
use capstan_runtime::informer::SharedInformerFactory;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, NS};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Pods of the DaemonSet the watch has seen created, bound and Running (with
/// the nodes of the Running ones), and when it saw the last of each.
#[derive(Default)]
struct Running {
    created: HashSet<String>,
    bound: HashSet<String>,
    pods: HashSet<String>,
    nodes: HashSet<String>,
    last_created: Option<Instant>,
    last_bound: Option<Instant>,
}

fn watch_running(client: kube::Client, seen: Arc<Mutex<Running>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, NS);
        let mut stream = watcher(api, watcher::Config::default().labels("app=ds-bench"))
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let pod = match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                _ => continue,
            };
            let now = Instant::now();
            let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let mut s = seen.lock();
            if s.created.insert(pod.name_any()) {
                s.last_created = Some(now);
            }
            if node.is_some() && s.bound.insert(pod.name_any()) {
                s.last_bound = Some(now);
            }
            if running && pod.metadata.deletion_timestamp.is_none() {
                s.pods.insert(pod.name_any());
                s.nodes.extend(node);
            }
        }
    })
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
async fn poll<F, Fut>(what: &str, limit: Duration, mut check: F) -> BenchResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = BenchResult<bool>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The DaemonSet controller on its own factory with a counted client.
async fn start_counted_controller(
    cluster: &Cluster,
) -> BenchResult<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    let config = cluster.server.config().await;
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&RequestMetricsLayer::new().host(&host))
        .build();
    let factory = SharedInformerFactory::new(client.clone(), None);
    let controller =
        DaemonSetController::new(&factory, client, &DaemonSetControllerConfig::default())?;
    factory.start()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = controller.run(stopped).await {
            eprintln!("daemonset controller: {e}");
        }
        factory.shutdown().await;
    });
    Ok((stop_tx, task))
}

async fn run(nodes: i32) -> BenchResult<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .try_init();
    let setup = Instant::now();
    let cluster = Cluster::start_selecting(nodes, &["*", "-daemonset-controller"]).await;
    println!(
        "control plane with {nodes} Ready sim nodes up in {:.2?}",
        setup.elapsed()
    );
    let (stop, controller) = start_counted_controller(&cluster).await?;
    let seen = Arc::new(Mutex::new(Running::default()));
    let watch = watch_running(cluster.client.clone(), seen.clone());
    let api: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), NS);
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "ds-bench", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "ds-bench"}},
            "template": {
                "metadata": {"labels": {"app": "ds-bench"}},
                "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}
            }
        }
    }))?;
    // The informers have listed (the controller waits for them before its first
    // sync); count from here.
    let before = RequestCounts::snapshot();
    let start = Instant::now();
    api.create(&PostParams::default(), &ds).await?;
    let n = usize::try_from(nodes)?;
    let limit = Duration::from_secs(900);
    poll("a Running pod on every node", limit, || {
        let s = seen.lock();
        let done = s.pods.len() == n && s.nodes.len() == n;
        async move { Ok(done) }
    })
    .await?;
    let all_running = start.elapsed();
    poll("the status to report every pod ready", limit, || async {
        let ds = api.get("ds-bench").await?;
        let s = ds.status.unwrap_or_default();
        Ok(s.observed_generation == ds.metadata.generation
            && s.desired_number_scheduled == nodes
            && s.current_number_scheduled == nodes
            && s.number_ready == nodes
            && s.updated_number_scheduled == Some(nodes)
            && s.number_available == Some(nodes))
    })
    .await?;
    let status_ready = start.elapsed();
    let (created, bound) = {
        let s = seen.lock();
        let since = |t: Option<Instant>| t.map_or(0.0, |t| t.duration_since(start).as_secs_f64());
        (since(s.last_created), since(s.last_bound))
    };
    println!(
        "the watch saw the last pod created after {created:.2} s, the last bound after {bound:.2} s"
    );
    println!(
        "RESULT {nodes} nodes: every pod Running after {:.2} s ({:.0} pods/s); status reports {nodes} ready after {:.2} s",
        all_running.as_secs_f64(),
        n as f64 / all_running.as_secs_f64(),
        status_ready.as_secs_f64()
    );

    // Quiet: nothing more written for 2 s.
    let mut last = RequestCounts::snapshot().since(&before).writes();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = RequestCounts::snapshot().since(&before).writes();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let counted = RequestCounts::snapshot().since(&before);
    println!("the DaemonSet controller's requests (verb resource code: count):");
    for (series, count) in counted.series() {
        println!(
            "  {} {} {}: {count}",
            series.verb, series.resource, series.code
        );
    }
    let writes = counted.writes();
    let creates = counted.count("create", "pods");
    let status =
        counted.count("update", "daemonsets/status") + counted.count("patch", "daemonsets/status");
    let events = counted.count("create", "events") + counted.count("patch", "events");
    println!(
        "RESULT writes: {writes} in all = {:.4} per node; pod creates {creates} ({:.4}/node), status writes {status}, Event writes {events}, other {}",
        writes as f64 / n as f64,
        creates as f64 / n as f64,
        writes - creates - status - events
    );
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NS);
    let listed = pods
        .list(&kube::api::ListParams::default().labels("app=ds-bench"))
        .await?
        .items
        .len();
    if listed != n || creates != n as u64 {
        return Err(
            format!("{listed} pods on the server, {creates} creates, for {n} nodes").into(),
        );
    }
    watch.abort();
    let _ = stop.send(());
    controller.await?;
    cluster.stop().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and
    // gets a small run that still checks the outcome.
    let bench = std::env::args().any(|a| a == "--bench");
    let nodes = match std::env::var("DS_BENCH_NODES") {
        Ok(v) => v.parse()?,
        Err(_) if bench => 5_000,
        Err(_) => 50,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(nodes))
}
