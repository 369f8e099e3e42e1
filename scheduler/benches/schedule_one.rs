//! schedule_one over a 5,000-node cluster with the default profile (10 filter and
//! score plugins), each scheduled pod assumed into the cache as the scheduler does.
//! Workloads after upstream's scheduler_perf: SchedulingBasic, SchedulingPodAntiAffinity,
//! SchedulingNodeAffinity (5,000 nodes, 1,000 pods already placed).
//!
//! The `_unbatched` variants turn batching of pods alike off (anti-affinity pods
//! cannot be batched: each placement changes what the next one may do).
//!
//! Run: `cargo bench -p capstan-scheduler --bench schedule_one`

use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_scheduler::cache::{Cache, PodInfo};
use capstan_scheduler::config::ResolvedProfile;
use capstan_scheduler::framework::{Framework, StaticLister};
use capstan_scheduler::schedule_one::{GenericScheduler, NoNominations, ScheduleOutcome};
use capstan_scheduler::testing::{NodeBuilder, PodBuilder};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use rand::SeedableRng;
use rand::rngs::StdRng;

const NODES: usize = 5000;
const PLACED: usize = 1000;

#[derive(Clone, Copy)]
enum Workload {
    Basic,
    PodAntiAffinity,
    NodeAffinity,
}

fn pod(w: Workload, i: usize) -> Pod {
    let b = PodBuilder::new(&format!("pod-{i}"))
        .label("app", "bench")
        .container(&[("cpu", "100m"), ("memory", "500Mi")]);
    match w {
        Workload::Basic => b.build(),
        // Upstream: anti-affinity to pods with the same label per hostname.
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
    }
}

fn cluster(w: Workload) -> Cache {
    let mut cache = Cache::new(Duration::ZERO);
    for n in 0..NODES {
        let zone = if matches!(w, Workload::NodeAffinity) {
            format!("zone{}", n % 2 + 1)
        } else {
            "zone1".into()
        };
        cache.add_node(
            NodeBuilder::new(&format!("node-{n}"))
                .capacity("4", "32Gi", 110)
                .label("kubernetes.io/hostname", &format!("node-{n}"))
                .label("topology.kubernetes.io/zone", &zone)
                .build(),
        );
    }
    for i in 0..PLACED {
        let mut p = pod(w, 1_000_000 + i);
        p.spec.as_mut().unwrap().node_name = Some(format!("node-{}", i % NODES));
        cache.add_pod(p);
    }
    cache
}

fn bench(c: &mut Criterion) {
    let fwk = Framework::new(
        &ResolvedProfile::default_for("bench"),
        Arc::new(StaticLister::default()),
    )
    .unwrap();
    let mut group = c.benchmark_group("schedule_one_5000_nodes");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for (name, w, batching) in [
        ("SchedulingBasic", Workload::Basic, true),
        ("SchedulingBasic_unbatched", Workload::Basic, false),
        ("SchedulingPodAntiAffinity", Workload::PodAntiAffinity, true),
        ("SchedulingNodeAffinity", Workload::NodeAffinity, true),
        (
            "SchedulingNodeAffinity_unbatched",
            Workload::NodeAffinity,
            false,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut cache = cluster(w);
                let mut sched = GenericScheduler::default();
                sched.set_batching(batching);
                let mut rng = StdRng::seed_from_u64(1);
                let start = Instant::now();
                for i in 0..iters as usize {
                    let snapshot = cache.snapshot();
                    let mut p = pod(w, i);
                    let pi = PodInfo::new(p.clone());
                    let outcome =
                        sched.schedule_one(&fwk, &pi, &snapshot, &NoNominations, &[], &mut rng);
                    drop(snapshot);
                    match outcome {
                        ScheduleOutcome::Scheduled(r) => {
                            p.spec.as_mut().unwrap().node_name = Some(r.suggested_host);
                            cache.assume_pod(p).unwrap();
                        }
                        other => panic!("pod {i} not scheduled: {other:?}"),
                    }
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
