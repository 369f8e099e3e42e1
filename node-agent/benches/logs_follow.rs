//! `kubectl logs -f` latency: from a line written by a process to the same line printed
//! by the real kubectl, through `TestServer`'s `pods/log` and the node agent's kubelet
//! API (HTTPS both ways, as `capstan up` runs them, all in this process but kubectl).
//!
//! A `process` pod prints its clock (`date +%s%N`, nanoseconds since the epoch) every
//! `PERIOD_MS` (default 20) ms; `kubectl logs -f` runs as a child and the bench reads
//! its stdout line by line, taking the latency of each line as the time it was read
//! minus the time it carries (same machine, same clock). The first lines (already in
//! the file when kubectl starts) are skipped; `LINES` (default 1,000) are measured.
//! Prints p50, p90, p99 and max.
//!
//! Run: `cargo bench -p capstan-node-agent --bench logs_follow` (`KUBECTL=/path` picks
//! the kubectl binary, default `/usr/bin/kubectl`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;
use support::{Agent, eventually};

use capstan_node_agent::NodePoolSpec;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::io::AsyncBufReadExt;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let lines = env_or("LINES", 1000) as usize;
    let period_ms = env_or("PERIOD_MS", 20);
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());

    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let (server, client) = (&agent.server, agent.client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sleep = format!("0.{:03}", period_ms.min(999));
    pods.create(
        &PostParams::default(),
        &Pod {
            metadata: ObjectMeta {
                name: Some("clock".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("proc-0".into()),
                containers: vec![Container {
                    name: "clock".into(),
                    image: Some("busybox".into()),
                    command: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        format!("while true; do date +%s%N; sleep {sleep}; done"),
                    ]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("pod");
    eventually("first lines", || {
        let pods = pods.clone();
        async move {
            let l = pods.logs("clock", &Default::default()).await.ok()?;
            (!l.is_empty()).then_some(())
        }
    })
    .await;

    let mut child = tokio::process::Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(server.kubeconfig_path())
        .args(["logs", "-f", "clock", "--tail=0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl logs -f");
    let mut out = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut latencies = Vec::with_capacity(lines);
    let skip = 5;
    let mut seen = 0;
    while latencies.len() < lines {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("a line within 30 s")
            .expect("read")
            .expect("kubectl still running");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        seen += 1;
        if seen <= skip {
            continue;
        }
        let written: u128 = line.trim().parse().expect("nanoseconds");
        let lat = now.as_nanos().saturating_sub(written);
        latencies.push(Duration::from_nanos(lat as u64));
    }
    child.kill().await.expect("kill kubectl");
    latencies.sort();
    println!(
        "kubectl logs -f ({kubectl}), {} lines every {period_ms} ms: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().expect("lines").as_secs_f64() * 1e3,
    );
    agent.stop().await;
}
