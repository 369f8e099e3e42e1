//! Issue 6's figure: the scheduler on the embedded API server (`TestServer`, TLS on
//! loopback), upstream's `SchedulingBasic/5000Nodes_10000Pods` shape (5,000 nodes
//! of 4 cpu / 32Gi / 110 pods created through the API, 1,000 pods already placed,
//! 10,000 pending pods requesting 100m / 500Mi, default plugins), compared with a
//! bind-only loop (same client, same server, no filtering) in the same run.
//!
//! Phases, in one process and one server:
//! 1. setup: nodes and placed pods created through the API (16 requests in flight);
//! 2. raw binds: 10,000 pending pods of a scheduler name nobody serves are bound
//!    round-robin to the nodes with `pods/binding`, `BIND_CONCURRENCY` (64) calls
//!    in flight — the API server's and client's bind ceiling;
//! 3. watched binds: the same bind-only loop, but fed as a scheduler is: a pod
//!    informer (capstan-runtime, all pods, as the scheduler's) lists the 10,000
//!    pending pods of its name, they are bound round-robin with 64 calls in flight,
//!    and the informer receives the MODIFIED event of every binding while it runs
//!    (a handler counts them, the scheduler's confirm). Timed like the raw loop from
//!    the informer's sync to the last answer. The scheduler's extra over this loop is
//!    its filtering, scoring and bookkeeping alone;
//! 4. the scheduler: 10,000 pending pods for `default-scheduler` exist before
//!    `run_scheduler_with` starts; timed from the moment its caches have synced and
//!    scheduling starts (`RunOptions::synced`) until the API server has answered
//!    10,000 of its bindings with success (the scheduler's own
//!    `scheduler_schedule_attempts_total{result="scheduled"}`, read in process
//!    every millisecond: the raw loop is timed the same way, to its last answer).
//!    Then, untimed, the server is asked whether any pod of that scheduler is
//!    still unbound (there must be none). Polling the server with a filtered list
//!    instead costs milliseconds of server CPU per poll (it scans every pod) and
//!    slowed the very run it measured.
//!
//! Each phase also reports the process's CPU time (user + system, all threads):
//! with 2 cores, a phase that used much less than 2 s of CPU per second of wall
//! time was waiting, not computing (the machine is shared: see `uptime`).
//!
//! Run: `cargo bench -p capstan-scheduler --bench bind_throughput`
//! (`SCHED_NODES`, `SCHED_PODS` change the sizes; `SCHED_WORKLOAD=anti-affinity` or
//! `node-affinity` runs upstream's `SchedulingPodAntiAffinity` /
//! `SchedulingNodeAffinity` shapes for the scheduler's pods, as `schedule_one` does;
//! `SCHED_ONLY=1` runs the scheduler phase alone; with `PERF_CTL_FIFO=<fifo>` the
//! bench switches `perf record -D -1 --control fifo:<fifo>` on for one phase only,
//! `PERF_PHASE=raw|watched|scheduler`, the scheduler's by default; `SCHED_TIMELINE=<ms>`
//! prints the scheduler phase's progress every so many milliseconds; `SCHED_BATCHING=0` turns
//! batching of pods alike off).

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capstan_apiserver::{Admission, AdmissionConfig, TestServer};
use capstan_runtime::informer::{EventHandlerFns, SharedInformerFactory};
use capstan_scheduler::config::KubeSchedulerConfiguration;
use capstan_scheduler::metrics::{SCHEDULED, SchedulerMetrics};
use capstan_scheduler::shell::{RunOptions, run_scheduler_with};
use capstan_scheduler::testing::{NodeBuilder, PodBuilder};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Namespace, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, PostParams};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const SETUP_CONCURRENCY: usize = 16;
const BIND_CONCURRENCY: usize = 64;
const NAMESPACE: &str = "sched";
const RAW_SCHEDULER: &str = "raw-binder";
const WATCHED_SCHEDULER: &str = "watched-binder";

fn env_or(name: &str, bench: usize, test: usize) -> BenchResult<usize> {
    let is_bench = std::env::args().any(|a| a == "--bench");
    match std::env::var(name) {
        Ok(v) => Ok(v.parse()?),
        Err(_) if is_bench => Ok(bench),
        Err(_) => Ok(test),
    }
}

/// The scheduler_perf workload the scheduler's pods follow (`SCHED_WORKLOAD`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Workload {
    /// `basic`: requests only.
    Basic,
    /// `anti-affinity`: required pod anti-affinity per hostname, 100 label groups.
    PodAntiAffinity,
    /// `node-affinity`: required zone affinity; half the nodes are in the zone.
    NodeAffinity,
}

