//! Issue 5's figure: a 1,000-replica Deployment with the sim runtime, the whole
//! control plane of `capstan up` in one process (`TestServer`, the controllers,
//! the scheduler and the node agent with enough sim nodes).
//!
//! 1. Create the Deployment (maxSurge 25%, maxUnavailable 25%) and time it
//!    until every pod is Ready; pod startup latency per pod = from the pod's
//!    ADDED event to the first event showing it `Ready=True`, both observed on
//!    one pod watch in this process (upstream's SLI runs from
//!    `creationTimestamp` to running-and-observed-via-watch; the API server
//!    stamps `creationTimestamp` to the second, as upstream, too coarse here, so
//!    the ADDED event stands for the creation: it lags it by the watch delivery
//!    time, a few ms). ADDED → bound (`spec.nodeName` set) is reported too, to
//!    split the scheduler's share from the node agent's.
//! 2. Change the image and time the full rollout until the Deployment reports
//!    what `kubectl rollout status` waits for (observed generation,
//!    `updatedReplicas` = `availableReplicas` = `replicas` = N).
//!
//! Run: `cargo bench -p capstan-controllers --bench deployment_rollout`
//! (`ROLLOUT_BENCH_REPLICAS=N` to change the size).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_node_agent::NodeAgentConfig;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, NS, deployment, is_ready, pod_image};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// When the watch first saw each pod, and first saw it Ready.
#[derive(Default)]
struct Seen {
    added: HashMap<String, (String, Instant)>,
    bound: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
}

impl Seen {
    fn ready_of(&self, image: &str) -> usize {
        self.ready
            .keys()
            .filter(|p| self.added.get(*p).is_some_and(|(i, _)| i == image))
            .count()
    }

    /// Creation → bound latencies of the pods of `image`, sorted.
    fn bind_latencies(&self, image: &str) -> Vec<Duration> {
        let mut v: Vec<Duration> = self
            .added
            .iter()
            .filter(|(_, (i, _))| i == image)
            .filter_map(|(p, (_, added))| Some(self.bound.get(p)?.duration_since(*added)))
            .collect();
        v.sort();
        v
    }

    /// Startup latencies of the pods of `image`, sorted.
    fn latencies(&self, image: &str) -> Vec<Duration> {
        let mut v: Vec<Duration> = self
            .added
            .iter()
            .filter(|(_, (i, _))| i == image)
            .filter_map(|(p, (_, added))| Some(self.ready.get(p)?.duration_since(*added)))
            .collect();
        v.sort();
        v
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(what: &str, sorted: &[Duration]) {
    println!(
        "{what}: {} pods, p50 {:.3?}, p90 {:.3?}, p99 {:.3?}, max {:.3?}",
        sorted.len(),
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or_default()
    );
}

fn watch_pods(client: kube::Client, seen: Arc<Mutex<Seen>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, NS);
        let mut stream = watcher(api, watcher::Config::default().labels("app=bench"))
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            let pod = match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                _ => continue,
            };
            let mut s = seen.lock();
            let name = pod.name_any();
            s.added
                .entry(name.clone())
                .or_insert_with(|| (pod_image(&pod), now));
            if pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some()
            {
                s.bound.entry(name.clone()).or_insert(now);
            }
            if is_ready(&pod) {
                s.ready.entry(name).or_insert(now);
            }
        }
    })
}

/// Polls every 20 ms until `done` holds, for at most `limit`.
async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> BenchResult<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// What `kubectl rollout status` waits for, on the stored Deployment.
async fn rolled_out(api: &Api<Deployment>, n: i32) -> BenchResult<bool> {
    let d = api.get("bench").await?;
    let s = d.status.unwrap_or_default();
    Ok(s.observed_generation >= d.metadata.generation
        && s.updated_replicas == Some(n)
        && s.replicas == Some(n)
        && s.available_replicas == Some(n))
}

async fn run() -> BenchResult<()> {
    let n: i32 = std::env::var("ROLLOUT_BENCH_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // 110 pods per node; room for twice the replicas, as the pods the rollout
    // deletes hold their slots until the node agent has finished them.
    let nodes = (n * 2 / 110 + 1).max(2);
    // Quiet unless RUST_LOG asks (the controllers log API conflicts as errors).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .try_init();
    let setup = Instant::now();
    let workers: usize = std::env::var("ROLLOUT_BENCH_AGENT_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(NodeAgentConfig::default().pod_workers);
    let cluster = Cluster::start_with(nodes, workers).await;
    println!(
        "control plane with {nodes} sim nodes ({workers} node-agent pod workers) up in {:.2?}",
        setup.elapsed()
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = watch_pods(cluster.client.clone(), seen.clone());
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), NS);

    let start = Instant::now();
    api.create(
        &PostParams::default(),
        &deployment("bench", n, "bench:1", json!("25%"), json!("25%")),
    )
    .await?;
    let limit = Duration::from_secs(600);
    wait_for("every pod Ready", limit, || {
        seen.lock().ready_of("bench:1") == n as usize
    })
    .await?;
    let all_ready = start.elapsed();
    let deadline = Instant::now() + limit;
    while !rolled_out(&api, n).await? {
        if Instant::now() > deadline {
            return Err("timed out waiting for the Deployment status".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let available = start.elapsed();
    println!(
        "create → {n} pods Ready (watch): {all_ready:.2?} ({:.0} pods/s); → Deployment available: {available:.2?}",
        f64::from(n) / all_ready.as_secs_f64()
    );
    report(
        "initial pods, ADDED → Ready (startup latency)",
        &seen.lock().latencies("bench:1"),
    );
    report(
        "initial pods, ADDED → bound (scheduling)",
        &seen.lock().bind_latencies("bench:1"),
    );

    let start = Instant::now();
    api.patch(
        "bench",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "bench:2"}]
        }}}})),
    )
    .await?;
    let deadline = Instant::now() + limit;
    while !rolled_out(&api, n).await? {
        if Instant::now() > deadline {
            return Err("timed out waiting for the rollout".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rollout = start.elapsed();
    println!("image rollout (25%/25%) of {n} replicas: {rollout:.2?}");
    report(
        "rollout pods, ADDED → Ready (startup latency)",
        &seen.lock().latencies("bench:2"),
    );
    report(
        "rollout pods, ADDED → bound (scheduling)",
        &seen.lock().bind_latencies("bench:2"),
    );
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(cluster.client.clone(), NS);
    let failed: Vec<_> = events
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    println!(
        "FailedScheduling events: {}{}",
        failed.len(),
        failed
            .first()
            .and_then(|e| e.message.clone())
            .map(|m| format!(" (e.g. {m:?})"))
            .unwrap_or_default()
    );
    watch.abort();
    cluster.stop().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}
