//! Memory per cached pod — capstan's informer cache vs kube-runtime's reflector store —
//! and lister `get` latency, with 100,000 realistic pods (see `informer_pods`).
//!
//! A counting global allocator measures the heap growth each cache causes while being
//! filled with the same pods, deserialised from the JSON a real API server returns
//! (managedFields included). Run with:
//!
//! ```text
//! cargo bench -p capstan-runtime --bench informer_memory
//! ```
//!
//! `INFORMER_BENCH_PODS` overrides the pod count.

mod informer_pods;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use capstan_runtime::informer::SharedInformer;
use futures::stream;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{reflector, watcher};
use rand::Rng;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates every call to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn list_events(n: usize) -> impl Iterator<Item = watcher::Event<Pod>> {
    std::iter::once(watcher::Event::Init)
        .chain((0..n).map(|i| watcher::Event::InitApply(informer_pods::pod(i))))
        .chain(std::iter::once(watcher::Event::InitDone))
}

/// Fills a capstan informer (default transform: managedFields dropped, or none) through
/// its real event loop; returns the informer and the heap bytes it holds.
fn fill_ours(
    rt: &tokio::runtime::Runtime,
    n: usize,
    keep_managed_fields: bool,
) -> (SharedInformer<Pod>, isize) {
    rt.block_on(async {
        let before = live();
        let events = stream::iter(list_events(n).map(Ok::<_, watcher::Error>));
        let informer = SharedInformer::<Pod>::from_stream(events, None);
        if keep_managed_fields {
            informer.set_transform(None).expect("not started");
        }
        informer.start().expect("inside a runtime");
        informer.wait_for_sync().await.expect("syncs");
        assert_eq!(informer.lister().len(), n);
        (informer.clone(), live() - before)
    })
}

/// Fills kube-runtime's reflector store with the same objects, as `reflector()` would.
fn fill_reflector(n: usize) -> (reflector::Store<Pod>, reflector::store::Writer<Pod>, isize) {
    let before = live();
    let (reader, mut writer) = reflector::store::<Pod>();
    for event in list_events(n) {
        writer.apply_watcher_event(&event);
    }
    assert_eq!(reader.len(), n);
    let grown = live() - before;
    (reader, writer, grown)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: usize = std::env::var("INFORMER_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let json_bytes = serde_json::to_vec(&informer_pods::pod_json(0))
        .map(|v| v.len())
        .unwrap_or(0);
    let before = live();
    let one = informer_pods::pod(0);
    let one_heap = live() - before;
    drop(one);
    println!(
        "pods: {n}; one pod: {json_bytes} bytes of JSON, {one_heap} heap bytes as a k8s-openapi Pod (managedFields included)"
    );

    let (reader, writer, reflector_bytes) = fill_reflector(n);
    drop((reader, writer));
    let (ours, ours_bytes) = fill_ours(&rt, n, false);

    let per = |b: isize| b as f64 / n as f64;
    println!(
        "kube-runtime reflector Store : {:>8.0} bytes/pod ({:.1} MiB)",
        per(reflector_bytes),
        reflector_bytes as f64 / 1048576.0
    );
    println!(
        "capstan informer cache       : {:>8.0} bytes/pod ({:.1} MiB)  = {:.2}x the reflector",
        per(ours_bytes),
        ours_bytes as f64 / 1048576.0,
        ours_bytes as f64 / reflector_bytes as f64
    );

    // Lister get latency over random keys, on the informer filled above.
    let lister = ours.lister();
    let keys: Vec<(String, String)> = (0..n).map(informer_pods::pod_key).collect();
    let mut rng = rand::rng();
    let samples = 1_000_000;
    let mut lat = Vec::with_capacity(samples);
    let mut found = 0usize;
    for _ in 0..samples {
        let (ns, name) = &keys[rng.random_range(0..n)];
        // A controller looks up a key it just took from its queue: the query strings are
        // in cache. Touch them so the timing covers the lookup, not fetching the query.
        std::hint::black_box(ns.bytes().chain(name.bytes()).fold(0u8, u8::wrapping_add));
        let t = Instant::now();
        let got = lister.get(ns, name);
        lat.push(t.elapsed());
        found += usize::from(got.is_some());
    }
    assert_eq!(found, samples, "every key must be found");
    lat.sort_unstable();
    println!(
        "lister.get over {samples} random keys: p50 {:?}, p99 {:?}, p99.9 {:?} (includes ~20ns of timer overhead)",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999)
    );
    rt.block_on(ours.shutdown());
    drop(ours);
    drop(lister);

    let (kept, kept_bytes) = fill_ours(&rt, n, true);
    println!(
        "capstan informer, transform disabled (managedFields kept): {:>8.0} bytes/pod = {:.2}x the reflector",
        per(kept_bytes),
        kept_bytes as f64 / reflector_bytes as f64
    );
    rt.block_on(kept.shutdown());
}
