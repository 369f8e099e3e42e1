//! Owner-reference adoption and release, as kube-controller-manager's
//! `BaseControllerRefManager` / `PodControllerRefManager`
//! (`pkg/controller/controller_ref_manager.go`), for any namespaced `kube::Resource`.
//!
//! A controller (the *owner*, e.g. a ReplicaSet) lists candidate objects from its
//! cache and [claims](ControllerRefManager::claim) them:
//!
//! - objects it controls whose labels still match its selector are kept;
//! - objects it controls whose labels stopped matching are *released* (its
//!   controller reference removed), unless the owner itself is being deleted;
//! - orphans (no controller reference) in its namespace that match and are not
//!   being deleted are *adopted*, but only after an uncached GET of the owner shows
//!   it still exists with the same UID and is not being deleted (upstream
//!   `RecheckDeletionTimestamp`), done at most once per manager;
//! - objects controlled by another owner are ignored.
//!
//! The decision is the pure function [`decide`]; the manager performs it.
//!
//! ## Patches
//!
//! By default ([`PatchStrategy::StrategicMerge`]) the patches are upstream's byte for
//! byte: adoption sends `ownerRefControllerPatch` —
//! `{"metadata":{"ownerReferences":[<controller ref>],"uid":"<object uid>"}}` — and
//! release sends `GenerateDeleteOwnerRefStrategicMergeBytes` —
//! `{"metadata":{"uid":"<object uid>","ownerReferences":[{"$patch":"delete","uid":"<owner uid>"}]}}`.
//! Strategic merge merges `ownerReferences` by `uid`, so other owners are kept, and
//! the `metadata.uid` acts as a precondition: a patch reaching a *different* object
//! of the same name (deleted and recreated) is rejected as invalid.
//!
//! Custom resources do not support strategic merge. For them use
//! [`PatchStrategy::JsonMerge`]: a JSON merge patch replaces the whole
//! `ownerReferences` list, so it carries the full new list computed from the cached
//! object, plus `metadata.uid` and `metadata.resourceVersion` as preconditions —
//! the API server answers 409 Conflict when the object changed since it was cached,
//! and the controller retries on its next sync.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use capstan_labels::Selector;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::errors;

/// Errors of claiming objects.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// The owner lacks a field needed to reference it.
    #[error("owner is missing metadata.{0}")]
    MissingOwnerField(&'static str),
    /// The owner's selector cannot be turned into a label selector.
    #[error("invalid label selector: {0}")]
    InvalidSelector(String),
    /// Adoption refused: the owner was deleted, replaced, or could not be re-read.
    #[error("can't adopt {object}: {reason}")]
    CannotAdopt {
        /// The candidate, as `namespace/name (uid)`.
        object: String,
        /// Why adoption is not safe.
        reason: String,
    },
    /// The adopt or release patch failed.
    #[error("failed to {action} {object}: {source}")]
    Patch {
        /// `adopt` or `release`.
        action: &'static str,
        /// The object, as `namespace/name`.
        object: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The object to patch has no UID (never stored in an API server).
    #[error("object {0} has no metadata.uid")]
    MissingObjectUid(String),
}

/// What the claiming controller is, as far as ownership goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `apiVersion` of the owner's kind, e.g. `apps/v1`.
    pub api_version: String,
    /// The owner's kind, e.g. `ReplicaSet`.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's namespace (`None` for cluster-scoped owners).
    pub namespace: Option<String>,
    /// The owner's UID.
    pub uid: String,
    /// True when the owner has a `deletionTimestamp`.
    pub deleting: bool,
}

