//! Work-queue throughput in deliveries per second, against a real MPMC channel.
//!
//! A producer adds `ADDS` keys while 1 or 8 worker tasks take them (`get` + `done` for
//! the queue, `recv` for the channel); 30 % of the adds repeat one of the 16 keys added
//! just before, as informer events for one object do. The queue coalesces a repeat it
//! still holds, so how many keys it delivers depends on how far its workers lag; adds
//! per second would flatter it the more it lags. What is compared is therefore what a
//! controller gets done: **deliveries** per second (keys handed to a worker), with the
//! deliveries per add printed beside it.
//!
//! The baseline is `async-channel`, a multi-producer multi-consumer channel each
//! worker receives from directly, delivering every add (no dedup). `workqueue` is an
//! unnamed queue (no metrics, as the channel); `workqueue_with_metrics` a named one
//! recording the seven `workqueue_*` metrics.
//!
//! Each round runs every variant once, the order alternating between rounds, on a
//! two-thread tokio runtime; the median of `ROUNDS` rounds is printed, with the range
//! of the middle half of the rounds (quartiles), and the ratio to the channel both of
//! the medians and, as a check on noise, the median of the per-round ratios (each round
//! runs the variant and the channel back to back).
//!
//! Run: `cargo bench -p capstan-runtime --bench queue`

use std::time::{Duration, Instant};

use capstan_runtime::ObjectKey;
use capstan_runtime::queue::WorkQueue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ADDS: usize = 200_000;
const DUPLICATE_RATIO: f64 = 0.3;
const ROUNDS: usize = 11;

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

/// One run's wall time and the keys delivered to workers.
struct Run {
    elapsed: Duration,
    delivered: usize,
}

async fn run_queue(keys: &[ObjectKey], workers: usize, name: Option<&str>) -> Run {
    let queue = match name {
        Some(name) => WorkQueue::<ObjectKey>::builder().name(name).build(),
        None => WorkQueue::<ObjectKey>::new(),
    };
    let start = Instant::now();
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
    let mut delivered = 0;
    for h in handles {
        delivered += h.await.unwrap_or(0);
    }
    Run {
        elapsed: start.elapsed(),
        delivered,
    }
}

async fn run_channel(keys: &[ObjectKey], workers: usize) -> Run {
    let (tx, rx) = async_channel::unbounded::<ObjectKey>();
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while let Ok(key) = rx.recv().await {
                    n += 1;
                    std::hint::black_box(&key);
                }
                n
            })
        })
        .collect();
    drop(rx);
    for key in keys {
        // The receivers live until the sender closes: sending cannot fail.
        let _ = tx.try_send(key.clone());
    }
    drop(tx);
    let mut delivered = 0;
    for h in handles {
        delivered += h.await.unwrap_or(0);
    }
    Run {
        elapsed: start.elapsed(),
        delivered,
    }
}

const VARIANTS: [&str; 3] = ["workqueue", "workqueue_with_metrics", "async_channel"];

fn median(v: &[f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let keys = keys();
    for workers in [1usize, 8] {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        let mut per_add: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for round in 0..ROUNDS {
            let mut order: Vec<usize> = (0..VARIANTS.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for v in order {
                let run = rt.block_on(async {
                    match v {
                        0 => run_queue(&keys, workers, None).await,
                        1 => run_queue(&keys, workers, Some("bench")).await,
                        _ => run_channel(&keys, workers).await,
                    }
                });
                rates[v].push(run.delivered as f64 / run.elapsed.as_secs_f64());
                per_add[v].push(run.delivered as f64 / ADDS as f64);
            }
        }
        let channel = median(&rates[2]);
        for (v, name) in VARIANTS.iter().enumerate() {
            let rate = median(&rates[v]);
            let per_round: Vec<f64> = rates[v].iter().zip(&rates[2]).map(|(r, c)| r / c).collect();
            println!(
                "queue/{name}/{workers} workers: {:.2} M deliveries/s (quartiles {:.2}–{:.2}; {:.3} deliveries per add), {:.2}x the channel (per round: median {:.2}x)",
                rate / 1e6,
                quantile(&rates[v], 0.25) / 1e6,
                quantile(&rates[v], 0.75) / 1e6,
                median(&per_add[v]),
                rate / channel,
                median(&per_round),
            );
        }
    }
}
