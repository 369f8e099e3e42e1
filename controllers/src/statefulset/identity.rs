//! A StatefulSet pod's stable identity: its name `<set>-<ordinal>`, its labels,
//! hostname and subdomain, its claims `<template>-<set>-<ordinal>`, and the pod
//! the controller creates for an ordinal (upstream `stateful_set_utils.go`). Pure.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume,
};

use super::{POD_INDEX_LABEL, POD_NAME_LABEL};
use crate::util::history::POD_REVISION_LABEL;
use crate::util::pod_control::{PodOwner, PodTemplateError, pod_from_template};

/// The parent name and ordinal in a pod name as upstream's `(.*)-([0-9]+)$`
/// reads it: the parent is everything before the last `-<digits>`; the ordinal is
/// `None` when the digits do not fit an `int32` (upstream's `-1`). `None` when the
/// name has no such suffix.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, Option<i32>)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()))
}

/// The ordinal of a pod (upstream `getOrdinal`): `None` for upstream's `-1`.
pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default())?.1
}

/// Whether `pod`'s name makes it a member of `set` (upstream `isMemberOf`).
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    let parent =
        parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).map_or("", |(p, _)| p);
    parent == name(set)
}

/// The set's name.
pub fn name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

/// `spec.replicas` (defaulted to 1 by the API server).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The first ordinal (upstream `getStartOrdinal`): `spec.ordinals.start`, or 0.
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

/// The last ordinal, inclusive (upstream `getEndOrdinal`).
pub fn end_ordinal(set: &StatefulSet) -> i32 {
    start_ordinal(set) + replicas(set) - 1
}

/// Whether the pod's ordinal is in the set's range (upstream `podInOrdinalRange`).
pub fn in_ordinal_range(pod: &Pod, set: &StatefulSet) -> bool {
    ordinal(pod).is_some_and(|o| o >= start_ordinal(set) && o <= end_ordinal(set))
}

/// The name of the set's pod of `ordinal` (upstream `getPodName`).
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", name(set))
}

/// The name of the claim from `template` for the pod of `ordinal` (upstream
/// `getPersistentVolumeClaimName`).
pub fn claim_name(set: &StatefulSet, template: &str, ordinal: i32) -> String {
    format!("{template}-{}-{ordinal}", name(set))
}

/// The revision a pod was created from: its `controller-revision-hash` label.
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_REVISION_LABEL))
        .map_or("", String::as_str)
}

/// Whether the pod carries the identity of a member of `set` (upstream
/// `identityMatches`).
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let Some((parent, Some(ord))) = parent_and_ordinal(name) else {
        return false;
    };
    ord >= 0
        && parent == self::name(set)
        && name == pod_name(set, ord)
        && pod.metadata.namespace == set.metadata.namespace
        && pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_NAME_LABEL))
            .is_some_and(|v| v == name)
}

fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or(&[])
}

/// Whether the pod's volumes mount every claim of the set's templates under the
/// template's name (upstream `storageMatches`).
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ord) = ordinal(pod) else {
        return false;
    };
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or(&[]);
    claim_templates(set).iter().all(|t| {
        let template = t.metadata.name.as_deref().unwrap_or_default();
        volumes.iter().any(|v| {
            v.name == template
                && v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == claim_name(set, template, ord))
        })
    })
}

/// The claims the pod of `ordinal` uses, one per template in the templates'
/// order, as `(template name, claim)` (upstream `getPersistentVolumeClaims`): the
/// template named `<template>-<set>-<ordinal>` in the set's namespace, labelled
/// with the template's labels plus the selector's `matchLabels`.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|t| {
            let template = t.metadata.name.clone().unwrap_or_default();
            let mut claim = t.clone();
            claim.metadata.name = Some(claim_name(set, &template, ordinal));
            claim.metadata.namespace = set.metadata.namespace.clone();
            let labels = claim.metadata.labels.get_or_insert_default();
            labels.extend(match_labels.clone());
            claim.status = None;
            (template, claim)
        })
        .collect()
}

/// Makes the pod's volumes mount the set's claims (upstream `updateStorage`):
/// one volume per template, then the pod's other volumes.
pub fn update_storage(set: &StatefulSet, pod: &mut Pod) {
    let Some(ord) = ordinal(pod) else {
        return;
    };
    let claims = claims_for(set, ord);
    let spec = pod.spec.get_or_insert_default();
    let current = spec.volumes.take().unwrap_or_default();
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(template, claim)| Volume {
            name: template.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    volumes.extend(
        current
            .into_iter()
            .filter(|v| !claims.iter().any(|(t, _)| *t == v.name)),
    );
    spec.volumes = Some(volumes);
}

/// Gives the pod its name, namespace and the `statefulset.kubernetes.io/pod-name`
/// and `apps.kubernetes.io/pod-index` labels (upstream `updateIdentity`, with the
/// `PodIndexLabel` gate on as in v1.33).
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) {
    let Some(ord) = ordinal(pod) else {
        return;
    };
    let name = pod_name(set, ord);
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
    pod.metadata.name = Some(name);
}

