//! Memory: 100,000 pods stored (resident memory after the creates), then a full list of
//! them over HTTPS (peak resident memory while it is answered and read).
//!
//! `cargo bench -p capstan-apiserver --bench memory`

mod common;

use std::time::Instant;

use capstan_apiserver::TestServer;
use capstan_apiserver::ops::WriteOptions;
use http_body_util::BodyExt;

const PODS: usize = 100_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = TestServer::start().await.expect("server");
        let (base, _) = common::rss();
        let cluster = s.server().cluster().clone();
        let pods = cluster.registry.lookup("", "v1", "pods").expect("pods served");
        let opts = WriteOptions::server("bench");
        let start = Instant::now();
        for i in 0..PODS {
            cluster
                .create(&pods, "default", common::pod(&format!("m-{i:06}"), i), &opts)
                .expect("create");
        }
        let created = start.elapsed().as_secs_f64();
        let (stored, _) = common::rss();
        let one = cluster.get(&pods, "default", "m-000000").expect("stored");
        println!(
            "memory: {PODS} pods stored in-process in {created:.1}s; resident {} MiB ({} MiB above the empty server's {} MiB); {} bytes of JSON per pod",
            stored >> 20,
            (stored - base) >> 20,
            base >> 20,
            one.bytes.len()
        );
        common::reset_peak();
        let client = s.client().await;
        let start = Instant::now();
        let req = http::Request::get("/api/v1/pods").body(Vec::new()).expect("request");
        let resp = client.send(req.map(Into::into)).await.expect("list");
        let mut body = resp.into_body();
        let mut bytes = 0usize;
        while let Some(frame) = body.frame().await {
            if let Some(d) = frame.expect("frame").data_ref() {
                bytes += d.len();
            }
        }
        let (_, peak) = common::rss();
        println!(
            "memory: full list of {PODS} pods over HTTPS: {} MiB in {:.2}s; peak resident during the list {} MiB ({:.2}x the stored figure)",
            bytes >> 20,
            start.elapsed().as_secs_f64(),
            peak >> 20,
            peak as f64 / stored as f64
        );
    });
}
