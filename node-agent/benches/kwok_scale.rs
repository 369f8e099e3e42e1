//! KWOK's CI scale workload against the agent on `TestServer` (same process).
//!
//! 1. A NodePool of `NODES` sim nodes: time until all are Ready, sampling every second
//!    how many registered nodes are not Ready yet (the lag).
//! 2. `PODS` pods bound round-robin to those nodes, created one at a time as
//!    `kubectl create -f` does in KWOK's benchmark (`CREATE_CONCURRENCY` changes that):
//!    time until all are Running, sampling every second how many created pods are not
//!    Running yet.
//! 3. More pods (32 creates in flight) up to `STEADY_PODS`, then a steady window of
//!    `STEADY_SECS` with every node heartbeating (a Lease renewal per node every 10 s):
//!    CPU of the agent alone and of the whole process, and resident memory.
//!
//! The agent runs on its own tokio runtime whose threads are named `node-agent`, so its
//! CPU is read per thread from `/proc/self/task`; the API server, the bench's own
//! informers and the pod creators share the other runtime. Resident memory is the whole
//! process (API server with every object, the agent's and the bench's caches).
//!
//! Defaults: `NODES=5000 PODS=10000 STEADY_PODS=50000 STEADY_SECS=60`.
//! Run: `cargo bench -p capstan-node-agent --bench kwok_scale`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_node_agent::node::is_ready;
use capstan_node_agent::{NodeAgentConfig, NodePool, NodePoolSpec, run_node_agent};
use capstan_runtime::informer::SharedInformerFactory;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::core::CustomResourceExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Name of the agent runtime's threads, used to attribute CPU to the agent.
const AGENT_THREADS: &str = "node-agent";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Clock ticks per second of `/proc` CPU counters (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds from a `/proc/.../stat` line.
fn stat_cpu_seconds(stat: &str) -> f64 {
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS_PER_SEC
}

/// CPU seconds of the whole process and of the agent's threads.
fn cpu_seconds() -> (f64, f64) {
    let process = stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    let mut agent = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() == AGENT_THREADS {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                agent += stat_cpu_seconds(&stat);
            }
        }
    }
    (process, agent)
}

/// Resident bytes of this process.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Polls `sample` every second until it reports done, printing and returning the
/// largest lag seen at a sample and the time taken.
async fn wait_sampling(
    what: &str,
    limit: Duration,
    mut sample: impl FnMut() -> (u64, u64, bool),
) -> (Duration, u64) {
    let start = Instant::now();
    let mut max_lag = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let (done_count, lag, finished) = sample();
        max_lag = max_lag.max(lag);
        println!(
            "  {what}: {done_count} after {:.1}s, lagging {lag}",
            start.elapsed().as_secs_f64()
        );
        if finished {
            return (start.elapsed(), max_lag);
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not finish within {limit:?}"
        );
    }
}

