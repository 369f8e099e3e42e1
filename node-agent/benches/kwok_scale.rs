//! KWOK's CI scale workload against the agent on `TestServer` (same process): how long
//! until N nodes are Ready, then until M pods bound round-robin to them are Running, and
//! the process's CPU and resident memory over a steady-state window of heartbeats.
//!
//! `NODES` (default 5000), `PODS` (default 10000) and `STEADY_SECS` (default 30) set the
//! sizes. Run: `cargo bench -p capstan-node-agent --bench kwok_scale`. Note that the API
//! server runs in the same process, so CPU and memory include it.

use std::sync::Arc;
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

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) and resident bytes of this process, from /proc.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let rss_pages = fields
        .get(21)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, rss_pages * 4096)
}

async fn wait_until(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> (usize, bool),
) -> Duration {
    let start = Instant::now();
    let mut last_print = start;
    loop {
        let (count, ok) = done();
        if ok {
            return start.elapsed();
        }
        if last_print.elapsed() >= Duration::from_secs(5) {
            println!("  {what}: {count} after {:?}", start.elapsed());
            last_print = Instant::now();
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let nodes = env("NODES", 5000);
    let pods = env("PODS", 10_000);
    let steady = env("STEADY_SECS", 30);
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
    let stop = CancellationToken::new();
    let agent = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { run_node_agent(client, NodeAgentConfig::default(), stop.cancelled_owned()).await }
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
    let took = wait_until("nodes Ready", Duration::from_secs(600), || {
        let ready = node_lister
            .list_all()
            .iter()
            .filter(|n| is_ready(n))
            .count();
        (ready, ready as u64 >= nodes)
    })
    .await;
    println!("{nodes} nodes Ready in {took:?}");

    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let api = Arc::new(api);
    let start = Instant::now();
    let creating = tokio::spawn({
        let api = api.clone();
        async move {
            futures::stream::iter(0..pods)
                .for_each_concurrent(32, |i| {
                    let api = api.clone();
                    async move {
                        let pod = Pod {
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
                        };
                        if let Err(err) = api.create(&PostParams::default(), &pod).await {
                            eprintln!("creating pod-{i}: {err}");
                        }
                    }
                })
                .await;
        }
    });
    let pod_lister = pod_informer.lister();
    wait_until("pods Running", Duration::from_secs(1200), || {
        let running = pod_lister
            .list_all()
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running, running as u64 >= pods)
    })
    .await;
    let _ = creating.await;
    println!("{pods} pods created and Running in {:?}", start.elapsed());

    let (cpu0, _) = usage();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(steady)).await;
    let (cpu1, rss) = usage();
    let cores = (cpu1 - cpu0) / t0.elapsed().as_secs_f64();
    println!(
        "steady state ({nodes} nodes heartbeating, {pods} pods, API server in process): {cores:.2} cores, {} MiB resident",
        rss / (1024 * 1024)
    );
    stop.cancel();
    let _ = agent.await;
    factory.shutdown().await;
}
