//! `NodeInfo` and `PodInfo`: a node with the pods placed on it and the aggregates
//! the plugins need, kept incrementally (upstream `framework/types.go`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm};

use crate::labels::{NodeLabels, label_hashes};
use crate::resource::{Resource, pod_non_zero_requests, pod_requests};

/// The key the scheduler uses for a pod: its UID, or `namespace/name` when it has none.
pub fn pod_key(pod: &Pod) -> String {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => namespaced_name(pod),
    }
}

/// `namespace/name` of a pod.
pub fn namespaced_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// The namespace of a pod (`default` when unset).
pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The priority of a pod (`spec.priority`, 0 when unset), as `corev1helpers.PodPriority`.
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// A parsed pod (anti-)affinity term (upstream `framework.AffinityTerm`).
/// Equal terms select the same pods, so the cache counts pods per distinct term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    /// Namespaces the term applies to (the pod's own when neither namespaces nor a
    /// namespace selector is given).
    pub namespaces: BTreeSet<String>,
    /// Selector over the other pods' labels.
    pub selector: Selector,
    /// Node label defining the topology domain.
    pub topology_key: String,
    /// Selector over namespace labels (`Nothing` when unset).
    pub namespace_selector: Selector,
}

impl AffinityTerm {
    fn new(pod: &Pod, term: &PodAffinityTerm) -> Result<Self, String> {
        let selector = Selector::from_label_selector(term.label_selector.as_ref())
            .map_err(|e| e.to_string())?;
        let namespace_selector = Selector::from_label_selector(term.namespace_selector.as_ref())
            .map_err(|e| e.to_string())?;
        let listed = term.namespaces.clone().unwrap_or_default();
        let namespaces = if listed.is_empty() && term.namespace_selector.is_none() {
            BTreeSet::from([pod_namespace(pod).to_string()])
        } else {
            listed.into_iter().collect()
        };
        Ok(AffinityTerm {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            namespace_selector,
        })
    }

    /// Whether `pod` (with its namespace's labels) is selected by this term.
    pub fn matches(&self, pod: &Pod, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        self.matches_labels(pod_namespace(pod), pod.metadata.labels.as_ref(), ns_labels)
    }

    /// Whether a pod in `namespace` (with that namespace's labels) carrying
    /// `labels` is selected by this term: all a term looks at.
    pub fn matches_labels(
        &self,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
        ns_labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let ns_ok =
            self.namespaces.contains(namespace) || self.namespace_selector.matches(&ns_labels);
        ns_ok && self.selector.matches(&labels)
    }
}

/// A preferred (weighted) affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1–100).
    pub weight: i32,
}

/// A pod with everything the plugins derive from it computed once
/// (upstream `framework.PodInfo`).
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Cache key (UID or namespace/name).
    pub key: String,
    /// Effective requests ([`pod_requests`]).
    pub requests: Resource,
    /// Requests with cpu/memory defaults for containers without them.
    pub non_zero_requests: Resource,
    /// Required pod affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Errors met while parsing the affinity terms.
    pub parse_errors: Vec<String>,
    /// Normalised images of init containers and containers (ImageLocality).
    pub image_names: Vec<String>,
    /// Hash of the pod's namespace and labels: pods with equal label sets are
    /// counted together for affinity terms.
    pub label_set_hash: u64,
}

impl PodInfo {
    /// Computes the derived data of a pod.
    pub fn new(pod: impl Into<Arc<Pod>>) -> Self {
        let pod: Arc<Pod> = pod.into();
        let mut errors = Vec::new();
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let mut parse = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .filter_map(|t| AffinityTerm::new(&pod, t).map_err(|e| errors.push(e)).ok())
                .collect()
        };
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required_affinity_terms = parse(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity_terms = parse(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let mut weighted =
            |terms: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
                terms
                    .into_iter()
                    .flatten()
                    .filter_map(|w| {
                        AffinityTerm::new(&pod, &w.pod_affinity_term)
                            .map(|term| WeightedAffinityTerm {
                                term,
                                weight: w.weight,
                            })
                            .map_err(|e| errors.push(e))
                            .ok()
                    })
                    .collect::<Vec<_>>()
            };
        let preferred_affinity_terms = weighted(pa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity_terms = weighted(paa.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let image_names = pod
            .spec
            .iter()
            .flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            })
            .filter_map(|c| c.image.as_deref().map(normalized_image_name))
            .collect();
        PodInfo {
            image_names,
            label_set_hash: label_set_hash(pod_namespace(&pod), pod.metadata.labels.as_ref()),
            key: pod_key(&pod),
            requests: pod_requests(&pod),
            non_zero_requests: pod_non_zero_requests(&pod),
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            parse_errors: errors,
            pod,
        }
    }

