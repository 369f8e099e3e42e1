//! A Job's pods: the predicates upstream's Job controller uses (failed,
//! terminating, finished when, tracked by the finalizer) and the pod it creates
//! for an index (upstream's template preparation in `manageJob`).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::indexed::generate_name_with_index;
use super::{
    COMPLETION_INDEX_ENV, JOB_COMPLETION_INDEX_ANNOTATION, JOB_INDEX_FAILURE_COUNT_ANNOTATION,
    JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION, JOB_TRACKING_FINALIZER, spec,
};
use crate::util::pod::{is_ready, phase};
use crate::util::pod_control::{PodTemplateError, pod_from_template};

/// Whether the pod carries the `batch.kubernetes.io/job-tracking` finalizer.
pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == JOB_TRACKING_FINALIZER)
}

/// Whether the pod's phase is `Succeeded` or `Failed`.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether the pod is being deleted but has not reached a terminal phase
/// (upstream `IsPodTerminating`).
pub fn is_terminating(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// Whether the Job counts the pod as failed (upstream `isPodFailed`): phase
/// `Failed`, or — unless only failed pods are replaced — deleted before
/// succeeding (orphans that never reach a terminal phase).
pub fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    if spec::only_replace_failed_pods(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

/// Ready pods among `pods`.
pub fn count_ready<'a>(pods: impl IntoIterator<Item = &'a &'a Pod>) -> i32 {
    let n = pods.into_iter().filter(|p| is_ready(p)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Terminating pods among `pods` (upstream `CountTerminatingPods`).
pub fn count_terminating<'a>(pods: impl IntoIterator<Item = &'a &'a Pod>) -> i32 {
    let n = pods.into_iter().filter(|p| is_terminating(p)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// When the pod finished (upstream `getFinishedTime`): the latest
/// `finishedAt` when every container terminated, else the `Ready=False`
/// transition, else the deletion time less its grace period, else its creation.
/// `Timestamp::MIN` stands for Go's zero time.
pub fn finished_time(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let mut latest: Option<Timestamp> = None;
    let mut all_done = true;
    for c in containers {
        match c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
        {
            Some(t) => latest = Some(latest.map_or(t.0, |l| l.max(t.0))),
            None => {
                all_done = false;
                break;
            }
        }
    }
    if all_done && let Some(t) = latest {
        return t;
    }
    let ready_false = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.as_ref());
    if let Some(t) = ready_false {
        return t.0;
    }
    if let Some(d) = &pod.metadata.deletion_timestamp {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return d
            .0
            .checked_sub(SignedDuration::from_secs(grace))
            .unwrap_or(d.0);
    }
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::MIN, |t| t.0)
}

/// What one pod to create carries beyond the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPod {
    /// Its completion index (Indexed Jobs).
    pub index: Option<usize>,
    /// The index's failure counts (failed, ignored) to record (with
    /// `backoffLimitPerIndex`).
    pub failure_counts: Option<(i32, i32)>,
}

/// The pod to create for `job` (upstream `manageJob`'s template preparation):
/// the template with the tracking finalizer and the Job's controller
/// reference; for an index, the `JOB_COMPLETION_INDEX` environment variable
/// in every container, the completion index as annotation and label, the
/// hostname `<job>-<index>`, the `generateName` `<job>-<index>-`, and the
/// index's failure counts when the Job limits failures per index.
pub fn pod_to_create(
    job: &Job,
    controller_ref: OwnerReference,
    new: NewPod,
) -> Result<Pod, PodTemplateError> {
    let mut pod = pod_from_template(job, controller_ref)?;
    let finalizers = pod.metadata.finalizers.get_or_insert_default();
    if !finalizers.iter().any(|f| f == JOB_TRACKING_FINALIZER) {
        finalizers.push(JOB_TRACKING_FINALIZER.to_string());
    }
    let Some(index) = new.index else {
        return Ok(pod);
    };
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let ix = index.to_string();
    let annotations = pod.metadata.annotations.get_or_insert_default();
    annotations.insert(JOB_COMPLETION_INDEX_ANNOTATION.to_string(), ix.clone());
    if let Some((failed, ignored)) = new.failure_counts {
        annotations.insert(
            JOB_INDEX_FAILURE_COUNT_ANNOTATION.to_string(),
            failed.to_string(),
        );
        if ignored > 0 {
            annotations.insert(
                JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION.to_string(),
                ignored.to_string(),
            );
        }
    }
    pod.metadata
        .labels
        .get_or_insert_default()
        .insert(JOB_COMPLETION_INDEX_ANNOTATION.to_string(), ix);
    pod.metadata.generate_name = Some(generate_name_with_index(name, index));
    if let Some(spec) = pod.spec.as_mut() {
        spec.hostname = Some(format!("{name}-{index}"));
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            add_completion_index_env(c);
        }
    }
    Ok(pod)
}

