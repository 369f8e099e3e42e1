//! `persistentvolumeclaim-protection-controller` (upstream
//! `pkg/controller/volume/pvcprotection`): a deleted claim keeps its
//! `kubernetes.io/pvc-protection` finalizer while a scheduled pod uses it, and loses it
//! once none does; a live claim without the finalizer gets it.
//!
//! Which pods use a claim is pure ([`pod_uses_pvc`], [`claims_of_pod_event`]); the
//! shell ([`PvcProtectionController`]) asks the pod informer's cache first and, when it
//! finds no user, a live list of the namespace's pods, as upstream does, so a pod the
//! cache has not seen yet still holds the claim. Upstream batches claims by namespace to
//! share one live list among them; here each claim's reconcile lists on its own.

use capstan_runtime::controller::synced_all;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::informer::{EventHandlerFns, Lister, SharedInformer, SharedInformerFactory};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::{ContainerStatus, PersistentVolumeClaim, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::protection::{
    FinalizerPlan, ProtectionController, is_deletion_candidate, needs_finalizer,
};
use super::protection::{plan_protection, write_finalizers};
use crate::replicaset::controller::{SetupError, ensure_index};

/// The controller's upstream name (`--controllers`).
pub const CONTROLLER_NAME: &str = "persistentvolumeclaim-protection-controller";
/// Its queue's name (upstream's `pvcprotection`).
pub const QUEUE_NAME: &str = "pvcprotection";
/// The finalizer it removes (upstream's `PVCProtectionFinalizer`).
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// The pod index by claim (`<namespace>/<claim>`), upstream's `common.PodPVCIndex`.
pub const POD_PVC_INDEX: &str = "pod-pvc-index";

/// The claim an ephemeral volume's pod gets: `<pod>-<volume>` (upstream's
/// `ephemeral.VolumeClaimName`).
fn ephemeral_claim_name(pod: &Pod, volume: &str) -> String {
    format!("{}-{volume}", pod.name_any())
}

/// The claims a pod's volumes name, persistent and ephemeral, in volume order.
fn claim_names(pod: &Pod) -> Vec<String> {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
            (Some(claim), _) => Some(claim.claim_name.clone()),
            (None, Some(_)) => Some(ephemeral_claim_name(pod, &v.name)),
            (None, None) => None,
        })
        .collect()
}

/// Upstream's `PodPVCIndexFunc`: a pod filed under `<namespace>/<claim>` for every claim
/// its volumes name.
pub fn pod_pvc_index(pod: &Pod) -> Vec<String> {
    let ns = pod.namespace().unwrap_or_default();
    claim_names(pod)
        .into_iter()
        .map(|claim| format!("{ns}/{claim}"))
        .collect()
}

/// Upstream's `podIsShutDown`: deleted with a zero grace period (done by its node, or
/// force-deleted), so only waiting for removal.
fn pod_is_shut_down(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && pod.metadata.deletion_grace_period_seconds == Some(0)
}

/// Upstream's `podUsesPVC`: a pod on a node that names the claim in a
/// `persistentVolumeClaim` volume, or (until it is shut down) whose ephemeral volume's
/// claim it is and owns. Unscheduled pods do not count: no node starts a pod whose
/// claim is being deleted.
pub fn pod_uses_pvc(pod: &Pod, pvc: &PersistentVolumeClaim) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    if spec.node_name.as_deref().unwrap_or("").is_empty() {
        return false;
    }
    let claim = pvc.name_any();
    spec.volumes.iter().flatten().any(|v| {
        if let Some(c) = &v.persistent_volume_claim {
            return c.claim_name == claim;
        }
        v.ephemeral.is_some()
            && !pod_is_shut_down(pod)
            && ephemeral_claim_name(pod, &v.name) == claim
            && owned_by(pvc, pod)
    })
}

/// Upstream's `ephemeral.VolumeIsForPod`: the claim's controller is the pod.
fn owned_by(pvc: &PersistentVolumeClaim, pod: &Pod) -> bool {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    pvc.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// Upstream's `volumeutil.IsPodTerminated`: finished, or deleted with no container
/// running.
pub fn is_pod_terminated(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return pod.metadata.deletion_timestamp.is_some();
    };
    if matches!(status.phase.as_deref(), Some("Failed" | "Succeeded")) {
        return true;
    }
    let not_running = |list: &Option<Vec<ContainerStatus>>| {
        list.iter().flatten().all(|c| {
            c.state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some() || s.waiting.is_some())
        })
    };
    pod.metadata.deletion_timestamp.is_some()
        && not_running(&status.init_container_statuses)
        && not_running(&status.container_statuses)
        && not_running(&status.ephemeral_container_statuses)
}