    /// This pod info for another version of the pod whose changes do not touch
    /// what is derived from it (e.g. only `spec.nodeName` set on assuming).
    pub fn with_pod(&self, pod: Arc<Pod>) -> PodInfo {
        PodInfo {
            pod,
            ..self.clone()
        }
    }

    /// Whether the pod has any pod affinity or anti-affinity (upstream `podWithAffinity`).
    pub fn has_affinity(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }

    /// The pod's host ports as (ip, protocol, port), defaults applied.
    pub fn host_ports(&self) -> Vec<HostPort> {
        host_ports(&self.pod)
    }
}

/// A stable hash of a namespace and a label set (no labels and empty labels
/// hash alike, as selectors see them alike).
pub fn label_set_hash(namespace: &str, labels: Option<&BTreeMap<String, String>>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    namespace.hash(&mut h);
    for (k, v) in labels.into_iter().flatten() {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

/// A host port claimed by a container: bind IP (`0.0.0.0` by default), protocol
/// (`TCP` by default) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// Host IP.
    pub ip: String,
    /// Protocol.
    pub protocol: String,
    /// Port number.
    pub port: i32,
}

/// The host ports a pod's containers claim.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            let port = p.host_port.unwrap_or(0);
            if port <= 0 {
                continue;
            }
            let ip = match p.host_ip.as_deref() {
                None | Some("") => "0.0.0.0".to_string(),
                Some(ip) => ip.to_string(),
            };
            let protocol = match p.protocol.as_deref() {
                None | Some("") => "TCP".to_string(),
                Some(pr) => pr.to_string(),
            };
            out.push(HostPort { ip, protocol, port });
        }
    }
    out
}

/// Host ports in use on a node, with reference counts (upstream `HostPortInfo`).
#[derive(Debug, Clone, Default)]
pub struct HostPortInfo {
    used: HashMap<HostPort, u32>,
}

impl HostPortInfo {
    /// Records a port.
    pub fn add(&mut self, hp: &HostPort) {
        *self.used.entry(hp.clone()).or_default() += 1;
    }

    /// Releases a port.
    pub fn remove(&mut self, hp: &HostPort) {
        if let Some(n) = self.used.get_mut(hp) {
            *n -= 1;
            if *n == 0 {
                self.used.remove(hp);
            }
        }
    }

    /// Whether a wanted port conflicts: `0.0.0.0` conflicts with the same
    /// protocol/port on any IP, a specific IP with itself and `0.0.0.0`.
    pub fn conflicts(&self, want: &HostPort) -> bool {
        if want.port <= 0 {
            return false;
        }
        if want.ip == "0.0.0.0" {
            self.used
                .keys()
                .any(|u| u.port == want.port && u.protocol == want.protocol)
        } else {
            self.used.keys().any(|u| {
                u.port == want.port
                    && u.protocol == want.protocol
                    && (u.ip == want.ip || u.ip == "0.0.0.0")
            })
        }
    }

    /// Number of distinct ports in use.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// Whether no port is in use.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

/// Normalises an image name as ImageLocality does (`:latest` when no tag).
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    if colon.is_none() || colon <= slash {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// A node and the pods placed on it (bound or assumed), with aggregates kept
/// incrementally on every add and remove.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    node: Option<Arc<Node>>,
    /// The node's name, shared (score lists and results clone it per cycle).
    name: Arc<str>,
    /// `spec.unschedulable`, read by a filter for every node examined.
    unschedulable: bool,
    /// Whether the node has any taint (most have none: filters skip the scan).
    has_taints: bool,
    /// Hashes of the node's labels, for compiled node selectors.
    label_hashes: Box<[(u64, u64)]>,
    pods: Vec<Arc<PodInfo>>,
    pods_with_affinity: Vec<Arc<PodInfo>>,
    pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    used_ports: HostPortInfo,
    requested: Resource,
    non_zero_requested: Resource,
    allocatable: Resource,
    images: Arc<HashMap<String, i64>>,
    pvc_ref_counts: HashMap<String, u32>,
    generation: u64,
}

impl NodeInfo {
    /// A node info for a node with no pods.
    pub fn new(node: impl Into<Arc<Node>>) -> Self {
        let mut ni = NodeInfo::default();
        ni.set_node(node);
        ni
    }

