//! Pod creates over HTTPS with 16 concurrent kube-rs clients (each its own connection),
//! in two namespaces alternated in the same run: `default`, which has no
//! ResourceQuota (the quota admission step costs one lookup there), and `quota`, which
//! has one tracking `pods`, `requests.cpu` and `requests.memory` (every create is
//! checked and charged to it in the same commit). Same client, server, pods and
//! concurrency in both; `POD_CREATES_ROUNDS` pairs of phases (default 1), alternating
//! which phase goes first. `POD_CREATES_QUOTA=0` runs the `default` phase alone (to
//! compare CPU time per create with a build that has no quota phase).
//!
//! `cargo bench -p capstan-apiserver --bench pod_creates`

mod common;

use std::time::Instant;

use capstan_apiserver::TestServer;
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::{Api, PostParams};
use serde_json::json;

const CLIENTS: usize = 16;
/// Pods each client creates per phase: 2,000, or `POD_CREATES_PER_CLIENT` (a small
/// count to run the bench under an instruction counter such as callgrind).
fn per_client() -> usize {
    std::env::var("POD_CREATES_PER_CLIENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Creates [`per_client`] pods through each client in `ns`; answers creates/s.
async fn phase(clients: &[kube::Client], ns: &str, round: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(c, client)| {
            let api = Api::<Pod>::namespaced(client.clone(), ns);
            tokio::spawn(async move {
                for i in 0..per_client() {
                    let p: Pod =
                        serde_json::from_value(common::pod(&format!("p-{round}-{c}-{i}"), i))
                            .expect("pod");
                    api.create(&PostParams::default(), &p)
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    (CLIENTS * per_client()) as f64 / start.elapsed().as_secs_f64()
}

/// The `quota` namespace with its quota, its status filled in as the resource quota
/// controller leaves it (hard mirrored, nothing used).
async fn quota_namespace(client: &kube::Client) {
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "quota"}})).expect("ns");
    namespaces.create(&pp, &ns).await.expect("namespace");
    let hard = json!({"pods": "1000000", "requests.cpu": "100000", "requests.memory": "1000Ti"});
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "quota");
    let q: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": "compute"}, "spec": {"hard": hard}}))
            .expect("quota");
    let mut q = quotas.create(&pp, &q).await.expect("quota");
    q.status = Some(
        serde_json::from_value(json!({"hard": hard, "used": {"pods": "0", "requests.cpu": "0", "requests.memory": "0"}}))
            .expect("status"),
    );
    quotas
        .replace_status("compute", &pp, &q)
        .await
        .expect("quota status");
}

fn main() {
    let rounds: usize = std::env::var("POD_CREATES_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = TestServer::start().await.expect("server");
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(s.client().await);
        }
        quota_namespace(&clients[0]).await;
        // Warm up connections.
        for (c, client) in clients.iter().enumerate() {
            let api = Api::<Pod>::namespaced(client.clone(), "default");
            let p: Pod = serde_json::from_value(common::pod(&format!("warm-{c}"), c)).expect("pod");
            api.create(&PostParams::default(), &p).await.expect("create");
        }
        let total = CLIENTS * per_client();
        if std::env::var("POD_CREATES_QUOTA").is_ok_and(|q| q == "0") {
            for round in 0..rounds {
                let plain = phase(&clients, "default", round).await;
                println!(
                    "pod_creates round {round}: {total} pods by {CLIENTS} kube-rs clients over HTTPS: \
                     {plain:.0} creates/s"
                );
            }
            return;
        }
        for round in 0..rounds {
            // Phases alternate which goes first, so neither always meets the larger store.
            let (plain, quota) = if round % 2 == 0 {
                let plain = phase(&clients, "default", round).await;
                (plain, phase(&clients, "quota", round).await)
            } else {
                let quota = phase(&clients, "quota", round).await;
                (phase(&clients, "default", round).await, quota)
            };
            println!(
                "pod_creates round {round}: {total} pods by {CLIENTS} kube-rs clients over HTTPS: \
                 no quota in the namespace {plain:.0} creates/s, one quota charged {quota:.0} creates/s ({:+.1} %)",
                (quota / plain - 1.0) * 100.0
            );
        }
        let quotas: Api<ResourceQuota> = Api::namespaced(clients[0].clone(), "quota");
        let used = quotas.get("compute").await.expect("quota").status.and_then(|s| s.used);
        println!("quota used after the run: {used:?}");
    });
}
