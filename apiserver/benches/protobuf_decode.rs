//! Decoding a protobuf request body (what kubectl 1.32+ and client-go's typed clients
//! send) into the server's JSON, next to parsing the same object sent as JSON.

use std::hint::black_box;

use capstan_apiserver::protobuf::{self, descriptors};
use criterion::{Criterion, criterion_group, criterion_main};
use prost_reflect::DynamicMessage;
use prost_reflect::prost::Message as _;
use serde_json::{Value, json};

/// A Deployment as client-go's protobuf encoder writes it (by-value fields present).
fn wire_deployment() -> Value {
    let meta = |name: &str| {
        json!({"name": name, "generateName": "", "namespace": "", "selfLink": "",
        "uid": "", "resourceVersion": "", "generation": 0, "creationTimestamp": {},
        "labels": {"app": "web", "tier": "frontend"}})
    };
    json!({
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": meta(""), "spec": {"containers": [{
                "name": "nginx", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 80, "hostPort": 0, "protocol": "TCP", "hostIP": ""}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {"requests": {"cpu": {"string": "100m"}, "memory": {"string": "64Mi"}},
                              "limits": {"memory": {"string": "128Mi"}}},
                "readinessProbe": {"handler": {"httpGet": {"path": "/", "port": {"type": 1, "intVal": 0, "strVal": "http"},
                    "host": "", "scheme": "HTTP"}}, "periodSeconds": 5, "initialDelaySeconds": 0,
                    "timeoutSeconds": 0, "successThreshold": 0, "failureThreshold": 0},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "subPath": ""}],
            }],
            "volumes": [{"name": "cfg", "volumeSource": {"configMap": {"localObjectReference": {"name": "cfg"}}}}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "", "nodeName": ""}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": {"type": 1, "intVal": 0, "strVal": "25%"},
                "maxUnavailable": {"type": 1, "intVal": 0, "strVal": "25%"}}},
            "minReadySeconds": 0, "paused": false,
        },
        "status": {},
    })
}

fn body() -> Vec<u8> {
    let desc = descriptors::message("k8s.io.api.apps.v1.Deployment").expect("Deployment");
    let msg = DynamicMessage::deserialize(desc, wire_deployment()).expect("valid message");
    let unknown = descriptors::message("k8s.io.apimachinery.pkg.runtime.Unknown").expect("Unknown");
    let raw = msg.encode_to_vec();
    let mut env = DynamicMessage::new(unknown);
    let type_meta =
        descriptors::message("k8s.io.apimachinery.pkg.runtime.TypeMeta").expect("TypeMeta");
    let mut tm = DynamicMessage::new(type_meta);
    tm.set_field_by_name("apiVersion", prost_reflect::Value::String("apps/v1".into()));
    tm.set_field_by_name("kind", prost_reflect::Value::String("Deployment".into()));
    env.set_field_by_name("typeMeta", prost_reflect::Value::Message(tm));
    env.set_field_by_name("raw", prost_reflect::Value::Bytes(raw.into()));
    let mut out = b"k8s\0".to_vec();
    out.extend(env.encode_to_vec());
    out
}

fn benches(c: &mut Criterion) {
    let pb = body();
    let decoded = protobuf::decode(&pb).expect("decodes");
    let json_bytes = serde_json::to_vec(&decoded).expect("serialises");
    let mut g = c.benchmark_group("request_body");
    g.bench_function("deployment_protobuf_to_json_value", |b| {
        b.iter(|| protobuf::decode(black_box(&pb)).expect("decodes"))
    });
    g.bench_function("deployment_json_to_json_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&json_bytes)).expect("parses"))
    });
    g.finish();
}

criterion_group!(decode, benches);
criterion_main!(decode);
