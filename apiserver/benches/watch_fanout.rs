//! Watch fan-out: W watchers on pods (W = 10 and 100) while 1,000 pod changes per second
//! are written; reports delivery latency percentiles (write sent → event received) and
//! how many times events were serialised (independent of W). The last run adds 100
//! watchers of ConfigMaps, which are not written: with one live channel per resource
//! they should cost nothing. It reports their lines received and streams ended early,
//! and the process's CPU over the write window (server, watchers and writers alike:
//! they share one process).
//!
//! `cargo bench -p capstan-apiserver --bench watch_fanout`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const PODS: usize = 1_000;
const RATE: u64 = 1_000;
const SECONDS: u64 = 10;
const WRITERS: u64 = 8;

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Finds `"bench/sent":"<micros>"` in an event line.
fn sent_at(line: &[u8]) -> Option<u64> {
    let key = b"\"bench/sent\":\"";
    let pos = line.windows(key.len()).position(|w| w == key)? + key.len();
    let end = line[pos..].iter().position(|b| *b == b'"')? + pos;
    std::str::from_utf8(&line[pos..end]).ok()?.parse().ok()
}

/// CPU time (user + system) this process has used, in seconds.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name's closing parenthesis: utime and stime are the
    // 12th and 13th there (14th and 15th of the line), in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Watches ConfigMaps (never written during the run) until the stream ends; returns
/// the lines received and whether it ended before its timeout.
async fn quiet_watcher(c: kube::Client, rv: u64) -> (usize, bool) {
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds={}",
        SECONDS + 5
    ))
    .body(Vec::new())
    .expect("request");
    let started = Instant::now();
    let resp = c.send(req.map(Into::into)).await.expect("watch");
    let mut body = resp.into_body();
    let mut lines = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            lines += data.iter().filter(|b| **b == b'\n').count();
        }
    }
    (lines, started.elapsed() < Duration::from_secs(SECONDS + 4))
}

async fn run(watchers: usize, quiet_watchers: usize) {
    let s = TestServer::start().await.expect("server");
    let client = s.client().await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..PODS {
        let p: Pod = serde_json::from_value(common::pod(&format!("w-{i}"), i)).expect("pod");
        api.create(&PostParams::default(), &p)
            .await
            .expect("create");
    }
    let rv = s.server().cluster().store.current_rv();
    let ser_before = s.server().cluster().store.serializations();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<f64>>();
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let c = s.client().await;
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let req = http::Request::get(format!(
                "/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&timeoutSeconds={}",
                SECONDS + 5
            ))
            .body(Vec::new())
            .expect("request");
            let resp = c.send(req.map(Into::into)).await.expect("watch");
            let mut body = resp.into_body();
            let mut buf: Vec<u8> = Vec::new();
            let mut lat = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                buf.extend_from_slice(data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Some(sent) = sent_at(&line) {
                        lat.push((now_micros().saturating_sub(sent)) as f64 / 1000.0);
                    }
                }
            }
            let _ = tx.send(lat);
        }));
    }
    drop(tx);
    let mut quiet = Vec::new();
    for _ in 0..quiet_watchers {
        quiet.push(tokio::spawn(quiet_watcher(s.client().await, rv)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let api = Arc::new(api);
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let per_writer = RATE / WRITERS;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_writer));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut n = 0u64;
                while n < per_writer * SECONDS {
                    tick.tick().await;
                    let i = (w + n * WRITERS) as usize % PODS;
                    let patch = json!({"metadata": {"annotations": {"bench/sent": now_micros().to_string()}}});
                    api.patch(&format!("w-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
                    n += 1;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let writes = per_writer * SECONDS * WRITERS;
    let mut all = Vec::new();
    while let Some(l) = rx.recv().await {
        all.extend(l);
    }
    for h in handles {
        let _ = h.await;
    }
    let (mut quiet_lines, mut quiet_closed) = (0, 0);
    for q in quiet {
        let (lines, closed_early) = q.await.expect("quiet watcher");
        quiet_lines += lines;
        quiet_closed += usize::from(closed_early);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let ser = s.server().cluster().store.serializations() - ser_before;
    println!(
        "watch_fanout: {watchers} watchers + {quiet_watchers} ConfigMap watchers, {writes} pod updates in {elapsed:.1}s ({:.0}/s), {} deliveries: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; events serialised {ser} times ({:.2} per write); process CPU {:.2} s/s; ConfigMap watchers: {quiet_lines} lines, {quiet_closed} ended early",
        writes as f64 / elapsed,
        all.len(),
        common::percentile(&all, 0.50),
        common::percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN),
        ser as f64 / writes as f64,
        cpu / elapsed,
    );
    s.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run(10, 0).await;
        run(100, 0).await;
        run(100, 100).await;
    });
}
