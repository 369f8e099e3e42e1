//! Criterion benchmark of `Lister::get` and `Lister::list` on a cache of 100,000
//! realistic pods. Run with:
//!
//! ```text
//! cargo bench -p capstan-runtime --bench informer_lister
//! ```

mod informer_pods;

use std::hint::black_box;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::informer::{
    Indexer, Lister, POD_NODE_NAME_INDEX, default_transform, parse_label_selector,
    pod_node_name_index,
};
use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use rand::Rng;

const PODS: usize = 100_000;

fn cache() -> Lister<Pod> {
    let indexer = Arc::new(Indexer::<Pod>::new());
    indexer
        .add_index(POD_NODE_NAME_INDEX, Arc::new(pod_node_name_index))
        .expect("fresh index");
    for i in 0..PODS {
        let mut pod = informer_pods::pod(i);
        default_transform(&mut pod);
        indexer.upsert(ObjectKey::of(&pod), Arc::new(pod));
    }
    Lister::new(indexer)
}

fn bench(c: &mut Criterion) {
    let lister = cache();
    let keys: Vec<(String, String)> = (0..PODS).map(informer_pods::pod_key).collect();
    let object_keys: Vec<ObjectKey> = keys
        .iter()
        .map(|(ns, n)| ObjectKey::namespaced(ns, n))
        .collect();
    let mut rng = rand::rng();

    c.bench_function("lister_get_random_100k", |b| {
        b.iter(|| {
            let (ns, name) = &keys[rng.random_range(0..PODS)];
            black_box(lister.get(ns, name))
        })
    });
    c.bench_function("lister_get_key_random_100k", |b| {
        b.iter(|| black_box(lister.get_key(&object_keys[rng.random_range(0..PODS)])))
    });
    let selector = parse_label_selector("app=web,tier in (frontend)").expect("valid");
    c.bench_function("lister_list_namespace_selector_1k", |b| {
        b.iter(|| black_box(lister.list(Some("team-042"), &selector)))
    });
    c.bench_function("lister_by_index_node_200", |b| {
        b.iter(|| black_box(lister.by_index(POD_NODE_NAME_INDEX, "node-0042")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
