//! The per-cycle view of the cluster the plugins read (upstream `Snapshot`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{AffinityIndex, NameIndex, NodeChangeLog, NodeInfo};

/// Node infos in scheduling order, with lookup by name and the nodes holding pods
/// with (anti-)affinity. Cloning is cheap.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    nodes: Arc<Vec<Arc<NodeInfo>>>,
    index: Arc<NameIndex>,
    with_affinity: Arc<Vec<usize>>,
    with_required_anti_affinity: Arc<Vec<usize>>,
    image_nodes: Arc<HashMap<String, usize>>,
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    affinity_index: Arc<AffinityIndex>,
    changes: Arc<NodeChangeLog>,
    change_seq: u64,
    epoch: u64,
}

impl Snapshot {
    pub(crate) fn from_parts(
        nodes: Arc<Vec<Arc<NodeInfo>>>,
        index: Arc<NameIndex>,
        with_affinity: Arc<Vec<usize>>,
        with_required_anti_affinity: Arc<Vec<usize>>,
        image_nodes: Arc<HashMap<String, usize>>,
        namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
        affinity_index: Arc<AffinityIndex>,
    ) -> Self {
        Snapshot {
            nodes,
            index,
            with_affinity,
            with_required_anti_affinity,
            image_nodes,
            namespaces,
            affinity_index,
            changes: NodeChangeLog::new(),
            change_seq: 0,
            epoch: 0,
        }
    }

    /// Ties the snapshot to its cache's change log (at the log's current sequence)
    /// and epoch.
    pub(crate) fn with_changes(mut self, changes: Arc<NodeChangeLog>, epoch: u64) -> Self {
        self.change_seq = changes.seq();
        self.changes = changes;
        self.epoch = epoch;
        self
    }

    fn with_computed_lists(
        nodes: Vec<Arc<NodeInfo>>,
        index: Arc<NameIndex>,
        image_nodes: Arc<HashMap<String, usize>>,
        namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    ) -> Self {
        let with_affinity = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.pods_with_affinity().is_empty())
            .map(|(i, _)| i)
            .collect();
        let with_required_anti_affinity = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.pods_with_required_anti_affinity().is_empty())
            .map(|(i, _)| i)
            .collect();
        let mut affinity_index = AffinityIndex::default();
        for n in &nodes {
            for p in n.pods() {
                affinity_index.update(p, n.node_name_arc(), n.node(), true);
            }
        }
        Snapshot {
            nodes: Arc::new(nodes),
            index,
            with_affinity: Arc::new(with_affinity),
            with_required_anti_affinity: Arc::new(with_required_anti_affinity),
            image_nodes,
            namespaces,
            affinity_index: Arc::new(affinity_index),
            changes: NodeChangeLog::new(),
            change_seq: 0,
            epoch: 0,
        }
    }

    /// A snapshot of the given node infos (order kept), for tests and tools.
    pub fn new(nodes: Vec<NodeInfo>) -> Self {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node_name().to_string(), i))
            .collect();
        let mut images: HashMap<String, usize> = HashMap::new();
        for n in &nodes {
            for name in n.images().keys() {
                *images.entry(name.clone()).or_default() += 1;
            }
        }
        Self::with_computed_lists(
            nodes.into_iter().map(Arc::new).collect(),
            Arc::new(index),
            Arc::new(images),
            Arc::default(),
        )
    }

    /// Replaces the namespace labels (for namespace selectors).
    pub fn with_namespaces(mut self, ns: HashMap<String, BTreeMap<String, String>>) -> Self {
        self.namespaces = Arc::new(ns);
        // Results computed against the old namespaces no longer hold.
        self.changes = NodeChangeLog::new();
        self.change_seq = 0;
        self
    }

    /// The log of node changes this snapshot belongs to (a snapshot not taken from
    /// a cache has a log of its own, with nothing in it).
    pub fn change_log(&self) -> &Arc<NodeChangeLog> {
        &self.changes
    }

    /// The change log's sequence when the snapshot was taken: changes numbered
    /// below it are in the snapshot, the others are not.
    pub fn change_seq(&self) -> u64 {
        self.change_seq
    }

    /// The cache's epoch when the snapshot was taken: per-node results of another
    /// epoch (or another change log) do not apply to this snapshot.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// All nodes, in scheduling order.
    pub fn list(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node info of a node.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).and_then(|i| self.nodes.get(*i))
    }

    /// Nodes that hold pods with pod affinity or anti-affinity.
    pub fn have_pods_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().filter_map(|i| self.nodes.get(*i))
    }

    /// Nodes that hold pods with required pod anti-affinity.
    pub fn have_pods_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity
            .iter()
            .filter_map(|i| self.nodes.get(*i))
    }

    /// On how many nodes an image (normalised name) is present.
    pub fn image_num_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// The labels of a namespace, if known.
    pub fn namespace_labels(&self, ns: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(ns)
    }

    /// The placed pods' distinct (anti-)affinity terms and label sets, counted per
    /// node (nodes by name: look them up with [`Snapshot::get`]).
    pub fn affinity_index(&self) -> &AffinityIndex {
        &self.affinity_index
    }

    /// All known namespaces and their labels.
    pub fn namespaces(&self) -> &HashMap<String, BTreeMap<String, String>> {
        &self.namespaces
    }
}
