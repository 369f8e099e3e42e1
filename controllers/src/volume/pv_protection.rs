//! `persistentvolume-protection-controller` (upstream
//! `pkg/controller/volume/pvprotection`): a deleted PersistentVolume keeps its
//! `kubernetes.io/pv-protection` finalizer while it is `Bound` to a claim and loses it
//! once it is not; a live volume without the finalizer gets it.

use std::sync::Arc;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::informer::{EventHandlerFns, InformerError, Lister, SharedInformerFactory};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::{Api, Client};

use super::protection::{
    FinalizerPlan, ProtectionController, is_deletion_candidate, needs_finalizer, plan_protection,
    write_finalizers,
};

/// The controller's upstream name (`--controllers`).
pub const CONTROLLER_NAME: &str = "persistentvolume-protection-controller";
/// Its queue's name (upstream's `pvprotection`).
pub const QUEUE_NAME: &str = "pvprotection";
/// The finalizer it removes (upstream's `PVProtectionFinalizer`).
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

/// Upstream's `isBeingUsed`: a volume is in use while its status says `Bound` (the
/// persistent volume controller keeps that phase).
pub fn is_being_used(pv: &PersistentVolume) -> bool {
    pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

/// Upstream's `pvAddedUpdated` filter: a volume matters when it needs the finalizer or
/// may lose it.
pub fn volume_needs_attention(pv: &PersistentVolume) -> bool {
    needs_finalizer(&pv.metadata, PV_PROTECTION_FINALIZER)
        || is_deletion_candidate(&pv.metadata, PV_PROTECTION_FINALIZER)
}

/// Why a volume's reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum PvProtectionError {
    /// Writing the volume's finalizers failed (a conflict with a newer volume too).
    #[error("writing the finalizers of PV {volume}: {source}")]
    Write {
        /// The volume's name.
        volume: String,
        /// The API error.
        source: kube::Error,
    },
}

/// One volume's reconcile: upstream's `processPV`.
pub struct PvProtectionReconciler {
    volumes: Lister<PersistentVolume>,
    api: Api<PersistentVolume>,
}

impl Reconciler for PvProtectionReconciler {
    type Error = PvProtectionError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, PvProtectionError> {
        let Some(pv) = self.volumes.get_key(&key) else {
            return Ok(Action::Done);
        };
        let used = is_being_used(&pv);
        let plan = plan_protection(&pv.metadata, PV_PROTECTION_FINALIZER, || async move {
            Ok::<_, PvProtectionError>(used)
        })
        .await?;
        if plan == FinalizerPlan::Keep {
            return Ok(Action::Done);
        }
        write_finalizers(&self.api, pv.as_ref(), PV_PROTECTION_FINALIZER, plan)
            .await
            .map_err(|source| PvProtectionError::Write {
                volume: key.name().to_string(),
                source,
            })?;
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `persistentvolume-protection-controller`.
pub type PvProtectionController = ProtectionController<PvProtectionReconciler>;

impl PvProtectionController {
    /// Builds it on `factory`'s PersistentVolume informer, writing through `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        workers: usize,
    ) -> Result<Self, InformerError> {
        let volumes = factory.informer::<PersistentVolume>();
        let synced = volumes.synced_check();
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(workers)
            .wait_for(synced.clone())
            .build(PvProtectionReconciler {
                volumes: volumes.lister(),
                api: Api::all(client),
            });
        let (q1, q2) = (controller.queue(), controller.queue());
        volumes.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |pv: Arc<PersistentVolume>, _| enqueue(&q1, &pv))
                .on_update(move |_, pv: Arc<PersistentVolume>| enqueue(&q2, &pv)),
        )?;
        Ok(Self { controller, synced })
    }
}

fn enqueue(queue: &WorkQueue<ObjectKey>, pv: &PersistentVolume) {
    if volume_needs_attention(pv) {
        queue.add(ObjectKey::of(pv));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn volume(phase: Option<&str>, finalizers: &[&str], deleted: bool) -> PersistentVolume {
        let mut v = json!({"metadata": {"name": "disk", "finalizers": finalizers}});
        if deleted {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        if let Some(p) = phase {
            v["status"] = json!({"phase": p});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_volume_is_in_use_while_bound() {
        let table = [
            (Some("Bound"), true),
            (Some("Released"), false),
            (Some("Available"), false),
            (Some("Pending"), false),
            (None, false),
        ];
        for (phase, want) in table {
            assert_eq!(is_being_used(&volume(phase, &[], false)), want, "{phase:?}");
        }
    }

    #[test]
    fn volumes_matter_when_they_need_or_may_lose_the_finalizer() {
        let f = PV_PROTECTION_FINALIZER;
        assert!(volume_needs_attention(&volume(None, &[], false)));
        assert!(!volume_needs_attention(&volume(None, &[f], false)));
        assert!(volume_needs_attention(&volume(Some("Bound"), &[f], true)));
        assert!(!volume_needs_attention(&volume(None, &["other"], true)));
    }
}
