//! The binder's shell: claim, volume and class informers, one queue for both kinds
//! (a claim's key has a namespace, a volume's has none), and the writes of a
//! [`SyncPlan`].

use capstan_runtime::controller::synced_all;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::errors::{is_already_exists, is_not_found};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::informer::{EventHandlerFns, InformerError, Lister, SharedInformerFactory};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::EVENT_COMPONENT;
use super::local_path::DEFAULT_LOCAL_PATH_DIR;
use super::matching::{claim_class, volume_class};
use super::sync::{Provisioning, Subject, SyncPlan, plan_claim, plan_volume};
use crate::util::queued::QueuedController;

/// The queue's name.
pub const QUEUE_NAME: &str = "persistentvolume-binder";
/// How soon a claim that waits for something no event announces is looked at again
/// (upstream's `--pvclaimbinder-sync-period` default).
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// Settings of [`PersistentVolumeBinderController`].
#[derive(Debug, Clone)]
pub struct BinderConfig {
    /// Concurrent syncs.
    pub workers: usize,
    /// The instance events are reported from.
    pub instance: String,
    /// Whether events are written.
    pub record_events: bool,
    /// The clock phase transitions are stamped with.
    pub clock: SharedClock,
    /// Where the built-in local-path provisioner's volumes live.
    pub local_path_dir: PathBuf,
}

impl Default for BinderConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
            local_path_dir: PathBuf::from(DEFAULT_LOCAL_PATH_DIR),
        }
    }
}

/// Why a sync failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum BinderError {
    /// A write to the API server failed (a conflict with a newer object too).
    #[error("{what} {name}: {source}")]
    Write {
        /// What was being written (`updating volume`, `creating volume`, …).
        what: &'static str,
        /// The object's name (`namespace/name` for a claim).
        name: String,
        /// The API error.
        source: kube::Error,
    },
}

/// One key's sync: a claim's or a volume's.
pub struct BinderReconciler {
    claims: Lister<PersistentVolumeClaim>,
    volumes: Lister<PersistentVolume>,
    classes: Lister<StorageClass>,
    client: Client,
    recorder: Option<Recorder>,
    clock: SharedClock,
    dir: PathBuf,
    /// The controller's queue, for the claims a volume's sync hands over.
    queue: OnceLock<WorkQueue<ObjectKey>>,
}

impl Reconciler for BinderReconciler {
    type Error = BinderError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, BinderError> {
        let now = self.clock.now();
        let plan = match key.namespace() {
            Some(_) => {
                let Some(claim) = self.claims.get_key(&key) else {
                    return Ok(Action::Done);
                };
                let class = Some(claim_class(&claim))
                    .filter(|c| !c.is_empty())
                    .and_then(|c| self.classes.get("", c));
                let volumes = self.volumes.list_all();
                let provisioning = Provisioning { dir: &self.dir };
                let plan = plan_claim(&claim, &volumes, class.as_deref(), provisioning, now);
                let volume = claim
                    .spec
                    .as_ref()
                    .and_then(|s| s.volume_name.as_deref())
                    .and_then(|n| self.volumes.get("", n));
                let volume = plan
                    .volume
                    .as_ref()
                    .and_then(|v| self.volumes.get("", &v.name_any()))
                    .or(volume);
                self.perform(&plan, volume.as_deref(), Some(&claim)).await?;
                plan
            }
            None => {
                let Some(volume) = self.volumes.get_key(&key) else {
                    return Ok(Action::Done);
                };
                let claim = volume
                    .spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .and_then(|r| self.claims.get(r.namespace.as_deref()?, r.name.as_deref()?));
                let plan = plan_volume(&volume, claim.as_deref(), now);
                self.perform(&plan, Some(&volume), claim.as_deref()).await?;
                plan
            }
        };
        if let (Some(next), Some(queue)) = (&plan.sync_claim, self.queue.get()) {
            queue.add(next.clone());
        }
        Ok(if plan.pending {
            Action::requeue_after(SYNC_PERIOD)
        } else {
            Action::Done
        })
    }
}

