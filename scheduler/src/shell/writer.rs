//! The scheduler's writes to the API server: binding through `pods/binding`, pod
//! status patches (PodScheduled condition, nominatedNodeName, DisruptionTarget)
//! and victim deletion — with the patches computed by pure functions.

use std::future::Future;

use capstan_runtime::errors;
use k8s_openapi::api::core::v1::{
    Binding, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::framework::PreBindWrite;

/// Upstream's limit on condition and event messages (`noteLengthLimit`).
pub const NOTE_LENGTH_LIMIT: usize = 1024;

/// A failed write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The object is gone.
    #[error("not found: {0}")]
    NotFound(String),
    /// Any other API error.
    #[error("api: {0}")]
    Api(String),
}

fn api_err(e: kube::Error) -> WriteError {
    if errors::is_not_found(&e) {
        WriteError::NotFound(errors::message(&e))
    } else {
        WriteError::Api(e.to_string())
    }
}

/// The writes the scheduler makes (implemented over `kube::Client` by
/// [`KubeWriter`], and by fakes in tests).
pub trait ApiWriter: Send + Sync + 'static {
    /// Binds the pod to the node (`POST pods/{name}/binding`).
    fn bind(&self, pod: &Pod, node: &str) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Applies a JSON merge patch to the pod's status subresource.
    fn patch_pod_status(
        &self,
        pod: &Pod,
        patch: Value,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Deletes a pod.
    fn delete_pod(&self, pod: &Pod) -> impl Future<Output = Result<(), WriteError>> + Send;
    /// Performs a PreBind plugin's write; returns the written object's
    /// resourceVersion.
    fn pre_bind_write(
        &self,
        write: &PreBindWrite,
    ) -> impl Future<Output = Result<String, WriteError>> + Send;
}

/// [`ApiWriter`] over a `kube::Client`.
#[derive(Clone)]
pub struct KubeWriter {
    client: kube::Client,
}

impl KubeWriter {
    /// A writer using `client`.
    pub fn new(client: kube::Client) -> Self {
        KubeWriter { client }
    }

    fn pods(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }
}

/// The Binding object DefaultBinder posts.
pub fn binding_for(pod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some(node.into()),
            ..Default::default()
        },
    }
}

impl ApiWriter for KubeWriter {
    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), WriteError> {
        let binding = binding_for(pod, node);
        let name = pod.metadata.name.as_deref().unwrap_or("");
        self.pods(pod)
            .create_subresource::<Binding, Value>("binding", name, &PostParams::default(), &binding)
            .await
            .map(|_| ())
            .map_err(api_err)
    }

    async fn patch_pod_status(&self, pod: &Pod, patch: Value) -> Result<(), WriteError> {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        self.pods(pod)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(api_err)
    }

    async fn delete_pod(&self, pod: &Pod) -> Result<(), WriteError> {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        self.pods(pod)
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(api_err)
    }

    async fn pre_bind_write(&self, write: &PreBindWrite) -> Result<String, WriteError> {
        let written = match write {
            PreBindWrite::AnnotateClaim {
                namespace,
                name,
                key,
                value,
            } => {
                let patch = json!({"metadata": {"annotations": {key: value}}});
                Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), namespace)
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_err)?
                    .metadata
            }
            PreBindWrite::UpdateVolume(pv) => {
                Api::<PersistentVolume>::all(self.client.clone())
                    .replace(
                        pv.metadata.name.as_deref().unwrap_or(""),
                        &PostParams::default(),
                        pv,
                    )
                    .await
                    .map_err(api_err)?
                    .metadata
            }
        };
        Ok(written.resource_version.unwrap_or_default())
    }
}

/// Truncates a message to [`NOTE_LENGTH_LIMIT`] bytes with a `...` suffix, as
/// upstream's `truncateMessage`.
pub fn truncate_message(msg: &str) -> String {
    if msg.len() <= NOTE_LENGTH_LIMIT {
        return msg.to_string();
    }
    let mut cut = NOTE_LENGTH_LIMIT - 3;
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &msg[..cut])
}

/// The pod's conditions with `cond` set as upstream's `UpdatePodCondition`:
/// `lastTransitionTime` kept when the status does not change. `None` when nothing
/// would change.
fn with_condition(pod: &Pod, cond: PodCondition, now: Timestamp) -> Option<Vec<PodCondition>> {
    let mut conds = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    match conds.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) => {
            if existing.status == cond.status
                && existing.reason == cond.reason
                && existing.message == cond.message
            {
                return None;
            }
            let transition = if existing.status == cond.status {
                existing.last_transition_time.clone()
            } else {
                Some(Time(now))
            };
            *existing = PodCondition {
                last_transition_time: transition,
                ..cond
            };
        }
        None => conds.push(PodCondition {
            last_transition_time: Some(Time(now)),
            ..cond
        }),
    }
    Some(conds)
}