/// Upstream's `enqueuePVCs`: the claims to look at after a pod event — none for a
/// running scheduled pod (it cannot free a claim), every claim it names otherwise.
pub fn claims_of_pod_event(pod: &Pod, deleted: bool) -> Vec<ObjectKey> {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if !deleted && !is_pod_terminated(pod) && scheduled {
        return Vec::new();
    }
    let ns = pod.namespace().unwrap_or_default();
    claim_names(pod)
        .iter()
        .map(|claim| ObjectKey::namespaced(&ns, claim))
        .collect()
}

/// Upstream's `pvcAddedUpdated` filter: a claim matters when it needs the finalizer or
/// may lose it.
pub fn claim_needs_attention(pvc: &PersistentVolumeClaim) -> bool {
    needs_finalizer(&pvc.metadata, PVC_PROTECTION_FINALIZER)
        || is_deletion_candidate(&pvc.metadata, PVC_PROTECTION_FINALIZER)
}

/// Why a claim's reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum PvcProtectionError {
    /// The pod cache's claim index could not be read.
    #[error("cache-based list of pods failed while processing {claim}: {source}")]
    Index {
        /// `<namespace>/<claim>`.
        claim: String,
        /// The index error.
        source: capstan_runtime::informer::IndexError,
    },
    /// Listing the namespace's pods from the API server failed.
    #[error("live list of pods failed: {0}")]
    LiveList(kube::Error),
    /// Writing the claim's finalizers failed (a conflict with a newer claim too).
    #[error("writing the finalizers of PVC {claim}: {source}")]
    Write {
        /// `<namespace>/<claim>`.
        claim: String,
        /// The API error.
        source: kube::Error,
    },
}

/// One claim's reconcile: upstream's `processPVC`.
pub struct PvcProtectionReconciler {
    claims: Lister<PersistentVolumeClaim>,
    pods: SharedInformer<Pod>,
    client: Client,
}

impl PvcProtectionReconciler {
    /// Upstream's `isBeingUsed`: a user in the pod cache, else in a live list.
    async fn is_being_used(&self, pvc: &PersistentVolumeClaim) -> Result<bool, PvcProtectionError> {
        let ns = pvc.namespace().unwrap_or_default();
        let key = format!("{ns}/{}", pvc.name_any());
        let cached = self
            .pods
            .lister()
            .by_index(POD_PVC_INDEX, &key)
            .map_err(|source| PvcProtectionError::Index {
                claim: key.clone(),
                source,
            })?;
        if cached.iter().any(|p| pod_uses_pvc(p, pvc)) {
            return Ok(true);
        }
        let live = Api::<Pod>::namespaced(self.client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .map_err(PvcProtectionError::LiveList)?;
        Ok(live.items.iter().any(|p| pod_uses_pvc(p, pvc)))
    }
}

impl Reconciler for PvcProtectionReconciler {
    type Error = PvcProtectionError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, PvcProtectionError> {
        let Some(pvc) = self.claims.get_key(&key) else {
            return Ok(Action::Done);
        };
        let plan = plan_protection(&pvc.metadata, PVC_PROTECTION_FINALIZER, || {
            self.is_being_used(&pvc)
        })
        .await?;
        if plan == FinalizerPlan::Keep {
            tracing::debug!(pvc = %key, "keeping PVC");
            return Ok(Action::Done);
        }
        let api = Api::namespaced(self.client.clone(), key.namespace().unwrap_or_default());
        write_finalizers(&api, pvc.as_ref(), PVC_PROTECTION_FINALIZER, plan)
            .await
            .map_err(|source| PvcProtectionError::Write {
                claim: key.to_string(),
                source,
            })?;
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `persistentvolumeclaim-protection-controller`.
pub type PvcProtectionController = ProtectionController<PvcProtectionReconciler>;

impl PvcProtectionController {
    /// Builds it on `factory`'s claim and pod informers (the pods indexed by claim),
    /// writing through `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        workers: usize,
    ) -> Result<Self, SetupError> {
        let claims = factory.informer::<PersistentVolumeClaim>();
        let pods = factory.informer::<Pod>();
        ensure_index(&pods, POD_PVC_INDEX, pod_pvc_index)?;
        let synced = synced_all([claims.synced_check(), pods.synced_check()]);
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(workers)
            .wait_for(synced.clone())
            .build(PvcProtectionReconciler {
                claims: claims.lister(),
                pods: pods.clone(),
                client,
            });
        let queue = controller.queue();
        let (q1, q2) = (queue.clone(), queue.clone());
        claims.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |pvc: Arc<PersistentVolumeClaim>, _| enqueue_claim(&q1, &pvc))
                .on_update(move |_, pvc: Arc<PersistentVolumeClaim>| enqueue_claim(&q2, &pvc)),
        )?;
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue);
        pods.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |pod: Arc<Pod>, _| add_all(&q1, claims_of_pod_event(&pod, false)))
                .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                    add_all(&q2, claims_of_pod_event(&new, false));
                    // An update may hide the deletion of a pod and the creation of
                    // another of the same name: the old one's claims are freed.
                    if old.metadata.uid != new.metadata.uid {
                        add_all(&q2, claims_of_pod_event(&old, true));
                    }
                })
                .on_delete(move |gone| add_all(&q3, claims_of_pod_event(gone.last_state(), true))),
        )?;
        Ok(Self { controller, synced })
    }
}

