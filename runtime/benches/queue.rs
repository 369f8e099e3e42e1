//! Work-queue throughput: a producer adds keys while workers `get` and `done` them,
//! side by side with a plain `tokio::sync::mpsc` channel carrying the same keys to the
//! same number of workers without dedup (with several workers the receiver is shared
//! behind a `tokio::sync::Mutex`, the usual way to fan an mpsc out).
//!
//! 30 % of the adds repeat a key added shortly before, as informer events for one
//! object do; the queue coalesces those it still holds, the channel delivers them all.
//! Throughput is in adds per second. `workqueue` is an unnamed queue (no metrics, as the
//! channel); `workqueue_with_metrics` a named one recording the `workqueue_*` metrics.
//!
//! Run: `cargo bench -p capstan-runtime --bench queue`

use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::queue::WorkQueue;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ADDS: usize = 10_000;
const DUPLICATE_RATIO: f64 = 0.3;

/// `ADDS` keys, 30 % of them repeating one of the 16 keys added just before.
fn keys() -> Vec<ObjectKey> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut keys: Vec<ObjectKey> = Vec::with_capacity(ADDS);
    let mut fresh = 0;
    for _ in 0..ADDS {
        if !keys.is_empty() && rng.random_bool(DUPLICATE_RATIO) {
            let back = rng.random_range(1..=keys.len().min(16));
            keys.push(keys[keys.len() - back].clone());
        } else {
            fresh += 1;
            keys.push(ObjectKey::namespaced("default", &format!("pod-{fresh}")));
        }
    }
    keys
}

async fn run_queue(keys: &[ObjectKey], workers: usize, name: Option<&str>) {
    let queue = match name {
        Some(name) => WorkQueue::<ObjectKey>::builder().name(name).build(),
        None => WorkQueue::<ObjectKey>::new(),
    };
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while let Some(key) = queue.get().await {
                    n += 1;
                    queue.done(&key);
                }
                n
            })
        })
        .collect();
    for key in keys {
        queue.add(key.clone());
    }
    queue.shut_down_with_drain().await;
    for h in handles {
        std::hint::black_box(h.await.unwrap_or(0));
    }
}

async fn run_mpsc(keys: &[ObjectKey], workers: usize) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ObjectKey>();
    let handles: Vec<_> = if workers == 1 {
        let mut rx = rx;
        vec![tokio::spawn(async move {
            let mut n = 0usize;
            while let Some(key) = rx.recv().await {
                n += 1;
                std::hint::black_box(&key);
            }
            n
        })]
    } else {
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        (0..workers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0usize;
                    loop {
                        let Some(key) = rx.lock().await.recv().await else {
                            break;
                        };
                        n += 1;
                        std::hint::black_box(&key);
                    }
                    n
                })
            })
            .collect()
    };
    for key in keys {
        // The receiver lives until the sender is dropped: sending cannot fail.
        let _ = tx.send(key.clone());
    }
    drop(tx);
    for h in handles {
        std::hint::black_box(h.await.unwrap_or(0));
    }
}

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = keys();
    let mut group = c.benchmark_group("queue_add_get_done");
    group.throughput(Throughput::Elements(ADDS as u64));
    group.measurement_time(Duration::from_secs(5));
    for workers in [1usize, 8] {
        group.bench_with_input(BenchmarkId::new("workqueue", workers), &workers, |b, &w| {
            b.to_async(&rt).iter(|| run_queue(&keys, w, None))
        });
        group.bench_with_input(
            BenchmarkId::new("workqueue_with_metrics", workers),
            &workers,
            |b, &w| b.to_async(&rt).iter(|| run_queue(&keys, w, Some("bench"))),
        );
        group.bench_with_input(BenchmarkId::new("mpsc", workers), &workers, |b, &w| {
            b.to_async(&rt).iter(|| run_mpsc(&keys, w))
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
