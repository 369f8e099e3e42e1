//! Which nodes a DaemonSet's pods belong on (upstream `NodeShouldRunDaemonPod`
//! and `predicates` in `pkg/controller/daemon`, `AddOrUpdateDaemonPodTolerations`
//! and `GetTargetNodeName` in `pkg/controller/daemon/util`).
//!
//! A node is judged against the pod the DaemonSet would put there: its template
//! with the tolerations upstream adds to every daemon pod. The pod must fit the
//! node's name, its `nodeSelector` and required node affinity, and tolerate the
//! node's `NoSchedule` and `NoExecute` taints to be *wanted* there; a pod already
//! there may *stay* as long as it tolerates the `NoExecute` ones.

use capstan_labels::node::{find_untolerated_taint, node_selector_matches};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Toleration};

/// `node.kubernetes.io/not-ready`.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/disk-pressure`.
pub const TAINT_NODE_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/memory-pressure`.
pub const TAINT_NODE_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/pid-pressure`.
pub const TAINT_NODE_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/unschedulable` (the taint a cordon brings).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/network-unavailable`.
pub const TAINT_NODE_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Whether a DaemonSet's pod belongs on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eligibility {
    /// A daemon pod should be created on the node if it has none.
    pub should_run: bool,
    /// A daemon pod already on the node may keep running.
    pub should_continue_running: bool,
}

impl Eligibility {
    const NO: Eligibility = Eligibility {
        should_run: false,
        should_continue_running: false,
    };
}

fn exists(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        value: None,
        toleration_seconds: None,
    }
}

/// Upstream `AddOrUpdateDaemonPodTolerations`: daemon pods tolerate not-ready and
/// unreachable nodes (`NoExecute`, forever), disk, memory and PID pressure and
/// cordoned nodes (`NoSchedule`), and host-network pods an unavailable network.
/// A toleration of the same key, operator and effect is replaced.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        exists(TAINT_NODE_NOT_READY, "NoExecute"),
        exists(TAINT_NODE_UNREACHABLE, "NoExecute"),
        exists(TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
        exists(TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
        exists(TAINT_NODE_PID_PRESSURE, "NoSchedule"),
        exists(TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(exists(TAINT_NODE_NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_default();
    for t in wanted {
        // Upstream `AddOrUpdateTolerationInPodSpec`: same key, operator, effect.
        match tolerations.iter_mut().find(|have| {
            have.key == t.key
                && have.operator.as_deref().unwrap_or("Equal") == "Exists"
                && have.effect == t.effect
        }) {
            Some(have) => *have = t,
            None => tolerations.push(t),
        }
    }
}

/// The spec of the pod the DaemonSet would run on `node` (upstream `NewPod`):
/// the template's, bound to the node, with the daemon tolerations.
pub fn daemon_pod_spec(ds: &DaemonSet, node: &str) -> PodSpec {
    let mut spec = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    spec.node_name = Some(node.to_string());
    add_daemon_tolerations(&mut spec);
    spec
}

/// Whether the pod `spec` fits `node`'s labels: its `nodeSelector` and the required
/// terms of its node affinity (upstream `GetRequiredNodeAffinity(pod).Match`).
fn fits_node_affinity(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let selector_fits = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)).is_some_and(|have| have == v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selector_fits && required.is_none_or(|r| node_selector_matches(r, node))
}

/// Upstream `NodeShouldRunDaemonPod`.
pub fn node_should_run_daemon_pod(node: &Node, ds: &DaemonSet) -> Eligibility {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let template_node = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    if !template_node.is_empty() && template_node != name {
        return Eligibility::NO;
    }
    let spec = daemon_pod_spec(ds, name);
    if !fits_node_affinity(&spec, node) {
        return Eligibility::NO;
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        find_untolerated_taint(taints, tolerations, |t| {
            effects.contains(&t.effect.as_str())
        })
        .is_some()
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return Eligibility {
            should_run: false,
            should_continue_running: !untolerated(&["NoExecute"]),
        };
    }
    Eligibility {
        should_run: true,
        should_continue_running: true,
    }
}

/// Upstream `GetTargetNodeName`: the node a daemon pod is bound to, or, before the
/// scheduler binds it, the node its `metadata.name In [node]` affinity term names.
pub fn target_node_name(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| match r.values.as_deref() {
            Some([one]) => Some(one.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests;
