//! Server-side apply of an unchanged ~40-field Deployment, in process.
//! Target (issue 4): at least 5,000 applies per second per core.

use capstan_patch::apply::{Manager, apply};
use capstan_patch::builtin_meta::builtin_patch_meta;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

/// A Deployment manifest with 40 leaf fields.
fn manifest() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default",
            "labels": {"app": "web", "tier": "frontend", "team": "core"},
            "annotations": {"owner": "platform"}},
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 5, "progressDeadlineSeconds": 600, "minReadySeconds": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "frontend"}},
                "spec": {
                    "serviceAccountName": "web", "terminationGracePeriodSeconds": 30,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
                    "volumes": [{"name": "cfg", "configMap": {"name": "web-cfg"}}],
                    "containers": [{
                        "name": "nginx", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                        "args": ["-g", "daemon off;"],
                        "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"},
                                  {"containerPort": 443, "protocol": "TCP", "name": "https"}],
                        "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"},
                                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                                      "requests": {"cpu": "100m", "memory": "128Mi"}},
                        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/nginx/conf.d", "readOnly": true}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5}
                    }]
                }
            }
        }
    })
}

fn bench_apply(c: &mut Criterion) {
    let meta = builtin_patch_meta("apps", "Deployment").expect("deployment meta");
    let mgr = Manager {
        name: "kubectl",
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        ignored: &["status"],
    };
    let cfg = manifest();
    let live = apply(&Value::Null, &cfg, meta, &mgr, false)
        .expect("first apply")
        .object;
    let leaves = capstan_patch::apply::field_set(&cfg, meta)
        .expect("set")
        .paths()
        .len();
    assert!(leaves >= 40, "manifest has {leaves} owned fields");
    c.bench_function("ssa_unchanged_deployment_40_fields", |b| {
        b.iter(|| {
            let out = apply(black_box(&live), black_box(&cfg), meta, &mgr, false).expect("apply");
            assert!(!out.changed);
            out
        })
    });
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);
