//! The collector's decisions (upstream's `attemptToDeleteItem`,
//! `classifyReferences`, `processDeletingDependentsItem` and the patches it
//! sends), as pure functions of the graph node and what uncached GETs returned.

use serde_json::{Value, json};

use super::graph::{FOREGROUND_FINALIZER, Node, ORPHAN_FINALIZER, OwnerRef};

/// `propagationPolicy` of a delete the collector issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete now; the collector removes dependents afterwards.
    Background,
    /// Delete dependents first (`foregroundDeletion` finalizer).
    Foreground,
    /// Keep dependents, strip their references (`orphan` finalizer).
    Orphan,
}

impl Propagation {
    /// The value of `DeleteOptions.propagationPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// The live object as an uncached GET returned it, reduced to its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerRef>,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
}

/// First step of `attemptToDeleteItem`, before owners are looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precheck {
    /// Being deleted without the foreground finalizer: wait for the final delete.
    WaitForDeletion,
    /// The object is gone (or its name now has another UID): drop the node
    /// (a virtual delete event).
    Vanished,
    /// Being deleted in the foreground: see [`deleting_dependents_step`].
    DeletingDependents,
    /// No owner references: nothing to collect.
    NoOwners,
    /// Look these owners up, then call [`decide_delete`].
    ClassifyOwners(Vec<OwnerRef>),
}

/// Decide what to do before looking owners up. `latest` is `None` when the GET
/// returned NotFound.
pub fn precheck(item: &Node, latest: Option<&Latest>) -> Precheck {
    if item.being_deleted && !item.deleting_dependents {
        return Precheck::WaitForDeletion;
    }
    let Some(latest) = latest else {
        return Precheck::Vanished;
    };
    if latest.uid != item.identity.uid {
        return Precheck::Vanished;
    }
    if item.deleting_dependents {
        return Precheck::DeletingDependents;
    }
    if latest.owners.is_empty() {
        return Precheck::NoOwners;
    }
    Precheck::ClassifyOwners(latest.owners.clone())
}

/// What a GET of an owner showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerLookup {
    /// NotFound.
    Absent,
    /// Found, with this UID, deletion state and finalizers.
    Found {
        /// `metadata.uid` of the object found under the owner's name.
        uid: String,
        /// `deletionTimestamp` set.
        being_deleted: bool,
        /// `metadata.finalizers`.
        finalizers: Vec<String>,
    },
}

/// How an owner reference stands (upstream's `classifyReferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone, or the name holds an object with another UID.
    Dangling,
    /// The owner is being deleted in the foreground.
    WaitingForDependentsDeletion,
}

/// Classify one owner reference from its lookup.
pub fn classify_owner(reference: &OwnerRef, lookup: &OwnerLookup) -> OwnerState {
    match lookup {
        OwnerLookup::Absent => OwnerState::Dangling,
        OwnerLookup::Found { uid, .. } if *uid != reference.uid => OwnerState::Dangling,
        OwnerLookup::Found {
            being_deleted,
            finalizers,
            ..
        } => {
            if *being_deleted && finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                OwnerState::WaitingForDependentsDeletion
            } else {
                OwnerState::Solid
            }
        }
    }
}

/// The outcome of `attemptToDeleteItem` once owners are classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteDecision {
    /// A solid owner remains and no reference needs removing.
    Keep,
    /// A solid owner remains: drop the references to these owner UIDs
    /// (dangling ones and those waiting for dependents' deletion).
    RemoveOwnerRefs(Vec<String>),
    /// Delete the item with this propagation; when `unblock_first`, first set
    /// `blockOwnerDeletion: false` on its references (cycle avoidance).
    Delete {
        /// Propagation policy of the delete.
        propagation: Propagation,
        /// Patch the item's blocking references to non-blocking first.
        unblock_first: bool,
    },
}

/// Facts about the item's own dependents that the decision needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DependentsFacts {
    /// The item has dependents in the graph.
    pub has_dependents: bool,
    /// One of those dependents is itself being deleted in the foreground.
    pub some_deleting_dependents: bool,
}