impl BinderReconciler {
    /// Performs `plan` over the cached `volume` and `claim`, in upstream's order.
    async fn perform(
        &self,
        plan: &SyncPlan,
        volume: Option<&PersistentVolume>,
        claim: Option<&PersistentVolumeClaim>,
    ) -> Result<(), BinderError> {
        let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
        if let Some(new) = &plan.create {
            match volumes.create(&PostParams::default(), new).await {
                Ok(_) => tracing::info!(volume = %new.name_any(), "provisioned volume"),
                Err(e) if is_already_exists(&e) => {}
                Err(source) => {
                    return Err(BinderError::Write {
                        what: "creating volume",
                        name: new.name_any(),
                        source,
                    });
                }
            }
        }
        if let (Some(desired), Some(cached)) = (&plan.volume, volume) {
            write(&volumes, cached, desired).await?;
        }
        if let (Some(desired), Some(cached)) = (&plan.claim, claim) {
            let claims = Api::namespaced(
                self.client.clone(),
                cached.metadata.namespace.as_deref().unwrap_or("default"),
            );
            write(&claims, cached, desired).await?;
        }
        if let Some(name) = &plan.delete {
            match volumes.delete(name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(volume = %name, "deleted released volume"),
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    return Err(BinderError::Write {
                        what: "deleting volume",
                        name: name.clone(),
                        source,
                    });
                }
            }
        }
        if let Some(recorder) = &self.recorder {
            for e in &plan.events {
                let type_ = if e.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                };
                let recorded = match (e.subject, claim, volume.or(plan.create.as_ref())) {
                    (Subject::Claim, Some(c), _) => Some(c.object_ref(&())),
                    (Subject::Volume, _, Some(v)) => Some(v.object_ref(&())),
                    _ => None,
                };
                if let Some(object) = recorded {
                    recorder.record(&object, type_, e.reason, &e.message, "");
                }
            }
        }
        Ok(())
    }
}

/// A volume or a claim: an object with a status subresource.
trait WithStatus:
    Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug
{
    /// Its status type.
    type Status: PartialEq + Clone;
    /// What its writes are called in errors: `volume`, `claim`.
    const WHAT: [&'static str; 2];
    /// Its status.
    fn status_mut(&mut self) -> &mut Option<Self::Status>;
}

impl WithStatus for PersistentVolume {
    type Status = k8s_openapi::api::core::v1::PersistentVolumeStatus;
    const WHAT: [&'static str; 2] = ["updating volume", "updating volume status"];
    fn status_mut(&mut self) -> &mut Option<Self::Status> {
        &mut self.status
    }
}

impl WithStatus for PersistentVolumeClaim {
    type Status = k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;
    const WHAT: [&'static str; 2] = ["updating claim", "updating claim status"];
    fn status_mut(&mut self) -> &mut Option<Self::Status> {
        &mut self.status
    }
}

/// Writes `desired` over `cached`: its metadata and spec by an update when they
/// differ, then its status by an update of the status subresource when that
/// differs (the first write's resourceVersion carried to the second).
async fn write<K: WithStatus>(api: &Api<K>, cached: &K, desired: &K) -> Result<(), BinderError> {
    let name = desired.name_any();
    let failed = |what: &'static str| {
        let name = name.clone();
        move |source| BinderError::Write { what, name, source }
    };
    let mut cached = cached.clone();
    let mut desired = desired.clone();
    let cached_status = cached.status_mut().clone();
    let desired_status = desired.status_mut().clone();
    *desired.status_mut() = cached_status;
    let mut current = cached.clone();
    if serde_json::to_value(&desired).ok() != serde_json::to_value(&cached).ok() {
        current = api
            .replace(&name, &PostParams::default(), &desired)
            .await
            .map_err(failed(K::WHAT[0]))?;
    }
    if *current.status_mut() != desired_status {
        *current.status_mut() = desired_status;
        api.replace_status(&name, &PostParams::default(), &current)
            .await
            .map_err(failed(K::WHAT[1]))?;
    }
    Ok(())
}

/// kube-controller-manager's `persistentvolume-binder-controller`, with the built-in
/// local-path provisioner.
pub type PersistentVolumeBinderController = QueuedController<BinderReconciler>;

impl PersistentVolumeBinderController {
    /// Builds it on `factory`'s claim, volume and class informers, writing through
    /// `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &BinderConfig,
    ) -> Result<Self, InformerError> {
        let claims = factory.informer::<PersistentVolumeClaim>();
        let volumes = factory.informer::<PersistentVolume>();
        let classes = factory.informer::<StorageClass>();
        let synced = synced_all([
            claims.synced_check(),
            volumes.synced_check(),
            classes.synced_check(),
        ]);
        let recorder = config
            .record_events
            .then(|| Recorder::new(client.clone(), EVENT_COMPONENT, &config.instance));
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(config.workers)
            .wait_for(synced.clone())
            .build(BinderReconciler {
                claims: claims.lister(),
                volumes: volumes.lister(),
                classes: classes.lister(),
                client,
                recorder,
                clock: config.clock.clone(),
                dir: config.local_path_dir.clone(),
                queue: OnceLock::new(),
            });
        let queue = controller.queue();
        let _ = controller.reconciler().queue.set(queue.clone());
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
        claims.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |c: Arc<PersistentVolumeClaim>, _| q1.add(ObjectKey::of(&*c)))
                .on_update(move |_, c: Arc<PersistentVolumeClaim>| q2.add(ObjectKey::of(&*c)))
                .on_delete(move |gone| {
                    if let Some(volume) = volume_of_claim(gone.last_state()) {
                        q3.add(volume);
                    }
                }),
        )?;
        let waiting = claims.lister();
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue);
        let waiting2 = waiting.clone();
        volumes.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |v: Arc<PersistentVolume>, _| {
                    q1.add(ObjectKey::of(&*v));
                    add_all(&q1, claims_waiting_for(&v, &waiting.list_all()));
                })
                .on_update(move |_, v: Arc<PersistentVolume>| {
                    q2.add(ObjectKey::of(&*v));
                    add_all(&q2, claims_waiting_for(&v, &waiting2.list_all()));
                })
                .on_delete(move |gone| {
                    if let Some(claim) = claim_of_volume(gone.last_state()) {
                        q3.add(claim);
                    }
                }),
        )?;
        Ok(Self { controller, synced })
    }
}

