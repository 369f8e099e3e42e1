//! Which volume a claim may take (upstream's `FindMatchingVolume`,
//! `checkVolumeSatisfyClaim` and `IsVolumeBoundToClaim`): pure functions of the
//! objects.

use std::sync::Arc;

use capstan_labels::Selector;
use capstan_quota::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

/// The claim's class annotation of old (`AnnStorageClass`), read before the field.
const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The claim's class (upstream's `GetPersistentVolumeClaimClass`): the beta
/// annotation, else `spec.storageClassName`, else `""`.
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    if let Some(class) = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANN_BETA_STORAGE_CLASS))
    {
        return class;
    }
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// The volume's class (`GetPersistentVolumeClass`): the beta annotation, else
/// `spec.storageClassName`, else `""`.
pub fn volume_class(volume: &PersistentVolume) -> &str {
    if let Some(class) = volume
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANN_BETA_STORAGE_CLASS))
    {
        return class;
    }
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

fn bytes(q: Option<&ApiQuantity>) -> i64 {
    q.and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value())
}

/// The storage the claim requests, in bytes (0 when it names none).
pub fn requested_bytes(claim: &PersistentVolumeClaim) -> i64 {
    bytes(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage")),
    )
}

/// The volume's storage capacity, in bytes.
pub fn capacity_bytes(volume: &PersistentVolume) -> i64 {
    bytes(
        volume
            .spec
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage")),
    )
}

/// Whether the volume's `claimRef` names this claim (any uid when the ref has none:
/// a volume pre-bound by a user), as upstream's `IsVolumeBoundToClaim`.
pub fn is_volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    r.name.as_deref() == claim.metadata.name.as_deref()
        && r.namespace.as_deref() == claim.metadata.namespace.as_deref()
        && r.uid
            .as_deref()
            .is_none_or(|uid| uid.is_empty() || Some(uid) == claim.metadata.uid.as_deref())
}

fn volume_mode_mismatch(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let mode = |m: Option<&str>| m.unwrap_or("Filesystem").to_string();
    mode(volume.spec.as_ref().and_then(|s| s.volume_mode.as_deref()))
        != mode(claim.spec.as_ref().and_then(|s| s.volume_mode.as_deref()))
}

/// Whether the volume offers every access mode the claim asks for
/// (`CheckAccessModes`).
fn access_modes_satisfied(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let offered = volume
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[]);
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
        .iter()
        .all(|m| offered.contains(m))
}

fn selector_matches(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(selector) = claim.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return true;
    };
    Selector::from_label_selector(Some(selector)).is_ok_and(|s| s.matches(&volume.metadata.labels))
}

fn phase(volume: &PersistentVolume) -> Option<&str> {
    volume.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The volume the claim may take, as upstream's `FindMatchingVolume` without a node
/// (the controller's view): a volume already bound or pre-bound to the claim wins
/// when it is large enough and of the claim's volume mode; otherwise the smallest
/// `Available`, unclaimed volume of the claim's class, labels, access modes and
/// size. With `delay_binding` (a `WaitForFirstConsumer` claim before its node is
/// known) only the volume bound to the claim is taken: the scheduler picks the rest.
pub fn find_matching_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &'a [Arc<PersistentVolume>],
    delay_binding: bool,
) -> Option<&'a Arc<PersistentVolume>> {
    let requested = requested_bytes(claim);
    let class = claim_class(claim);
    let mut best: Option<(&Arc<PersistentVolume>, i64)> = None;
    for volume in volumes {
        let size = capacity_bytes(volume);
        if size < requested || volume_mode_mismatch(volume, claim) {
            continue;
        }
        if is_volume_bound_to_claim(volume, claim) {
            return Some(volume);
        }
        if delay_binding {
            continue;
        }
        let claimed = volume.spec.as_ref().is_some_and(|s| s.claim_ref.is_some());
        if phase(volume) != Some("Available")
            || claimed
            || volume.metadata.deletion_timestamp.is_some()
            || !selector_matches(volume, claim)
            || volume_class(volume) != class
            || !access_modes_satisfied(volume, claim)
        {
            continue;
        }
        if best.is_none_or(|(_, s)| size < s) {
            best = Some((volume, size));
        }
    }
    best.map(|(v, _)| v)
}

