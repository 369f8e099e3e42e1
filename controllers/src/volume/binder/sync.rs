//! The plan of one claim's sync (upstream's `syncClaim`: `syncUnboundClaim`,
//! `syncBoundClaim`) and of one volume's (`syncVolume`, `reclaimVolume`): pure
//! functions of the cached objects and `now`, returning the objects as they must be
//! written, a volume to create or delete, and the events to record.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use capstan_runtime::ObjectKey;
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus, PersistentVolumeStatus,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::local_path::{self, LOCAL_PATH_PROVISIONER, claim_reference};
use super::matching::{
    claim_class, find_matching_volume, is_volume_bound_to_claim, volume_mismatch,
};
use super::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, ANN_YES,
};

/// Volume and claim phases (`v1.PersistentVolumePhase`, `v1.PersistentVolumeClaimPhase`).
pub mod phase {
    /// A claim waiting for a volume; a volume being provisioned.
    pub const PENDING: &str = "Pending";
    /// A volume no claim holds.
    pub const AVAILABLE: &str = "Available";
    /// A claim and its volume bound to each other.
    pub const BOUND: &str = "Bound";
    /// A volume whose claim is gone, not yet reclaimed.
    pub const RELEASED: &str = "Released";
    /// A volume whose reclaim failed.
    pub const FAILED: &str = "Failed";
    /// A claim whose volume is gone or bound elsewhere.
    pub const LOST: &str = "Lost";
}

/// The event reasons the binder records (upstream's `pkg/controller/volume/events`).
pub mod reason {
    /// No volume could be bound.
    pub const FAILED_BINDING: &str = "FailedBinding";
    /// The requested volume does not fit the claim.
    pub const VOLUME_MISMATCH: &str = "VolumeMismatch";
    /// A delayed-binding claim waits for its pod to be scheduled.
    pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
    /// The claim waits for its class's provisioner.
    pub const EXTERNAL_PROVISIONING: &str = "ExternalProvisioning";
    /// A volume was provisioned for the claim.
    pub const PROVISIONING_SUCCEEDED: &str = "ProvisioningSucceeded";
    /// The claim cannot be provisioned.
    pub const PROVISIONING_FAILED: &str = "ProvisioningFailed";
    /// A bound claim's volume is gone.
    pub const CLAIM_LOST: &str = "ClaimLost";
    /// A bound claim's volume is bound to another claim.
    pub const CLAIM_MISBOUND: &str = "ClaimMisbound";
    /// A released volume could not be deleted.
    pub const VOLUME_FAILED_DELETE: &str = "VolumeFailedDelete";
    /// A released volume could not be recycled.
    pub const VOLUME_FAILED_RECYCLE: &str = "VolumeFailedRecycle";
}

/// What the built-in provisioner needs: where its volumes live.
#[derive(Debug, Clone, Copy)]
pub struct Provisioning<'a> {
    /// The directory its `hostPath` volumes are made under.
    pub dir: &'a Path,
}

/// Which object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The claim being synced (or the volume's claim).
    Claim,
    /// The volume being synced (or the claim's volume).
    Volume,
}

/// An event the sync records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// What it is about.
    pub subject: Subject,
    /// Warning (else Normal).
    pub warning: bool,
    /// Its reason.
    pub reason: &'static str,
    /// Its message.
    pub message: String,
}

/// What one sync does. The shell writes in upstream's order: the new volume, then
/// the volume (metadata and spec, then status), then the claim (likewise), then the
/// deletion; it compares each object with its cached copy and writes only what
/// differs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncPlan {
    /// A volume to create (provisioned for the claim).
    pub create: Option<PersistentVolume>,
    /// The volume as it must be, when it changes.
    pub volume: Option<PersistentVolume>,
    /// The claim as it must be, when it changes.
    pub claim: Option<PersistentVolumeClaim>,
    /// The volume to delete (reclaimed by `Delete`).
    pub delete: Option<String>,
    /// The claim to sync next (a volume's sync hands a half-done binding over).
    pub sync_claim: Option<ObjectKey>,
    /// Whether the claim waits for something no watched event announces (a volume
    /// to be created by hand, a class to appear): synced again after the sync
    /// period, as upstream's periodic resync does.
    pub pending: bool,
    /// Events to record.
    pub events: Vec<PlannedEvent>,
}

impl SyncPlan {
    fn event(&mut self, subject: Subject, warning: bool, reason: &'static str, message: String) {
        self.events.push(PlannedEvent {
            subject,
            warning,
            reason,
            message,
        });
    }
}

fn has_annotation(meta: &ObjectMeta, key: &str) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn set_annotation(meta: &mut ObjectMeta, key: &str, value: &str) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

