//! Builders of plain k8s-openapi values for the cores' unit tests.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    ReplicationController, ReplicationControllerSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

/// A timestamp `secs` seconds after a fixed epoch.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

/// Labels from pairs.
pub fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A pending, unscheduled pod named `name` with uid `uid-<name>`.
pub fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(labels(&[("app", "web")])),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

/// A running pod on `node-1`, ready since `since`.
pub fn ready_pod(name: &str, since: Timestamp) -> Pod {
    let mut p = pod(name);
    p.spec.get_or_insert_default().node_name = Some("node-1".into());
    let st = p.status.get_or_insert_default();
    st.phase = Some("Running".into());
    st.conditions = Some(vec![PodCondition {
        type_: "Ready".into(),
        status: "True".into(),
        last_transition_time: Some(Time(since)),
        ..Default::default()
    }]);
    p
}

/// Sets the restart count of the pod's only container.
pub fn with_restarts(mut p: Pod, n: i32) -> Pod {
    p.status.get_or_insert_default().container_statuses = Some(vec![ContainerStatus {
        name: "c".into(),
        restart_count: n,
        ..Default::default()
    }]);
    p
}

/// A pod template with label `app=web` and one container running `image`.
pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&[("app", "web")])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// A ReplicaSet `name` with `replicas` desired, created at `created`, and a status
/// claiming all of them exist and are available.
pub fn rs(name: &str, replicas: i32, created: Timestamp) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(created)),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            },
            template: Some(template("nginx:1")),
            min_ready_seconds: None,
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(replicas),
            available_replicas: Some(replicas),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

/// A ReplicationController `name` with `replicas` desired, selector and template
/// labels `app=web`, created at `created`, and no status.
pub fn rc(name: &str, replicas: i32, created: Timestamp) -> ReplicationController {
    let r = rs(name, replicas, created);
    let spec = r.spec.unwrap_or_default();
    ReplicationController {
        metadata: r.metadata,
        spec: Some(ReplicationControllerSpec {
            replicas: spec.replicas,
            selector: spec.selector.match_labels,
            template: spec.template,
            min_ready_seconds: spec.min_ready_seconds,
        }),
        status: None,
    }
}

/// Sets an RS's status counts (`replicas`, `available`; ready = available).
pub fn with_status(mut r: ReplicaSet, replicas: i32, available: i32) -> ReplicaSet {
    let st = r.status.get_or_insert_default();
    st.replicas = replicas;
    st.ready_replicas = Some(available);
    st.available_replicas = Some(available);
    r
}

/// Sets an annotation.
pub fn annotate<K: kube::Resource>(mut obj: K, k: &str, v: &str) -> K {
    obj.meta_mut()
        .annotations
        .get_or_insert_default()
        .insert(k.into(), v.into());
    obj
}

/// A RollingUpdate Deployment `web` with the given replicas, maxSurge and
/// maxUnavailable, template `nginx:1`, generation 1.
pub fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("uid-web".into()),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            },
            template: template("nginx:1"),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        }),
        status: None,
    }
}

/// A fake API answering deletions: pods named `gone` are not found (404),
/// `stuck` fails (500, `etcd is sad`), every other deletion succeeds.
pub fn deletions_api() -> (kube::Client, capstan_runtime::fake_api::Log) {
    use capstan_runtime::fake_api;
    fake_api::client(|rec| {
        if rec.path.ends_with("/gone") {
            fake_api::status(404, "NotFound", "pods \"gone\" not found")
        } else if rec.path.ends_with("/stuck") {
            fake_api::status(500, "InternalError", "etcd is sad")
        } else {
            (
                http::StatusCode::OK,
                serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            )
        }
    })
}

/// The pod creations (POSTs to a `pods` collection) recorded by a fake API.
pub fn pod_creations(
    log: &capstan_runtime::fake_api::Log,
) -> Vec<capstan_runtime::fake_api::Recorded> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .cloned()
        .collect()
}

/// Polls `done` every 5 ms until it holds, panicking after 30 seconds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