fn enqueue_claim(queue: &WorkQueue<ObjectKey>, pvc: &PersistentVolumeClaim) {
    if claim_needs_attention(pvc) {
        queue.add(ObjectKey::of(pvc));
    }
}

fn add_all(queue: &WorkQueue<ObjectKey>, keys: Vec<ObjectKey>) {
    for key in keys {
        queue.add(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn pod_with(name: &str, node: &str, volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c"}], "volumes": volumes},
        }))
        .unwrap()
    }

    fn claim(name: &str, owner_uid: Option<&str>) -> PersistentVolumeClaim {
        let mut meta = json!({"name": name, "namespace": "ns"});
        if let Some(uid) = owner_uid {
            meta["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Pod", "name": "p",
                "uid": uid, "controller": true}]);
        }
        serde_json::from_value(json!({"metadata": meta})).unwrap()
    }

    fn data_volume() -> serde_json::Value {
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    }

    fn scratch_volume() -> serde_json::Value {
        json!([{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}])
    }

    fn shut_down(mut p: Pod) -> Pod {
        p.metadata.deletion_timestamp = Some(Time(at(0)));
        p.metadata.deletion_grace_period_seconds = Some(0);
        p
    }

    fn finished(mut p: Pod) -> Pod {
        p.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).unwrap());
        p
    }

    #[test]
    fn users_of_a_claim_are_found_as_upstream_finds_them() {
        let data = claim("data", None);
        let scratch = claim("p-scratch", Some("uid-p"));
        let foreign_scratch = claim("p-scratch", Some("uid-other"));
        let table = [
            (
                "a scheduled pod naming it",
                pod_with("p", "n1", data_volume()),
                &data,
                true,
            ),
            (
                "an unscheduled pod",
                pod_with("p", "", data_volume()),
                &data,
                false,
            ),
            (
                "another claim",
                pod_with("p", "n1", data_volume()),
                &scratch,
                false,
            ),
            (
                "a finished pod still holds it",
                finished(pod_with("p", "n1", data_volume())),
                &data,
                true,
            ),
            (
                "a shut-down pod still names it",
                shut_down(pod_with("p", "n1", data_volume())),
                &data,
                true,
            ),
            (
                "its ephemeral claim",
                pod_with("p", "n1", scratch_volume()),
                &scratch,
                true,
            ),
            (
                "an ephemeral claim of the same name another pod owns",
                pod_with("p", "n1", scratch_volume()),
                &foreign_scratch,
                false,
            ),
            (
                "its ephemeral claim once it is shut down",
                shut_down(pod_with("p", "n1", scratch_volume())),
                &scratch,
                false,
            ),
        ];
        for (case, pod, pvc, want) in table {
            assert_eq!(pod_uses_pvc(&pod, pvc), want, "{case}");
        }
    }

    #[test]
    fn pod_events_enqueue_the_claims_they_may_free() {
        let keys = |p: &Pod, deleted| {
            claims_of_pod_event(p, deleted)
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
        };
        let volumes = json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
        ]);
        let running = pod_with("p", "n1", volumes.clone());
        assert!(
            keys(&running, false).is_empty(),
            "a running pod frees nothing"
        );
        let both = vec!["ns/data".to_string(), "ns/p-scratch".to_string()];
        assert_eq!(keys(&running, true), both, "deleted");
        assert_eq!(keys(&finished(running.clone()), false), both, "finished");
        assert_eq!(
            keys(&pod_with("p", "", volumes), false),
            both,
            "unscheduled"
        );
        assert_eq!(pod_pvc_index(&running), both);
    }

    #[test]
    fn a_deleted_pod_is_terminated_once_nothing_runs() {
        let mut p = pod_with("p", "n1", json!([]));
        assert!(!is_pod_terminated(&p));
        p.metadata.deletion_timestamp = Some(Time(at(0)));
        p.status = Some(
            serde_json::from_value(json!({"phase": "Running", "containerStatuses": [
                {"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {}}}]}))
            .unwrap(),
        );
        assert!(!is_pod_terminated(&p), "a container still runs");
        p.status = Some(
            serde_json::from_value(json!({"phase": "Running", "containerStatuses": [
                {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0}}}]}))
            .unwrap(),
        );
        assert!(is_pod_terminated(&p));
    }

    #[test]
    fn claims_matter_when_they_need_or_may_lose_the_finalizer() {
        let mut c = claim("data", None);
        assert!(claim_needs_attention(&c), "no finalizer yet");
        c.metadata.finalizers = Some(vec![PVC_PROTECTION_FINALIZER.into()]);
        assert!(!claim_needs_attention(&c), "settled");
        c.metadata.deletion_timestamp = Some(Time(at(0)));
        assert!(claim_needs_attention(&c), "deleted");
    }
}