fn claim_phase(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn volume_phase(volume: &PersistentVolume) -> Option<&str> {
    volume.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn volume_name_of(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
}

/// The volume with its phase set (upstream's `updateVolumePhase`): the message and
/// reason replaced, `lastPhaseTransitionTime` stamped when the phase changes.
fn with_volume_phase(
    volume: &PersistentVolume,
    phase: &str,
    message: Option<String>,
    now: Timestamp,
) -> PersistentVolume {
    let mut v = volume.clone();
    let status = v.status.get_or_insert_with(PersistentVolumeStatus::default);
    if status.phase.as_deref() != Some(phase) {
        status.last_phase_transition_time = Some(Time(now));
    }
    status.phase = Some(phase.to_string());
    status.message = message;
    v
}

/// The claim with its phase set and, when `volume` is given, its capacity and
/// access modes from the volume (upstream's `updateClaimStatus`).
fn with_claim_phase(
    claim: &PersistentVolumeClaim,
    phase: &str,
    volume: Option<&PersistentVolume>,
) -> PersistentVolumeClaim {
    let mut c = claim.clone();
    let status = c
        .status
        .get_or_insert_with(PersistentVolumeClaimStatus::default);
    status.phase = Some(phase.to_string());
    if let Some(spec) = volume.and_then(|v| v.spec.as_ref()) {
        status.capacity = spec.capacity.clone();
        status.access_modes = spec.access_modes.clone();
    }
    c
}

/// `desired` when it differs from `cached`, else `None`.
fn changed<T: PartialEq>(cached: &T, desired: T) -> Option<T> {
    (cached != &desired).then_some(desired)
}

/// The claim's phase set to `phase` (writes only when it changes).
fn claim_phase_plan(plan: &mut SyncPlan, claim: &PersistentVolumeClaim, phase: &str) {
    plan.claim = changed(claim, with_claim_phase(claim, phase, None));
}

/// Upstream's `bind`: the volume points at the claim and is `Bound`, the claim
/// names the volume, carries `bind-completed` (and `bound-by-controller` when the
/// controller made either side's link) and is `Bound` with the volume's capacity.
pub fn bind(
    plan: &mut SyncPlan,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
    now: Timestamp,
) {
    let mut v = volume.clone();
    let spec = v.spec.get_or_insert_with(Default::default);
    let linked = spec.claim_ref.as_ref().is_some_and(|r| {
        r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace
            && r.uid == claim.metadata.uid
    });
    if !linked {
        spec.claim_ref = Some(claim_reference(claim));
    }
    if !is_volume_bound_to_claim(volume, claim)
        && !has_annotation(&v.metadata, ANN_BOUND_BY_CONTROLLER)
    {
        set_annotation(&mut v.metadata, ANN_BOUND_BY_CONTROLLER, ANN_YES);
    }
    let v = with_volume_phase(&v, phase::BOUND, None, now);
    plan.volume = changed(volume, v.clone());

    let mut c = claim.clone();
    let volume_name = volume.metadata.name.clone().unwrap_or_default();
    if volume_name_of(claim) != volume_name {
        c.spec.get_or_insert_with(Default::default).volume_name = Some(volume_name);
        if !has_annotation(&c.metadata, ANN_BOUND_BY_CONTROLLER) {
            set_annotation(&mut c.metadata, ANN_BOUND_BY_CONTROLLER, ANN_YES);
        }
    }
    if !has_annotation(&c.metadata, ANN_BIND_COMPLETED) {
        set_annotation(&mut c.metadata, ANN_BIND_COMPLETED, ANN_YES);
    }
    plan.claim = changed(claim, with_claim_phase(&c, phase::BOUND, Some(&v)));
}

/// Whether the class binds at the first consumer (`IsDelayBindingMode`); a missing
/// class does not.
fn delays_binding(class: Option<&StorageClass>) -> bool {
    class.is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

/// Upstream's `syncClaim` for one claim, with every volume and the claim's class
/// (`None` when it names none or it does not exist).
pub fn plan_claim(
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    class: Option<&StorageClass>,
    provisioning: Provisioning<'_>,
    now: Timestamp,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    if has_annotation(&claim.metadata, ANN_BIND_COMPLETED) {
        plan_bound_claim(&mut plan, claim, volumes, now);
    } else {
        plan_unbound_claim(&mut plan, claim, volumes, class, provisioning, now);
    }
    plan
}

fn find<'a>(volumes: &'a [Arc<PersistentVolume>], name: &str) -> Option<&'a Arc<PersistentVolume>> {
    volumes
        .iter()
        .find(|v| v.metadata.name.as_deref() == Some(name))
}

/// Upstream's `syncUnboundClaim`.
fn plan_unbound_claim(
    plan: &mut SyncPlan,
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    class: Option<&StorageClass>,
    provisioning: Provisioning<'_>,
    now: Timestamp,
) {
    let requested = volume_name_of(claim);
    if requested.is_empty() {
        let delay = delays_binding(class);
        if let Some(volume) = find_matching_volume(claim, volumes, delay) {
            bind(plan, volume, claim, now);
            return;
        }
        let selected_node = annotation(&claim.metadata, ANN_SELECTED_NODE);
        if delay && selected_node.is_none() {
            plan.event(
                Subject::Claim,
                false,
                reason::WAIT_FOR_FIRST_CONSUMER,
                "waiting for first consumer to be created before binding".to_string(),
            );
        } else if !claim_class(claim).is_empty() {
            plan_provisioning(plan, claim, class, selected_node, provisioning);
        } else {
            plan.event(
                Subject::Claim,
                false,
                reason::FAILED_BINDING,
                "no persistent volumes available for this claim and no storage class is set"
                    .to_string(),
            );
            plan.pending = true;
        }
        if plan.claim.is_none() {
            claim_phase_plan(plan, claim, phase::PENDING);
        }
        return;
    }
    // The user asked for a volume by name (a pre-bound claim).
    let Some(volume) = find(volumes, requested) else {
        plan.pending = true;
        claim_phase_plan(plan, claim, phase::PENDING);
        return;
    };
    let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    if claim_ref.is_none() {
        if let Some(why) = volume_mismatch(volume, claim) {
            plan.event(
                Subject::Volume,
                true,
                reason::VOLUME_MISMATCH,
                format!("Cannot bind to requested volume {requested:?}: {why}"),
            );
            claim_phase_plan(plan, claim, phase::PENDING);
            return;
        }
        bind(plan, volume, claim, now);
    } else if is_volume_bound_to_claim(volume, claim) {
        bind(plan, volume, claim, now);
    } else {
        plan.event(
            Subject::Claim,
            true,
            reason::FAILED_BINDING,
            "volume \"".to_string() + requested + "\" already bound to a different claim.",
        );
        plan.pending = true;
        claim_phase_plan(plan, claim, phase::PENDING);
    }
}

/// Upstream's `provisionClaim` for a class whose provisioner is not in-tree: the
/// claim is annotated with the provisioner (and an `ExternalProvisioning` event
/// says so); the built-in local-path provisioner then makes the volume once the
/// claim's node is known (or at once for an `Immediate` class).
fn plan_provisioning(
    plan: &mut SyncPlan,
    claim: &PersistentVolumeClaim,
    class: Option<&StorageClass>,
    selected_node: Option<&str>,
    provisioning: Provisioning<'_>,
) {
    let Some(class) = class else {
        plan.event(
            Subject::Claim,
            true,
            reason::PROVISIONING_FAILED,
            format!(
                "storageclass.storage.k8s.io {:?} not found",
                claim_class(claim)
            ),
        );
        plan.pending = true;
        return;
    };
    let provisioner = class.provisioner.as_str();
    let mut c = claim.clone();
    for key in [ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER] {
        if annotation(&c.metadata, key) != Some(provisioner) {
            set_annotation(&mut c.metadata, key, provisioner);
        }
    }
    plan.claim = changed(claim, with_claim_phase(&c, phase::PENDING, None));
    if provisioner != LOCAL_PATH_PROVISIONER {
        plan.event(
            Subject::Claim,
            false,
            reason::EXTERNAL_PROVISIONING,
            format!(
                "Waiting for a volume to be created either by the external provisioner \
                 '{provisioner}' or manually by the system administrator. If volume creation \
                 is delayed, please verify that the provisioner is running and correctly \
                 registered."
            ),
        );
        plan.pending = true;
        return;
    }
    let volume = local_path::provision(claim, class, selected_node, provisioning.dir);
    plan.event(
        Subject::Claim,
        false,
        reason::PROVISIONING_SUCCEEDED,
        format!(
            "Successfully provisioned volume {}",
            volume.metadata.name.as_deref().unwrap_or("")
        ),
    );
    plan.create = Some(volume);
}

/// Upstream's `syncBoundClaim`.
fn plan_bound_claim(
    plan: &mut SyncPlan,
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    now: Timestamp,
) {
    let name = volume_name_of(claim);
    let lost = |plan: &mut SyncPlan, reason: &'static str, message: &str| {
        if claim_phase(claim) != Some(phase::LOST) {
            plan.event(Subject::Claim, true, reason, message.to_string());
        }
        claim_phase_plan(plan, claim, phase::LOST);
    };
    if name.is_empty() {
        lost(
            plan,
            reason::CLAIM_LOST,
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
        );
        return;
    }
    let Some(volume) = find(volumes, name) else {
        lost(
            plan,
            reason::CLAIM_LOST,
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        );
        return;
    };
    let unclaimed = volume.spec.as_ref().is_none_or(|s| s.claim_ref.is_none());
    if unclaimed || is_volume_bound_to_claim(volume, claim) {
        bind(plan, volume, claim, now);
    } else {
        lost(
            plan,
            reason::CLAIM_MISBOUND,
            "Two claims are bound to the same volume, this one is bound incorrectly",
        );
    }
}

