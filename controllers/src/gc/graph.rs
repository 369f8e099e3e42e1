//! The owner graph, as upstream's `GraphBuilder` keeps it (`graph_builder.go`):
//! one node per UID, edges from owners to their dependents, virtual nodes for
//! owners that are referenced but not observed yet. Applying an observed change
//! returns what the collector must look at next; no I/O happens here.

use std::collections::{BTreeSet, HashMap};

/// Finalizer asking the collector to delete dependents before the owner
/// (`metav1.FinalizerDeleteDependents`).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer asking the collector to orphan dependents before the owner goes
/// (`metav1.FinalizerOrphanDependents`).
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Where an object lives: upstream's `objectReference` (owner reference plus
/// namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// `apiVersion` of the object (`group/version` or `v1`).
    pub api_version: String,
    /// `kind` of the object.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (or unknown for virtual ones
    /// referenced from cluster-scoped dependents).
    pub namespace: Option<String>,
    /// Name of the object.
    pub name: String,
    /// UID: the graph's key.
    pub uid: String,
}

/// One entry of `metadata.ownerReferences`, reduced to what the collector reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    /// `apiVersion` of the owner.
    pub api_version: String,
    /// `kind` of the owner.
    pub kind: String,
    /// Name of the owner.
    pub name: String,
    /// UID of the owner.
    pub uid: String,
    /// `blockOwnerDeletion`: a foreground deletion of the owner waits for this
    /// dependent.
    pub block_owner_deletion: bool,
}

impl From<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> for OwnerRef {
    fn from(r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference) -> Self {
        OwnerRef {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            uid: r.uid.clone(),
            block_owner_deletion: r.block_owner_deletion == Some(true),
        }
    }
}

/// What a watch showed of one object: its identity and the metadata the
/// collector acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedObject {
    /// Coordinates and UID.
    pub identity: Identity,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerRef>,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
}

impl ObservedObject {
    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }
    /// Being deleted with the `orphan` finalizer still present.
    pub fn waits_for_orphaning(&self) -> bool {
        self.being_deleted && self.has_finalizer(ORPHAN_FINALIZER)
    }
    /// Being deleted with the `foregroundDeletion` finalizer still present.
    pub fn waits_for_dependents_deletion(&self) -> bool {
        self.being_deleted && self.has_finalizer(FOREGROUND_FINALIZER)
    }
}

/// A node of the graph (upstream's `node`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Coordinates; for a virtual node, as the first dependent referenced it.
    pub identity: Identity,
    /// The node's own owner references, as last observed.
    pub owners: Vec<OwnerRef>,
    /// UIDs of the nodes that list this one as owner.
    pub dependents: BTreeSet<String>,
    /// Seen from a watch (false for virtual nodes).
    pub observed: bool,
    /// `deletionTimestamp` was set when last observed.
    pub being_deleted: bool,
    /// Being deleted in the foreground (`foregroundDeletion` finalizer).
    pub deleting_dependents: bool,
    /// Being deleted with the `orphan` finalizer.
    pub waiting_for_orphaning: bool,
}

/// Work the graph hands to the collector after a change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Enqueue {
    /// Put this UID on the attemptToDelete queue.
    AttemptToDelete(String),
    /// Put this UID on the attemptToOrphan queue.
    AttemptToOrphan(String),
}