impl Workload {
    fn from_env() -> BenchResult<Self> {
        match std::env::var("SCHED_WORKLOAD").as_deref() {
            Err(_) | Ok("basic") => Ok(Workload::Basic),
            Ok("anti-affinity") => Ok(Workload::PodAntiAffinity),
            Ok("node-affinity") => Ok(Workload::NodeAffinity),
            Ok(other) => Err(format!("unknown SCHED_WORKLOAD {other:?}").into()),
        }
    }
}

fn node(w: Workload, i: usize) -> Node {
    let zone = if w == Workload::NodeAffinity {
        format!("zone{}", i % 2 + 1)
    } else {
        "zone1".into()
    };
    NodeBuilder::new(&format!("node-{i}"))
        .capacity("4", "32Gi", 110)
        .label("kubernetes.io/hostname", &format!("node-{i}"))
        .label("topology.kubernetes.io/zone", &zone)
        .build()
}

fn pod(w: Workload, i: usize, name: &str, scheduler: &str, node: Option<String>) -> Pod {
    let b = PodBuilder::new(name)
        .namespace(NAMESPACE)
        .label("app", "bench")
        .container(&[("cpu", "100m"), ("memory", "500Mi")]);
    let mut p = match w {
        Workload::Basic => b.build(),
        Workload::PodAntiAffinity => b
            .label("color", &format!("c{}", i % 100))
            .anti_affinity_required(
                &[("color", &format!("c{}", i % 100))],
                "kubernetes.io/hostname",
            )
            .build(),
        Workload::NodeAffinity => b
            .node_affinity_required(vec![vec![(
                "topology.kubernetes.io/zone",
                "In",
                vec!["zone1"],
            )]])
            .build(),
    };
    p.metadata.uid = None;
    if let Some(spec) = p.spec.as_mut() {
        spec.scheduler_name = Some(scheduler.into());
        spec.node_name = node;
    }
    p
}

/// Binds pod `name` to `node` through `pods/binding`.
async fn bind(api: Api<Pod>, name: String, node: String) -> Result<(), kube::Error> {
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some(node),
            ..Default::default()
        },
    };
    api.create_subresource::<Binding, serde_json::Value>(
        "binding",
        &name,
        &PostParams::default(),
        &binding,
    )
    .await
    .map(|_| ())
}

/// Runs `calls` with `concurrency` in flight; the first error wins.
async fn concurrently<F>(calls: impl Iterator<Item = F>, concurrency: usize) -> BenchResult<()>
where
    F: std::future::Future<Output = Result<(), kube::Error>>,
{
    let mut s = futures::stream::iter(calls).buffer_unordered(concurrency);
    while let Some(r) = s.next().await {
        r?;
    }
    Ok(())
}

