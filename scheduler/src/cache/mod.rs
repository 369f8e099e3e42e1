//! The scheduler cache: nodes with their pods (bound and assumed), kept
//! incrementally, and a cheap [`Snapshot`] per scheduling cycle
//! (upstream `pkg/scheduler/backend/cache`).

mod affinity_index;
mod changes;
mod node_info;
mod snapshot;

pub use affinity_index::{AffinityIndex, LabelSet, NodeCounts, TermUse};
pub use changes::NodeChangeLog;
pub use node_info::{
    AffinityTerm, HostPort, HostPortInfo, NodeInfo, PodInfo, WeightedAffinityTerm, host_ports,
    label_set_hash, namespaced_name, normalized_image_name, pod_key, pod_namespace, pod_priority,
    prefetch_node_info,
};
pub use snapshot::Snapshot;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use tokio::time::Instant;

/// Errors of cache operations that do not fit the cache's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The pod is already in the cache (assumed or added).
    #[error("pod {0} is in the cache, so can't be assumed")]
    AlreadyInCache(String),
    /// The pod has no `spec.nodeName`.
    #[error("pod {0} has no node name")]
    NoNodeName(String),
    /// The pod is not in the cache.
    #[error("pod {0} wasn't found in the cache")]
    NotFound(String),
    /// The pod is in the cache but was not assumed.
    #[error("pod {0} wasn't assumed so cannot be forgotten")]
    NotAssumed(String),
}

#[derive(Debug, Clone)]
struct PodState {
    info: Arc<PodInfo>,
    node: Arc<str>,
    assumed: bool,
    binding_finished: bool,
    deadline: Option<Instant>,
}

/// Node name → position in the node list (a fast hasher: looked up per node in
/// affinity computations).
pub(crate) type NameIndex = hashbrown::HashMap<String, usize>;

/// A change to the affinity index: a pod's label set placed on or removed from a
/// node (when `node_name` is set), and its terms counted or uncounted under the
/// labels of `node` (when set).
#[derive(Debug)]
struct IndexChange {
    pod: Arc<PodInfo>,
    node_name: Option<Arc<str>>,
    node: Option<Arc<Node>>,
    add: bool,
}

impl IndexChange {
    fn apply(&self, ix: &mut AffinityIndex) {
        if let Some(name) = &self.node_name {
            ix.update_label_set(&self.pod, name, self.add);
        }
        ix.update_terms(&self.pod, self.node.as_deref(), self.add);
    }
}

/// Positions of nodes with pods with (anti-)affinity, and with required anti-affinity.
type AffinityLists = (Arc<Vec<usize>>, Arc<Vec<usize>>);

/// Nodes and the pods on them. A pod counts on its node from the moment it is
/// assumed until it is forgotten, expires, or is confirmed by an informer add.
///
/// Nodes live in one ordered list that snapshots share, so taking a snapshot is
/// O(1). A change made while no snapshot is alive happens in place. A change made
/// while one is (an informer event during a scheduling cycle) goes to a private
/// copy of that node only, and the copies are folded into the list when the next
/// snapshot is taken, so the list itself is not copied for it.
#[derive(Debug, Default)]
pub struct Cache {
    list: Arc<Vec<Arc<NodeInfo>>>,
    /// Nodes changed while the list was shared with a live snapshot, by position.
    pending: HashMap<usize, Arc<NodeInfo>>,
    index: Arc<NameIndex>,
    ghosts: HashMap<String, Arc<NodeInfo>>,
    /// Insertion sequence of each listed node (order within a zone).
    seq: HashMap<String, u64>,
    next_seq: u64,
    needs_reorder: bool,
    with_affinity: BTreeSet<usize>,
    with_required_anti_affinity: BTreeSet<usize>,
    affinity_lists: Option<AffinityLists>,
    /// Placed pods' terms and label sets, shared with snapshots.
    affinity_index: Arc<AffinityIndex>,
    /// Index changes made while a snapshot shared the index, in order.
    affinity_pending: Vec<IndexChange>,
    pods: hashbrown::HashMap<String, PodState>,
    ttl: Duration,
    image_nodes: HashMap<String, usize>,
    image_counts_snapshot: Option<Arc<HashMap<String, usize>>>,
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    /// Listed node infos changed, by position (shared with snapshots).
    changes: Arc<NodeChangeLog>,
    /// Bumped by every change that can move per-node results on other nodes than
    /// the one it touched (see [`NodeChangeLog`]).
    epoch: u64,
}

fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| {
        labels
            .and_then(|l| l.get(k))
            .map(String::as_str)
            .unwrap_or("")
    };
    let region = get("topology.kubernetes.io/region");
    let zone = get("topology.kubernetes.io/zone");
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

impl Cache {
    /// An empty cache. `assumed_ttl` is how long an assumed pod whose binding
    /// finished may wait for its informer add before it expires; zero means never
    /// (upstream's default `durationToExpireAssumedPod`).
    pub fn new(assumed_ttl: Duration) -> Self {
        Cache {
            ttl: assumed_ttl,
            ..Default::default()
        }
    }

    /// The current node info at a list position (a pending copy if there is one).
    fn listed(&self, pos: usize) -> &Arc<NodeInfo> {
        self.pending.get(&pos).unwrap_or(&self.list[pos])
    }

    /// Moves the pending node copies into the list (copying the list only if a
    /// snapshot still shares it).
    fn fold_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let list = Arc::make_mut(&mut self.list);
        for (pos, ni) in self.pending.drain() {
            list[pos] = ni;
        }
    }

    /// The mutable node info of a node (listed or ghost), created if missing.
    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        if let Some(&pos) = self.index.get(name) {
            self.changes.record(pos);
            if Arc::get_mut(&mut self.list).is_some() {
                // No snapshot shares the list: change it in place.
                self.fold_pending();
                let list = Arc::make_mut(&mut self.list);
                return Arc::make_mut(&mut list[pos]);
            }
            let list = &self.list;
            let copy = self.pending.entry(pos).or_insert_with(|| list[pos].clone());
            return Arc::make_mut(copy);
        }
        Arc::make_mut(self.ghosts.entry(name.to_string()).or_default())
    }

    fn refresh_affinity(&mut self, name: &str) {
        let Some(&pos) = self.index.get(name) else {
            return;
        };
        let ni = self.listed(pos);
        let (a, r) = (
            !ni.pods_with_affinity().is_empty(),
            !ni.pods_with_required_anti_affinity().is_empty(),
        );
        let changed_a = if a {
            self.with_affinity.insert(pos)
        } else {
            self.with_affinity.remove(&pos)
        };
        let changed_r = if r {
            self.with_required_anti_affinity.insert(pos)
        } else {
            self.with_required_anti_affinity.remove(&pos)
        };
        if changed_a || changed_r {
            self.affinity_lists = None;
        }
    }

    /// Records a change of the affinity index: in place when no snapshot shares
    /// the index, else queued until the next snapshot.
    fn index_change(&mut self, change: IndexChange) {
        if self.affinity_pending.is_empty()
            && let Some(ix) = Arc::get_mut(&mut self.affinity_index)
        {
            change.apply(ix);
            return;
        }
        self.affinity_pending.push(change);
        if let Some(ix) = Arc::get_mut(&mut self.affinity_index) {
            for c in self.affinity_pending.drain(..) {
                c.apply(ix);
            }
        }
    }

    /// Moves the terms of the pods on a node from the labels of `old` to those of
    /// `new` in the affinity index (a node arrived, changed labels or went away).
    fn reindex_terms(
        &mut self,
        pods: Vec<Arc<PodInfo>>,
        old: Option<Arc<Node>>,
        new: Option<Arc<Node>>,
    ) {
        let labels = |n: &Option<Arc<Node>>| n.as_ref().and_then(|n| n.metadata.labels.clone());
        if labels(&old) == labels(&new) {
            return;
        }
        for pod in pods {
            self.index_change(IndexChange {
                pod: pod.clone(),
                node_name: None,
                node: old.clone(),
                add: false,
            });
            self.index_change(IndexChange {
                pod,
                node_name: None,
                node: new.clone(),
                add: true,
            });
        }
    }

    fn flush_affinity(&mut self) {
        if self.affinity_pending.is_empty() {
            return;
        }
        let ix = Arc::make_mut(&mut self.affinity_index);
        for c in self.affinity_pending.drain(..) {
            c.apply(ix);
        }
    }

    fn adjust_images(&mut self, images: &HashMap<String, i64>, delta: isize) {
        for name in images.keys() {
            let e = self.image_nodes.entry(name.clone()).or_default();
            *e = e.saturating_add_signed(delta);
            if *e == 0 {
                self.image_nodes.remove(name);
            }
        }
        self.image_counts_snapshot = None;
    }

    /// Rebuilds the list order (lazily, at the next snapshot, after nodes came,
    /// went or changed zone): zones interleaved as upstream's nodeTree, so the
    /// first nodes examined (percentageOfNodesToScore) span zones; insertion order
    /// within a zone.
    fn reorder(&mut self) {
        self.fold_pending();
        let mut entries: Vec<(u64, String, Arc<NodeInfo>)> = self
            .index
            .iter()
            .map(|(n, i)| {
                (
                    self.seq.get(n).copied().unwrap_or(u64::MAX),
                    n.clone(),
                    self.list[*i].clone(),
                )
            })
            .collect();
        entries.sort_by_key(|e| e.0);
        type Named = (String, Arc<NodeInfo>);
        let mut zones: Vec<(String, Vec<Named>)> = Vec::new();
        for (_, name, ni) in entries {
            let z = ni.node().map(zone_key).unwrap_or_default();
            match zones.iter_mut().find(|(k, _)| *k == z) {
                Some((_, v)) => v.push((name, ni)),
                None => zones.push((z, vec![(name, ni)])),
            }
        }
        let total: usize = zones.iter().map(|(_, v)| v.len()).sum();
        let longest = zones.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut its: Vec<_> = zones.into_iter().map(|(_, v)| v.into_iter()).collect();
        let mut list = Vec::with_capacity(total);
        let mut index = NameIndex::with_capacity(total);
        for _ in 0..longest {
            for it in its.iter_mut() {
                if let Some((name, ni)) = it.next() {
                    index.insert(name, list.len());
                    list.push(ni);
                }
            }
        }
        self.list = Arc::new(list);
        self.index = Arc::new(index);
        self.recompute_affinity();
        self.needs_reorder = false;
    }

    fn recompute_affinity(&mut self) {
        self.with_affinity = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.pods_with_affinity().is_empty())
            .map(|(i, _)| i)
            .collect();
        self.with_required_anti_affinity = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.pods_with_required_anti_affinity().is_empty())
            .map(|(i, _)| i)
            .collect();
        self.affinity_lists = None;
    }

    /// Adds or replaces a node.
    pub fn add_node(&mut self, node: Node) {
        self.epoch += 1;
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(&pos) = self.index.get(&name) {
            let old_images = self.listed(pos).images().clone();
            let old_zone = self.listed(pos).node().map(zone_key);
            let old_node = self.listed(pos).node_arc().cloned();
            let new_zone = zone_key(&node);
            self.adjust_images(&old_images, -1);
            let ni = self.node_mut(&name);
            ni.set_node(node);
            let images = ni.images().clone();
            let new_node = ni.node_arc().cloned();
            let pods = ni.pods_with_affinity().to_vec();
            self.adjust_images(&images, 1);
            self.reindex_terms(pods, old_node, new_node);
            if old_zone.as_deref() != Some(new_zone.as_str()) {
                self.needs_reorder = true;
            }
            return;
        }
        self.fold_pending();
        let mut ni = self.ghosts.remove(&name).unwrap_or_default();
        Arc::make_mut(&mut ni).set_node(node);
        let images = ni.images().clone();
        self.adjust_images(&images, 1);
        self.reindex_terms(
            ni.pods_with_affinity().to_vec(),
            None,
            ni.node_arc().cloned(),
        );
        let pos = self.list.len();
        Arc::make_mut(&mut self.list).push(ni);
        Arc::make_mut(&mut self.index).insert(name.clone(), pos);
        self.seq.insert(name.clone(), self.next_seq);
        self.next_seq += 1;
        self.refresh_affinity(&name);
        self.needs_reorder = true;
    }

    /// Updates a node (same as [`Cache::add_node`]).
    pub fn update_node(&mut self, node: Node) {
        self.add_node(node);
    }

    /// Removes a node. Its pods stay accounted until they are deleted, as upstream.
    pub fn remove_node(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            return;
        }
        self.epoch += 1;
        self.fold_pending();
        let Some(pos) = Arc::make_mut(&mut self.index).remove(name) else {
            return;
        };
        let list = Arc::make_mut(&mut self.list);
        let mut ni = list.swap_remove(pos);
        if let Some(moved) = list.get(pos) {
            let moved_name = moved.node_name().to_string();
            Arc::make_mut(&mut self.index).insert(moved_name, pos);
        }
        self.seq.remove(name);
        let images = ni.images().clone();
        self.adjust_images(&images, -1);
        self.reindex_terms(
            ni.pods_with_affinity().to_vec(),
            ni.node_arc().cloned(),
            None,
        );
        if !ni.pods().is_empty() {
            Arc::make_mut(&mut ni).remove_node();
            self.ghosts.insert(name.to_string(), ni);
        }
        // Positions moved: the affinity lists are recomputed with the new order.
        self.needs_reorder = true;
    }

    /// Sets the labels of a namespace (for namespace selectors of affinity terms).
    pub fn set_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) {
        self.epoch += 1;
        Arc::make_mut(&mut self.namespaces).insert(name.to_string(), labels);
    }

    /// Forgets a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        self.epoch += 1;
        Arc::make_mut(&mut self.namespaces).remove(name);
    }

    fn place(&mut self, info: Arc<PodInfo>, node: &Arc<str>) {
        if info.has_affinity() {
            self.epoch += 1;
        }
        let node_object = self.node_info(node).and_then(|ni| ni.node_arc().cloned());
        self.index_change(IndexChange {
            pod: info.clone(),
            node_name: Some(node.clone()),
            node: node_object,
            add: true,
        });
        self.node_mut(node).add_pod(info);
        self.refresh_affinity(node);
    }

    fn unplace(&mut self, info: &Arc<PodInfo>, node: &Arc<str>) {
        if info.has_affinity() {
            self.epoch += 1;
        }
        let node_object = self.node_info(node).and_then(|ni| ni.node_arc().cloned());
        self.index_change(IndexChange {
            pod: info.clone(),
            node_name: Some(node.clone()),
            node: node_object,
            add: false,
        });
        if self.index.contains_key(&**node) {
            self.node_mut(node).remove_pod(&info.key);
            self.refresh_affinity(node);
        } else if let Some(ni) = self.ghosts.get_mut(&**node) {
            let ni = Arc::make_mut(ni);
            ni.remove_pod(&info.key);
            if ni.pods().is_empty() {
                self.ghosts.remove(&**node);
            }
        }
    }

    /// Assumes a pod (with `spec.nodeName` set to the chosen node) is on its node
    /// before the binding lands.
    pub fn assume_pod(&mut self, pod: Pod) -> Result<(), CacheError> {
        self.assume_pod_info(Arc::new(PodInfo::new(pod)))
    }

    /// [`Cache::assume_pod`] for a pod whose [`PodInfo`] is already computed (its
    /// pod carries the chosen `spec.nodeName`).
    pub fn assume_pod_info(&mut self, info: Arc<PodInfo>) -> Result<(), CacheError> {
        if self.pods.contains_key(&info.key) {
            return Err(CacheError::AlreadyInCache(namespaced_name(&info.pod)));
        }
        let node: Arc<str> = info
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
            .map(Arc::from)
            .ok_or_else(|| CacheError::NoNodeName(namespaced_name(&info.pod)))?;
        self.place(info.clone(), &node);
        self.pods.insert(
            info.key.clone(),
            PodState {
                info,
                node,
                assumed: true,
                binding_finished: false,
                deadline: None,
            },
        );
        Ok(())
    }

    /// Marks an assumed pod's binding as finished: from now on it may expire if the
    /// ttl is non-zero and no informer add confirms it.
    pub fn finish_binding(&mut self, key: &str, now: Instant) -> Result<(), CacheError> {
        let ttl = self.ttl;
        let st = self
            .pods
            .get_mut(key)
            .ok_or_else(|| CacheError::NotFound(key.to_string()))?;
        if st.assumed {
            st.binding_finished = true;
            st.deadline = (!ttl.is_zero()).then(|| now + ttl);
        }
        Ok(())
    }

    /// Forgets an assumed pod (the binding failed).
    pub fn forget_pod(&mut self, key: &str) -> Result<(), CacheError> {
        let st = self
            .pods
            .get(key)
            .ok_or_else(|| CacheError::NotFound(key.to_string()))?;
        if !st.assumed {
            return Err(CacheError::NotAssumed(key.to_string()));
        }
        if let Some(st) = self.pods.remove(key) {
            self.unplace(&st.info, &st.node);
        }
        Ok(())
    }

    /// Adds a bound pod seen by the informer; confirms it when it was assumed
    /// (moving it if it landed on another node).
    pub fn add_pod(&mut self, pod: impl Into<Arc<Pod>>) {
        let pod: Arc<Pod> = pod.into();
        if self.replace_unchanged(&pod) {
            return;
        }
        let info = Arc::new(PodInfo::new(pod));
        let Some(node) = info
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        let node: Arc<str> = match self.pods.get(&info.key) {
            Some(old) if &*old.node == node => old.node.clone(),
            _ => Arc::from(node),
        };
        if let Some(old) = self.pods.remove(&info.key) {
            self.unplace(&old.info, &old.node);
        }
        self.place(info.clone(), &node);
        self.pods.insert(
            info.key.clone(),
            PodState {
                info,
                node,
                assumed: false,
                binding_finished: false,
                deadline: None,
            },
        );
    }

    /// When the cache holds this pod on the node it is bound to and nothing a
    /// [`PodInfo`] is derived from changed (spec, labels, namespace — e.g. the
    /// informer confirming an assumed pod whose binding only set `spec.nodeName`,
    /// or a status update), swaps in the new object without re-deriving it or
    /// redoing the node's accounting. Returns false when the full path is needed.
    fn replace_unchanged(&mut self, pod: &Arc<Pod>) -> bool {
        let key = pod_key(pod);
        let Some(st) = self.pods.get(&key) else {
            return false;
        };
        let old = &st.info.pod;
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if node_name != Some(&*st.node)
            || old.metadata.namespace != pod.metadata.namespace
            || old.metadata.labels != pod.metadata.labels
            || old.spec != pod.spec
        {
            return false;
        }
        let info = Arc::new(st.info.with_pod(pod.clone()));
        let node = st.node.clone();
        let listed = self.index.contains_key(&*node);
        if listed || self.ghosts.contains_key(&*node) {
            self.node_mut(&node).replace_pod(&info);
        }
        if let Some(st) = self.pods.get_mut(&key) {
            *st = PodState {
                info,
                node,
                assumed: false,
                binding_finished: false,
                deadline: None,
            };
        }
        true
    }

    /// Updates a bound pod (replaces its accounting).
    pub fn update_pod(&mut self, pod: impl Into<Arc<Pod>>) {
        self.add_pod(pod);
    }

    /// Removes a pod (deleted, or no longer bound).
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(st) = self.pods.remove(key) {
            self.unplace(&st.info, &st.node);
        }
    }

    /// Whether the pod is assumed and not yet confirmed.
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|s| s.assumed)
    }

    /// The node a cached pod is on.
    pub fn pod_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|s| &*s.node)
    }

    /// Expires assumed pods whose binding finished more than the ttl ago; returns
    /// the expired pods.
    pub fn cleanup_expired_assumed_pods(&mut self, now: Instant) -> Vec<Arc<Pod>> {
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, s)| {
                s.assumed && s.binding_finished && s.deadline.is_some_and(|d| now >= d)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(expired.len());
        for k in &expired {
            if let Some(st) = self.pods.remove(k) {
                tracing::warn!(pod = %k, node = %st.node, "assumed pod expired");
                self.unplace(&st.info, &st.node);
                out.push(st.info.pod.clone());
            }
        }
        out
    }

    /// Number of nodes with a node object.
    pub fn node_count(&self) -> usize {
        self.list.len()
    }

    /// Number of pods (bound and assumed).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The node info of a node (also of a node known only through its pods).
    pub fn node_info(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        match self.index.get(name) {
            Some(i) => Some(self.listed(*i)),
            None => self.ghosts.get(name),
        }
    }

    /// A consistent view of every node for one scheduling cycle, in O(1) when no
    /// earlier snapshot is alive: it shares the node list and the affinity index.
    /// Drop it before changing the cache to keep those changes in place.
    pub fn snapshot(&mut self) -> Snapshot {
        if self.needs_reorder {
            self.reorder();
        }
        self.fold_pending();
        self.flush_affinity();
        let (aff, anti) = self
            .affinity_lists
            .get_or_insert_with(|| {
                (
                    Arc::new(self.with_affinity.iter().copied().collect()),
                    Arc::new(self.with_required_anti_affinity.iter().copied().collect()),
                )
            })
            .clone();
        let images = self
            .image_counts_snapshot
            .get_or_insert_with(|| Arc::new(self.image_nodes.clone()))
            .clone();
        Snapshot::from_parts(
            self.list.clone(),
            self.index.clone(),
            aff,
            anti,
            images,
            self.namespaces.clone(),
            self.affinity_index.clone(),
        )
        .with_changes(self.changes.clone(), self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn bound(name: &str, node: &str, cpu: &str) -> Pod {
        PodBuilder::new(name)
            .container(&[("cpu", cpu)])
            .node_name(node)
            .build()
    }

    #[test]
    fn assumed_pods_count_until_forgotten() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(NodeBuilder::new("n1").capacity("4", "8Gi", 110).build());
        c.assume_pod(bound("a", "n1", "1")).unwrap();
        assert!(c.is_assumed("a"));
        assert_eq!(c.snapshot().get("n1").unwrap().requested().milli_cpu, 1000);
        assert_eq!(
            c.assume_pod(bound("a", "n1", "1")),
            Err(CacheError::AlreadyInCache("default/a".into()))
        );
        c.forget_pod("a").unwrap();
        assert_eq!(c.snapshot().get("n1").unwrap().requested().milli_cpu, 0);
        assert_eq!(c.forget_pod("a"), Err(CacheError::NotFound("a".into())));
    }

    #[test]
    fn informer_add_confirms_assumed_pod_and_moves_it() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(NodeBuilder::new("n1").build());
        c.add_node(NodeBuilder::new("n2").build());
        c.assume_pod(bound("a", "n1", "1")).unwrap();
        c.add_pod(bound("a", "n2", "1"));
        assert!(!c.is_assumed("a"));
        let s = c.snapshot();
        assert_eq!(s.get("n1").unwrap().requested().milli_cpu, 0);
        assert_eq!(s.get("n2").unwrap().requested().milli_cpu, 1000);
        assert_eq!(c.forget_pod("a"), Err(CacheError::NotAssumed("a".into())));
        c.remove_pod("a");
        assert_eq!(c.snapshot().get("n2").unwrap().pods().len(), 0);
    }

    #[test]
    fn confirming_or_updating_a_pod_keeps_accounting_and_stores_the_new_object() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(NodeBuilder::new("n1").capacity("4", "8Gi", 110).build());
        c.assume_pod(bound("a", "n1", "1")).unwrap();
        // The informer's version: the binding's status condition and a new resourceVersion.
        let mut confirmed = bound("a", "n1", "1");
        confirmed.metadata.resource_version = Some("7".into());
        c.add_pod(confirmed);
        assert!(!c.is_assumed("a"));
        let ni = c.node_info("n1").unwrap().clone();
        assert_eq!(ni.requested().milli_cpu, 1000);
        assert_eq!(ni.pods().len(), 1);
        assert_eq!(
            ni.pods()[0].pod.metadata.resource_version.as_deref(),
            Some("7")
        );
        // A later update that changes the requests is re-derived.
        let mut bigger = bound("a", "n1", "2");
        bigger.metadata.resource_version = Some("8".into());
        c.update_pod(bigger);
        let s = c.snapshot();
        assert_eq!(s.get("n1").unwrap().requested().milli_cpu, 2000);
        assert_eq!(s.get("n1").unwrap().pods().len(), 1);
        drop(s);
        // So are changed labels (label sets feed the affinity index).
        let relabeled = PodBuilder::new("a")
            .label("app", "x")
            .container(&[("cpu", "2")])
            .node_name("n1")
            .build();
        c.update_pod(relabeled);
        let s = c.snapshot();
        let sets: Vec<_> = s.affinity_index().label_sets().collect();
        assert_eq!(sets.len(), 1);
        assert_eq!(
            s.get("n1").unwrap().pods()[0]
                .pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str),
            Some("x")
        );
        // A pod whose binding landed on another node moves.
        c.assume_pod(bound("b", "n1", "1")).unwrap();
        c.add_node(NodeBuilder::new("n2").capacity("4", "8Gi", 110).build());
        c.add_pod(bound("b", "n2", "1"));
        let s = c.snapshot();
        assert_eq!(s.get("n1").unwrap().requested().milli_cpu, 2000);
        assert_eq!(s.get("n2").unwrap().requested().milli_cpu, 1000);
    }

    #[test]
    fn assumed_pods_expire_only_after_binding_finished_and_ttl() {
        let mut c = Cache::new(Duration::from_secs(30));
        c.add_node(NodeBuilder::new("n1").build());
        c.assume_pod(bound("a", "n1", "1")).unwrap();
        let t0 = Instant::now();
        assert!(
            c.cleanup_expired_assumed_pods(t0 + Duration::from_secs(100))
                .is_empty()
        );
        c.finish_binding("a", t0).unwrap();
        assert!(
            c.cleanup_expired_assumed_pods(t0 + Duration::from_secs(29))
                .is_empty()
        );
        let expired = c.cleanup_expired_assumed_pods(t0 + Duration::from_secs(30));
        assert_eq!(expired.len(), 1);
        assert_eq!(c.pod_count(), 0);
        // Zero ttl never expires.
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(NodeBuilder::new("n1").build());
        c.assume_pod(bound("a", "n1", "1")).unwrap();
        c.finish_binding("a", t0).unwrap();
        assert!(
            c.cleanup_expired_assumed_pods(t0 + Duration::from_secs(1 << 20))
                .is_empty()
        );
    }

    #[test]
    fn snapshots_are_isolated_from_later_changes() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(NodeBuilder::new("n1").build());
        let before = c.snapshot();
        c.add_pod(bound("a", "n1", "1"));
        let after = c.snapshot();
        assert_eq!(before.get("n1").unwrap().pods().len(), 0);
        assert_eq!(after.get("n1").unwrap().pods().len(), 1);
    }

    #[test]
    fn pods_on_unknown_nodes_are_kept_but_not_listed() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_pod(bound("a", "ghost", "1"));
        assert_eq!(c.snapshot().len(), 0);
        c.add_node(NodeBuilder::new("ghost").build());
        assert_eq!(
            c.snapshot().get("ghost").unwrap().requested().milli_cpu,
            1000
        );
        c.remove_node("ghost");
        assert_eq!(c.snapshot().len(), 0);
        assert_eq!(c.node_info("ghost").unwrap().pods().len(), 1);
    }

    #[test]
    fn node_order_interleaves_zones_and_counts_images() {
        let mut c = Cache::new(Duration::ZERO);
        for (n, z) in [
            ("a1", "a"),
            ("a2", "a"),
            ("b1", "b"),
            ("a3", "a"),
            ("b2", "b"),
        ] {
            c.add_node(
                NodeBuilder::new(n)
                    .label("topology.kubernetes.io/zone", z)
                    .image("nginx", 100)
                    .build(),
            );
        }
        let s = c.snapshot();
        let names: Vec<&str> = s.list().iter().map(|n| n.node_name()).collect();
        assert_eq!(names, ["a1", "b1", "a2", "b2", "a3"]);
        assert_eq!(s.image_num_nodes("nginx:latest"), 5);
        c.remove_node("a1");
        assert_eq!(c.snapshot().image_num_nodes("nginx:latest"), 4);
    }

    #[test]
    fn affinity_node_lists_follow_pods_and_reorders() {
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(
            NodeBuilder::new("a")
                .label("topology.kubernetes.io/zone", "z1")
                .build(),
        );
        c.add_node(
            NodeBuilder::new("b")
                .label("topology.kubernetes.io/zone", "z1")
                .build(),
        );
        let guard = PodBuilder::new("g")
            .anti_affinity_required(&[("app", "x")], "kubernetes.io/hostname")
            .node_name("b")
            .build();
        c.add_pod(guard);
        let names = |s: &Snapshot| {
            s.have_pods_with_required_anti_affinity()
                .map(|n| n.node_name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&c.snapshot()), ["b"]);
        // A new node in another zone reorders the list; the positions follow.
        c.add_node(
            NodeBuilder::new("c")
                .label("topology.kubernetes.io/zone", "z2")
                .build(),
        );
        let s = c.snapshot();
        assert_eq!(
            s.list().iter().map(|n| n.node_name()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
        assert_eq!(names(&s), ["b"]);
        assert_eq!(s.have_pods_with_affinity().count(), 1);
        drop(s);
        c.remove_pod("g");
        assert!(names(&c.snapshot()).is_empty());
    }

    #[test]
    fn removing_nodes_keeps_lookups_and_order_consistent() {
        let mut c = Cache::new(Duration::ZERO);
        for n in ["n0", "n1", "n2", "n3", "n4"] {
            c.add_node(NodeBuilder::new(n).build());
        }
        c.add_pod(bound("p4", "n4", "1"));
        c.remove_node("n1");
        // n4 was swapped into n1's slot; lookups by name still work before the reorder.
        assert_eq!(c.node_info("n4").unwrap().pods().len(), 1);
        c.add_pod(bound("p4b", "n4", "1"));
        c.remove_node("n0");
        let s = c.snapshot();
        assert_eq!(
            s.list().iter().map(|n| n.node_name()).collect::<Vec<_>>(),
            ["n2", "n3", "n4"]
        );
        assert_eq!(s.get("n4").unwrap().requested().milli_cpu, 2000);
        assert!(s.get("n1").is_none());
        assert_eq!(c.node_count(), 3);
    }

    #[test]
    fn changes_during_a_live_snapshot_wait_for_the_next_one() {
        let mut c = Cache::new(Duration::ZERO);
        for n in ["n1", "n2"] {
            c.add_node(NodeBuilder::new(n).capacity("4", "8Gi", 110).build());
        }
        let live = c.snapshot();
        // An informer event during a scheduling cycle.
        c.add_pod(bound("a", "n1", "1"));
        assert_eq!(c.node_info("n1").unwrap().requested().milli_cpu, 1000);
        assert_eq!(live.get("n1").unwrap().requested().milli_cpu, 0);
        // The cycle assumes its pod after dropping its snapshot.
        drop(live);
        c.assume_pod(bound("b", "n1", "1")).unwrap();
        c.add_pod(bound("x", "n2", "2"));
        let next = c.snapshot();
        assert_eq!(next.get("n1").unwrap().requested().milli_cpu, 2000);
        assert_eq!(next.get("n2").unwrap().requested().milli_cpu, 2000);
        // Two live snapshots at once stay apart too.
        c.remove_pod("a");
        let third = c.snapshot();
        assert_eq!(next.get("n1").unwrap().requested().milli_cpu, 2000);
        assert_eq!(third.get("n1").unwrap().requested().milli_cpu, 1000);
    }

    fn anti_counts(s: &Snapshot) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = s
            .affinity_index()
            .terms()
            .flat_map(|(_, uses)| uses.iter())
            .filter(|(u, _)| *u == TermUse::RequiredAntiAffinity)
            .flat_map(|(_, values)| values.iter().map(|(v, n)| (v.clone(), *n)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn affinity_index_follows_pods_nodes_and_labels() {
        let zone = |n: &str, z: &str| {
            NodeBuilder::new(n)
                .label("topology.kubernetes.io/zone", z)
                .build()
        };
        let guard = |name: &str, node: &str| {
            PodBuilder::new(name)
                .anti_affinity_required(&[("app", "x")], "topology.kubernetes.io/zone")
                .node_name(node)
                .build()
        };
        let mut c = Cache::new(Duration::ZERO);
        c.add_node(zone("n1", "a"));
        // A pod bound to a node the cache does not know yet is not counted.
        c.add_pod(guard("g2", "n2"));
        c.add_pod(guard("g1", "n1"));
        assert_eq!(anti_counts(&c.snapshot()), [("a".to_string(), 1)]);
        // The node arrives; then n1 moves to another zone while a snapshot is alive.
        c.add_node(zone("n2", "a"));
        let live = c.snapshot();
        assert_eq!(anti_counts(&live), [("a".to_string(), 2)]);
        c.add_node(zone("n1", "b"));
        assert_eq!(anti_counts(&live), [("a".to_string(), 2)]);
        drop(live);
        assert_eq!(
            anti_counts(&c.snapshot()),
            [("a".to_string(), 1), ("b".to_string(), 1)]
        );
        // Removing the node uncounts its pods; removing the pods leaves nothing.
        c.remove_node("n2");
        assert_eq!(anti_counts(&c.snapshot()), [("b".to_string(), 1)]);
        c.remove_pod("g2");
        c.remove_pod("g1");
        let s = c.snapshot();
        assert!(s.affinity_index().has_no_terms());
        assert_eq!(s.affinity_index().label_sets().count(), 0);
    }
}
