//! The thin shell over the API: listing an owner's revisions from the cache, and
//! creating (with name-collision handling), renumbering and deleting revisions
//! (upstream `history.realHistory`). Adoption and release of revisions go through
//! capstan-runtime's `ControllerRefManager<ControllerRevision>`.

use std::sync::Arc;

use capstan_labels::Selector;
use capstan_runtime::errors::{is_already_exists, is_conflict, is_not_found};
use capstan_runtime::informer::Lister;
use capstan_runtime::ownership::{Owner, controller_of};
use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::HistoryError;
use super::data::revision_bytes;
use super::hash::{controller_revision_name, hash_controller_revision};
use super::revision::{UpdateRevision, plan_update_revision};

/// How many names [`RevisionControl::create`] tries before giving up (upstream
/// tries forever; every collision means another revision already holds the name,
/// so a history this size would have to exist first).
pub const MAX_CREATE_ATTEMPTS: usize = 100;

/// Upstream `ListControllerRevisions`: the cached revisions in the owner's namespace
/// matching `selector` that `owner` controls or that no one controls (candidates
/// for adoption).
pub fn list_controller_revisions(
    lister: &Lister<ControllerRevision>,
    owner: &Owner,
    selector: &Selector,
) -> Vec<Arc<ControllerRevision>> {
    let namespace = owner.namespace.as_deref().unwrap_or("");
    lister
        .list(Some(namespace), selector)
        .into_iter()
        .filter(|r| controller_of(r.as_ref()).is_none_or(|c| c.uid == owner.uid))
        .collect()
}

/// What one create attempt found.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// The revision was created; the stored object.
    New(ControllerRevision),
    /// A revision of that name storing the same data already existed (an earlier
    /// attempt whose answer was lost, or a cache that lags): the stored object.
    Existing(ControllerRevision),
    /// A revision of that name storing other data exists: a hash collision.
    Collision(ControllerRevision),
}

/// Creates, renumbers and deletes revisions through the API.
#[derive(Clone)]
pub struct RevisionControl {
    client: Client,
}

impl std::fmt::Debug for RevisionControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevisionControl").finish_non_exhaustive()
    }
}

impl RevisionControl {
    /// Revision writes through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn api(&self, namespace: &str) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// One create of `revision` in `namespace` under its own name; on
    /// `AlreadyExists`, reads the holder of the name and tells whether it stores the
    /// same data. The DaemonSet controller's `snapshot` acts on a collision itself
    /// (it bumps its status' `collisionCount` and retries later).
    pub async fn create_once(
        &self,
        namespace: &str,
        revision: &ControllerRevision,
    ) -> Result<Created, HistoryError> {
        let api = self.api(namespace);
        match api.create(&PostParams::default(), revision).await {
            Ok(created) => Ok(Created::New(created)),
            Err(e) if is_already_exists(&e) => {
                let name = revision.metadata.name.as_deref().unwrap_or_default();
                let existing = api.get(name).await?;
                if revision_bytes(&existing) == revision_bytes(revision) {
                    Ok(Created::Existing(existing))
                } else {
                    Ok(Created::Collision(existing))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Upstream `CreateControllerRevision`: creates `revision` for `owner`, named
    /// `<owner>-<hash of its data and collision_count>`; every time the name is
    /// held by a revision with other data, `collision_count` goes up by one and the
    /// next name is tried. The caller persists the final count in the owner's
    /// status. A name already holding the same data is that revision.
    pub async fn create(
        &self,
        owner: &Owner,
        revision: &ControllerRevision,
        collision_count: &mut i32,
    ) -> Result<ControllerRevision, HistoryError> {
        let namespace = owner.namespace.as_deref().unwrap_or_default();
        let data = revision_bytes(revision);
        let mut attempt = revision.clone();
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let hash = hash_controller_revision(&data, Some(*collision_count));
            attempt.metadata.name = Some(controller_revision_name(&owner.name, &hash));
            match self.create_once(namespace, &attempt).await? {
                Created::New(r) | Created::Existing(r) => return Ok(r),
                Created::Collision(existing) => {
                    tracing::debug!(
                        name = existing.metadata.name.as_deref().unwrap_or_default(),
                        collision_count = *collision_count,
                        "controller revision name collision; bumping the collision count"
                    );
                    *collision_count += 1;
                }
            }
        }
        Err(HistoryError::TooManyCollisions {
            owner: owner.name.clone(),
            attempts: MAX_CREATE_ATTEMPTS,
        })
    }

    /// Upstream `UpdateControllerRevision`: gives `revision` the number
    /// `new_revision`, re-reading it and retrying on conflicts.
    pub async fn update_revision(
        &self,
        revision: &ControllerRevision,
        new_revision: i64,
    ) -> Result<ControllerRevision, HistoryError> {
        let namespace = revision.metadata.namespace.as_deref().unwrap_or_default();
        let name = revision.metadata.name.as_deref().unwrap_or_default();
        let api = self.api(namespace);
        let mut current = revision.clone();
        let mut conflicts = 0;
        loop {
            if current.revision == new_revision {
                return Ok(current);
            }
            current.revision = new_revision;
            match api.replace(name, &PostParams::default(), &current).await {
                Ok(updated) => return Ok(updated),
                // client-go's retry.DefaultBackoff gives up after 5 conflicts.
                Err(e) if is_conflict(&e) && conflicts < 5 => {
                    conflicts += 1;
                    current = api.get(name).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Deletes the revision `name` in `namespace`; one already gone is not an error.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), HistoryError> {
        match self
            .api(namespace)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every revision named in `names` (a plan from
    /// [`super::cleanup`]), stopping at the first failure.
    pub async fn delete_all(&self, namespace: &str, names: &[String]) -> Result<(), HistoryError> {
        for name in names {
            self.delete(namespace, name).await?;
        }
        Ok(())
    }

    /// Makes the owner's current data the newest revision (the revision half of
    /// upstream StatefulSet `getStatefulSetRevisions`): `candidate` is built with
    /// [`super::next_revision`] of `sorted`, then reused, renumbered or created as
    /// [`plan_update_revision`] says. Returns the update revision.
    pub async fn ensure_update_revision(
        &self,
        owner: &Owner,
        sorted: &[Arc<ControllerRevision>],
        candidate: ControllerRevision,
        collision_count: &mut i32,
    ) -> Result<ControllerRevision, HistoryError> {
        match plan_update_revision(sorted, candidate) {
            UpdateRevision::Unchanged(i) => Ok(sorted[i].as_ref().clone()),
            UpdateRevision::Renumber { index, revision } => {
                self.update_revision(&sorted[index], revision).await
            }
            UpdateRevision::Create(candidate) => {
                self.create(owner, &candidate, collision_count).await
            }
        }
    }
}
