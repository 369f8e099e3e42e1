//! Memory per cached pod — capstan's informer cache vs kube-runtime's reflector store —
//! and lister `get` latency, with 100,000 realistic pods (see `informer_pods`).
//!
//! A counting global allocator measures the heap growth each cache causes while being
//! filled with the same pods, deserialised from the JSON a real API server returns
//! (managedFields included). Every comparison is like-for-like: both caches receive the
//! same objects through the same transform (capstan's informer transform, kube-runtime's
//! `WatchStreamExt::modify` on the stream `reflector()` consumes) and end up holding
//! identical objects (the reflector stores a clone, capstan's default transform compacts
//! with a clone), so what differs is each cache's per-object overhead, which is printed
//! beside the objects' own bytes. The like-for-like pair is measured in both orders.
//! A metadata-only pair (`PartialObjectMeta<Pod>` decoded from the
//! `PartialObjectMetadata` JSON a metadata watch returns) follows. Run with:
//!
//! ```text
//! cargo bench -p capstan-runtime --bench informer_memory
//! ```
//!
//! `INFORMER_BENCH_PODS` overrides the pod count.

mod informer_pods;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use capstan_runtime::informer::{
    SharedInformer, TransformFn, compact, default_transform, drop_managed_fields,
};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, reflector, watcher};
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

/// Pod `i` as a metadata-only watch returns it: the pod's `metadata` (managedFields
/// included) in a `meta.k8s.io/v1` `PartialObjectMetadata`, deserialised from bytes.
fn pod_meta(i: usize) -> PartialObjectMeta<Pod> {
    let mut json = informer_pods::pod_json(i);
    let metadata = json["metadata"].take();
    let partial = serde_json::json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": metadata,
    });
    let bytes = serde_json::to_vec(&partial).expect("serialises");
    serde_json::from_slice(&bytes).expect("valid PartialObjectMetadata")
}

fn list_events<K>(n: usize, make: fn(usize) -> K) -> impl Iterator<Item = watcher::Event<K>> {
    std::iter::once(watcher::Event::Init)
        .chain((0..n).map(move |i| watcher::Event::InitApply(make(i))))
        .chain(std::iter::once(watcher::Event::InitDone))
}

/// What each cache does to an incoming object before storing it.
#[derive(Clone, Copy, PartialEq)]
enum Transform {
    /// Drop managedFields (capstan: its default transform, which also compacts;
    /// kube-runtime: `.modify()` on the watcher stream — the reflector's clone compacts).
    DropManagedFields,
    /// Keep everything (capstan: `compact` only; kube-runtime: no `.modify()`).
    Keep,
    /// capstan only: transform disabled, objects stored exactly as deserialised.
    Raw,
}

/// The heap the objects alone occupy once transformed and compacted, i.e. what both
/// caches store, `size_of::<K>()` included (it lives inside the `Arc` in a cache).
fn objects_alone<K: Resource + Clone>(n: usize, make: fn(usize) -> K, t: Transform) -> isize {
    let before = live();
    let v: Vec<K> = (0..n)
        .map(|i| {
            let mut o = make(i);
            match t {
                Transform::DropManagedFields => default_transform(&mut o),
                Transform::Keep => compact(&mut o),
                Transform::Raw => {}
            }
            o
        })
        .collect();
    assert_eq!(v.capacity(), n);
    let grown = live() - before;
    drop(v);
    grown
}

/// Fills a capstan informer through its real event loop; returns it and the heap bytes
/// it holds.
fn fill_ours<K>(
    rt: &tokio::runtime::Runtime,
    n: usize,
    make: fn(usize) -> K,
    t: Transform,
) -> (SharedInformer<K>, isize)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    rt.block_on(async {
        let before = live();
        let events = stream::iter(list_events(n, make).map(Ok::<_, watcher::Error>));
        let informer = SharedInformer::<K>::from_stream(events, None);
        let transform: Option<TransformFn<K>> = match t {
            Transform::DropManagedFields => Some(Arc::new(default_transform::<K>)),
            Transform::Keep => Some(Arc::new(compact::<K>)),
            Transform::Raw => None,
        };
        informer.set_transform(transform).expect("not started");
        informer.start().expect("inside a runtime");
        informer.wait_for_sync().await.expect("syncs");
        assert_eq!(informer.lister().len(), n);
        (informer.clone(), live() - before)
    })
}

/// Fills kube-runtime's reflector store through `reflector()`, as a kube-rs controller
/// does, with `.modify()` dropping managedFields on the watcher stream when asked.
fn fill_reflector<K>(
    rt: &tokio::runtime::Runtime,
    n: usize,
    make: fn(usize) -> K,
    t: Transform,
) -> isize
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    assert!(t != Transform::Raw, "the reflector always stores a clone");
    let before = live();
    let (reader, writer) = reflector::store::<K>();
    let drop_mf = t == Transform::DropManagedFields;
    let events =
        stream::iter(list_events(n, make).map(Ok::<_, watcher::Error>)).modify(move |o: &mut K| {
            if drop_mf {
                drop_managed_fields(o);
            }
        });
    rt.block_on(reflector(writer, events).for_each(|_| async {}));
    assert_eq!(reader.len(), n);
    let grown = live() - before;
    drop(reader);
    grown
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Report {
    n: usize,
}