fn add_all(queue: &WorkQueue<ObjectKey>, keys: Vec<ObjectKey>) {
    for key in keys {
        queue.add(key);
    }
}

/// The volume a deleted claim was bound to (upstream's `deleteClaim` syncs it, so
/// it is released at once).
pub fn volume_of_claim(claim: &PersistentVolumeClaim) -> Option<ObjectKey> {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(ObjectKey::cluster)
}

/// The claim a deleted volume pointed at (upstream's `deleteVolume` syncs it, so it
/// is marked `Lost`).
pub fn claim_of_volume(volume: &PersistentVolume) -> Option<ObjectKey> {
    let r = volume.spec.as_ref()?.claim_ref.as_ref()?;
    Some(ObjectKey::namespaced(
        r.namespace.as_deref()?,
        r.name.as_deref()?,
    ))
}

/// The unbound claims of a free volume's class, which may take it now. Upstream
/// finds them at its next periodic resync; the binder looks at once.
pub fn claims_waiting_for(
    volume: &PersistentVolume,
    claims: &[Arc<PersistentVolumeClaim>],
) -> Vec<ObjectKey> {
    let free = volume.spec.as_ref().is_some_and(|s| s.claim_ref.is_none())
        && volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available");
    if !free {
        return Vec::new();
    }
    let class = volume_class(volume);
    claims
        .iter()
        .filter(|c| {
            claim_class(c) == class
                && !c
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(super::ANN_BIND_COMPLETED))
        })
        .map(|c| ObjectKey::of(&**c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::binder::testing::{bound_to, claim, volume};

    #[test]
    fn a_free_volume_wakes_the_unbound_claims_of_its_class() {
        let mut bound = claim("bound", "manual", "1Gi");
        bound
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                crate::volume::binder::ANN_BIND_COMPLETED.into(),
                "yes".into(),
            );
        let claims: Vec<_> = [
            claim("waiting", "manual", "1Gi"),
            claim("other-class", "fast", "1Gi"),
            bound,
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        let free = volume("pv", "manual", "1Gi");
        assert_eq!(
            claims_waiting_for(&free, &claims),
            [ObjectKey::namespaced("ns", "waiting")]
        );
        let taken = bound_to(free, &claims[0]);
        assert!(claims_waiting_for(&taken, &claims).is_empty());
        assert_eq!(
            claim_of_volume(&taken),
            Some(ObjectKey::namespaced("ns", "waiting"))
        );
    }
}