impl Owner {
    /// The owner description of a stored object of a statically known kind.
    pub fn of<O: Resource<DynamicType = ()>>(owner: &O) -> Result<Self, OwnershipError> {
        let meta = owner.meta();
        Ok(Self {
            api_version: O::api_version(&()).into_owned(),
            kind: O::kind(&()).into_owned(),
            name: meta
                .name
                .clone()
                .ok_or(OwnershipError::MissingOwnerField("name"))?,
            namespace: meta.namespace.clone(),
            uid: meta
                .uid
                .clone()
                .ok_or(OwnershipError::MissingOwnerField("uid"))?,
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    /// The controller reference this owner puts on objects it adopts or creates:
    /// `controller: true, blockOwnerDeletion: true` (upstream `NewControllerRef`).
    pub fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// The controller reference of an object: its owner reference with
/// `controller: true`, if any (upstream `GetControllerOf`).
pub fn controller_of<K: Resource>(obj: &K) -> Option<&OwnerReference> {
    obj.meta()
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The object of kind `K` among `candidates` that the controller reference `r` of
/// an object in `namespace` names: same kind, namespace, name and UID (upstream's
/// per-controller `resolveControllerRef`). `None` when it names another kind or an
/// object that was replaced (another UID).
pub fn resolve_controller_ref<'a, K: Resource<DynamicType = ()>>(
    namespace: Option<&str>,
    r: &OwnerReference,
    candidates: &[&'a K],
) -> Option<&'a K> {
    if r.kind != K::kind(&()) {
        return None;
    }
    candidates.iter().copied().find(|c| {
        let meta = c.meta();
        meta.namespace.as_deref() == namespace
            && meta.name.as_deref() == Some(r.name.as_str())
            && meta.uid.as_deref() == Some(r.uid.as_str())
    })
}

/// What to do with one candidate object (upstream `ClaimObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Already controlled by this owner and matching: claimed, nothing to do.
    Keep,
    /// An orphan that matches: adopt it, and it is claimed if that succeeds.
    Adopt,
    /// Controlled by this owner but no longer matching: remove the controller ref.
    Release,
    /// Not this owner's business (another controller's, being deleted, other
    /// namespace, not matching, or this owner is being deleted).
    Ignore,
}

/// Decides what to do with `obj`, whose match against the owner's selector (and
/// any extra filters) is `matches`. Pure: no I/O.
pub fn decide<K: Resource>(owner: &Owner, obj: &K, matches: bool) -> ClaimDecision {
    let meta = obj.meta();
    if let Some(controller) = controller_of(obj) {
        if controller.uid != owner.uid {
            return ClaimDecision::Ignore;
        }
        if matches {
            return ClaimDecision::Keep;
        }
        if owner.deleting {
            return ClaimDecision::Ignore;
        }
        return ClaimDecision::Release;
    }
    // An orphan.
    if owner.deleting || !matches || meta.deletion_timestamp.is_some() {
        return ClaimDecision::Ignore;
    }
    if let Some(ns) = owner.namespace.as_deref().filter(|ns| !ns.is_empty())
        && meta.namespace.as_deref() != Some(ns)
    {
        return ClaimDecision::Ignore;
    }
    ClaimDecision::Adopt
}

/// How adoption and release patches are sent (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchStrategy {
    /// Upstream's strategic-merge patches; for built-in kinds.
    #[default]
    StrategicMerge,
    /// JSON merge patches of the whole `ownerReferences` list, preconditioned on
    /// `uid` and `resourceVersion`; for custom resources.
    JsonMerge,
}

/// The adoption patch body for an object with `object_uid` and the owner
/// references `existing` (used by [`PatchStrategy::JsonMerge`] only).
pub fn adopt_patch(
    strategy: PatchStrategy,
    owner: &Owner,
    object_uid: &str,
    existing: &[OwnerReference],
    resource_version: Option<&str>,
) -> Value {
    match strategy {
        PatchStrategy::StrategicMerge => json!({
            "metadata": {
                "ownerReferences": [owner.controller_ref()],
                "uid": object_uid,
            }
        }),
        PatchStrategy::JsonMerge => {
            let mut refs: Vec<OwnerReference> = existing
                .iter()
                .filter(|r| r.uid != owner.uid)
                .cloned()
                .collect();
            refs.push(owner.controller_ref());
            json!({
                "metadata": {
                    "ownerReferences": refs,
                    "uid": object_uid,
                    "resourceVersion": resource_version,
                }
            })
        }
    }
}

/// The release patch body removing `owner_uid` from an object's owner references.
pub fn release_patch(
    strategy: PatchStrategy,
    owner_uid: &str,
    object_uid: &str,
    existing: &[OwnerReference],
    resource_version: Option<&str>,
) -> Value {
    match strategy {
        PatchStrategy::StrategicMerge => json!({
            "metadata": {
                "uid": object_uid,
                "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
            }
        }),
        PatchStrategy::JsonMerge => {
            let refs: Vec<&OwnerReference> =
                existing.iter().filter(|r| r.uid != owner_uid).collect();
            json!({
                "metadata": {
                    "ownerReferences": refs,
                    "uid": object_uid,
                    "resourceVersion": resource_version,
                }
            })
        }
    }
}

/// Adds to an adoption patch (`adding`) or a release patch the owner's
/// `finalizers`: strategic merge lists them (adding) or removes them with
/// `$deleteFromPrimitiveList/finalizers` (upstream's patches); a JSON merge
/// patch carries the object's whole new list (`existing` with them added or
/// removed). Nothing changes when `finalizers` is empty.
pub fn patch_finalizers(
    body: &mut Value,
    strategy: PatchStrategy,
    existing: &[String],
    finalizers: &[String],
    adding: bool,
) {
    if finalizers.is_empty() {
        return;
    }
    let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match (strategy, adding) {
        (PatchStrategy::StrategicMerge, true) => {
            meta.insert("finalizers".into(), json!(finalizers));
        }
        (PatchStrategy::StrategicMerge, false) => {
            meta.insert(
                "$deleteFromPrimitiveList/finalizers".into(),
                json!(finalizers),
            );
        }
        (PatchStrategy::JsonMerge, adding) => {
            let mut list: Vec<&String> = existing
                .iter()
                .filter(|f| !finalizers.contains(f))
                .collect();
            if adding {
                list.extend(finalizers);
            }
            meta.insert("finalizers".into(), json!(list));
        }
    }
}

/// Outcome of [`ControllerRefManager::claim`]: the objects this owner controls
/// after claiming, and the failures (upstream returns both: the claimed list and an
/// aggregate error).
#[derive(Debug)]
pub struct Claimed<T> {
    /// Objects controlled by the owner and matching (kept or newly adopted).
    pub claimed: Vec<T>,
    /// Adoptions or releases that failed; the controller should requeue.
    pub errors: Vec<OwnershipError>,
}

impl<T> Claimed<T> {
    /// The claimed objects, or the first error when any failed.
    pub fn into_result(self) -> Result<Vec<T>, OwnershipError> {
        match self.errors.into_iter().next() {
            Some(err) => Err(err),
            None => Ok(self.claimed),
        }
    }
}

type CanAdoptFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Claims objects of kind `K` for one owner (see the module documentation).
/// Build one per sync: the "can adopt" recheck is done at most once per manager.
pub struct ControllerRefManager<K> {
    api: Api<K>,
    owner: Owner,
    selector: Selector,
    strategy: PatchStrategy,
    finalizers: Vec<String>,
    can_adopt_fn: CanAdoptFn,
    can_adopt: OnceCell<Result<(), String>>,
}

impl<K> fmt::Debug for ControllerRefManager<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerRefManager")
            .field("owner", &self.owner)
            .field("selector", &self.selector.to_string())
            .field("strategy", &self.strategy)
            .finish()
    }
}