/// The status patch after a failed attempt: `PodScheduled=False` with `reason`
/// (`Unschedulable`, `SchedulerError`) and the message, and `nominatedNodeName`
/// when `nominated` is `Some` (empty string clears it). `None` when the pod
/// already says so (no write needed).
pub fn pod_scheduled_failure_patch(
    pod: &Pod,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
    now: Timestamp,
) -> Option<Value> {
    let cond = PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(truncate_message(message)),
        ..Default::default()
    };
    let conds = with_condition(pod, cond, now);
    let current_nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .unwrap_or("");
    let nominated_change = nominated.filter(|n| *n != current_nominated);
    if conds.is_none() && nominated_change.is_none() {
        return None;
    }
    let mut status = serde_json::Map::new();
    if let Some(c) = conds {
        status.insert("conditions".into(), json!(c));
    }
    if let Some(n) = nominated_change {
        status.insert(
            "nominatedNodeName".into(),
            if n.is_empty() { Value::Null } else { json!(n) },
        );
    }
    Some(json!({ "status": status }))
}

/// The patch clearing a pod's `nominatedNodeName` (`None` when not set).
pub fn clear_nominated_node_patch(pod: &Pod) -> Option<Value> {
    pod.status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|_| json!({ "status": { "nominatedNodeName": null } }))
}

/// The `DisruptionTarget` condition set on a victim before it is deleted
/// (`None` when already set).
pub fn disruption_target_patch(
    victim: &Pod,
    scheduler_name: &str,
    now: Timestamp,
) -> Option<Value> {
    let cond = PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("PreemptionByScheduler".into()),
        message: Some(format!(
            "{scheduler_name}: preempting to accommodate a higher priority pod"
        )),
        ..Default::default()
    };
    with_condition(victim, cond, now).map(|c| json!({ "status": { "conditions": c } }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::PodBuilder;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn failure_patch_sets_condition_once() {
        let pod = PodBuilder::new("p").build();
        let patch = pod_scheduled_failure_patch(
            &pod,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            None,
            t(10),
        )
        .unwrap();
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["type"], "PodScheduled");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "Unschedulable");
        assert_eq!(c["message"], "0/1 nodes are available: 1 Insufficient cpu.");
        assert!(patch["status"].get("nominatedNodeName").is_none());
        // Apply it; the same failure again needs no write, a new message does and keeps
        // the transition time.
        let mut applied = pod.clone();
        applied.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
        assert!(
            pod_scheduled_failure_patch(
                &applied,
                "Unschedulable",
                "0/1 nodes are available: 1 Insufficient cpu.",
                None,
                t(20)
            )
            .is_none()
        );
        let p2 =
            pod_scheduled_failure_patch(&applied, "Unschedulable", "other", None, t(30)).unwrap();
        assert_eq!(
            p2["status"]["conditions"][0]["lastTransitionTime"],
            c["lastTransitionTime"]
        );
        // A nomination alone is a change.
        let p3 = pod_scheduled_failure_patch(
            &applied,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            Some("n1"),
            t(40),
        )
        .unwrap();
        assert_eq!(p3["status"]["nominatedNodeName"], "n1");
        assert!(p3["status"].get("conditions").is_none());
    }

    #[test]
    fn messages_are_truncated_like_upstream() {
        let long = "x".repeat(2000);
        let m = truncate_message(&long);
        assert_eq!(m.len(), NOTE_LENGTH_LIMIT);
        assert!(m.ends_with("..."));
        assert_eq!(truncate_message("short"), "short");
    }

    #[test]
    fn binding_and_victim_patches() {
        let pod = PodBuilder::new("p").build();
        let b = binding_for(&pod, "n1");
        assert_eq!(b.target.kind.as_deref(), Some("Node"));
        assert_eq!(b.target.name.as_deref(), Some("n1"));
        assert_eq!(b.metadata.uid.as_deref(), Some("p"));
        let patch = disruption_target_patch(&pod, "capstan-scheduler", t(1)).unwrap();
        assert_eq!(
            patch["status"]["conditions"][0]["reason"],
            "PreemptionByScheduler"
        );
        assert_eq!(
            patch["status"]["conditions"][0]["message"],
            "capstan-scheduler: preempting to accommodate a higher priority pod"
        );
        assert!(clear_nominated_node_patch(&pod).is_none());
    }
}