/// Adds `JOB_COMPLETION_INDEX` from the pod's index label unless the container
/// sets it (upstream `addCompletionIndexEnvVariable` with `PodIndexLabel`).
fn add_completion_index_env(c: &mut Container) {
    let env = c.env.get_or_insert_default();
    if env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{JOB_COMPLETION_INDEX_ANNOTATION}']"),
            }),
            ..Default::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::{failed_pod, indexed_job, job, succeeded_pod};
    use crate::util::pod_control::PodOwner;
    use crate::util::testing::{at, pod};
    use crate::util::time::k8s;

    #[test]
    fn failure_depends_on_the_replacement_policy() {
        let mut j = job("w", Some(1), 1);
        let mut deleting = pod("a");
        deleting.metadata.deletion_timestamp = Some(k8s(at(5)));
        assert!(is_pod_failed(&deleting, &j));
        assert!(is_terminating(&deleting));
        assert!(is_pod_failed(&failed_pod(pod("b"), 1), &j));
        assert!(!is_pod_failed(&succeeded_pod(pod("c")), &j));
        j.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
        assert!(!is_pod_failed(&deleting, &j));
    }

    #[test]
    fn finish_time_prefers_containers_then_ready_then_deletion() {
        let f = failed_pod(pod("a"), 1);
        assert_eq!(finished_time(&f), at(20));
        let mut d = pod("b");
        d.metadata.deletion_timestamp = Some(k8s(at(100)));
        d.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(finished_time(&d), at(70));
        assert_eq!(finished_time(&pod("c")), at(0));
    }

    #[test]
    fn indexed_pods_carry_index_hostname_env_and_finalizer() {
        let j = indexed_job("sample", 3, 3);
        let p = pod_to_create(
            &j,
            j.controller_ref().unwrap(),
            NewPod {
                index: Some(2),
                failure_counts: Some((1, 0)),
            },
        )
        .unwrap();
        let ann = p.metadata.annotations.clone().unwrap();
        assert_eq!(ann[JOB_COMPLETION_INDEX_ANNOTATION], "2");
        assert_eq!(ann[JOB_INDEX_FAILURE_COUNT_ANNOTATION], "1");
        assert!(!ann.contains_key(JOB_INDEX_IGNORED_FAILURE_COUNT_ANNOTATION));
        assert_eq!(
            p.metadata.labels.clone().unwrap()[JOB_COMPLETION_INDEX_ANNOTATION],
            "2"
        );
        assert_eq!(p.metadata.generate_name.as_deref(), Some("sample-2-"));
        assert_eq!(
            p.metadata.finalizers,
            Some(vec![JOB_TRACKING_FINALIZER.to_string()])
        );
        let spec = p.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("sample-2"));
        let env = spec.containers[0].env.clone().unwrap();
        assert_eq!(env[0].name, COMPLETION_INDEX_ENV);
        assert_eq!(
            env[0]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
        );
        let plain = pod_to_create(
            &job("w", Some(1), 1),
            j.controller_ref().unwrap(),
            NewPod {
                index: None,
                failure_counts: None,
            },
        )
        .unwrap();
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("w-"));
        assert!(plain.spec.unwrap().hostname.is_none());
    }
}