/// Upstream `RecheckDeletionTimestamp` plus the UID check controllers add: reads the
/// owner from the API server (not the cache) and refuses adoption when it is gone,
/// was replaced by a namesake, or is being deleted.
async fn recheck_owner<O>(api: Api<O>, owner: Owner) -> Result<(), String>
where
    O: Resource + Clone + DeserializeOwned + fmt::Debug,
{
    let fresh = api
        .get(&owner.name)
        .await
        .map_err(|err| format!("can't recheck DeletionTimestamp: {err}"))?;
    let meta = fresh.meta();
    let uid = meta.uid.clone().unwrap_or_default();
    if uid != owner.uid {
        return Err(format!(
            "original {} {}/{} is gone: got uid {uid}, wanted {}",
            owner.kind,
            owner.namespace.as_deref().unwrap_or(""),
            owner.name,
            owner.uid
        ));
    }
    if let Some(ts) = &meta.deletion_timestamp {
        return Err(format!(
            "{}/{} has just been deleted at {}",
            owner.namespace.as_deref().unwrap_or(""),
            owner.name,
            ts.0
        ));
    }
    Ok(())
}

fn describe<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

impl<K> ControllerRefManager<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// A manager claiming `K`s in the owner's namespace for `owner`, whose selector is
    /// `selector`. Adoption rechecks the owner through `client`.
    pub fn new<O>(
        client: kube::Client,
        owner: &O,
        selector: Selector,
    ) -> Result<Self, OwnershipError>
    where
        O: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let desc = Owner::of(owner)?;
        let ns = desc
            .namespace
            .clone()
            .ok_or(OwnershipError::MissingOwnerField("namespace"))?;
        let owner_api: Api<O> = Api::namespaced(client.clone(), &ns);
        let recheck_owner_desc = desc.clone();
        let can_adopt_fn: CanAdoptFn = Arc::new(move || {
            let api = owner_api.clone();
            let owner = recheck_owner_desc.clone();
            Box::pin(recheck_owner(api, owner))
        });
        Ok(Self {
            api: Api::namespaced(client, &ns),
            owner: desc,
            selector,
            strategy: PatchStrategy::default(),
            finalizers: Vec::new(),
            can_adopt_fn,
            can_adopt: OnceCell::new(),
        })
    }

    /// Converts a `LabelSelector` from an owner's spec (upstream
    /// `LabelSelectorAsSelector`; an empty selector selects everything).
    pub fn selector_from(
        selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Selector, OwnershipError> {
        Selector::from_label_selector(Some(selector))
            .map_err(|err| OwnershipError::InvalidSelector(err.to_string()))
    }

    /// Uses `strategy` for the patches (strategic merge by default).
    pub fn with_patch_strategy(mut self, strategy: PatchStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Adds `finalizers` to the objects it adopts and removes them from those it
    /// releases (upstream `NewPodControllerRefManager`'s `finalizers`: the Job
    /// controller's `batch.kubernetes.io/job-tracking`).
    pub fn with_finalizers(mut self, finalizers: &[&str]) -> Self {
        self.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Replaces the adoption recheck (e.g. for owners read some other way).
    pub fn with_can_adopt<F, Fut>(mut self, can_adopt: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.can_adopt_fn = Arc::new(move || Box::pin(can_adopt()));
        self
    }

    /// The owner being claimed for.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Claims `objects`: returns those the owner controls afterwards, adopting and
    /// releasing as [`decide`] says. `filter` narrows matching beyond the selector
    /// (upstream's `filters`, e.g. "pod is active"); it only runs on objects whose
    /// labels match.
    pub async fn claim<T, I>(&self, objects: I, filter: impl Fn(&K) -> bool) -> Claimed<T>
    where
        I: IntoIterator<Item = T>,
        T: Borrow<K>,
    {
        let mut claimed = Vec::new();
        let mut errors = Vec::new();
        for item in objects {
            let obj: &K = item.borrow();
            let matches = self.selector.matches(&obj.meta().labels) && filter(obj);
            let outcome = match decide(&self.owner, obj, matches) {
                ClaimDecision::Keep => Ok(true),
                ClaimDecision::Ignore => Ok(false),
                ClaimDecision::Adopt => self.adopt(obj).await,
                ClaimDecision::Release => self.release(obj).await.map(|()| false),
            };
            match outcome {
                Ok(true) => claimed.push(item),
                Ok(false) => {}
                Err(err) => errors.push(err),
            }
        }
        Claimed { claimed, errors }
    }

    async fn check_can_adopt(&self) -> Result<(), String> {
        self.can_adopt
            .get_or_init(|| (self.can_adopt_fn)())
            .await
            .clone()
    }

    /// Adopts an orphan; `Ok(false)` when it vanished meanwhile.
    async fn adopt(&self, obj: &K) -> Result<bool, OwnershipError> {
        let meta = obj.meta();
        let uid = meta
            .uid
            .as_deref()
            .ok_or_else(|| OwnershipError::MissingObjectUid(describe(obj)))?;
        if let Err(reason) = self.check_can_adopt().await {
            return Err(OwnershipError::CannotAdopt {
                object: format!("{} ({uid})", describe(obj)),
                reason,
            });
        }
        let mut body = adopt_patch(
            self.strategy,
            &self.owner,
            uid,
            meta.owner_references.as_deref().unwrap_or(&[]),
            meta.resource_version.as_deref(),
        );
        patch_finalizers(
            &mut body,
            self.strategy,
            meta.finalizers.as_deref().unwrap_or(&[]),
            &self.finalizers,
            true,
        );
        tracing::debug!(object = %describe(obj), owner = %self.owner.name, "adopting orphan");
        match self.patch(obj, body).await {
            Ok(()) => Ok(true),
            Err(err) if errors::is_not_found(&err) => Ok(false),
            Err(err) => Err(OwnershipError::Patch {
                action: "adopt",
                object: describe(obj),
                source: Box::new(err),
            }),
        }
    }

    /// Releases an object that stopped matching.
    async fn release(&self, obj: &K) -> Result<(), OwnershipError> {
        let meta = obj.meta();
        let uid = meta
            .uid
            .as_deref()
            .ok_or_else(|| OwnershipError::MissingObjectUid(describe(obj)))?;
        let mut body = release_patch(
            self.strategy,
            &self.owner.uid,
            uid,
            meta.owner_references.as_deref().unwrap_or(&[]),
            meta.resource_version.as_deref(),
        );
        patch_finalizers(
            &mut body,
            self.strategy,
            meta.finalizers.as_deref().unwrap_or(&[]),
            &self.finalizers,
            false,
        );
        tracing::debug!(object = %describe(obj), owner = %self.owner.name, "releasing object that no longer matches");
        match self.patch(obj, body).await {
            Ok(()) => Ok(()),
            // Gone, or replaced by a namesake (uid precondition): nothing to release.
            Err(err) if errors::is_not_found(&err) || errors::is_invalid(&err) => Ok(()),
            Err(err) => Err(OwnershipError::Patch {
                action: "release",
                object: describe(obj),
                source: Box::new(err),
            }),
        }
    }

    async fn patch(&self, obj: &K, body: Value) -> Result<(), kube::Error> {
        let name = obj.meta().name.as_deref().unwrap_or("");
        let patch = match self.strategy {
            PatchStrategy::StrategicMerge => Patch::Strategic(body),
            PatchStrategy::JsonMerge => Patch::Merge(body),
        };
        self.api
            .patch(name, &PatchParams::default(), &patch)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests;
