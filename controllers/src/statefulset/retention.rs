//! `persistentVolumeClaimRetentionPolicy` through owner references, as upstream
//! (`isClaimOwnerUpToDate`, `updateClaimOwnerRefForSetAndPod`, `PodClaimIsStale`
//! in `stateful_set_utils.go` and `stateful_pod_control.go`): the garbage
//! collector deletes a claim once its controlling owner is gone, so
//!
//! | whenScaled | whenDeleted | claim of a pod in range | claim of a condemned pod |
//! |---|---|---|---|
//! | Retain | Retain | no reference | no reference |
//! | Retain | Delete | the set | the set |
//! | Delete | Retain | no reference | the pod |
//! | Delete | Delete | the set | the pod |
//!
//! Claims with a stale reference (the set's or pod's name with another UID) or
//! another controller are left alone. Pure.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::identity::in_ordinal_range;

/// The retention policy value that keeps claims.
pub const RETAIN: &str = "Retain";
/// The retention policy value that deletes claims.
pub const DELETE: &str = "Delete";

/// The set's `(whenDeleted, whenScaled)`, `Retain` where unset (upstream
/// `getPersistentVolumeClaimRetentionPolicy`).
pub fn policy(set: &StatefulSet) -> (&str, &str) {
    let p = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    (
        p.and_then(|p| p.when_deleted.as_deref()).unwrap_or(RETAIN),
        p.and_then(|p| p.when_scaled.as_deref()).unwrap_or(RETAIN),
    )
}

/// The pieces of an owner a reference is checked against.
struct Target<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    uid: &'a str,
}

impl<'a> Target<'a> {
    fn set(set: &'a StatefulSet) -> Self {
        Target {
            api_version: "apps/v1",
            kind: "StatefulSet",
            name: set.metadata.name.as_deref().unwrap_or_default(),
            uid: set.metadata.uid.as_deref().unwrap_or_default(),
        }
    }

    fn pod(pod: &'a Pod) -> Self {
        Target {
            api_version: "v1",
            kind: "Pod",
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            uid: pod.metadata.uid.as_deref().unwrap_or_default(),
        }
    }

    /// Upstream `matchesRef`: same name and group-version-kind.
    fn matches(&self, r: &OwnerReference) -> bool {
        r.api_version == self.api_version && r.kind == self.kind && r.name == self.name
    }

