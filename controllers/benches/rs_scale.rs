//! Issue 5's figure: scale a ReplicaSet from 0 to N replicas (default 10,000) on
//! the embedded API server (`TestServer`, TLS on loopback) and compare the pods
//! created per second by the ReplicaSet controller with the raw create throughput
//! of the same `kube::Client` against the same server in the same run.
//!
//! Phases, in one process and one server (the controllers run from the start, so
//! their pod informer is fed during the raw phases too, as in the RS phase):
//! 1. raw, slow-start shaped: N pods created in rounds of 500 (`burstReplicas`),
//!    each round in batches of 1, 2, 4, … 128, 245 issued concurrently, the next
//!    batch after the previous one returned — the controller's exact call pattern
//!    without the controller;
//! 2. raw, 16-way: N pods created with 16 requests in flight at all times;
//! 3. the ReplicaSet: created with `replicas: 0`, then scaled to N; timed from the
//!    scale until `status.replicas == N` (the controller has created every pod and
//!    its informer has observed them).
//!
//! Each phase creates its pods in its own namespace. `RS_SCALE_EVENTS=0` runs the
//! ReplicaSet controller alone without recording Events. Run:
//! `cargo bench -p capstan-controllers --bench rs_scale` (`RS_SCALE_REPLICAS=...`
//! to change N).

use std::error::Error;
use std::time::{Duration, Instant};

use capstan_apiserver::TestServer;
use capstan_controllers::replicaset::controller::{
    ReplicaSetController, ReplicaSetControllerConfig,
};
use capstan_controllers::{ControllersConfig, run_controllers};
use capstan_runtime::informer::SharedInformerFactory;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// upstream `burstReplicas`: the most pods one sync creates.
const BURST: usize = 500;

fn labels(app: &str) -> std::collections::BTreeMap<String, String> {
    [("app".to_string(), app.to_string())].into()
}

fn pod_spec() -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: "app".into(),
            image: Some("registry.k8s.io/pause:3.10".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn raw_pod(app: &str, i: usize) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{app}-{i}")),
            labels: Some(labels(app)),
            ..Default::default()
        },
        spec: Some(pod_spec()),
        ..Default::default()
    }
}

async fn namespace(client: &kube::Client, name: &str) -> BenchResult<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// Phase 1: the slow-start call pattern of N/500 syncs, without the controller.
async fn raw_slow_start(client: &kube::Client, n: usize) -> BenchResult<Duration> {
    namespace(client, "raw-slowstart").await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "raw-slowstart");
    let pp = PostParams::default();
    let start = Instant::now();
    let mut next = 0;
    while next < n {
        let round_end = (next + BURST).min(n);
        let mut batch = 1;
        while next < round_end {
            let size = batch.min(round_end - next);
            let calls = (next..next + size).map(|i| {
                let api = api.clone();
                let pp = pp.clone();
                async move { api.create(&pp, &raw_pod("slowstart", i)).await }
            });
            for r in futures::future::join_all(calls).await {
                r?;
            }
            next += size;
            batch *= 2;
        }
    }
    Ok(start.elapsed())
}

/// Phase 2: N creates with `concurrency` requests in flight.
async fn raw_concurrent(
    client: &kube::Client,
    n: usize,
    concurrency: usize,
) -> BenchResult<Duration> {
    let ns = format!("raw-c{concurrency}");
    namespace(client, &ns).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let start = Instant::now();
    let mut results = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let pp = pp.clone();
            async move { api.create(&pp, &raw_pod("concurrent", i)).await }
        })
        .buffer_unordered(concurrency);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(start.elapsed())
}

