//! kube-apiserver's `apiVersionPriorities`: the `groupPriorityMinimum` and
//! `versionPriority` of the APIService it registers for each built-in group-version, which
//! also order the groups of discovery.

/// `(group, version, groupPriorityMinimum, versionPriority)` for every built-in
/// group-version upstream registers an APIService for (`cmd/kube-apiserver` and
/// `pkg/controlplane/apiserver`'s tables). A group-version
/// missing here gets no APIService, as upstream skips it.
const API_VERSION_PRIORITIES: &[(&str, &str, i32, i32)] = &[
    ("", "v1", 18000, 1),
    ("apps", "v1", 17800, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("events.k8s.io", "v1beta1", 17750, 5),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authentication.k8s.io", "v1beta1", 17700, 9),
    ("authentication.k8s.io", "v1alpha1", 17700, 1),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2", 17500, 30),
    ("autoscaling", "v2beta1", 17500, 9),
    ("autoscaling", "v2beta2", 17500, 1),
    ("batch", "v1", 17400, 15),
    ("batch", "v1beta1", 17400, 9),
    ("batch", "v2alpha1", 17400, 9),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("certificates.k8s.io", "v1beta1", 17300, 9),
    ("certificates.k8s.io", "v1alpha1", 17300, 1),
    ("networking.k8s.io", "v1", 17200, 15),
    ("networking.k8s.io", "v1alpha1", 17200, 1),
    ("policy", "v1", 17100, 15),
    ("policy", "v1beta1", 17100, 9),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("storage.k8s.io", "v1", 16800, 15),
    ("storage.k8s.io", "v1beta1", 16800, 9),
    ("storage.k8s.io", "v1alpha1", 16800, 1),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1beta1", 16700, 12),
    ("admissionregistration.k8s.io", "v1alpha1", 16700, 9),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("coordination.k8s.io", "v1beta1", 16500, 13),
    ("coordination.k8s.io", "v1alpha2", 16500, 12),
    ("node.k8s.io", "v1", 16300, 15),
    ("node.k8s.io", "v1beta1", 16300, 9),
    ("node.k8s.io", "v1alpha1", 16300, 1),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("discovery.k8s.io", "v1beta1", 16200, 12),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", 16100, 18),
    ("flowcontrol.apiserver.k8s.io", "v1beta2", 16100, 15),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", 16100, 12),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", 16100, 9),
    ("internal.apiserver.k8s.io", "v1alpha1", 16000, 9),
    ("resource.k8s.io", "v1alpha3", 15900, 9),
    ("storagemigration.k8s.io", "v1beta1", 15800, 9),
];

/// The `groupPriorityMinimum` upstream's crdregistration controller gives a CRD's
/// group-versions ("CRDs should have relatively low priority").
pub const CRD_GROUP_PRIORITY_MINIMUM: i32 = 1000;
/// The `versionPriority` of a CRD's group-versions: versions of a CRD group are then
/// ordered as Kubernetes versions (`v1` before `v1beta1`).
pub const CRD_VERSION_PRIORITY: i32 = 100;

/// The API group kube-aggregator serves itself: no APIService names it, and discovery
/// lists it before every other group.
pub const AGGREGATOR_GROUP: &str = "apiregistration.k8s.io";

/// `(groupPriorityMinimum, versionPriority)` of a built-in group-version, or `None` when
/// upstream registers no APIService for it.
pub fn local_priority(group: &str, version: &str) -> Option<(i32, i32)> {
    API_VERSION_PRIORITIES
        .iter()
        .find(|(g, v, _, _)| *g == group && *v == version)
        .map(|(_, _, gp, vp)| (*gp, *vp))
}

/// How discovery orders a named group (higher first): kube-aggregator's own group first,
/// then the highest `groupPriorityMinimum` of the group's versions, custom groups last
/// with the CRD minimum.
pub fn group_priority(group: &str) -> i32 {
    if group == AGGREGATOR_GROUP {
        return i32::MAX;
    }
    API_VERSION_PRIORITIES
        .iter()
        .filter(|(g, ..)| *g == group)
        .map(|(_, _, gp, _)| *gp)
        .max()
        .unwrap_or(CRD_GROUP_PRIORITY_MINIMUM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_upstreams() {
        assert_eq!(local_priority("", "v1"), Some((18000, 1)));
        assert_eq!(local_priority("apps", "v1"), Some((17800, 15)));
        assert_eq!(local_priority("autoscaling", "v2"), Some((17500, 30)));
        assert_eq!(local_priority(AGGREGATOR_GROUP, "v1"), None);
        assert_eq!(local_priority("example.com", "v1"), None);
        // Discovery: the aggregator's group, then apps, …; ties broken by the caller.
        assert!(group_priority(AGGREGATOR_GROUP) > group_priority("apps"));
        assert!(group_priority("apps") > group_priority("events.k8s.io"));
        assert_eq!(
            group_priority("apiextensions.k8s.io"),
            group_priority("admissionregistration.k8s.io")
        );
        assert_eq!(group_priority("example.com"), CRD_GROUP_PRIORITY_MINIMUM);
    }
}