/// Upstream's `syncVolume` for one volume, with its claim as cached (`None` when
/// it has no claim or the claim is gone).
pub fn plan_volume(
    volume: &PersistentVolume,
    claim: Option<&PersistentVolumeClaim>,
    now: Timestamp,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        plan.volume = changed(
            volume,
            with_volume_phase(volume, phase::AVAILABLE, None, now),
        );
        return plan;
    };
    if claim_ref.uid.as_deref().unwrap_or("").is_empty() {
        // Pre-bound by a user to a claim that has not been bound yet.
        plan.volume = changed(
            volume,
            with_volume_phase(volume, phase::AVAILABLE, None, now),
        );
        return plan;
    }
    // A claim of the same name but another uid is a new claim: the old one is gone.
    let claim = claim.filter(|c| c.metadata.uid == claim_ref.uid);
    let Some(claim) = claim else {
        plan_released(&mut plan, volume, now);
        return plan;
    };
    let bound_name = volume_name_of(claim);
    if bound_name.is_empty() {
        // Half bound (a provisioned volume, or the scheduler's choice): the claim's
        // sync completes it.
        plan.sync_claim = Some(ObjectKey::of(claim));
    } else if Some(bound_name) == volume.metadata.name.as_deref() {
        plan.volume = changed(volume, with_volume_phase(volume, phase::BOUND, None, now));
    } else {
        // The claim took another volume: this one is free again (upstream's
        // `unbindVolume`), its user's pre-binding kept without the uid.
        let mut v = volume.clone();
        let by_controller = has_annotation(&v.metadata, ANN_BOUND_BY_CONTROLLER);
        if let Some(spec) = v.spec.as_mut() {
            if by_controller {
                spec.claim_ref = None;
            } else if let Some(r) = spec.claim_ref.as_mut() {
                r.uid = None;
            }
        }
        if let Some(a) = v.metadata.annotations.as_mut() {
            a.remove(ANN_BOUND_BY_CONTROLLER);
        }
        plan.volume = changed(volume, with_volume_phase(&v, phase::AVAILABLE, None, now));
    }
    plan
}