/// The pod of `ordinal` made from `set`'s template (upstream `newStatefulSetPod`):
/// its identity, `hostname` = its name and `subdomain` = `serviceName` (set only
/// at creation: they are immutable), and its claims mounted.
pub fn new_pod(set: &StatefulSet, ordinal: i32) -> Result<Pod, PodTemplateError> {
    let controller_ref = set
        .controller_ref()
        .map_err(|_| PodTemplateError::NoTemplate(format!("StatefulSet {}", name(set))))?;
    let mut pod = pod_from_template(set, controller_ref)?;
    pod.metadata.name = Some(pod_name(set, ordinal));
    update_identity(set, &mut pod);
    let spec = pod.spec.get_or_insert_default();
    spec.hostname = pod.metadata.name.clone();
    spec.subdomain = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    update_storage(set, &mut pod);
    Ok(pod)
}

/// The pod of `ordinal` at the right revision (upstream
/// `newVersionedStatefulSetPod`, keeping its operator precedence): ordinals below
/// the partition (or, without a `rollingUpdate`, below `currentReplicas`) get the
/// current revision, the others the update revision.
pub fn new_versioned_pod(
    current_set: &StatefulSet,
    update_set: &StatefulSet,
    current_revision: &str,
    update_revision: &str,
    ordinal: i32,
) -> Result<Pod, PodTemplateError> {
    let strategy = current_set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref());
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let is_rolling = strategy.and_then(|s| s.type_.as_deref()) == Some("RollingUpdate");
    let start = start_ordinal(current_set);
    let current_replicas = current_set
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .unwrap_or(0);
    let below_current = is_rolling && rolling.is_none() && ordinal < start + current_replicas;
    let below_partition = rolling.is_some_and(|r| ordinal < start + r.partition.unwrap_or(0));
    let (set, revision) = if below_current || below_partition {
        (current_set, current_revision)
    } else {
        (update_set, update_revision)
    };
    let mut pod = new_pod(set, ordinal)?;
    pod.metadata
        .labels
        .get_or_insert_default()
        .insert(POD_REVISION_LABEL.into(), revision.into());
    Ok(pod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefulset::testing::{claim_template, set, with_partition};

    #[test]
    fn names_parse_as_upstreams_regex() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", Some(0))));
        assert_eq!(parent_and_ordinal("my-web-12"), Some(("my-web", Some(12))));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
        assert_eq!(
            parent_and_ordinal("web-99999999999"),
            Some(("web", None)),
            "an ordinal beyond int32 is upstream's -1"
        );
    }

    #[test]
    fn a_new_pod_has_its_identity_and_claims() {
        let mut s = set("web", 3);
        let spec = s.spec.as_mut().unwrap();
        spec.service_name = Some("nginx".into());
        spec.volume_claim_templates = Some(vec![claim_template("www")]);
        spec.ordinals = Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(5) });
        let pod = new_pod(&s, 6).unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web-6"));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-6");
        assert_eq!(labels[POD_INDEX_LABEL], "6");
        assert_eq!(labels["app"], "web");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-6"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let vols = spec.volumes.as_ref().unwrap();
        assert_eq!(vols[0].name, "www");
        assert_eq!(
            vols[0].persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-6"
        );
        assert!(identity_matches(&s, &pod));
        assert!(storage_matches(&s, &pod));
        assert!(in_ordinal_range(&pod, &s));
        assert_eq!((start_ordinal(&s), end_ordinal(&s)), (5, 7));
        let claims = claims_for(&s, 6);
        assert_eq!(claims[0].1.metadata.name.as_deref(), Some("www-web-6"));
        assert_eq!(claims[0].1.metadata.labels.as_ref().unwrap()["app"], "web");
    }

    #[test]
    fn versioned_pods_follow_the_partition() {
        let current = with_partition(set("web", 5), 3);
        let update = current.clone();
        let rev = |o| {
            pod_revision(&new_versioned_pod(&current, &update, "cur", "upd", o).unwrap())
                .to_string()
        };
        assert_eq!(rev(2), "cur");
        assert_eq!(rev(3), "upd");
        assert_eq!(rev(4), "upd");
    }
}