/// Decide from classified owners (the `switch` of `attemptToDeleteItem`).
pub fn decide_delete(
    classified: &[(OwnerRef, OwnerState)],
    latest: &Latest,
    dependents: DependentsFacts,
) -> DeleteDecision {
    let uids = |s: OwnerState| {
        classified
            .iter()
            .filter(move |(_, st)| *st == s)
            .map(|(r, _)| r.uid.clone())
    };
    let solid = uids(OwnerState::Solid).count();
    let dangling: Vec<String> = uids(OwnerState::Dangling).collect();
    let waiting: Vec<String> = uids(OwnerState::WaitingForDependentsDeletion).collect();
    if solid != 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return DeleteDecision::Keep;
        }
        return DeleteDecision::RemoveOwnerRefs(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && dependents.has_dependents {
        return DeleteDecision::Delete {
            propagation: Propagation::Foreground,
            unblock_first: dependents.some_deleting_dependents,
        };
    }
    let has = |f: &str| latest.finalizers.iter().any(|x| x == f);
    let propagation = if has(ORPHAN_FINALIZER) {
        Propagation::Orphan
    } else if has(FOREGROUND_FINALIZER) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    DeleteDecision::Delete {
        propagation,
        unblock_first: false,
    }
}

/// `processDeletingDependentsItem`: with no blocking dependent left, remove the
/// `foregroundDeletion` finalizer; otherwise (re)enqueue the blocking dependents
/// that are not themselves deleting their dependents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeletingDependentsStep {
    /// Remove the `foregroundDeletion` finalizer from the owner.
    RemoveFinalizer,
    /// Put these dependents on attemptToDelete.
    Enqueue(Vec<String>),
}

/// Decide the step for an owner being deleted in the foreground, from its
/// blocking dependents.
pub fn deleting_dependents_step(blocking: &[&Node]) -> DeletingDependentsStep {
    if blocking.is_empty() {
        return DeletingDependentsStep::RemoveFinalizer;
    }
    DeletingDependentsStep::Enqueue(
        blocking
            .iter()
            .filter(|d| !d.deleting_dependents)
            .map(|d| d.identity.uid.clone())
            .collect(),
    )
}

/// A JSON merge patch that keeps the owner references not in `remove`, with the
/// object's UID as precondition (upstream's `deleteOwnerRefJSONMergePatch`).
/// `None` when no reference matches (nothing to patch).
pub fn remove_owner_refs_patch(
    latest_refs: &[Value],
    uid: &str,
    remove: &[String],
) -> Option<Value> {
    let kept: Vec<&Value> = latest_refs
        .iter()
        .filter(|r| {
            r.get("uid")
                .and_then(Value::as_str)
                .is_none_or(|u| !remove.iter().any(|x| x == u))
        })
        .collect();
    if kept.len() == latest_refs.len() {
        return None;
    }
    Some(json!({"metadata": {"ownerReferences": kept, "uid": uid}}))
}

/// A JSON merge patch that sets `blockOwnerDeletion: false` on every blocking
/// reference (upstream's `unblockOwnerReferencesJSONMergePatch`). `None` when
/// no reference blocks.
pub fn unblock_owner_refs_patch(latest_refs: &[Value], uid: &str) -> Option<Value> {
    let mut changed = false;
    let refs: Vec<Value> = latest_refs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                r["blockOwnerDeletion"] = Value::Bool(false);
                changed = true;
            }
            r
        })
        .collect();
    changed.then(|| json!({"metadata": {"ownerReferences": refs, "uid": uid}}))
}

/// A JSON merge patch removing `finalizer`, guarded by `resourceVersion`
/// (upstream's `removeFinalizer`, retried on conflict). `None` when absent.
pub fn remove_finalizer_patch(
    finalizers: &[String],
    finalizer: &str,
    resource_version: &str,
) -> Option<Value> {
    if !finalizers.iter().any(|f| f == finalizer) {
        return None;
    }
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    Some(json!({"metadata": {"finalizers": kept, "resourceVersion": resource_version}}))
}
