//! The cost of writing JSON keys in Go's order (`capstan_apiserver::wire::to_vec`)
//! against plain `serde_json::to_vec` (sorted keys) of the same value: a pod as the
//! server stores it (defaults, status, managedFields) and a 500-pod list.
//!
//! `cargo bench -p capstan-apiserver --bench wire_order -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

/// A pod with what the server adds when it stores one (defaults, uid, managedFields)
/// and a running status.
fn stored_pod(i: usize) -> Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": format!("web-7d9f8c6b5-{i:05}"), "generateName": "web-7d9f8c6b5-",
            "namespace": "default", "uid": format!("5f0c7a4e-0000-4000-8000-{i:012}"),
            "resourceVersion": (1000 + i).to_string(), "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5",
                "uid": "0b7e0d8c-1111-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}},
                             "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}}}}}}]
        },
        "spec": {
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "containers": [{
                "name": "nginx", "image": "nginx:1.25",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "bench"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "kube-api-access", "readOnly": true,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-1",
            "securityContext": {}, "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-01-01T00:00:02Z"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-01-01T00:00:00Z"}],
            "hostIP": "10.0.0.2", "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}],
            "startTime": "2024-01-01T00:00:00Z",
            "containerStatuses": [{"name": "nginx", "state": {"running": {"startedAt": "2024-01-01T00:00:01Z"}},
                "lastState": {}, "ready": true, "restartCount": 0, "image": "nginx:1.25",
                "imageID": "docker.io/library/nginx@sha256:0000", "containerID": "containerd://0000", "started": true}],
            "qosClass": "Burstable"
        }
    })
}

fn benches(c: &mut Criterion) {
    let pod = stored_pod(0);
    let list = json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5000"},
        "items": (0..500).map(stored_pod).collect::<Vec<_>>(),
    });
    let mut group = c.benchmark_group("wire_order");
    group.bench_function("pod/serde_json::to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&pod)))
    });
    group.bench_function("pod/wire::to_vec", |b| {
        b.iter(|| capstan_apiserver::wire::to_vec(black_box(&pod)))
    });
    group.bench_function("list_500/serde_json::to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&list)))
    });
    group.bench_function("list_500/wire::to_vec", |b| {
        b.iter(|| capstan_apiserver::wire::to_vec(black_box(&list)))
    });
    group.finish();
}

criterion_group!(wire, benches);
criterion_main!(wire);
