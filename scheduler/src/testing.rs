//! Builders of plain k8s-openapi nodes and pods, for tests and benchmarks.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerImage, ContainerPort, Node, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, NodeStatus,
    PersistentVolumeClaimVolumeSource, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity, PodSpec,
    PreferredSchedulingTerm, ResourceRequirements, Taint, Toleration, TopologySpreadConstraint,
    Volume, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A resource list from (name, quantity) pairs.
pub fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds a Node.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    node: Node,
}

impl NodeBuilder {
    /// A node with 4 cpu, 16Gi memory, 110 pods allocatable.
    pub fn new(name: &str) -> Self {
        let mut node = Node::default();
        node.metadata.name = Some(name.into());
        node.spec = Some(NodeSpec::default());
        node.status = Some(NodeStatus {
            allocatable: Some(quantities(&[
                ("cpu", "4"),
                ("memory", "16Gi"),
                ("pods", "110"),
                ("ephemeral-storage", "100Gi"),
            ])),
            ..Default::default()
        });
        NodeBuilder { node }
    }

    fn alloc(&mut self) -> &mut BTreeMap<String, Quantity> {
        self.node
            .status
            .get_or_insert_with(Default::default)
            .allocatable
            .get_or_insert_with(Default::default)
    }

    /// Sets cpu, memory and pods allocatable.
    pub fn capacity(mut self, cpu: &str, memory: &str, pods: i64) -> Self {
        let a = self.alloc();
        a.insert("cpu".into(), Quantity(cpu.into()));
        a.insert("memory".into(), Quantity(memory.into()));
        a.insert("pods".into(), Quantity(pods.to_string()));
        self
    }

    /// Sets a scalar resource's allocatable.
    pub fn scalar(mut self, name: &str, q: &str) -> Self {
        self.alloc().insert(name.into(), Quantity(q.into()));
        self
    }

    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.node
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Adds a taint.
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        let spec = self.node.spec.get_or_insert_with(Default::default);
        spec.taints.get_or_insert_with(Vec::new).push(Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        });
        self
    }

    /// Marks the node unschedulable (cordoned).
    pub fn unschedulable(mut self) -> Self {
        self.node
            .spec
            .get_or_insert_with(Default::default)
            .unschedulable = Some(true);
        self
    }

    /// Adds an image present on the node.
    pub fn image(mut self, name: &str, size: i64) -> Self {
        let st = self.node.status.get_or_insert_with(Default::default);
        st.images.get_or_insert_with(Vec::new).push(ContainerImage {
            names: Some(vec![name.into()]),
            size_bytes: Some(size),
        });
        self
    }

    /// The node.
    pub fn build(self) -> Node {
        self.node
    }
}

/// Builds a Pod (namespace `default`, uid = name).
#[derive(Debug, Clone)]
pub struct PodBuilder {
    pod: Pod,
}

impl PodBuilder {
    /// A pod with no containers.
    pub fn new(name: &str) -> Self {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.namespace = Some("default".into());
        pod.metadata.uid = Some(name.into());
        pod.spec = Some(PodSpec::default());
        PodBuilder { pod }
    }

    fn spec(&mut self) -> &mut PodSpec {
        self.pod.spec.get_or_insert_with(Default::default)
    }

