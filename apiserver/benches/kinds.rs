//! Benchmarks of the pure per-request work in capstan-apiserver's kinds modules: Table
//! rendering, defaulting + validation, schema validation/pruning of custom resources,
//! discovery documents and OpenAPI document builds.

use std::hint::black_box;
use std::sync::Arc;

use capstan_apiserver::kinds::Registry;
use capstan_apiserver::{crd, defaults, discovery, openapi, table, validation};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i}"), "namespace": "default", "uid": format!("uid-{i}"),
                     "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
             "readinessProbe": {"httpGet": {"port": 80}}}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 1,
                       "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:01:00Z"}}}]}
    })
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}], "livenessProbe": {"httpGet": {"port": 80}}}]}}}})
}

fn benches(c: &mut Criterion) {
    let registry = Registry::with_builtins();
    let pods_kind = registry.lookup("", "v1", "pods").expect("pods");
    let pods: Vec<Value> = (0..500).map(pod).collect();
    let now = Utc::now();
    c.bench_function("table/500_pods", |b| {
        b.iter(|| {
            table::to_table(
                &pods_kind,
                black_box(&pods),
                table::TableOptions::default(),
                now,
            )
        })
    });

    let deploy_kind = registry
        .lookup("apps", "v1", "deployments")
        .expect("deployments");
    c.bench_function("defaults+validate/deployment_create", |b| {
        b.iter(|| {
            let mut d = deployment();
            defaults::apply_defaults(&deploy_kind, &mut d);
            black_box(validation::validate(&deploy_kind, &d, None, None))
        })
    });
    let mut old = deployment();
    defaults::apply_defaults(&deploy_kind, &mut old);
    c.bench_function("defaults+validate/deployment_update", |b| {
        b.iter(|| {
            let mut d = deployment();
            d["spec"]["replicas"] = json!(3);
            defaults::apply_defaults(&deploy_kind, &mut d);
            black_box(validation::validate(&deploy_kind, &d, Some(&old), None))
        })
    });

    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
        "size": {"type": "integer", "minimum": 0}, "name": {"type": "string", "pattern": "^[a-z]+$"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {"type": "integer"}}}}}}}});
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 3, "name": "abc", "junk": 1, "items": (0..20).map(|i| json!({"k": format!("k{i}"), "v": i})).collect::<Vec<_>>()}});
    c.bench_function("crd/validate_and_prune_20_items", |b| {
        b.iter(|| {
            let mut obj = cr.clone();
            black_box(crd::schema::validate_and_prune(&schema, &mut obj))
        })
    });

    c.bench_function("discovery/aggregated_apis", |b| {
        b.iter(|| black_box(discovery::aggregated_discovery(&registry, false)))
    });

    let core_kinds: Vec<Arc<_>> = registry
        .all()
        .into_iter()
        .filter(|k| k.group.is_empty())
        .collect();
    c.bench_function("openapi/build_core_v1_uncached", |b| {
        b.iter(|| black_box(openapi::build_document("", "v1", &core_kinds)))
    });
    c.bench_function("openapi/index_cached", |b| {
        b.iter(|| black_box(openapi::openapi_v3_index(&registry)))
    });
    let p = pod(1);
    c.bench_function("openapi/unknown_fields_pod", |b| {
        b.iter(|| black_box(openapi::fields::unknown_fields(&registry, &pods_kind, &p)))
    });
}

criterion_group!(kinds, benches);
criterion_main!(kinds);
