//! Issue 12's StatefulSet figure: a 100-replica `OrderedReady` StatefulSet with a
//! volume claim template, the whole control plane of `capstan up` in one process
//! (`TestServer`, every controller including the volume binder, the scheduler
//! with VolumeBinding, the node agent with sim nodes) and `capstan up`'s default
//! StorageClass `standard` (`WaitForFirstConsumer`, local-path-style provisioner).
//!
//! Created at once with `replicas: 100`: the controller creates `web-0`, and each
//! next pod (with its claim `www-web-<n>`) only once the one before is Running and
//! Ready. Timed until the StatefulSet's status reports 100 ready replicas at its
//! generation; per pod, from a pod watch: the pod's ADDED event to the first event
//! showing it Ready (claim binding, scheduling and the node agent), and that event
//! to the next pod's ADDED (the controller's reaction). At the end it reports how
//! many claims are Bound.
//!
//! Run: `cargo bench -p capstan-controllers --bench statefulset_ordered`
//! (`STS_BENCH_REPLICAS=N` for another size; `cargo test --benches` runs 10).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, NS, is_ready};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// When the watch first saw each pod, and first saw it Ready.
#[derive(Default)]
struct Seen {
    added: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
}

fn watch_pods(client: kube::Client, seen: Arc<Mutex<Seen>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, NS);
        let mut stream = watcher(api, watcher::Config::default().labels("app=web"))
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
            s.added.entry(name.clone()).or_insert(now);
            if is_ready(&pod) {
                s.ready.entry(name).or_insert(now);
            }
        }
    })
}

fn percentiles(what: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        return;
    }
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    let mean = v.iter().sum::<Duration>() / u32::try_from(v.len()).unwrap_or(u32::MAX);
    println!(
        "RESULT {what}: {} pods, mean {:.1?}, p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, max {:.1?}",
        v.len(),
        mean,
        at(0.5),
        at(0.9),
        at(0.99),
        v[v.len() - 1]
    );
}

async fn run(replicas: i32) -> BenchResult<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .try_init();
    // 110 pods per node; a few nodes, as a small kind cluster.
    let nodes = (replicas / 50 + 1).max(3);
    let setup = Instant::now();
    let cluster = Cluster::start(nodes).await;
    println!(
        "control plane with {nodes} sim nodes up in {:.2?}",
        setup.elapsed()
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = watch_pods(cluster.client.clone(), seen.clone());
    let api: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), NS);
    let set: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1",
                    "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                         "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))?;
    let start = Instant::now();
    api.create(&PostParams::default(), &set).await?;
    let deadline = start + Duration::from_secs(900);
    loop {
        let s = api.get("web").await?;
        let st = s.status.unwrap_or_default();
        if st.observed_generation == s.metadata.generation
            && st.replicas == replicas
            && st.ready_replicas == Some(replicas)
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("timed out: {st:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    println!(
        "RESULT {replicas}-replica OrderedReady StatefulSet with a claim template: all Ready after {:.2} s ({:.1} ms per pod)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / f64::from(replicas)
    );
    {
        let s = seen.lock();
        let name = |i: i32| format!("web-{i}");
        let startup: Vec<Duration> = (0..replicas)
            .filter_map(|i| {
                Some(
                    s.ready
                        .get(&name(i))?
                        .duration_since(*s.added.get(&name(i))?),
                )
            })
            .collect();
        let reaction: Vec<Duration> = (1..replicas)
            .filter_map(|i| {
                Some(
                    s.added
                        .get(&name(i))?
                        .duration_since(*s.ready.get(&name(i - 1))?),
                )
            })
            .collect();
        let in_order = (1..replicas).all(|i| {
            matches!((s.added.get(&name(i)), s.ready.get(&name(i - 1))), (Some(a), Some(r)) if a >= r)
        });
        percentiles(
            "pod ADDED -> Ready (claim, scheduling, node agent)",
            startup,
        );
        percentiles("pod n-1 Ready -> pod n ADDED (the controller)", reaction);
        println!("every pod created after its predecessor was seen Ready: {in_order}");
        if !in_order {
            return Err("a pod was created before its predecessor was Ready".into());
        }
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), NS);
    let listed = claims
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items;
    let bound = listed
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
        .count();
    println!("claims: {} created, {bound} Bound", listed.len());
    watch.abort();
    cluster.stop().await;
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and
    // gets a small run that still checks the outcome.
    let bench = std::env::args().any(|a| a == "--bench");
    let replicas = match std::env::var("STS_BENCH_REPLICAS") {
        Ok(v) => v.parse()?,
        Err(_) if bench => 100,
        Err(_) => 10,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(replicas))
}