    fn container_with(requests: &[(&str, &str)], name: String) -> Container {
        Container {
            name,
            image: Some("registry.k8s.io/pause:3.10".into()),
            resources: Some(ResourceRequirements {
                requests: (!requests.is_empty()).then(|| quantities(requests)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Sets the namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.pod.metadata.namespace = Some(ns.into());
        self
    }

    /// Adds a container with requests.
    pub fn container(mut self, requests: &[(&str, &str)]) -> Self {
        let n = format!("c{}", self.spec().containers.len());
        let c = Self::container_with(requests, n);
        self.spec().containers.push(c);
        self
    }

    /// Sets the first container's image (adding a container if none).
    pub fn image(mut self, image: &str) -> Self {
        if self.spec().containers.is_empty() {
            self = self.container(&[]);
        }
        self.spec().containers[0].image = Some(image.into());
        self
    }

    /// Adds an init container with requests.
    pub fn init_container(mut self, requests: &[(&str, &str)]) -> Self {
        let n = format!(
            "i{}",
            self.spec().init_containers.as_ref().map_or(0, Vec::len)
        );
        let c = Self::container_with(requests, n);
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(c);
        self
    }

    /// Adds a sidecar (init container with restartPolicy Always).
    pub fn sidecar(mut self, requests: &[(&str, &str)]) -> Self {
        let n = format!(
            "s{}",
            self.spec().init_containers.as_ref().map_or(0, Vec::len)
        );
        let mut c = Self::container_with(requests, n);
        c.restart_policy = Some("Always".into());
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(c);
        self
    }

    /// Adds a host port to the first container.
    pub fn host_port(mut self, port: i32) -> Self {
        if self.spec().containers.is_empty() {
            self = self.container(&[]);
        }
        self.spec().containers[0]
            .ports
            .get_or_insert_with(Vec::new)
            .push(ContainerPort {
                container_port: port,
                host_port: Some(port),
                ..Default::default()
            });
        self
    }

    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Sets `spec.nodeName`.
    pub fn node_name(mut self, n: &str) -> Self {
        self.spec().node_name = Some(n.into());
        self
    }

    /// Sets `spec.priority`.
    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }

    /// Sets `spec.preemptionPolicy`.
    pub fn preemption_policy(mut self, p: &str) -> Self {
        self.spec().preemption_policy = Some(p.into());
        self
    }

    /// Sets `status.startTime` (seconds since the epoch).
    pub fn start_time(mut self, secs: i64) -> Self {
        let ts = k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or_default();
        self.pod
            .status
            .get_or_insert_with(Default::default)
            .start_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts));
        self
    }

    /// Adds a toleration (empty strings mean unset).
    pub fn toleration(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.spec()
            .tolerations
            .get_or_insert_with(Vec::new)
            .push(Toleration {
                key: opt(key),
                operator: opt(op),
                value: opt(value),
                effect: opt(effect),
                toleration_seconds: None,
            });
        self
    }

    /// Adds a nodeSelector entry.
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    fn node_affinity(&mut self) -> &mut NodeAffinity {
        self.spec()
            .affinity
            .get_or_insert_with(Affinity::default)
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
    }

    fn reqs(r: Vec<(&str, &str, Vec<&str>)>) -> Vec<NodeSelectorRequirement> {
        r.into_iter()
            .map(|(k, op, vs)| NodeSelectorRequirement {
                key: k.into(),
                operator: op.into(),
                values: Some(vs.into_iter().map(Into::into).collect()),
            })
            .collect()
    }

    /// Required node affinity: terms (ORed) of label requirements (ANDed).
    pub fn node_affinity_required(mut self, terms: Vec<Vec<(&str, &str, Vec<&str>)>>) -> Self {
        let terms = terms
            .into_iter()
            .map(|t| NodeSelectorTerm {
                match_expressions: Some(Self::reqs(t)),
                match_fields: None,
            })
            .collect();
        self.node_affinity()
            .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
        self
    }

    /// Required node affinity with matchFields terms.
    pub fn node_affinity_required_fields(
        mut self,
        terms: Vec<Vec<(&str, &str, Vec<&str>)>>,
    ) -> Self {
        let terms = terms
            .into_iter()
            .map(|t| NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(Self::reqs(t)),
            })
            .collect();
        self.node_affinity()
            .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
        self
    }

    /// A preferred node affinity term.
    pub fn node_affinity_preferred(
        mut self,
        weight: i32,
        reqs: Vec<(&str, &str, Vec<&str>)>,
    ) -> Self {
        let t = PreferredSchedulingTerm {
            weight,
            preference: NodeSelectorTerm {
                match_expressions: Some(Self::reqs(reqs)),
                match_fields: None,
            },
        };
        self.node_affinity()
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }

    fn term(sel: &[(&str, &str)], key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(labels(sel)),
                match_expressions: None,
            }),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    /// Required pod affinity to pods with these labels in the topology.
    pub fn affinity_required(mut self, sel: &[(&str, &str)], key: &str) -> Self {
        let t = Self::term(sel, key);
        self.spec()
            .affinity
            .get_or_insert_with(Default::default)
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }

    /// Preferred pod affinity.
    pub fn affinity_preferred(mut self, weight: i32, sel: &[(&str, &str)], key: &str) -> Self {
        let t = WeightedPodAffinityTerm {
            weight,
            pod_affinity_term: Self::term(sel, key),
        };
        self.spec()
            .affinity
            .get_or_insert_with(Default::default)
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }

    /// Required pod anti-affinity to pods with these labels in the topology.
    pub fn anti_affinity_required(mut self, sel: &[(&str, &str)], key: &str) -> Self {
        let t = Self::term(sel, key);
        self.spec()
            .affinity
            .get_or_insert_with(Default::default)
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }

    /// A topology spread constraint.
    pub fn spread(mut self, key: &str, max_skew: i32, when: &str, sel: &[(&str, &str)]) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_with(Vec::new)
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: key.into(),
                when_unsatisfiable: when.into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(labels(sel)),
                    match_expressions: None,
                }),
                ..Default::default()
            });
        self
    }

    /// Mounts a PVC.
    pub fn pvc(mut self, claim: &str) -> Self {
        self.spec()
            .volumes
            .get_or_insert_with(Vec::new)
            .push(Volume {
                name: claim.into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.into(),
                    read_only: None,
                }),
                ..Default::default()
            });
        self
    }

    /// The pod.
    pub fn build(self) -> Pod {
        self.pod
    }
}