    /// Upstream `metav1.NewControllerRef`.
    fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            name: self.name.into(),
            uid: self.uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

fn refs(claim: &PersistentVolumeClaim) -> &[OwnerReference] {
    claim.metadata.owner_references.as_deref().unwrap_or(&[])
}

/// Upstream `hasOwnerRef`: a reference with the owner's UID.
fn has_owner_ref(claim: &PersistentVolumeClaim, uid: &str) -> bool {
    refs(claim).iter().any(|r| r.uid == uid)
}

/// Upstream `hasStaleOwnerRef`: the first reference naming the object has
/// another UID.
fn has_stale_ref(claim: &PersistentVolumeClaim, target: &Target<'_>) -> bool {
    refs(claim)
        .iter()
        .find(|r| target.matches(r))
        .is_some_and(|r| r.uid != target.uid)
}

/// Upstream `hasUnexpectedController`: under a deleting policy, a controller
/// other than the set and the pod (or a stale reference to either).
pub fn has_unexpected_controller(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
) -> bool {
    if policy(set) == (RETAIN, RETAIN) {
        return false;
    }
    let (s, p) = (Target::set(set), Target::pod(pod));
    for r in refs(claim) {
        if s.matches(r) {
            if r.uid != s.uid {
                return true;
            }
            continue;
        }
        if p.matches(r) {
            if r.uid != p.uid {
                return true;
            }
            continue;
        }
        if r.controller == Some(true) {
            return true;
        }
    }
    false
}

/// Upstream `hasNonControllerOwner`: the set or pod owns the claim without
/// being its controller.
fn has_non_controller_owner(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    let (s, p) = (Target::set(set), Target::pod(pod));
    refs(claim)
        .iter()
        .any(|r| (r.uid == s.uid || r.uid == p.uid) && r.controller != Some(true))
}

/// Upstream `isClaimOwnerUpToDate`: whether the claim's references already say
/// what the policy wants (see the [module](self) table). Claims in an unknown
/// state (stale references, another controller) count as up to date.
pub fn is_claim_owner_up_to_date(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
) -> bool {
    let (s, p) = (Target::set(set), Target::pod(pod));
    if has_stale_ref(claim, &s) || has_stale_ref(claim, &p) {
        return true;
    }
    let (set_ref, pod_ref) = (has_owner_ref(claim, s.uid), has_owner_ref(claim, p.uid));
    if has_unexpected_controller(claim, set, pod) {
        return !(set_ref || pod_ref);
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    let scaled_down = !in_ordinal_range(pod, set);
    let (want_set, want_pod) = wanted_refs(set, scaled_down);
    set_ref == want_set && pod_ref == want_pod
}

/// Whether the policy wants the set's and the pod's references on a claim of a
/// pod in range or (`scaled_down`) condemned. Unknown values count as `Retain`.
fn wanted_refs(set: &StatefulSet, scaled_down: bool) -> (bool, bool) {
    let (when_deleted, when_scaled) = policy(set);
    match (when_deleted, when_scaled) {
        (DELETE, DELETE) => (!scaled_down, scaled_down),
        (DELETE, RETAIN) => (true, false),
        (RETAIN, DELETE) => (false, scaled_down),
        _ => (false, false),
    }
}

/// Upstream `updateClaimOwnerRefForSetAndPod`: the claim's references with the
/// set's and pod's removed and the ones the policy wants added as controller
/// references (none when another controller holds the claim).
pub fn claim_owner_refs(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
) -> Vec<OwnerReference> {
    let (s, p) = (Target::set(set), Target::pod(pod));
    let unexpected = has_unexpected_controller(claim, set, pod);
    let mut out: Vec<OwnerReference> = refs(claim)
        .iter()
        .filter(|r| !s.matches(r) && !p.matches(r))
        .cloned()
        .collect();
    if unexpected {
        return out;
    }
    let (want_set, want_pod) = wanted_refs(set, !in_ordinal_range(pod, set));
    for (want, target) in [(want_pod, &p), (want_set, &s)] {
        if want && !out.iter().any(|r| r.uid == target.uid) {
            out.push(target.controller_ref());
        }
    }
    out
}

/// Upstream `PodClaimIsStale`: under `whenScaled: Delete`, whether an existing
/// claim of the pod to create still references an earlier pod of that name (it
/// is waiting for the garbage collector): the pod must wait.
pub fn claim_is_stale(set: &StatefulSet, pod: &Pod, claim: &PersistentVolumeClaim) -> bool {
    policy(set).1 != RETAIN && has_stale_ref(claim, &Target::pod(pod))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefulset::testing::{set, with_policy};
    use crate::util::testing::pod;

    fn claim(refs: Vec<OwnerReference>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some("www-web-1".into());
        c.metadata.owner_references = Some(refs);
        c
    }

    fn uids(refs: &[OwnerReference]) -> Vec<&str> {
        refs.iter().map(|r| r.uid.as_str()).collect()
    }

    /// The module's table: for every policy, the references a claim of a pod in
    /// range and of a condemned pod end with, and that they are then up to date.
    #[test]
    fn owner_references_follow_the_policy_table() {
        let cases = [
            (RETAIN, RETAIN, vec![], vec![]),
            (DELETE, RETAIN, vec!["uid-web"], vec!["uid-web"]),
            (RETAIN, DELETE, vec![], vec!["uid-web-4"]),
            (DELETE, DELETE, vec!["uid-web"], vec!["uid-web-4"]),
        ];
        for (deleted, scaled, in_range, condemned) in cases {
            let s = with_policy(set("web", 3), deleted, scaled);
            let (kept, gone) = (pod("web-1"), pod("web-4"));
            let fresh = claim(vec![]);
            let refs = claim_owner_refs(&fresh, &s, &kept);
            assert_eq!(uids(&refs), in_range, "{deleted}/{scaled} in range");
            let refs_condemned = claim_owner_refs(&fresh, &s, &gone);
            assert_eq!(
                uids(&refs_condemned),
                condemned,
                "{deleted}/{scaled} condemned"
            );
            assert!(refs_condemned.iter().all(|r| r.controller == Some(true)));
            assert!(is_claim_owner_up_to_date(&claim(refs), &s, &kept));
            assert!(is_claim_owner_up_to_date(
                &claim(refs_condemned.clone()),
                &s,
                &gone
            ));
            // A condemned pod's claim keeping the in-range references is stale
            // whenever the two differ.
            let unchanged = is_claim_owner_up_to_date(&fresh, &s, &gone);
            assert_eq!(unchanged, condemned.is_empty(), "{deleted}/{scaled}");
        }
    }

    #[test]
    fn foreign_and_stale_references_are_left_alone() {
        let s = with_policy(set("web", 3), DELETE, DELETE);
        let p = pod("web-1");
        let other = OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Keeper".into(),
            name: "k".into(),
            uid: "uid-k".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let held = claim(vec![other.clone()]);
        assert!(has_unexpected_controller(&held, &s, &p));
        assert!(is_claim_owner_up_to_date(&held, &s, &p));
        assert_eq!(uids(&claim_owner_refs(&held, &s, &p)), ["uid-k"]);

        let mut stale_pod = Target::pod(&p).controller_ref();
        stale_pod.uid = "uid-old".into();
        let stale = claim(vec![stale_pod]);
        assert!(is_claim_owner_up_to_date(&stale, &s, &p));
        let mut to_create = pod("web-1");
        to_create.metadata.uid = None;
        assert!(claim_is_stale(&s, &to_create, &stale));
        let retained = with_policy(set("web", 3), DELETE, RETAIN);
        assert!(!claim_is_stale(&retained, &to_create, &stale));

        // A non-controller reference to the set is rewritten as a controller one.
        let mut plain = Target::set(&s).controller_ref();
        plain.controller = None;
        assert!(!is_claim_owner_up_to_date(&claim(vec![plain]), &s, &p));
    }
}
