//! Pod creates over HTTPS with 16 concurrent kube-rs clients (each its own connection).
//!
//! `cargo bench -p capstan-apiserver --bench pod_creates`

mod common;

use std::time::Instant;

use capstan_apiserver::TestServer;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};

const CLIENTS: usize = 16;
const PER_CLIENT: usize = 2_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = TestServer::start().await.expect("server");
        let mut apis = Vec::new();
        for _ in 0..CLIENTS {
            apis.push(Api::<Pod>::namespaced(s.client().await, "default"));
        }
        // Warm up connections.
        for (c, api) in apis.iter().enumerate() {
            let p: Pod = serde_json::from_value(common::pod(&format!("warm-{c}"), c)).expect("pod");
            api.create(&PostParams::default(), &p).await.expect("create");
        }
        let start = Instant::now();
        let tasks: Vec<_> = apis
            .into_iter()
            .enumerate()
            .map(|(c, api)| {
                tokio::spawn(async move {
                    for i in 0..PER_CLIENT {
                        let p: Pod = serde_json::from_value(common::pod(&format!("p-{c}-{i}"), i)).expect("pod");
                        api.create(&PostParams::default(), &p).await.expect("create");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let secs = start.elapsed().as_secs_f64();
        let total = CLIENTS * PER_CLIENT;
        println!(
            "pod_creates: {total} pods by {CLIENTS} kube-rs clients over HTTPS in {secs:.2}s = {:.0} creates/s",
            total as f64 / secs
        );
    });
}
