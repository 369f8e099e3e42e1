//! Issue 14's self-healing figure: 5,000 virtual nodes, 50 of them go silent; how
//! long from their last heartbeat until every pod they held is replaced, Ready, on
//! the healthy nodes — against the least the configuration allows.
//!
//! The whole control plane of `capstan up` runs in one process (`TestServer`, every
//! default controller including node lifecycle and taint eviction, the scheduler, the
//! node agent with a NodePool of sim nodes). The settings a test would shrink are
//! shrunk, and printed:
//!
//! - `--node-monitor-grace-period` 20 s (the agent renews Leases every 10 s, its
//!   default, so less would flap healthy nodes), `--node-monitor-period` 5 s (upstream's
//!   default);
//! - the pods tolerate `unreachable`/`not-ready` NoExecute for 5 s (instead of the
//!   300 s `DefaultTolerationSeconds` adds);
//! - `--node-eviction-rate` 10 nodes/s, so that upstream's per-zone limit of 0.1/s does
//!   not stretch the run to minutes: with 50 nodes the limiter alone accounts for
//!   (50 − 1) / 10 = 4.9 s, reported as part of the floor.
//!
//! Steps: a Deployment of two pods per node, all Ready; then 50 nodes holding its pods
//! get `capstan.dev/heartbeat=stopped` at once. Watches on nodes and pods record when
//! the last of those nodes turned `Unknown`, was tainted NoExecute, when the last of
//! their pods was deleted, and when the Deployment again had every replica Ready off
//! the silent nodes. Times are measured from the newest `renewTime` of the silent
//! nodes' Leases (their last heartbeat), and printed beside the floor the settings
//! allow (grace + one monitor period for the NoExecute taint, as upstream taints at the
//! pass after the one that marked the node `Unknown` + the limiter + the toleration).
//!
//! Run: `cargo bench -p capstan-controllers --bench node_heal`
//! (`HEAL_BENCH_NODES` and `HEAL_BENCH_STOPPED` change the sizes).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use capstan_controllers::nodelifecycle::NodeLifecycleConfig;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, NS, is_ready, kubectl_create};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const GRACE: Duration = Duration::from_secs(20);
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
const TOLERATION_SECONDS: u64 = 5;
const EVICTION_RATE: f64 = 10.0;
const PODS_PER_NODE: usize = 2;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nodes and silenced nodes: the figure's sizes under `cargo bench` (which passes
/// `--bench`), a small smoke run under `cargo test --benches`.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|a| a == "--bench") {
        let nodes = env_or("HEAL_BENCH_NODES", 5_000);
        (nodes, env_or("HEAL_BENCH_STOPPED", 50).min(nodes))
    } else {
        (20, 2)
    }
}

/// What the watches have seen, each with the wall-clock time of its last change.
#[derive(Default)]
struct Seen {
    /// Pod name → (node, Ready, being deleted).
    pods: HashMap<String, (String, bool, bool)>,
    /// Silent nodes seen `Ready=Unknown`, and those seen with a NoExecute taint.
    unknown: HashSet<String>,
    tainted: HashSet<String>,
    last_unknown: Option<SystemTime>,
    last_tainted: Option<SystemTime>,
}

fn watch_pods(client: kube::Client, seen: Arc<Mutex<Seen>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, NS);
        let mut stream = watcher(api, watcher::Config::default().labels("app=heal"))
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let mut s = seen.lock();
            match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    let node = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .unwrap_or_default();
                    let deleting = p.metadata.deletion_timestamp.is_some();
                    s.pods.insert(p.name_any(), (node, is_ready(&p), deleting));
                }
                Ok(watcher::Event::Delete(p)) => {
                    s.pods.remove(&p.name_any());
                }
                _ => {}
            }
        }
    })
}

fn watch_nodes(
    client: kube::Client,
    silent: Arc<BTreeSet<String>>,
    seen: Arc<Mutex<Seen>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Node> = Api::all(client);
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) = ev else {
                continue;
            };
            let name = n.name_any();
            if !silent.contains(&name) {
                continue;
            }
            let unknown = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "Unknown");
            let tainted = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .any(|t| t.effect == "NoExecute" && t.key == "node.kubernetes.io/unreachable");
            let now = SystemTime::now();
            let mut s = seen.lock();
            if unknown && s.unknown.insert(name.clone()) {
                s.last_unknown = Some(now);
            }
            if tainted && s.tainted.insert(name) {
                s.last_tainted = Some(now);
            }
        }
    })
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
async fn poll(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> BenchResult<()> {
    let deadline = Instant::now() + limit;
    while !check() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn secs_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).map_or(0.0, |d| d.as_secs_f64())
}

