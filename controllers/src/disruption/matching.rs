//! Which pods a budget covers and which budget a pod wakes up (upstream
//! `getPodsForPdb` and the PDB lister's `GetPodPodDisruptionBudgets`), with
//! `policy/v1`'s selector semantics: a null selector selects nothing, an empty one
//! (`{}`) every pod of the namespace.

use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

/// The selector of a budget (`metav1.LabelSelectorAsSelector`).
pub fn pdb_selector(pdb: &PodDisruptionBudget) -> Result<Selector, capstan_labels::Error> {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
}

/// The budgets among `pdbs` (those of the pod's namespace) whose valid selector
/// matches the pod, in name order. A pod without labels has none, as upstream's
/// lister answers.
pub fn pdbs_for_pod(pod: &Pod, pdbs: &[Arc<PodDisruptionBudget>]) -> Vec<Arc<PodDisruptionBudget>> {
    let Some(labels) = pod.metadata.labels.as_ref().filter(|l| !l.is_empty()) else {
        return Vec::new();
    };
    let mut found: Vec<Arc<PodDisruptionBudget>> = pdbs
        .iter()
        .filter(|pdb| pdb.metadata.namespace == pod.metadata.namespace)
        .filter(|pdb| pdb_selector(pdb).is_ok_and(|s| s.matches(labels)))
        .cloned()
        .collect();
    found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    found
}
