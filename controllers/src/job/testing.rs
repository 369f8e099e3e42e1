//! Builders of Jobs and their pods for the Job controller's unit tests.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

use super::{JOB_COMPLETION_INDEX_ANNOTATION, JOB_TRACKING_FINALIZER};
use crate::util::pod_control::PodOwner;
use crate::util::testing::{at, labels, template};

/// The labels the API server puts on a Job's pod template (`controller-uid`).
fn job_labels(name: &str) -> std::collections::BTreeMap<String, String> {
    labels(&[
        ("batch.kubernetes.io/controller-uid", &format!("uid-{name}")),
        ("batch.kubernetes.io/job-name", name),
    ])
}

/// A NonIndexed Job `name` (uid `uid-<name>`) as the API server defaults it:
/// the given completions and parallelism, `backoffLimit` 6, `restartPolicy:
/// Never`, generation 1, created at `at(0)`.
pub fn job(name: &str, completions: Option<i32>, parallelism: i32) -> Job {
    let mut t: PodTemplateSpec = template("busybox");
    t.metadata = Some(ObjectMeta {
        labels: Some(job_labels(name)),
        ..Default::default()
    });
    if let Some(s) = t.spec.as_mut() {
        s.restart_policy = Some("Never".into());
    }
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(6),
            completion_mode: Some("NonIndexed".into()),
            suspend: Some(false),
            manual_selector: Some(false),
            pod_replacement_policy: Some("TerminatingOrFailed".into()),
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[(
                    "batch.kubernetes.io/controller-uid",
                    &format!("uid-{name}"),
                )])),
                match_expressions: None,
            }),
            template: t,
            ..Default::default()
        }),
        status: None,
    }
}

/// An Indexed Job.
pub fn indexed_job(name: &str, completions: i32, parallelism: i32) -> Job {
    let mut j = job(name, Some(completions), parallelism);
    j.spec.as_mut().unwrap().completion_mode = Some("Indexed".into());
    j
}

/// A pod (as [`crate::util::testing::pod`]) with completion index `ix`.
pub fn indexed_pod(name: &str, ix: usize) -> Pod {
    let mut p = crate::util::testing::pod(name);
    p.metadata
        .annotations
        .get_or_insert_default()
        .insert(JOB_COMPLETION_INDEX_ANNOTATION.into(), ix.to_string());
    p
}

/// The pod with the tracking finalizer.
pub fn tracked(mut p: Pod) -> Pod {
    p.metadata
        .finalizers
        .get_or_insert_default()
        .push(JOB_TRACKING_FINALIZER.into());
    p
}

/// The pod controlled by `job`, with its labels.
pub fn owned_by(mut p: Pod, job: &Job) -> Pod {
    p.metadata.owner_references = Some(vec![job.controller_ref().unwrap()]);
    p.metadata.labels = Some(job_labels(job.metadata.name.as_deref().unwrap()));
    p
}

fn terminated(mut p: Pod, phase: &str, code: i32, secs: i64) -> Pod {
    let st = p.status.get_or_insert_default();
    st.phase = Some(phase.into());
    st.container_statuses = Some(vec![ContainerStatus {
        name: "c".into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                finished_at: Some(Time(at(secs))),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    p
}

/// The pod `Succeeded`, its container finished at `at(20)`.
pub fn succeeded_pod(p: Pod) -> Pod {
    terminated(p, "Succeeded", 0, 20)
}

/// The pod `Succeeded`, finished at `at(secs)`.
pub fn succeeded_pod_at(p: Pod, secs: i64) -> Pod {
    terminated(p, "Succeeded", 0, secs)
}

/// The pod `Failed` with exit code `code`, finished at `at(20)`.
pub fn failed_pod(p: Pod, code: i32) -> Pod {
    terminated(p, "Failed", code, 20)
}

/// The pod `Failed` (exit code 1), finished at `at(secs)`.
pub fn failed_pod_at(p: Pod, secs: i64) -> Pod {
    terminated(p, "Failed", 1, secs)
}

/// The pod with condition `type_` of `status`.
pub fn with_condition(mut p: Pod, type_: &str, status: &str) -> Pod {
    p.status
        .get_or_insert_default()
        .conditions
        .get_or_insert_default()
        .push(PodCondition {
            type_: type_.into(),
            status: status.into(),
            ..Default::default()
        });
    p
}