async fn run() -> BenchResult<()> {
    let (nodes, stopped) = sizes();
    let replicas = nodes * PODS_PER_NODE;
    let started = Instant::now();
    let cluster = Cluster::start_configured(nodes as i32, |config| {
        config.controllers.node_lifecycle = NodeLifecycleConfig {
            node_monitor_period: MONITOR_PERIOD,
            node_monitor_grace_period: GRACE,
            node_eviction_rate: EVICTION_RATE,
            ..NodeLifecycleConfig::default()
        };
    })
    .await;
    println!(
        "node_heal: {nodes} sim nodes Ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let pod_watch = watch_pods(cluster.client.clone(), seen.clone());
    let tolerate = |key: &str| {
        json!({"key": key, "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": TOLERATION_SECONDS})
    };
    let created = Instant::now();
    kubectl_create(
        &cluster,
        "heal.json",
        &json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "heal"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "heal"}},
                "template": {
                    "metadata": {"labels": {"app": "heal"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx"}],
                        "tolerations": [
                            tolerate("node.kubernetes.io/unreachable"),
                            tolerate("node.kubernetes.io/not-ready"),
                        ],
                    },
                },
            },
        }),
    )
    .await;
    poll("every replica Ready", Duration::from_secs(900), || {
        let s = seen.lock();
        s.pods
            .values()
            .filter(|(_, ready, del)| *ready && !del)
            .count()
            == replicas
    })
    .await?;
    println!(
        "node_heal: {replicas} pods Ready in {:.1}s",
        created.elapsed().as_secs_f64()
    );

    // The nodes to silence: the first `stopped` (by name) holding pods, and their pods.
    let (silent, victims): (BTreeSet<String>, HashSet<String>) = {
        let s = seen.lock();
        let holding: BTreeSet<String> = s.pods.values().map(|(n, _, _)| n.clone()).collect();
        let silent: BTreeSet<String> = holding.into_iter().take(stopped).collect();
        let victims = s
            .pods
            .iter()
            .filter(|(_, (n, _, _))| silent.contains(n))
            .map(|(p, _)| p.clone())
            .collect();
        (silent, victims)
    };
    let silent = Arc::new(silent);
    let node_watch = watch_nodes(cluster.client.clone(), silent.clone(), seen.clone());
    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let stop =
        Patch::Merge(json!({"metadata": {"annotations": {"capstan.dev/heartbeat": "stopped"}}}));
    for name in silent.iter() {
        nodes_api
            .patch(name, &PatchParams::default(), &stop)
            .await?;
    }

    poll("the silent nodes Unknown", Duration::from_secs(300), || {
        seen.lock().unknown.len() == silent.len()
    })
    .await?;
    poll(
        "the silent nodes tainted NoExecute",
        Duration::from_secs(300),
        || seen.lock().tainted.len() == silent.len(),
    )
    .await?;
    let mut last_victim_deleted = None;
    let mut healed_at = None;
    poll(
        "every replica Ready on the healthy nodes",
        Duration::from_secs(600),
        || {
            let s = seen.lock();
            if last_victim_deleted.is_none()
                && victims
                    .iter()
                    .all(|v| s.pods.get(v).is_none_or(|(_, _, deleting)| *deleting))
            {
                last_victim_deleted = Some(SystemTime::now());
            }
            let healthy_ready = s
                .pods
                .values()
                .filter(|(n, ready, del)| *ready && !del && !silent.contains(n))
                .count();
            if healthy_ready == replicas && healed_at.is_none() {
                healed_at = Some(SystemTime::now());
            }
            healed_at.is_some() && last_victim_deleted.is_some()
        },
    )
    .await?;

    // The silent nodes' last heartbeat: their Leases' newest renewTime.
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-node-lease");
    let mut last_heartbeat = SystemTime::UNIX_EPOCH;
    for name in silent.iter() {
        let renew = leases
            .get(name)
            .await?
            .spec
            .and_then(|s| s.renew_time)
            .ok_or("a silent node's Lease without renewTime")?;
        last_heartbeat = last_heartbeat.max(SystemTime::from(renew.0));
    }
    let (last_unknown, last_tainted) = {
        let s = seen.lock();
        (s.last_unknown, s.last_tainted)
    };
    let at = |t: Option<SystemTime>| t.map_or(f64::NAN, |t| secs_between(last_heartbeat, t));
    // As upstream: a node turns Unknown a grace period after the controller saw its last
    // renewal, and is tainted NoExecute at the next monitor pass (the taint decision
    // reads the condition as the pass found it); then the limiter and the toleration.
    let floor = GRACE.as_secs_f64()
        + MONITOR_PERIOD.as_secs_f64()
        + TOLERATION_SECONDS as f64
        + (silent.len().saturating_sub(1)) as f64 / EVICTION_RATE;
    println!(
        "node_heal: {} of {nodes} nodes silenced holding {} pods; from their last heartbeat: \
         last Unknown +{:.1}s, last NoExecute-tainted +{:.1}s, last pod deleted +{:.1}s, \
         all {replicas} replicas Ready off them +{:.1}s; configured floor {:.1}s \
         (grace {:.0}s + one monitor period {:.0}s + toleration {TOLERATION_SECONDS}s + {} \
         nodes at {EVICTION_RATE}/s; seeing a renewal and checking the grace each add up to \
         one more period)",
        silent.len(),
        victims.len(),
        at(last_unknown),
        at(last_tainted),
        at(last_victim_deleted),
        at(healed_at),
        floor,
        GRACE.as_secs_f64(),
        MONITOR_PERIOD.as_secs_f64(),
        silent.len().saturating_sub(1),
    );
    pod_watch.abort();
    node_watch.abort();
    cluster.stop().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
