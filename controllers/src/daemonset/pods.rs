//! The pods a DaemonSet creates and how it reads them back: the template with
//! the daemon tolerations, the `controller-revision-hash` and
//! `pod-template-generation` labels (upstream `CreatePodTemplate`), and a
//! required node-affinity term naming the node (upstream
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`) so the scheduler places it there.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::eligibility::add_daemon_tolerations;
use super::{POD_TEMPLATE_GENERATION_LABEL, TEMPLATE_GENERATION_ANNOTATION};
use crate::util::history::POD_REVISION_LABEL;
use crate::util::pod_control::{PodTemplateError, pod_from_template};

/// The DaemonSet's template generation (upstream `GetTemplateGeneration`): the
/// `deprecated.daemonset.template.generation` annotation the API server keeps,
/// `None` when absent or not a number.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .as_ref()?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Upstream `IsPodUpdated`: the pod carries the current revision's hash, or the
/// current template generation.
pub fn is_pod_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let label = |k: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(k));
    let generation_matches =
        generation.is_some_and(|g| label(POD_TEMPLATE_GENERATION_LABEL) == Some(&g.to_string()));
    let hash_matches =
        !hash.is_empty() && label(POD_REVISION_LABEL).map(String::as_str) == Some(hash);
    hash_matches || generation_matches
}

/// Upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: `affinity` whose required
/// node affinity is exactly `metadata.name In [node]` (the DaemonSet already
/// checked the template's own terms against the node).
pub fn node_name_affinity(affinity: Option<Affinity>, node: &str) -> Affinity {
    let selector = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec![node.to_string()]),
            }]),
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(selector);
    affinity
}

/// The pod to create for `ds` on `node` from the revision `hash`.
pub fn daemon_pod(
    ds: &DaemonSet,
    controller_ref: OwnerReference,
    node: &str,
    hash: &str,
) -> Result<Pod, PodTemplateError> {
    let mut pod = pod_from_template(ds, controller_ref)?;
    let labels = pod.metadata.labels.get_or_insert_default();
    if let Some(g) = template_generation(ds) {
        labels.insert(POD_TEMPLATE_GENERATION_LABEL.to_string(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(POD_REVISION_LABEL.to_string(), hash.to_string());
    }
    let spec = pod.spec.get_or_insert_default();
    add_daemon_tolerations(spec);
    spec.affinity = Some(node_name_affinity(spec.affinity.take(), node));
    Ok(pod)
}

/// Upstream `podByCreationTimestampAndPhase`: scheduled pods first, then the
/// oldest, then by name.
pub fn by_creation_and_phase(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| {
            let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}
