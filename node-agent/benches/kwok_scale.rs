//! KWOK's CI scale workload against the agent on `TestServer` (same process).
//!
//! 1. A NodePool of `NODES` sim nodes: time until all are Ready, sampling every second
//!    how many registered nodes are not Ready yet (the lag).
//! 2. `PODS` pods bound round-robin to those nodes, created one at a time as
//!    `kubectl create -f` does in KWOK's benchmark (`CREATE_CONCURRENCY` changes that):
//!    time until all are Running, sampling every second how many pods exist and are
//!    not Running yet (KWOK's `wait_resource`: `kubectl get pod` lines minus Running
//!    ones). `CREATE_QPS=N` paces the creates at N a second, as a client-side rate
//!    limit does (kubectl's own is 50 QPS); `KUBECTL=1` creates them with the real
//!    `kubectl create -f` instead.
//! 3. More pods (32 creates in flight) up to `STEADY_PODS`, then a steady window of
//!    `STEADY_SECS` with every node heartbeating (a Lease renewal per node every 10 s):
//!    CPU of the agent alone and of the whole process, and resident memory.
//!
//! The agent runs on its own tokio runtime whose threads are named `node-agent`, so its
//! CPU is read per thread from `/proc/self/task`; the API server, the bench's own
//! informers and the pod creators share the other runtime. Resident memory is the whole
//! process (API server with every object, the agent's and the bench's caches).
//!
//! For the pods of step 2 it also prints the latency from each create's response to
//! the bench's informer seeing the pod Running: the lag at a sample is about the
//! create rate times that latency.
//!
//! Defaults: `NODES=5000 PODS=10000 STEADY_PODS=50000 STEADY_SECS=60`.
//! Run: `cargo bench -p capstan-node-agent --bench kwok_scale`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_node_agent::node::is_ready;
use capstan_node_agent::{NodeAgentConfig, NodePool, NodePoolSpec, run_node_agent};
use capstan_runtime::informer::{EventHandlerFns, SharedInformerFactory};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::core::CustomResourceExt;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// When each pod's create returned, and how long after it the bench saw it Running.
#[derive(Default)]
struct StartupLatency {
    created: Mutex<HashMap<String, Instant>>,
    running: Mutex<Vec<Duration>>,
}

impl StartupLatency {
    fn created(&self, name: String) {
        self.created.lock().insert(name, Instant::now());
    }

    fn seen_running(&self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        // A Running event may overtake the create's response: latency 0 then.
        let latency = self
            .created
            .lock()
            .remove(&name)
            .map(|at| at.elapsed())
            .unwrap_or_default();
        self.running.lock().push(latency);
    }

    fn report(&self, what: &str) {
        let mut all = self.running.lock().clone();
        if all.is_empty() {
            return;
        }
        all.sort();
        let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        println!(
            "RESULT {what}: create response -> seen Running, {} pods: p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, max {:.1?}",
            all.len(),
            at(0.5),
            at(0.9),
            at(0.99),
            all[all.len() - 1]
        );
    }
}

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

/// Creates pods `range` with the real `kubectl create -f` (one manifest of them all, as
/// KWOK's benchmark pipes it), returning when kubectl exits.
fn kubectl_create(kubeconfig: &std::path::Path, range: std::ops::Range<u64>, nodes: u64) {
    let manifest: String = range
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\n  namespace: default\n\
                 spec:\n  containers:\n  - name: app\n    image: fake\n  nodeName: kwok-{}\n",
                i % nodes
            )
        })
        .collect();
    let path = std::env::temp_dir().join(format!("kwok-scale-pods-{}.yaml", std::process::id()));
    std::fs::write(&path, manifest).expect("manifest written");
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["create", "-f"])
        .arg(&path)
        .output()
        .expect("kubectl runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "kubectl create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates pods `from..to` with `concurrency` creates in flight, counting successes.
async fn create_pods(
    api: Arc<Api<Pod>>,
    range: std::ops::Range<u64>,
    nodes: u64,
    concurrency: usize,
    created: Arc<AtomicU64>,
    latency: Option<Arc<StartupLatency>>,
    qps: u64,
) {
    let pace = (qps > 0).then(|| {
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / qps as f64));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Arc::new(tokio::sync::Mutex::new(ticks))
    });
    futures::stream::iter(range)
        .for_each_concurrent(concurrency, |i| {
            let (api, created, latency) = (api.clone(), created.clone(), latency.clone());
            let pace = pace.clone();
            async move {
                if let Some(pace) = pace {
                    pace.lock().await.tick().await;
                }
                match api
                    .create(&PostParams::default(), &bound_pod(i, nodes))
                    .await
                {
                    Ok(pod) => {
                        if let Some(latency) = latency {
                            latency.created(pod.metadata.name.unwrap_or_default());
                        }
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
    let with_kubectl = env("KUBECTL", 0) == 1;
    let qps = env("CREATE_QPS", 0);

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
        let latency = Arc::new(StartupLatency::default());
        pod_informer
            .add_event_handler(
                EventHandlerFns::new()
                    .on_add({
                        let latency = latency.clone();
                        move |pod: Arc<Pod>, _| {
                            if is_running(&pod) {
                                latency.seen_running(&pod);
                            }
                        }
                    })
                    .on_update({
                        let latency = latency.clone();
                        move |old: Arc<Pod>, new: Arc<Pod>| {
                            if !is_running(&old) && is_running(&new) {
                                latency.seen_running(&new);
                            }
                        }
                    }),
            )
            .expect("handler registered");
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
        let creating = if with_kubectl {
            let kubeconfig = server.kubeconfig_path().to_path_buf();
            tokio::task::spawn_blocking(move || kubectl_create(&kubeconfig, 0..pods, nodes))
        } else {
            let creates = create_pods(
                api.clone(),
                0..pods,
                nodes,
                concurrency,
                created.clone(),
                Some(latency.clone()),
                qps,
            );
            tokio::spawn(creates)
        };
        let pod_lister = pod_informer.lister();
        let (took, lag) = wait_sampling("pods Running", Duration::from_secs(1200), || {
            let listed = pod_lister.list_all();
            let running = listed.iter().filter(|p| is_running(p)).count() as u64;
            let lag = listed.len() as u64 - running;
            (running, lag, running >= pods)
        })
        .await;
        creating.await.expect("pod creation");
        created.store(pods, Ordering::Relaxed);
        let how = if with_kubectl {
            "by kubectl create -f".to_string()
        } else if qps > 0 {
            format!("{concurrency} in flight, at most {qps}/s")
        } else {
            format!("{concurrency} in flight")
        };
        println!(
            "RESULT {pods} pods created ({how}) and Running in {took:.2?}, at most {lag} lagging at a 1 s sample"
        );
        if !with_kubectl {
            latency.report(&format!("{pods} pods"));
        }

        if steady_pods > pods {
            let start = Instant::now();
            create_pods(api.clone(), pods..steady_pods, nodes, 32, created.clone(), None, 0).await;
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