async fn create_pods(api: &Api<Pod>, pods: Vec<Pod>) -> BenchResult<()> {
    let pp = PostParams::default();
    concurrently(
        pods.into_iter().map(|p| {
            let api = api.clone();
            let pp = pp.clone();
            async move { api.create(&pp, &p).await.map(|_| ()) }
        }),
        SETUP_CONCURRENCY,
    )
    .await
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are
            // the 12th and 13th of those.
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Switches `perf record -D -1 --control fifo:$PERF_CTL_FIFO` on or off around
/// `phase`, so a profile covers one phase alone: the phase named by `PERF_PHASE`
/// (`raw`, `watched`, or `scheduler`, the default). Nothing when the fifo is unset.
fn perf_control(phase: &str, command: &str) {
    let wanted = std::env::var("PERF_PHASE").unwrap_or_else(|_| "scheduler".into());
    if wanted != phase {
        return;
    }
    if let Ok(fifo) = std::env::var("PERF_CTL_FIFO") {
        let _ = std::fs::write(fifo, format!("{command}\n"));
    }
}

/// Bindings of `profile` the API server has answered with success.
fn scheduled(profile: &str) -> u64 {
    SchedulerMetrics::global()
        .map(|m| {
            m.schedule_attempts
                .with_label_values(&[SCHEDULED, profile])
                .get()
        })
        .unwrap_or(0)
}

/// Pods of `scheduler` the server still has without a node.
async fn any_unbound(api: &Api<Pod>, scheduler: &str) -> BenchResult<bool> {
    let lp = ListParams::default()
        .fields(&format!("spec.nodeName=,spec.schedulerName={scheduler}"))
        .limit(1);
    Ok(!api.list(&lp).await?.items.is_empty())
}

async fn run(w: Workload, nodes: usize, placed: usize, pending: usize) -> BenchResult<()> {
    println!("workload: {w:?}");
    // As upstream's scheduler_perf: no node lifecycle controller runs to take the
    // not-ready taint off the nodes created here.
    let server = TestServer::start_with_admission(
        AdmissionConfig::all().without(Admission::TaintNodesByCondition),
    )
    .await?;
    let client = server.client().await;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(NAMESPACE.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    let node_api: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);

    let setup = Instant::now();
    let pp = PostParams::default();
    concurrently(
        (0..nodes).map(|i| {
            let api = node_api.clone();
            let pp = pp.clone();
            async move { api.create(&pp, &node(w, i)).await.map(|_| ()) }
        }),
        SETUP_CONCURRENCY,
    )
    .await?;
    let first = node_api.get("node-0").await?;
    if first.status.and_then(|s| s.allocatable).is_none() {
        return Err("the server dropped node status on create".into());
    }
    create_pods(
        &pods,
        (0..placed)
            .map(|i| {
                pod(
                    w,
                    1_000_000 + i,
                    &format!("placed-{i}"),
                    "default-scheduler",
                    Some(format!("node-{}", i % nodes)),
                )
            })
            .collect(),
    )
    .await?;
    create_pods(
        &pods,
        (0..pending)
            .map(|i| pod(Workload::Basic, i, &format!("raw-{i}"), RAW_SCHEDULER, None))
            .collect(),
    )
    .await?;
    println!(
        "setup: {nodes} nodes, {placed} placed pods, {pending} raw pending pods in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let baselines = std::env::var("SCHED_ONLY").is_err();
    let (raw, watched) = if baselines {
        baseline_loops(&client, &pods, nodes, pending).await?
    } else {
        (Duration::ZERO, Duration::ZERO)
    };

    // Phase 4: the scheduler.
    create_pods(
        &pods,
        (0..pending)
            .map(|i| pod(w, i, &format!("pending-{i}"), "default-scheduler", None))
            .collect(),
    )
    .await?;
    let config =
        KubeSchedulerConfiguration::from_yaml("profiles:\n- schedulerName: default-scheduler\n")?;
    let synced = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        synced: Some(synced.clone()),
        reporting_instance: Some("bench".into()),
        disable_batching: std::env::var("SCHED_BATCHING").is_ok_and(|v| v == "0"),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sched_client = client.clone();
    let scheduler = tokio::spawn(async move {
        run_scheduler_with(sched_client, config, options, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let wait_sync = Instant::now();
    while !synced.load(Ordering::SeqCst) {
        if wait_sync.elapsed() > Duration::from_secs(120) {
            return Err("scheduler caches did not sync".into());
        }
        if scheduler.is_finished() {
            return Err("scheduler stopped before syncing".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    perf_control("scheduler", "enable");
    let start = Instant::now();
    let start_cpu = process_cpu();
    let deadline = start + Duration::from_secs(600);
    let already = scheduled("default-scheduler");
    let timeline = std::env::var("SCHED_TIMELINE")
        .ok()
        .map(|v| Duration::from_millis(v.parse().unwrap_or(200)));
    let mut next_report = start;
    while scheduled("default-scheduler") - already < pending as u64 {
        if Instant::now() > deadline {
            return Err("the scheduler did not bind every pod in 600 s".into());
        }
        if let Some(every) = timeline
            && Instant::now() >= next_report
        {
            println!(
                "  t={:.2}s bound={} cpu={:.2}s",
                start.elapsed().as_secs_f64(),
                scheduled("default-scheduler") - already,
                process_cpu().saturating_sub(start_cpu).as_secs_f64()
            );
            next_report += every;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = start.elapsed();
    let took_cpu = process_cpu().saturating_sub(start_cpu);
    perf_control("scheduler", "disable");
    if any_unbound(&pods, "default-scheduler").await? {
        return Err("the scheduler reported every binding but a pod is unbound".into());
    }
    println!(
        "scheduler (caches synced -> all bound): {pending} pods in {:.2} s = {:.0} pods/s ({:.2} s CPU)",
        took.as_secs_f64(),
        pending as f64 / took.as_secs_f64(),
        took_cpu.as_secs_f64()
    );
    if baselines {
        println!(
            "ratio scheduler / raw binds = {:.2}x (target >= 0.7x), scheduler / watched binds = {:.2}x; upstream CI floor 680 pods/s",
            raw.as_secs_f64() / took.as_secs_f64(),
            watched.as_secs_f64() / took.as_secs_f64()
        );
    }
    // Scheduling failures (retried after backoff) explain a slow run.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), NAMESPACE);
    let all_events = events.list(&ListParams::default()).await?.items;
    let scheduled_events = all_events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Scheduled"))
        .count();
    let failed: Vec<_> = all_events
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    println!(
        "Scheduled events written: {scheduled_events} (the recorder drops what its queue cannot hold, as client-go's broadcaster)"
    );
    let attempts: i32 = failed.iter().map(|e| e.count.unwrap_or(1)).sum();
    println!(
        "FailedScheduling events: {} ({attempts} failed attempts)",
        failed.len()
    );
    if let Some(e) = failed.first() {
        println!("  e.g. {}", e.message.as_deref().unwrap_or(""));
    }
    let _ = stop_tx.send(());
    scheduler.await??;
    Ok(())
}

/// Phases 2 and 3: the bind-only loop, then the same loop fed and watched by an
/// informer. Returns their wall times.
async fn baseline_loops(
    client: &kube::Client,
    pods: &Api<Pod>,
    nodes: usize,
    pending: usize,
) -> BenchResult<(Duration, Duration)> {
    // Phase 2: the bind-only loop.
    perf_control("raw", "enable");
    let raw_cpu = process_cpu();
    let raw = Instant::now();
    concurrently(
        (0..pending).map(|i| {
            bind(
                pods.clone(),
                format!("raw-{i}"),
                format!("node-{}", i % nodes),
            )
        }),
        BIND_CONCURRENCY,
    )
    .await?;
    let raw = raw.elapsed();
    let raw_cpu = process_cpu().saturating_sub(raw_cpu);
    perf_control("raw", "disable");
    if any_unbound(pods, RAW_SCHEDULER).await? {
        return Err("raw binds left a pod unbound".into());
    }
    println!(
        "raw binds ({BIND_CONCURRENCY} in flight): {pending} pods in {:.2} s = {:.0} binds/s ({:.2} s CPU)",
        raw.as_secs_f64(),
        pending as f64 / raw.as_secs_f64(),
        raw_cpu.as_secs_f64()
    );

    // Phase 3: the bind-only loop fed and watched by an informer.
    create_pods(
        pods,
        (0..pending)
            .map(|i| {
                pod(
                    Workload::Basic,
                    i,
                    &format!("watched-{i}"),
                    WATCHED_SCHEDULER,
                    None,
                )
            })
            .collect(),
    )
    .await?;
    let factory = SharedInformerFactory::new(client.clone(), None);
    let informer = factory.informer::<Pod>();
    let confirmed = Arc::new(AtomicU64::new(0));
    informer.add_event_handler(EventHandlerFns::new().on_update({
        let confirmed = confirmed.clone();
        move |old: Arc<Pod>, new: Arc<Pod>| {
            let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
            if node(&old).is_none() && node(&new).is_some() {
                confirmed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }))?;
    factory.start()?;
    let wait_sync = Instant::now();
    while !informer.has_synced() {
        if wait_sync.elapsed() > Duration::from_secs(120) {
            return Err("the bind-only loop's informer did not sync".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    perf_control("watched", "enable");
    let watched_cpu = process_cpu();
    let watched = Instant::now();
    let to_bind: Vec<String> = informer
        .lister()
        .list_all()
        .iter()
        .filter(|p| {
            p.spec.as_ref().is_some_and(|s| {
                s.scheduler_name.as_deref() == Some(WATCHED_SCHEDULER) && s.node_name.is_none()
            })
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if to_bind.len() != pending {
        return Err(format!(
            "the informer listed {} of {pending} pending pods",
            to_bind.len()
        )
        .into());
    }
    concurrently(
        to_bind
            .into_iter()
            .enumerate()
            .map(|(i, name)| bind(pods.clone(), name, format!("node-{}", i % nodes))),
        BIND_CONCURRENCY,
    )
    .await?;
    let watched = watched.elapsed();
    let watched_cpu = process_cpu().saturating_sub(watched_cpu);
    perf_control("watched", "disable");
    factory.shutdown().await;
    if any_unbound(pods, WATCHED_SCHEDULER).await? {
        return Err("the watched bind-only loop left a pod unbound".into());
    }
    println!(
        "watched binds (informer-fed, {BIND_CONCURRENCY} in flight): {pending} pods in {:.2} s = {:.0} binds/s ({:.2} s CPU, {} bindings seen by its informer meanwhile)",
        watched.as_secs_f64(),
        pending as f64 / watched.as_secs_f64(),
        watched_cpu.as_secs_f64(),
        confirmed.load(Ordering::Relaxed)
    );

    Ok((raw, watched))
}

fn main() -> BenchResult<()> {
    let nodes = env_or("SCHED_NODES", 5000, 50)?;
    let pending = env_or("SCHED_PODS", 10_000, 200)?;
    let placed = pending / 10;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(Workload::from_env()?, nodes, placed, pending))
}
