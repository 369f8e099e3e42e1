//! Carrying a deletion out (upstream `addConditionAndDeletePod`): the pod read fresh,
//! left alone when gone, replaced by another of its name or already terminating;
//! otherwise the `DisruptionTarget` condition through the status subresource, then
//! the delete, both for the pod's uid only.

use capstan_runtime::errors;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client};
use serde_json::{Value, json};

/// The pod condition set before the deletion.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Its reason (upstream's).
pub const DELETION_BY_TAINT_MANAGER: &str = "DeletionByTaintManager";
/// Its message (upstream's).
pub const DISRUPTION_MESSAGE: &str = "Taint manager: deleting due to NoExecute taint";

/// Why a deletion failed (the pod's key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum EvictError {
    /// Reading the pod failed.
    #[error("reading pod {pod}: {source}")]
    Get {
        /// `namespace/name`.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the `DisruptionTarget` condition failed.
    #[error("setting DisruptionTarget on pod {pod}: {source}")]
    Condition {
        /// `namespace/name`.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The delete failed.
    #[error("deleting pod {pod}: {source}")]
    Delete {
        /// `namespace/name`.
        pod: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// How a deletion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evicted {
    /// The pod was deleted.
    Deleted,
    /// Nothing to do: the pod is gone, is another pod of the same name, or is
    /// already terminating.
    Moot,
}

/// The strategic merge patch of the pod's status adding `DisruptionTarget=True`
/// (upstream `UpdatePodCondition` + `PatchPodStatus`, whose patch carries the uid),
/// or `None` when the pod already has it with this reason and message. The
/// transition time is kept when the status does not change.
pub fn disruption_target_patch(pod: &Pod, now: Timestamp) -> Option<Value> {
    let existing = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .find(|c| c.type_ == DISRUPTION_TARGET);
    if existing.is_some_and(|c| {
        c.status == "True"
            && c.reason.as_deref() == Some(DELETION_BY_TAINT_MANAGER)
            && c.message.as_deref() == Some(DISRUPTION_MESSAGE)
    }) {
        return None;
    }
    let transition = match existing {
        Some(c) if c.status == "True" => c.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let condition = PodCondition {
        type_: DISRUPTION_TARGET.into(),
        status: "True".into(),
        reason: Some(DELETION_BY_TAINT_MANAGER.into()),
        message: Some(DISRUPTION_MESSAGE.into()),
        last_transition_time: transition,
        ..Default::default()
    };
    Some(json!({
        "metadata": {"uid": pod.metadata.uid},
        "status": {"conditions": [condition]},
    }))
}

/// Deletes the pod `namespace/name` if it still is the pod of `uid` and not yet
/// terminating, after giving it the `DisruptionTarget` condition (stamped `now`).
pub async fn add_condition_and_delete(
    client: Client,
    namespace: &str,
    name: &str,
    uid: &str,
    now: Timestamp,
) -> Result<Evicted, EvictError> {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let pod_name = || format!("{namespace}/{name}");
    let pod = match api.get(name).await {
        Ok(p) => p,
        Err(e) if errors::is_not_found(&e) => return Ok(Evicted::Moot),
        Err(source) => {
            return Err(EvictError::Get {
                pod: pod_name(),
                source,
            });
        }
    };
    if pod.metadata.uid.as_deref() != Some(uid) || pod.metadata.deletion_timestamp.is_some() {
        return Ok(Evicted::Moot);
    }
    if let Some(patch) = disruption_target_patch(&pod, now) {
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => return Ok(Evicted::Moot),
            Err(source) => {
                return Err(EvictError::Condition {
                    pod: pod_name(),
                    source,
                });
            }
        }
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(Evicted::Deleted),
        // Gone meanwhile, or replaced by a pod of another uid (the precondition).
        Err(e) if errors::is_not_found(&e) || errors::is_conflict(&e) => Ok(Evicted::Moot),
        Err(source) => Err(EvictError::Delete {
            pod: pod_name(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod};
    use k8s_openapi::api::core::v1::PodStatus;

    fn with_condition(status: &str, reason: &str, message: &str, since: i64) -> Pod {
        let mut p = pod("p");
        p.status = Some(PodStatus {
            conditions: Some(vec![
                PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                },
                PodCondition {
                    type_: DISRUPTION_TARGET.into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    message: Some(message.into()),
                    last_transition_time: Some(Time(at(since))),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn the_condition_is_upstreams_and_written_once() {
        let patch = disruption_target_patch(&pod("p"), at(5)).expect("a patch");
        assert_eq!(patch["metadata"]["uid"], "uid-p", "the uid rides along");
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["type"], "DisruptionTarget");
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "DeletionByTaintManager");
        assert_eq!(
            c["message"],
            "Taint manager: deleting due to NoExecute taint"
        );
        assert_eq!(
            c["lastTransitionTime"],
            serde_json::to_value(Time(at(5))).unwrap()
        );
        assert_eq!(
            patch["status"]["conditions"].as_array().map(Vec::len),
            Some(1),
            "a strategic merge by type leaves the other conditions alone"
        );
        let done = with_condition("True", DELETION_BY_TAINT_MANAGER, DISRUPTION_MESSAGE, 1);
        assert_eq!(disruption_target_patch(&done, at(5)), None);
    }

    #[test]
    fn another_disruption_is_overwritten_keeping_or_moving_the_transition_time() {
        let preempted = with_condition("True", "PreemptionByScheduler", "preempted", 1);
        let patch = disruption_target_patch(&preempted, at(5)).expect("a patch");
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["reason"], "DeletionByTaintManager");
        assert_eq!(
            c["lastTransitionTime"],
            serde_json::to_value(Time(at(1))).unwrap(),
            "status unchanged: the transition time stays"
        );
        let cleared = with_condition("False", "PodGC", "cleared", 1);
        let patch = disruption_target_patch(&cleared, at(5)).expect("a patch");
        assert_eq!(
            patch["status"]["conditions"][0]["lastTransitionTime"],
            serde_json::to_value(Time(at(5))).unwrap()
        );
    }
}