/// A volume whose claim is gone: `Released`, then reclaimed by its policy
/// (upstream's `reclaimVolume`).
fn plan_released(plan: &mut SyncPlan, volume: &PersistentVolume, now: Timestamp) {
    let current = volume_phase(volume);
    if current == Some(phase::FAILED) {
        return;
    }
    let released = with_volume_phase(volume, phase::RELEASED, None, now);
    let policy = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    let name = volume.metadata.name.clone().unwrap_or_default();
    match policy {
        "Retain" => plan.volume = changed(volume, released),
        "Delete" => {
            let ours =
                annotation(&volume.metadata, ANN_PROVISIONED_BY) == Some(LOCAL_PATH_PROVISIONER);
            let external = has_annotation(&volume.metadata, ANN_PROVISIONED_BY);
            if ours {
                plan.volume = changed(volume, released);
                plan.delete = Some(name);
            } else if external {
                // Its provisioner deletes it.
                plan.volume = changed(volume, released);
            } else {
                let message = format!(
                    "error getting deleter volume plugin for volume {name:?}: no deletable \
                     volume plugin matched"
                );
                plan.event(
                    Subject::Volume,
                    true,
                    reason::VOLUME_FAILED_DELETE,
                    message.clone(),
                );
                plan.volume = changed(
                    volume,
                    with_volume_phase(volume, phase::FAILED, Some(message), now),
                );
            }
        }
        _ => {
            let message = "No recycler plugin found for the volume!".to_string();
            plan.event(
                Subject::Volume,
                true,
                reason::VOLUME_FAILED_RECYCLE,
                message.clone(),
            );
            plan.volume = changed(
                volume,
                with_volume_phase(volume, phase::FAILED, Some(message), now),
            );
        }
    }
}

#[cfg(test)]
mod tests;