/// Phase 3: the ReplicaSet controller scales 0 → N.
async fn replica_set(client: &kube::Client, n: usize) -> BenchResult<Duration> {
    namespace(client, "rs").await?;
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "rs");
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some("scale".into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            selector: LabelSelector {
                match_labels: Some(labels("scale")),
                ..Default::default()
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels("scale")),
                    ..Default::default()
                }),
                spec: Some(pod_spec()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    api.create(&PostParams::default(), &rs).await?;
    // The controller has seen the RS once its status observes generation 1.
    poll(Duration::from_secs(30), || async {
        let rs = api.get("scale").await?;
        Ok(rs.status.and_then(|s| s.observed_generation) == Some(1))
    })
    .await?;
    perf_control("enable");
    let start = Instant::now();
    api.patch(
        "scale",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
    )
    .await?;
    poll(Duration::from_secs(600), || async {
        let rs = api.get("scale").await?;
        Ok(rs.status.map(|s| s.replicas) == Some(n as i32))
    })
    .await?;
    let took = start.elapsed();
    perf_control("disable");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "rs");
    let listed = pods.list(&Default::default()).await?.items.len();
    if listed != n {
        return Err(format!("expected {n} pods, the server has {listed}").into());
    }
    Ok(took)
}

/// Switches `perf record -D -1 --control fifo:$PERF_CTL_FIFO` on or off around the
/// ReplicaSet phase, so a profile covers it alone (nothing when the variable is unset).
fn perf_control(command: &str) {
    if let Ok(fifo) = std::env::var("PERF_CTL_FIFO") {
        let _ = std::fs::write(fifo, format!("{command}\n"));
    }
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
async fn poll<F, Fut>(limit: Duration, mut check: F) -> BenchResult<()>
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
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn run(n: usize) -> BenchResult<()> {
    let server = TestServer::start().await?;
    let client = server.client().await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctrl_client = client.clone();
    // `RS_SCALE_EVENTS=0`: the ReplicaSet controller alone, without its Events (to
    // see what they cost); otherwise the controller manager as `capstan up` runs it.
    let events = std::env::var("RS_SCALE_EVENTS").map_or(true, |v| v != "0");
    let controllers = tokio::spawn(async move {
        let stopped = async {
            let _ = stop_rx.await;
        };
        let out: BenchResult<()> = if events {
            run_controllers(ctrl_client, &ControllersConfig::default(), stopped)
                .await
                .map_err(Into::into)
        } else {
            let factory = SharedInformerFactory::new(ctrl_client.clone(), None);
            let rs = ReplicaSetController::<ReplicaSet>::new(
                &factory,
                ctrl_client,
                &ReplicaSetControllerConfig {
                    record_events: false,
                    ..Default::default()
                },
            )?;
            factory.start()?;
            let out = rs.run(stopped).await;
            factory.shutdown().await;
            out.map_err(Into::into)
        };
        out
    });
    println!("ReplicaSet Events recorded: {events}");

    let slow = raw_slow_start(&client, n).await?;
    println!(
        "raw creates, slow-start batches (1..128, 245 per 500): {n} pods in {:.2} s = {:.0} pods/s",
        slow.as_secs_f64(),
        rate(n, slow)
    );
    let c16 = raw_concurrent(&client, n, 16).await?;
    println!(
        "raw creates, 16 in flight:                        {n} pods in {:.2} s = {:.0} pods/s",
        c16.as_secs_f64(),
        rate(n, c16)
    );
    let rs = replica_set(&client, n).await?;
    println!(
        "ReplicaSet controller, 0 -> {n}:                  {n} pods in {:.2} s = {:.0} pods/s",
        rs.as_secs_f64(),
        rate(n, rs)
    );
    println!(
        "ratio RS / raw slow-start = {:.2}x, RS / raw 16-way = {:.2}x (target >= 0.8x)",
        slow.as_secs_f64() / rs.as_secs_f64(),
        c16.as_secs_f64() / rs.as_secs_f64()
    );
    let _ = stop_tx.send(());
    controllers.await??;
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and
    // gets a small run that still checks the outcome.
    let bench = std::env::args().any(|a| a == "--bench");
    let n = match std::env::var("RS_SCALE_REPLICAS") {
        Ok(v) => v.parse()?,
        Err(_) if bench => 10_000,
        Err(_) => 200,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(n))
}
