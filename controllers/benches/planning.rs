//! Cost of the planning cores on large inputs: the ReplicaSet deletion ranking,
//! the pod-template hash, and Deployment syncs (rolling step, proportional scale).

use std::collections::BTreeMap;
use std::hint::black_box;

use capstan_controllers::deployment::{DeploymentInput, compute_hash, plan_deployment};
use capstan_controllers::replicaset::ranking::pods_to_delete;
use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn labels() -> BTreeMap<String, String> {
    [("app".to_string(), "web".to_string())].into()
}

fn pod(i: usize) -> Pod {
    let ready = !i.is_multiple_of(7);
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-{i}")),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{i:08}")),
            creation_timestamp: Some(Time(ts((i % 5000) as i64))),
            labels: Some(labels()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: (!i.is_multiple_of(11)).then(|| format!("node-{}", i % 100)),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(
                if i.is_multiple_of(13) {
                    "Pending"
                } else {
                    "Running"
                }
                .into(),
            ),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(ts((i % 3000) as i64))),
                ..Default::default()
            }]),
            container_statuses: Some(vec![ContainerStatus {
                name: "c".into(),
                restart_count: (i % 3) as i32,
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels()),
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

fn deployment(replicas: i32, image: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("uid-web".into()),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            template: template(image),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("25%".into())),
                }),
            }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        }),
        status: None,
    }
}

fn rs(i: usize, replicas: i32, image: &str, desired: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("web-{i}")),
            namespace: Some("default".into()),
            uid: Some(format!("rs-{i}")),
            creation_timestamp: Some(Time(ts(i as i64))),
            generation: Some(1),
            annotations: Some(
                [
                    (
                        "deployment.kubernetes.io/revision".to_string(),
                        (i + 1).to_string(),
                    ),
                    (
                        "deployment.kubernetes.io/desired-replicas".to_string(),
                        desired.to_string(),
                    ),
                    (
                        "deployment.kubernetes.io/max-replicas".to_string(),
                        (desired + desired / 4).to_string(),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            template: Some(template(image)),
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

fn benches(c: &mut Criterion) {
    let pods: Vec<Pod> = (0..10_000).map(pod).collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    c.bench_function("replicaset/pods_to_delete 500 of 10000", |b| {
        b.iter(|| pods_to_delete(black_box(&refs), &refs, 500, ts(6000)))
    });

    let t = template("nginx:1.25");
    c.bench_function("deployment/compute_hash", |b| {
        b.iter(|| compute_hash(black_box(&t), Some(0)))
    });

    // A 1000-replica rollout mid-way: old at 600, new at 650.
    let d = deployment(1000, "nginx:2");
    let rss = vec![rs(0, 600, "nginx:1", 1000), rs(1, 650, "nginx:2", 1000)];
    c.bench_function("deployment/plan rolling step (2 RSes)", |b| {
        b.iter(|| {
            plan_deployment(DeploymentInput {
                deployment: black_box(&d),
                replica_sets: &rss,
                pods: &[],
                now: ts(100),
            })
        })
    });

    // Scaling 1000 → 3000 while 10 ReplicaSets hold pods.
    let d = deployment(3000, "nginx:9");
    let rss: Vec<ReplicaSet> = (0..10)
        .map(|i| rs(i, 125, &format!("nginx:{i}"), 1000))
        .collect();
    c.bench_function("deployment/plan proportional scale (10 RSes)", |b| {
        b.iter(|| {
            plan_deployment(DeploymentInput {
                deployment: black_box(&d),
                replica_sets: &rss,
                pods: &[],
                now: ts(100),
            })
        })
    });
}

criterion_group!(planning, benches);
criterion_main!(planning);