fn bound_pod(i: u64, nodes: u64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(format!("kwok-{}", i % nodes)),
            containers: vec![Container {
                name: "app".into(),
                image: Some("fake".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates pods `from..to` with `concurrency` creates in flight, counting successes.
async fn create_pods(
    api: Arc<Api<Pod>>,
    range: std::ops::Range<u64>,
    nodes: u64,
    concurrency: usize,
    created: Arc<AtomicU64>,
) {
    futures::stream::iter(range)
        .for_each_concurrent(concurrency, |i| {
            let (api, created) = (api.clone(), created.clone());
            async move {
                match api
                    .create(&PostParams::default(), &bound_pod(i, nodes))
                    .await
                {
                    Ok(_) => {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => eprintln!("creating pod-{i}: {err}"),
                }
            }
        })
        .await;
}

fn is_running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

fn main() {
    let nodes = env("NODES", 5000);
    let pods = env("PODS", 10_000);
    let steady_pods = env("STEADY_PODS", 50_000).max(pods);
    let steady = env("STEADY_SECS", 60);
    let concurrency = env("CREATE_CONCURRENCY", 1).max(1) as usize;

    let main_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apiserver-and-bench")
        .enable_all()
        .build()
        .expect("runtime");
    let agent_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(AGENT_THREADS)
        .enable_all()
        .build()
        .expect("agent runtime");

    main_rt.block_on(async {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &NodePool::crd())
            .await
            .expect("CRD created");
        let pools: Api<NodePool> = Api::all(client.clone());
        while pools.list(&ListParams::default()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The agent's client is built on the agent's runtime, so its connection tasks
        // (and their CPU) live there too.
        let stop = CancellationToken::new();
        let agent_config = server.config().await;
        let agent = agent_rt.spawn({
            let stop = stop.clone();
            async move {
                let agent_client = kube::Client::try_from(agent_config).expect("agent client");
                run_node_agent(agent_client, NodeAgentConfig::default(), stop.cancelled_owned())
                    .await
            }
        });

        let factory = SharedInformerFactory::new(client.clone(), None);
        let node_informer = factory.informer::<Node>();
        let pod_informer = factory.informer::<Pod>();
        factory.start().expect("informers start");

        let mut spec = NodePoolSpec::sim(i32::try_from(nodes).expect("NODES fits i32"));
        spec.pod_cidr = "10.0.0.0/8".to_string();
        pools
            .create(&PostParams::default(), &NodePool::new("kwok", spec))
            .await
            .expect("pool created");
        let node_lister = node_informer.lister();
        let (took, lag) = wait_sampling("nodes Ready", Duration::from_secs(600), || {
            let all = node_lister.list_all();
            let ready = all.iter().filter(|n| is_ready(n)).count() as u64;
            (ready, all.len() as u64 - ready, ready >= nodes)
        })
        .await;
        println!("RESULT {nodes} nodes Ready in {took:.2?}, at most {lag} lagging at a 1 s sample");

        let api = Arc::new(Api::<Pod>::namespaced(client.clone(), "default"));
        let created = Arc::new(AtomicU64::new(0));
        let creating = tokio::spawn(create_pods(
            api.clone(),
            0..pods,
            nodes,
            concurrency,
            created.clone(),
        ));
        let pod_lister = pod_informer.lister();
        let (took, lag) = wait_sampling("pods Running", Duration::from_secs(1200), || {
            let running = pod_lister.list_all().iter().filter(|p| is_running(p)).count() as u64;
            let made = created.load(Ordering::Relaxed);
            (running, made.saturating_sub(running), running >= pods)
        })
        .await;
        let _ = creating.await;
        println!(
            "RESULT {pods} pods created ({concurrency} in flight) and Running in {took:.2?}, at most {lag} lagging at a 1 s sample"
        );

        if steady_pods > pods {
            let start = Instant::now();
            create_pods(api.clone(), pods..steady_pods, nodes, 32, created.clone()).await;
            wait_sampling("steady pods Running", Duration::from_secs(1200), || {
                let running =
                    pod_lister.list_all().iter().filter(|p| is_running(p)).count() as u64;
                let made = created.load(Ordering::Relaxed);
                (running, made.saturating_sub(running), running >= steady_pods)
            })
            .await;
            println!(
                "RESULT {} more pods created (32 in flight) and Running in {:.2?}",
                steady_pods - pods,
                start.elapsed()
            );
        }

        let (process0, agent0) = cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(steady)).await;
        let (process1, agent1) = cpu_seconds();
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "RESULT steady state, {nodes} nodes heartbeating, {steady_pods} pods Running, {steady} s: \
             agent {:.3} cores, whole process (API server, bench informers) {:.3} cores, {} MiB resident",
            (agent1 - agent0) / secs,
            (process1 - process0) / secs,
            resident_bytes() / (1024 * 1024)
        );
        stop.cancel();
        let _ = agent.await;
        factory.shutdown().await;
    });
}
