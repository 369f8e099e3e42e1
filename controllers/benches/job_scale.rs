//! Issue 13's figure: 1,000 Jobs × 10 completions with the sim runtime, the
//! whole control plane of `capstan up` in one process (`TestServer`, the
//! scheduler and the node agent with enough sim nodes), and the Job controller
//! alone writing through a client with the kit's request counter
//! (`capstan_client_requests_total`, [`RequestCounts`]), so that the API writes
//! counted are the Job controller's and no other component's.
//!
//! 1. Create the Jobs (16 creates in flight, from an uncounted client); each has
//!    `completions: 10` and `parallelism` (default 1, upstream's default), pods
//!    running 1 s (`capstan.dev/run-for`, the sim default for a Job's pods).
//! 2. Time until a Job watch has seen every Job `Complete`.
//! 3. Check the outcome: every Job `succeeded: 10`, exactly 10 pods per Job,
//!    all `Succeeded`, none left with the tracking finalizer.
//! 4. Print the Job controller's writes by verb and resource, and per completed
//!    pod.
//!
//! Run: `cargo bench -p capstan-controllers --bench job_scale`
//! (`JOB_BENCH_JOBS`, `JOB_BENCH_COMPLETIONS`, `JOB_BENCH_PARALLELISM` to change
//! the shape).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_controllers::ControllersConfig;
use capstan_controllers::manager::{ControllerSelection, run_controllers};
use capstan_runtime::client::{RequestCounts, WRITE_VERBS, client_with_rate_limit};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, NS};
use tokio_util::sync::CancellationToken;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

fn env_or(name: &str, default: i32) -> i32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn job(i: i32, completions: i32, parallelism: i32) -> BenchResult<Job> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": format!("bench-{i}"), "namespace": NS},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {
                "metadata": {"annotations": {"capstan.dev/run-for": "1s"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["work"]}]
                }
            }
        }
    }))?)
}

fn is_complete(j: &Job) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

/// When the watch first saw each Job complete.
fn watch_jobs(
    client: kube::Client,
    done: Arc<Mutex<HashMap<String, Instant>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Job> = Api::namespaced(client, NS);
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let now = Instant::now();
            if let Ok(watcher::Event::Apply(j) | watcher::Event::InitApply(j)) = ev
                && is_complete(&j)
            {
                done.lock().entry(j.name_any()).or_insert(now);
            }
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Checks every Job counted `completions` successes from exactly that many
/// pods, all Succeeded and without the tracking finalizer.
async fn check_outcome(client: &kube::Client, jobs: i32, completions: i32) -> BenchResult<()> {
    let listed = Api::<Job>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await?;
    let short: Vec<String> = listed
        .items
        .iter()
        .filter(|j| j.status.as_ref().and_then(|s| s.succeeded) != Some(completions))
        .map(|j| j.name_any())
        .collect();
    if listed.items.len() != jobs as usize || !short.is_empty() {
        return Err(format!(
            "{} jobs, not succeeded {completions}: {short:?}",
            listed.items.len()
        )
        .into());
    }
    let pods = Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await?;
    let bad = pods
        .items
        .iter()
        .filter(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Succeeded")
                || p.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
        })
        .count();
    let want = (jobs * completions) as usize;
    if pods.items.len() != want || bad != 0 {
        return Err(format!(
            "{} pods (want {want}), {bad} not Succeeded or still with the finalizer",
            pods.items.len()
        )
        .into());
    }
    Ok(())
}

async fn run() -> BenchResult<()> {
    let jobs = env_or("JOB_BENCH_JOBS", 1000);
    let completions = env_or("JOB_BENCH_COMPLETIONS", 10);
    let parallelism = env_or("JOB_BENCH_PARALLELISM", 1);
    // 110 pods per node, with room to spare.
    let nodes = (jobs * parallelism.min(completions) * 3 / 2 / 110 + 1).max(2);
    // Quiet unless RUST_LOG asks.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .try_init();
    let setup = Instant::now();
    // The scheduler and node agent, no controllers: the Job controller runs below.
    let cluster = Cluster::start_selecting(nodes, &[]).await;
    // The Job controller alone, as `capstan up` runs it (no client-side rate
    // limit), through the counting client.
    let counted = client_with_rate_limit(cluster.server.config().await, 0.0, 1)?;
    let config = ControllersConfig {
        selection: ControllerSelection::parse(&["job-controller"])?,
        ..ControllersConfig::default()
    };
    let stop = CancellationToken::new();
    let controller = {
        let stop = stop.clone();
        tokio::spawn(async move { run_controllers(counted, &config, stop.cancelled_owned()).await })
    };
    println!(
        "control plane with {nodes} sim nodes and the Job controller up in {:.2?}",
        setup.elapsed()
    );
    let done = Arc::new(Mutex::new(HashMap::new()));
    let watch = watch_jobs(cluster.client.clone(), done.clone());
    let api: Api<Job> = Api::namespaced(cluster.client.clone(), NS);

    let before = RequestCounts::snapshot();
    let start = Instant::now();
    let mut created = futures::stream::iter(0..jobs)
        .map(|i| {
            let api = api.clone();
            async move {
                let j = job(i, completions, parallelism)?;
                api.create(&PostParams::default(), &j).await?;
                BenchResult::Ok(())
            }
        })
        .buffer_unordered(16);
    while let Some(r) = created.next().await {
        r?;
    }
    let all_created = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(900);
    while done.lock().len() < jobs as usize {
        if Instant::now() > deadline {
            return Err(format!("timed out: {} of {jobs} Jobs complete", done.lock().len()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_complete = start.elapsed();
    let counts = RequestCounts::snapshot().since(&before);
    check_outcome(&cluster.client, jobs, completions).await?;

    let pods = jobs * completions;
    println!(
        "{jobs} Jobs × {completions} completions (parallelism {parallelism}): created in {all_created:.2?}, \
         all Complete after {all_complete:.2?} ({:.0} pods completed/s)",
        f64::from(pods) / all_complete.as_secs_f64()
    );
    let mut to_complete: Vec<Duration> = done
        .lock()
        .values()
        .map(|t| t.duration_since(start))
        .collect();
    to_complete.sort();
    println!(
        "time from the first create to each Job Complete: p50 {:.2?}, p90 {:.2?}, max {:.2?}",
        percentile(&to_complete, 50.0),
        percentile(&to_complete, 90.0),
        to_complete.last().copied().unwrap_or_default()
    );
    println!("Job controller writes (verb resource code: count, per completed pod):");
    for (s, n) in counts.series() {
        if WRITE_VERBS.contains(&s.verb.as_str()) {
            println!(
                "  {} {} {}: {n} ({:.2})",
                s.verb,
                s.resource,
                s.code,
                *n as f64 / f64::from(pods)
            );
        }
    }
    let writes = counts.writes();
    let events = counts.count("create", "events") + counts.count("patch", "events");
    println!(
        "writes: {writes} = {:.2} per completed pod; without Events {:.2}",
        writes as f64 / f64::from(pods),
        (writes - events) as f64 / f64::from(pods)
    );

    watch.abort();
    stop.cancel();
    controller.await??;
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
