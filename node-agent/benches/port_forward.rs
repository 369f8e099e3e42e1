//! `kubectl port-forward` throughput against a direct connection to the same port, in
//! one run: a `process` pod runs a Python server that answers every connection with
//! `MIB` (default 100) MiB and closes; the bench reads it all, first directly on the
//! pod's port (the process runtime shares the host's network), then through the real
//! kubectl's port-forward (kubectl → `TestServer`'s `pods/portforward` over TLS → the
//! node agent's kubelet API over TLS → the pod's port), for each kubectl in `KUBECTLS`
//! (default 1.33, which tunnels SPDY in a WebSocket, and 1.28, which speaks SPDY).
//! Each path is read `ROUNDS` (default 3) times; the best and the median are printed.
//!
//! Run: `cargo bench -p capstan-node-agent --bench port_forward`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;
use support::{Agent, eventually};

use capstan_node_agent::NodePoolSpec;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::time::Instant;

const DEFAULT_KUBECTLS: &str =
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33,/usr/lib/google-cloud-sdk/bin/kubectl.1.28";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads everything the server at `127.0.0.1:port` sends; the bytes and how long.
async fn drain(port: u16) -> (u64, Duration) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    (total, start.elapsed())
}

/// Best and median MiB/s of `rounds` drains.
async fn measure(port: u16, rounds: usize, expected: u64) -> (f64, f64) {
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (bytes, took) = drain(port).await;
        assert_eq!(bytes, expected, "the whole answer arrived");
        rates.push(bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() - 1], rates[rates.len() / 2])
}

#[tokio::main]
async fn main() {
    let mib = env_or("MIB", 100);
    let rounds = env_or("ROUNDS", 3) as usize;
    let kubectls = std::env::var("KUBECTLS").unwrap_or_else(|_| DEFAULT_KUBECTLS.into());

    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let (server, client) = (&agent.server, agent.client.clone());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let script = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port}))\n\
         s.listen(8)\n\
         chunk = b'x' * (1 << 20)\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   try:\n\
         \x20       for _ in range({mib}):\n\
         \x20           c.sendall(chunk)\n\
         \x20   except OSError:\n\
         \x20       pass\n\
         \x20   c.close()\n"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &Pod {
            metadata: ObjectMeta {
                name: Some("source".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("proc-0".into()),
                containers: vec![Container {
                    name: "source".into(),
                    image: Some("python:3".into()),
                    command: Some(vec!["python3".into(), "-c".into(), script]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect("pod");
    eventually("the pod's server listening", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let expected = mib * 1024 * 1024;
    let (best, median) = measure(port, rounds, expected).await;
    println!(
        "direct to the pod's port: {mib} MiB x {rounds}: best {best:.0} MiB/s, median {median:.0} MiB/s"
    );
    for kubectl in kubectls.split(',').filter(|k| !k.is_empty()) {
        let mut child = tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(server.kubeconfig_path())
            .args(["port-forward", "pod/source", &format!(":{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl port-forward");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let local: u16 = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = lines.next_line().await.expect("read") {
                if let Some(rest) = l.strip_prefix("Forwarding from 127.0.0.1:") {
                    return rest.split_whitespace().next().and_then(|p| p.parse().ok());
                }
            }
            None
        })
        .await
        .expect("kubectl reports its local port")
        .expect("a local port");
        let (fbest, fmedian) = measure(local, rounds, expected).await;
        println!(
            "kubectl port-forward ({kubectl}): {mib} MiB x {rounds}: best {fbest:.0} MiB/s, median {fmedian:.0} MiB/s ({:.2}x direct, medians)",
            fmedian / median
        );
        child.kill().await.expect("kill kubectl");
    }
    agent.stop().await;
}