impl Report {
    fn row(&self, what: &str, bytes: isize, objects: isize, baseline: Option<isize>) {
        let per = |b: isize| b as f64 / self.n as f64;
        let ratio = baseline
            .map(|b| format!("  = {:.4}x", bytes as f64 / b as f64))
            .unwrap_or_default();
        println!(
            "{what:<66}: {:>8.0} bytes/obj ({:>7.1} MiB), overhead over the objects {:>5.0} bytes/obj{ratio}",
            per(bytes),
            bytes as f64 / 1048576.0,
            per(bytes - objects),
        );
    }
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
    let r = Report { n };
    let pod = informer_pods::pod as fn(usize) -> Pod;
    use Transform::*;

    // Like-for-like: managedFields dropped in both; the pair in both orders.
    println!(
        "\n== managedFields dropped in both (capstan default transform; reflector fed through .modify()) =="
    );
    let objects = objects_alone(n, pod, DropManagedFields);
    r.row(
        "the objects alone (Pod, managedFields dropped, compacted)",
        objects,
        objects,
        None,
    );
    let theirs_1 = fill_reflector(&rt, n, pod, DropManagedFields);
    let (ours, ours_1) = fill_ours(&rt, n, pod, DropManagedFields);

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
    drop(lister);
    rt.block_on(ours.shutdown());
    drop(ours);

    let (ours, ours_2) = fill_ours(&rt, n, pod, DropManagedFields);
    rt.block_on(ours.shutdown());
    drop(ours);
    let theirs_2 = fill_reflector(&rt, n, pod, DropManagedFields);
    r.row(
        "kube-runtime reflector Store, .modify() drops managedFields [1st]",
        theirs_1,
        objects,
        None,
    );
    r.row(
        "capstan informer, default transform [2nd]",
        ours_1,
        objects,
        Some(theirs_1),
    );
    r.row(
        "capstan informer, default transform [3rd]",
        ours_2,
        objects,
        None,
    );
    r.row(
        "kube-runtime reflector Store, .modify() drops managedFields [4th]",
        theirs_2,
        objects,
        Some(ours_2),
    );
    println!(
        "LIKE-FOR-LIKE: capstan / reflector = {:.4}x (mean of both orders)",
        (ours_1 + ours_2) as f64 / (theirs_1 + theirs_2) as f64
    );

    // managedFields kept in both.
    println!("\n== managedFields kept ==");
    let objects_kept = objects_alone(n, pod, Keep);
    r.row(
        "the objects alone (Pod, managedFields kept, compacted)",
        objects_kept,
        objects_kept,
        None,
    );
    let theirs_kept = fill_reflector(&rt, n, pod, Keep);
    r.row(
        "kube-runtime reflector Store, no .modify()",
        theirs_kept,
        objects_kept,
        None,
    );
    let (ours, ours_kept) = fill_ours(&rt, n, pod, Keep);
    rt.block_on(ours.shutdown());
    drop(ours);
    r.row(
        "capstan informer, transform = compact only",
        ours_kept,
        objects_kept,
        Some(theirs_kept),
    );
    let (ours, ours_raw) = fill_ours(&rt, n, pod, Raw);
    rt.block_on(ours.shutdown());
    drop(ours);
    r.row(
        "capstan informer, transform disabled (serde's Vec slack kept)",
        ours_raw,
        objects_kept,
        Some(theirs_kept),
    );
    println!(
        "not like-for-like (old headline): capstan default / reflector without .modify() = {:.3}x",
        (ours_1 + ours_2) as f64 / (2 * theirs_kept) as f64
    );

    // Metadata only.
    println!(
        "\n== metadata only: PartialObjectMeta<Pod> from PartialObjectMetadata JSON, managedFields dropped in both =="
    );
    let meta = pod_meta as fn(usize) -> PartialObjectMeta<Pod>;
    let objects_meta = objects_alone(n, meta, DropManagedFields);
    r.row(
        "the objects alone (PartialObjectMeta<Pod>, managedFields dropped)",
        objects_meta,
        objects_meta,
        None,
    );
    let theirs_meta = fill_reflector(&rt, n, meta, DropManagedFields);
    r.row(
        "kube-runtime reflector Store<PartialObjectMeta<Pod>>, .modify()",
        theirs_meta,
        objects_meta,
        None,
    );
    let (ours, ours_meta) = fill_ours(&rt, n, meta, DropManagedFields);
    rt.block_on(ours.shutdown());
    drop(ours);
    r.row(
        "capstan informer<PartialObjectMeta<Pod>>, default transform",
        ours_meta,
        objects_meta,
        Some(theirs_meta),
    );

    println!(
        "\nlister.get over {samples} random keys: p50 {:?}, p99 {:?}, p99.9 {:?} (includes ~20ns of timer overhead)",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999)
    );
}
