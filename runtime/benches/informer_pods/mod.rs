//! Realistic pods for the informer benchmarks: what a real API server returns for a
//! Deployment's pod — labels, annotations, an owner reference, two containers with env,
//! ports, resources and volume mounts, volumes, status with conditions and container
//! statuses, and the managedFields of kube-controller-manager, kube-scheduler and
//! the kubelet.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// Pods are spread over this many namespaces.
pub const NAMESPACES: usize = 100;

/// The namespace and name of pod `i`.
pub fn pod_key(i: usize) -> (String, String) {
    (
        format!("team-{:03}", i % NAMESPACES),
        format!("web-{:08x}-{:05}", (i / 7) as u32 * 2_654_435_761, i),
    )
}

fn fields_v1_controller_manager() -> Value {
    json!({
        "f:metadata": {
            "f:generateName": {},
            "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}, "f:tier": {}, "f:version": {}},
            "f:annotations": {".": {}, "f:prometheus.io/scrape": {}, "f:prometheus.io/port": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"5f1a9c2e-8a44-4bd9-9a57-6d0a51c1f0aa\"}": {}}
        },
        "f:spec": {
            "f:containers": {
                "k:{\"name\":\"app\"}": {
                    ".": {}, "f:env": {".": {}, "k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"POD_IP\"}": {".": {}, "f:name": {}, "f:valueFrom": {".": {}, "f:fieldRef": {}}}},
                    "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                    "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                    "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                    "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {},
                    "f:volumeMounts": {".": {}, "k:{\"mountPath\":\"/etc/app\"}": {".": {}, "f:mountPath": {}, "f:name": {}, "f:readOnly": {}}}
                },
                "k:{\"name\":\"sidecar\"}": {
                    ".": {}, "f:env": {".": {}, "k:{\"name\":\"UPSTREAM\"}": {".": {}, "f:name": {}, "f:value": {}}},
                    "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                    "f:ports": {".": {}, "k:{\"containerPort\":9090,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                    "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                    "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {},
                    "f:volumeMounts": {".": {}, "k:{\"mountPath\":\"/var/run/proxy\"}": {".": {}, "f:mountPath": {}, "f:name": {}}}
                }
            },
            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
            "f:securityContext": {}, "f:terminationGracePeriodSeconds": {},
            "f:volumes": {".": {},
                "k:{\"name\":\"config\"}": {".": {}, "f:configMap": {".": {}, "f:defaultMode": {}, "f:name": {}}, "f:name": {}},
                "k:{\"name\":\"proxy\"}": {".": {}, "f:emptyDir": {}, "f:name": {}}}
        }
    })
}

fn fields_v1_kubelet() -> Value {
    json!({
        "f:status": {
            "f:conditions": {
                "k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"PodReadyToStartContainers\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
            },
            "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
            "f:podIPs": {".": {}, "k:{\"ip\":\"10.0.0.1\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}
        }
    })
}

fn container_status(name: &str, image: &str, i: usize) -> Value {
    json!({
        "name": name,
        "image": image,
        "imageID": format!("docker.io/library/{image}@sha256:{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
        "containerID": format!("containerd://{:064x}", (i as u128 + 17) * 0x517c_c1b7_2722_0a95),
        "ready": true,
        "restartCount": i % 3,
        "started": true,
        "state": {"running": {"startedAt": "2026-11-20T08:15:31Z"}},
        "lastState": {},
        "volumeMounts": [
            {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"}
        ]
    })
}

/// Pod `i` as the JSON a real API server returns.
pub fn pod_json(i: usize) -> Value {
    let (ns, name) = pod_key(i);
    let hash = format!("{:08x}", (i / 7) as u32 * 2_654_435_761);
    let node = format!("node-{:04}", i % 500);
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let host_ip = format!("192.168.{}.{}", (i % 500) / 250, (i % 500) % 250);
    let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T08:15:31Z"});
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("web-{hash}-"),
            "namespace": ns,
            "uid": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", i, i & 0xffff, i & 0xfff, (i >> 3) & 0xfff, i * 7919),
            "resourceVersion": (1_000_000 + i).to_string(),
            "creationTimestamp": "2026-11-20T08:15:29Z",
            "labels": {"app": "web", "tier": "frontend", "version": "v2", "pod-template-hash": hash},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                            "kubectl.kubernetes.io/restartedAt": "2026-11-19T22:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web-{hash}"),
                                 "uid": "5f1a9c2e-8a44-4bd9-9a57-6d0a51c1f0aa", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-11-20T08:15:29Z", "fieldsType": "FieldsV1", "fieldsV1": fields_v1_controller_manager()},
                {"manager": "kube-scheduler", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-11-20T08:15:29Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"PodScheduled\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-11-20T08:15:31Z", "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": fields_v1_kubelet()}
            ]
        },
        "spec": {
            "containers": [
                {"name": "app", "image": "registry.example.com/web/app:2.14.3", "imagePullPolicy": "IfNotPresent",
                 "env": [{"name": "LOG_LEVEL", "value": "info"},
                         {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
                 "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true},
                                  {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                 "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"},
                {"name": "sidecar", "image": "registry.example.com/proxy:1.30.1", "imagePullPolicy": "IfNotPresent",
                 "env": [{"name": "UPSTREAM", "value": "127.0.0.1:8080"}],
                 "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                 "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
                 "volumeMounts": [{"name": "proxy", "mountPath": "/var/run/proxy"},
                                  {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                 "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                {"name": "proxy", "emptyDir": {}},
                {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": node,
            "securityContext": {}, "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": "2026-11-20T08:15:29Z",
            "containerStatuses": [container_status("app", "registry.example.com/web/app:2.14.3", i),
                                  container_status("sidecar", "registry.example.com/proxy:1.30.1", i)],
            "qosClass": "Burstable"
        }
    })
}

/// Pod `i`, deserialised from its JSON bytes as a watcher would.
pub fn pod(i: usize) -> Pod {
    let bytes = serde_json::to_vec(&pod_json(i)).expect("pod JSON serialises");
    serde_json::from_slice(&bytes).expect("pod JSON is a valid Pod")
}
