//! The whole scheduling loop of the shell (queue pop → snapshot → schedule →
//! assume → asynchronous bind → done) over 5,000 nodes with 1,000 pods placed and
//! 10,000 pending pods (upstream's SchedulingBasic/5000Nodes_10000Pods shape),
//! with a binder that answers at once: the scheduler's own ceiling, without the
//! API server. Run with batching of pods alike (the default) and without.
//!
//! Run: `cargo bench -p capstan-scheduler --bench scheduler_loop`

use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_scheduler::config::KubeSchedulerConfiguration;
use capstan_scheduler::framework::StaticLister;
use capstan_scheduler::shell::{ApiWriter, Scheduler, WriteError};
use capstan_scheduler::testing::{NodeBuilder, PodBuilder};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

const NODES: usize = 5000;
const PLACED: usize = 1000;
const PENDING: usize = 10_000;

struct InstantWriter;

impl ApiWriter for InstantWriter {
    async fn bind(&self, _pod: &Pod, _node: &str) -> Result<(), WriteError> {
        Ok(())
    }
    async fn patch_pod_status(&self, _pod: &Pod, _patch: Value) -> Result<(), WriteError> {
        Ok(())
    }
    async fn delete_pod(&self, _pod: &Pod) -> Result<(), WriteError> {
        Ok(())
    }
    async fn pre_bind_write(
        &self,
        _write: &capstan_scheduler::framework::PreBindWrite,
    ) -> Result<String, WriteError> {
        Ok(String::new())
    }
}

fn pod(i: usize) -> Pod {
    PodBuilder::new(&format!("pod-{i}"))
        .container(&[("cpu", "100m"), ("memory", "500Mi")])
        .build()
}

async fn run_once(batching: bool) -> Duration {
    let cfg =
        KubeSchedulerConfiguration::from_yaml("profiles:\n- schedulerName: default-scheduler\n")
            .unwrap();
    let s = Arc::new(
        Scheduler::new(
            &cfg,
            Arc::new(StaticLister::default()),
            InstantWriter,
            None,
            Some(1),
        )
        .unwrap()
        .with_batching(batching),
    );
    for n in 0..NODES {
        s.on_node_add(
            NodeBuilder::new(&format!("node-{n}"))
                .capacity("4", "32Gi", 110)
                .label("kubernetes.io/hostname", &format!("node-{n}"))
                .build(),
        );
    }
    for i in 0..PLACED {
        let mut p = pod(1_000_000 + i);
        p.spec.as_mut().unwrap().node_name = Some(format!("node-{}", i % NODES));
        s.on_pod_add(p);
    }
    for i in 0..PENDING {
        s.on_pod_add(pod(i));
    }
    let start = Instant::now();
    while s.queue().pending_pods().active > 0 {
        s.schedule_one().await;
    }
    s.wait_for_writes().await;
    let took = start.elapsed();
    assert_eq!(s.with_cache(|c| c.pod_count()), PLACED + PENDING);
    took
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("scheduler_loop_5000_nodes");
    group.throughput(Throughput::Elements(PENDING as u64));
    group.sample_size(10);
    for (name, batching) in [
        ("SchedulingBasic_10000_pods", true),
        ("SchedulingBasic_10000_pods_unbatched", false),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(run_once(batching));
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