/// Why a volume a claim names in `spec.volumeName` cannot serve it (upstream's
/// `checkVolumeSatisfyClaim`), or `None` when it can.
pub fn volume_mismatch(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Option<&'static str> {
    if requested_bytes(claim) > capacity_bytes(volume) {
        return Some("requested PV is too small");
    }
    if claim_class(claim) != volume_class(volume) {
        return Some("storageClassName does not match");
    }
    if volume_mode_mismatch(volume, claim) {
        return Some("incompatible volumeMode");
    }
    if !access_modes_satisfied(volume, claim) {
        return Some("incompatible accessMode");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::binder::testing::{bound_to, claim, volume};

    fn names(v: Option<&Arc<PersistentVolume>>) -> Option<String> {
        v.and_then(|v| v.metadata.name.clone())
    }

    #[test]
    fn the_smallest_available_volume_that_fits_is_taken() {
        let c = claim("data", "fast", "5Gi");
        let vols = vec![
            Arc::new(volume("big", "fast", "50Gi")),
            Arc::new(volume("small", "fast", "1Gi")),
            Arc::new(volume("right", "fast", "10Gi")),
            Arc::new(volume("other-class", "slow", "6Gi")),
        ];
        assert_eq!(
            names(find_matching_volume(&c, &vols, false)).as_deref(),
            Some("right")
        );
    }

    #[test]
    fn volumes_that_cannot_serve_the_claim_are_skipped() {
        let c = claim("data", "fast", "1Gi");
        let mut rwx = volume("rwx-only", "fast", "1Gi");
        rwx.spec.as_mut().unwrap().access_modes = Some(vec!["ReadWriteMany".into()]);
        let mut released = volume("released", "fast", "1Gi");
        released.status.as_mut().unwrap().phase = Some("Released".into());
        let taken = bound_to(
            volume("taken", "fast", "1Gi"),
            &claim("other", "fast", "1Gi"),
        );
        let mut block = volume("block", "fast", "1Gi");
        block.spec.as_mut().unwrap().volume_mode = Some("Block".into());
        let mut labelled = volume("labelled", "fast", "1Gi");
        labelled.metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
        let vols: Vec<_> = [rwx, released, taken, block, labelled.clone()]
            .into_iter()
            .map(Arc::new)
            .collect();
        let mut picky = c.clone();
        picky.spec.as_mut().unwrap().selector = Some(
            serde_json::from_value(serde_json::json!({"matchLabels": {"tier": "silver"}})).unwrap(),
        );
        assert_eq!(names(find_matching_volume(&picky, &vols, false)), None);
        assert_eq!(
            names(find_matching_volume(&c, &vols, false)).as_deref(),
            Some("labelled"),
            "no selector: the labelled one serves"
        );
    }

    #[test]
    fn delayed_binding_takes_only_a_volume_bound_to_the_claim() {
        let c = claim("data", "local", "1Gi");
        let free = Arc::new(volume("free", "local", "1Gi"));
        assert_eq!(
            names(find_matching_volume(&c, std::slice::from_ref(&free), true)),
            None
        );
        let mine = Arc::new(bound_to(volume("mine", "local", "2Gi"), &c));
        assert_eq!(
            names(find_matching_volume(&c, &[free, mine], true)).as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn a_user_prebound_volume_matches_any_uid_of_its_claim() {
        let c = claim("data", "", "1Gi");
        let mut v = bound_to(volume("pre", "", "1Gi"), &c);
        assert!(is_volume_bound_to_claim(&v, &c));
        v.spec.as_mut().unwrap().claim_ref.as_mut().unwrap().uid = None;
        assert!(is_volume_bound_to_claim(&v, &c));
        v.spec.as_mut().unwrap().claim_ref.as_mut().unwrap().uid = Some("old".into());
        assert!(
            !is_volume_bound_to_claim(&v, &c),
            "a claim of the same name, re-created"
        );
    }

    #[test]
    fn requested_volumes_are_checked_as_upstream_checks_them() {
        let c = claim("data", "fast", "5Gi");
        assert_eq!(volume_mismatch(&volume("v", "fast", "5Gi"), &c), None);
        assert_eq!(
            volume_mismatch(&volume("v", "fast", "1Gi"), &c),
            Some("requested PV is too small")
        );
        assert_eq!(
            volume_mismatch(&volume("v", "slow", "5Gi"), &c),
            Some("storageClassName does not match")
        );
    }
}