/// The owner graph (upstream's `uidToNode` plus `processGraphChanges`).
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node with this UID.
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Number of nodes, virtual ones included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The graph has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Dependents of `uid` whose reference to it has `blockOwnerDeletion: true`
    /// (upstream's `blockingDependents`).
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion)
            })
            .collect()
    }

    /// Dependents of `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.nodes
            .get(uid)
            .map(|n| {
                n.dependents
                    .iter()
                    .filter_map(|d| self.nodes.get(d))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An add or update seen on a watch.
    pub fn observe(&mut self, obj: ObservedObject) -> Vec<Enqueue> {
        let mut out = Vec::new();
        let uid = obj.identity.uid.clone();
        let (old_orphaning, old_deleting_deps, old_owners) = match self.nodes.get_mut(&uid) {
            None => {
                self.nodes.insert(
                    uid.clone(),
                    Node {
                        identity: obj.identity.clone(),
                        owners: Vec::new(),
                        dependents: BTreeSet::new(),
                        observed: true,
                        being_deleted: false,
                        deleting_dependents: false,
                        waiting_for_orphaning: false,
                    },
                );
                (false, false, Vec::new())
            }
            Some(node) => {
                let mut coordinates_changed = false;
                if !node.observed {
                    node.observed = true;
                    coordinates_changed = node.identity != obj.identity;
                    node.identity = obj.identity.clone();
                }
                let state = (
                    node.waiting_for_orphaning,
                    node.deleting_dependents,
                    node.owners.clone(),
                );
                if coordinates_changed {
                    // Dependents referenced a virtual node under other
                    // coordinates: their references may be invalid, verify them.
                    out.extend(
                        self.dependents_not_matching(&obj.identity)
                            .into_iter()
                            .map(Enqueue::AttemptToDelete),
                    );
                }
                state
            }
        };

        // Owner reference changes: edges and owners that may be unblocked.
        let (added, removed, changed) = references_diff(&old_owners, &obj.owners);
        for r in removed.iter().filter(|r| r.block_owner_deletion) {
            self.enqueue_if_deleting_dependents(&r.uid, &mut out);
        }
        for (old, new) in &changed {
            if old.block_owner_deletion && !new.block_owner_deletion {
                self.enqueue_if_deleting_dependents(&new.uid, &mut out);
            }
        }
        for r in &removed {
            if let Some(owner) = self.nodes.get_mut(&r.uid) {
                owner.dependents.remove(&uid);
            }
        }
        let mut potentially_invalid = false;
        for r in &added {
            potentially_invalid |= self.add_dependent_to_owner(&obj.identity, r, &mut out);
        }
        if potentially_invalid {
            // Let the collector verify this dependent's references.
            out.push(Enqueue::AttemptToDelete(uid.clone()));
        }

        let Some(node) = self.nodes.get_mut(&uid) else {
            return out;
        };
        node.owners = obj.owners.clone();
        node.being_deleted = obj.being_deleted;
        node.waiting_for_orphaning = obj.waits_for_orphaning();
        // processTransitions
        if obj.waits_for_orphaning() && !old_orphaning {
            out.push(Enqueue::AttemptToOrphan(uid));
            return out;
        }
        if obj.waits_for_dependents_deletion() {
            node.deleting_dependents = true;
            if !old_deleting_deps {
                out.extend(
                    node.dependents
                        .iter()
                        .map(|d| Enqueue::AttemptToDelete(d.clone())),
                );
                out.push(Enqueue::AttemptToDelete(uid));
            }
        } else {
            node.deleting_dependents = false;
        }
        out
    }

    /// A deletion: seen on a watch, or a "virtual" one when a GET proved the
    /// object gone (or replaced under the same name by another UID).
    pub fn remove(&mut self, uid: &str) -> Vec<Enqueue> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for o in &node.owners {
            if let Some(owner) = self.nodes.get_mut(&o.uid) {
                owner.dependents.remove(uid);
            }
        }
        // Dependents lost an owner: look at them again (their stale references
        // are classified against the API server, not the graph).
        if !node.dependents.is_empty() {
            out.extend(
                node.dependents
                    .iter()
                    .map(|d| Enqueue::AttemptToDelete(d.clone())),
            );
        }
        for o in &node.owners {
            self.enqueue_if_deleting_dependents(&o.uid, &mut out);
        }
        out
    }

    /// Dependents of `identity.uid` whose reference does not name it by group,
    /// kind and name, or that live in another namespace than a namespaced owner
    /// (upstream's `partitionDependents`).
    fn dependents_not_matching(&self, identity: &Identity) -> Vec<String> {
        let Some(node) = self.nodes.get(&identity.uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                let wrong_namespace =
                    identity.namespace.is_some() && d.identity.namespace != identity.namespace;
                let matching_ref = d.owners.iter().any(|r| {
                    r.uid == identity.uid
                        && r.name == identity.name
                        && r.kind == identity.kind
                        && api_group(&r.api_version) == api_group(&identity.api_version)
                });
                wrong_namespace || !matching_ref
            })
            .map(|d| d.identity.uid.clone())
            .collect()
    }

    fn enqueue_if_deleting_dependents(&self, owner_uid: &str, out: &mut Vec<Enqueue>) {
        if self
            .nodes
            .get(owner_uid)
            .is_some_and(|o| o.deleting_dependents)
        {
            out.push(Enqueue::AttemptToDelete(owner_uid.to_string()));
        }
    }

    /// Add the edge; create and enqueue a virtual owner if unseen. Returns
    /// whether the reference may be invalid against the owner node we have
    /// (upstream's `hasPotentiallyInvalidOwnerReference`).
    fn add_dependent_to_owner(
        &mut self,
        dependent: &Identity,
        r: &OwnerRef,
        out: &mut Vec<Enqueue>,
    ) -> bool {
        match self.nodes.get_mut(&r.uid) {
            Some(owner) => {
                owner.dependents.insert(dependent.uid.clone());
                let id = &owner.identity;
                let coordinates_match = r.name == id.name
                    && r.kind == id.kind
                    && api_group(&r.api_version) == api_group(&id.api_version);
                match &id.namespace {
                    Some(ns) if dependent.namespace.as_ref() != Some(ns) => true,
                    _ if !coordinates_match => true,
                    None => !owner.observed && dependent.namespace.is_some(),
                    Some(_) => false,
                }
            }
            None => {
                let mut dependents = BTreeSet::new();
                dependents.insert(dependent.uid.clone());
                self.nodes.insert(
                    r.uid.clone(),
                    Node {
                        identity: Identity {
                            api_version: r.api_version.clone(),
                            kind: r.kind.clone(),
                            namespace: dependent.namespace.clone(),
                            name: r.name.clone(),
                            uid: r.uid.clone(),
                        },
                        owners: Vec::new(),
                        dependents,
                        observed: false,
                        being_deleted: false,
                        deleting_dependents: false,
                        waiting_for_orphaning: false,
                    },
                );
                // Let the collector verify the owner exists (upstream enqueues
                // the virtual node to attemptToDelete).
                out.push(Enqueue::AttemptToDelete(r.uid.clone()));
                false
            }
        }
    }
}

/// The group of an `apiVersion` (`""` for the core group).
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Owner references added, removed, and changed (same UID, other fields differ),
/// as upstream's `referencesDiffs`.
pub fn references_diff(
    old: &[OwnerRef],
    new: &[OwnerRef],
) -> (Vec<OwnerRef>, Vec<OwnerRef>, Vec<(OwnerRef, OwnerRef)>) {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for n in new {
        match old.iter().find(|o| o.uid == n.uid) {
            None => added.push(n.clone()),
            Some(o) if o != n => changed.push((o.clone(), n.clone())),
            Some(_) => {}
        }
    }
    let removed = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.uid == o.uid))
        .cloned()
        .collect();
    (added, removed, changed)
}