    /// Replaces the node object (allocatable and images are recomputed).
    pub fn set_node(&mut self, node: impl Into<Arc<Node>>) {
        let node: Arc<Node> = node.into();
        let status = node.status.as_ref();
        self.allocatable = status
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_list)
            .unwrap_or_default();
        self.images = Arc::new(
            status
                .and_then(|s| s.images.as_ref())
                .into_iter()
                .flatten()
                .flat_map(|img| {
                    let size = img.size_bytes.unwrap_or(0);
                    img.names
                        .iter()
                        .flatten()
                        .map(move |n| (normalized_image_name(n), size))
                })
                .collect(),
        );
        self.name = Arc::from(node.metadata.name.as_deref().unwrap_or(""));
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.has_taints = spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| !t.is_empty());
        self.label_hashes = label_hashes(node.metadata.labels.as_ref());
        self.node = Some(node);
        self.generation += 1;
    }

    /// Drops the node object but keeps the pods (a node deleted before its pods).
    pub fn remove_node(&mut self) {
        self.node = None;
        self.name = Arc::from("");
        self.unschedulable = false;
        self.has_taints = false;
        self.label_hashes = Box::default();
        self.generation += 1;
    }

    /// The node, if known.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_deref()
    }

    /// The shared node object, if known.
    pub fn node_arc(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }

    /// The node's name ("" when the node object is not known).
    pub fn node_name(&self) -> &str {
        &self.name
    }

    /// The node's name as a shared string ("" when the node object is not known).
    pub fn node_name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The node's `spec.unschedulable` (false when the node object is not known).
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// The node's taints (none when the node object is not known).
    pub fn taints(&self) -> &[k8s_openapi::api::core::v1::Taint] {
        if !self.has_taints {
            return &[];
        }
        self.node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[])
    }

    /// The node's labels.
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    /// The node's name, labels and label hashes, for compiled node selectors.
    pub fn label_view(&self) -> NodeLabels<'_> {
        NodeLabels {
            name: self.node_name(),
            labels: self.labels(),
            hashes: &self.label_hashes,
        }
    }

    /// Pods on the node (bound and assumed).
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// Pods with any pod affinity or anti-affinity.
    pub fn pods_with_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_affinity
    }

    /// Pods with required pod anti-affinity.
    pub fn pods_with_required_anti_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_required_anti_affinity
    }

    /// Host ports in use.
    pub fn used_ports(&self) -> &HostPortInfo {
        &self.used_ports
    }

    /// Sum of the pods' requests.
    pub fn requested(&self) -> &Resource {
        &self.requested
    }

    /// Sum of the pods' non-zero requests (cpu/memory defaults applied).
    pub fn non_zero_requested(&self) -> &Resource {
        &self.non_zero_requested
    }

    /// The node's allocatable resources.
    pub fn allocatable(&self) -> &Resource {
        &self.allocatable
    }

    /// Images present on the node (normalised name → size in bytes).
    pub fn images(&self) -> &HashMap<String, i64> {
        &self.images
    }

    /// How many pods on the node use each PVC (`namespace/claim`).
    pub fn pvc_ref_counts(&self) -> &HashMap<String, u32> {
        &self.pvc_ref_counts
    }

    /// Incremented on every change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn pvc_keys(pod: &Pod) -> Vec<String> {
        let ns = pod_namespace(pod);
        pod.spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| format!("{ns}/{}", c.claim_name))
            .collect()
    }

    /// Adds a pod and its requests, ports and claims.
    pub fn add_pod(&mut self, pi: Arc<PodInfo>) {
        self.requested.add(&pi.requests);
        self.non_zero_requested.milli_cpu += pi.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory += pi.non_zero_requests.memory;
        for hp in pi.host_ports() {
            self.used_ports.add(&hp);
        }
        for k in Self::pvc_keys(&pi.pod) {
            *self.pvc_ref_counts.entry(k).or_default() += 1;
        }
        if pi.has_affinity() {
            self.pods_with_affinity.push(pi.clone());
        }
        if !pi.required_anti_affinity_terms.is_empty() {
            self.pods_with_required_anti_affinity.push(pi.clone());
        }
        self.pods.push(pi);
        self.generation += 1;
    }

    /// Replaces a pod with another version of it whose derived data is the same
    /// (same key, spec and labels: the aggregates stay); returns whether it was there.
    pub fn replace_pod(&mut self, pi: &Arc<PodInfo>) -> bool {
        let Some(slot) = self.pods.iter_mut().find(|p| p.key == pi.key) else {
            return false;
        };
        *slot = pi.clone();
        for list in [
            &mut self.pods_with_affinity,
            &mut self.pods_with_required_anti_affinity,
        ] {
            if let Some(slot) = list.iter_mut().find(|p| p.key == pi.key) {
                *slot = pi.clone();
            }
        }
        self.generation += 1;
        true
    }

    /// Removes a pod by key; returns whether it was there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(idx) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pi = self.pods.swap_remove(idx);
        self.pods_with_affinity.retain(|p| p.key != key);
        self.pods_with_required_anti_affinity
            .retain(|p| p.key != key);
        self.requested.sub(&pi.requests);
        self.non_zero_requested.milli_cpu -= pi.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory -= pi.non_zero_requests.memory;
        for hp in pi.host_ports() {
            self.used_ports.remove(&hp);
        }
        for k in Self::pvc_keys(&pi.pod) {
            if let Some(n) = self.pvc_ref_counts.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.pvc_ref_counts.remove(&k);
                }
            }
        }
        self.generation += 1;
        true
    }
}

/// Hints the CPU to load a node info's fields into cache ahead of use: a cycle
/// visits a few hundred node infos spread over the heap, and waiting for each one
/// at its first field dominated filtering. No effect on other architectures.
#[inline]
pub fn prefetch_node_info(ni: &Arc<NodeInfo>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = Arc::as_ptr(ni).cast::<i8>();
        let len = std::mem::size_of::<NodeInfo>();
        let mut off = 0;
        while off < len {
            // SAFETY: a prefetch is a hint that never faults and reads nothing into
            // the program; `sse` is part of the x86_64 baseline. `wrapping_add`
            // only forms an address inside the node info.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ni;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn add_and_remove_pods_keep_aggregates() {
        let mut ni = NodeInfo::new(NodeBuilder::new("n1").capacity("4", "8Gi", 110).build());
        assert_eq!(ni.allocatable().milli_cpu, 4000);
        assert_eq!(ni.allocatable().allowed_pod_number, 110);
        let a = Arc::new(PodInfo::new(
            PodBuilder::new("a")
                .container(&[("cpu", "1"), ("memory", "1Gi")])
                .host_port(80)
                .build(),
        ));
        let b = Arc::new(PodInfo::new(PodBuilder::new("b").container(&[]).build()));
        ni.add_pod(a.clone());
        ni.add_pod(b.clone());
        assert_eq!(ni.requested().milli_cpu, 1000);
        assert_eq!(ni.requested().memory, 1 << 30);
        assert_eq!(ni.non_zero_requested().milli_cpu, 1100);
        assert_eq!(ni.non_zero_requested().memory, (1 << 30) + (200 << 20));
        assert_eq!(ni.used_ports().len(), 1);
        assert_eq!(ni.pods().len(), 2);
        assert!(ni.remove_pod(&a.key));
        assert!(!ni.remove_pod(&a.key));
        assert_eq!(ni.requested().milli_cpu, 0);
        assert_eq!(ni.non_zero_requested().milli_cpu, 100);
        assert!(ni.used_ports().is_empty());
        assert_eq!(ni.pods().len(), 1);
    }

    #[test]
    fn pods_with_affinity_are_tracked() {
        let mut ni = NodeInfo::new(NodeBuilder::new("n1").build());
        let p = Arc::new(PodInfo::new(
            PodBuilder::new("a")
                .anti_affinity_required(&[("app", "x")], "kubernetes.io/hostname")
                .build(),
        ));
        ni.add_pod(p.clone());
        assert_eq!(ni.pods_with_affinity().len(), 1);
        assert_eq!(ni.pods_with_required_anti_affinity().len(), 1);
        ni.remove_pod(&p.key);
        assert!(ni.pods_with_affinity().is_empty());
        assert!(ni.pods_with_required_anti_affinity().is_empty());
    }

    #[test]
    fn host_port_conflicts_as_upstream() {
        let mut h = HostPortInfo::default();
        let hp = |ip: &str, proto: &str, port| HostPort {
            ip: ip.into(),
            protocol: proto.into(),
            port,
        };
        h.add(&hp("127.0.0.1", "TCP", 80));
        assert!(h.conflicts(&hp("0.0.0.0", "TCP", 80)));
        assert!(h.conflicts(&hp("127.0.0.1", "TCP", 80)));
        assert!(!h.conflicts(&hp("127.0.0.2", "TCP", 80)));
        assert!(!h.conflicts(&hp("127.0.0.1", "UDP", 80)));
        h.add(&hp("0.0.0.0", "UDP", 53));
        assert!(h.conflicts(&hp("10.0.0.1", "UDP", 53)));
        h.remove(&hp("0.0.0.0", "UDP", 53));
        assert!(!h.conflicts(&hp("10.0.0.1", "UDP", 53)));
    }

    #[test]
    fn image_names_are_normalised() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.2"), "nginx:1.2");
        assert_eq!(
            normalized_image_name("host:5000/nginx"),
            "host:5000/nginx:latest"
        );
    }
}
