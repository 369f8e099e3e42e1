//! The I/O of a namespace's deletion (upstream `namespacedResourcesDeleter`):
//! fresh GET of the namespace, `Terminating` phase, discovery, per-resource
//! `deletecollection` (or list and delete each), the remaining content, the
//! status conditions, and `namespaces/{name}/finalize` once nothing is left.

use std::collections::HashSet;
use std::sync::Mutex;

use capstan_runtime::clock::SharedClock;
use capstan_runtime::errors::{is_conflict, is_method_not_supported, is_not_found};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, PropagationPolicy,
};
use tracing::{debug, info, warn};

use super::conditions::{ConditionUpdater, ContentTotals, Gvr};
use super::content::{
    GvrRemaining, PodGrace, estimate_pod_termination, finalized_spec, judge_remaining,
};
use super::discovery::{DeletableResource, discover};

/// How many times a namespace write is retried on a conflict.
const CONFLICT_RETRIES: usize = 5;

/// Errors of one namespace deletion pass.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// A call to the API server failed.
    #[error("api call failed: {0}")]
    Kube(#[from] kube::Error),
    /// Content remains and is expected to go within `estimate` seconds
    /// (upstream `ResourcesRemainingError`).
    #[error(
        "some content remains in the namespace, estimate {estimate} seconds before it is removed"
    )]
    ResourcesRemaining {
        /// Seconds the remaining content is expected to need.
        estimate: i64,
    },
    /// Discovery or deleting some resource types failed.
    #[error("{0}")]
    Content(String),
    /// The namespace was replaced by another of the same name while retrying.
    #[error("namespace uid has changed across retries")]
    UidChanged,
    /// A namespace write kept conflicting.
    #[error("namespace {0}: too many conflicts")]
    Conflicts(String),
}

/// Not found or method not allowed: the operation is not served for the resource
/// (upstream's `IsMethodNotSupported(err) || IsNotFound(err)`).
fn unsupported(e: &kube::Error) -> bool {
    is_not_found(e) || is_method_not_supported(e)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    List,
    DeleteCollection,
}

/// Deletes a terminating namespace's content, then its `kubernetes` finalizer.
pub struct NamespacedResourcesDeleter {
    client: Client,
    clock: SharedClock,
    /// Operations found unsupported (upstream `operationNotSupportedCache`).
    unsupported: Mutex<HashSet<(Op, Gvr)>>,
}

impl NamespacedResourcesDeleter {
    /// A deleter writing through `client`, reading the time from `clock`.
    pub fn new(client: Client, clock: SharedClock) -> Self {
        Self {
            client,
            clock,
            unsupported: Mutex::new(HashSet::new()),
        }
    }

    fn supported(&self, op: Op, gvr: &Gvr) -> bool {
        !self
            .unsupported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(op, gvr.clone()))
    }

    fn set_unsupported(&self, op: Op, gvr: &Gvr) {
        self.unsupported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((op, gvr.clone()));
    }

    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    /// One pass over the namespace `name` (upstream `Delete`): nothing when it
    /// is gone or not being deleted; otherwise delete its content and, once
    /// none remains, remove `kubernetes` from `spec.finalizers`.
    /// [`DeleteError::ResourcesRemaining`] asks to look again later.
    pub async fn delete(&self, name: &str) -> Result<(), DeleteError> {
        let Some(ns) = self.namespaces().get_opt(name).await? else {
            return Ok(());
        };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(());
        }
        let ns = match self.ensure_terminating(ns).await {
            Ok(ns) => ns,
            Err(DeleteError::Kube(e)) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(deleted_at) = ns.metadata.deletion_timestamp.clone() else {
            return Ok(());
        };
        let spec_finalizers = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.clone())
            .unwrap_or_default();
        if spec_finalizers.is_empty() {
            return Ok(());
        }
        let estimate = self.delete_all_content(ns.clone(), deleted_at.0).await?;
        if estimate > 0 {
            return Err(DeleteError::ResourcesRemaining { estimate });
        }
        match self.finalize(ns).await {
            Err(DeleteError::Kube(e)) if is_not_found(&e) => Ok(()),
            other => other,
        }
    }

    /// Upstream `updateNamespaceStatusFunc`: `status.phase` = `Terminating`.
    async fn ensure_terminating(&self, mut ns: Namespace) -> Result<Namespace, DeleteError> {
        for _ in 0..CONFLICT_RETRIES {
            let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
            if phase == Some("Terminating") {
                return Ok(ns);
            }
            let mut updated = ns.clone();
            updated.status.get_or_insert_with(Default::default).phase =
                Some("Terminating".to_string());
            let name = ns.metadata.name.clone().unwrap_or_default();
            match self
                .namespaces()
                .replace_status(&name, &PostParams::default(), &updated)
                .await
            {
                Ok(ns) => return Ok(ns),
                Err(e) if is_conflict(&e) => ns = self.refetch(&ns).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeleteError::Conflicts(
            ns.metadata.name.clone().unwrap_or_default(),
        ))
    }

    /// The latest namespace after a conflict, refusing a replaced one.
    async fn refetch(&self, prev: &Namespace) -> Result<Namespace, DeleteError> {
        let name = prev.metadata.name.clone().unwrap_or_default();
        let latest = self.namespaces().get(&name).await?;
        if latest.metadata.uid != prev.metadata.uid {
            return Err(DeleteError::UidChanged);
        }
        Ok(latest)
    }

    /// Upstream `finalizeNamespace`: `spec.finalizers` without `kubernetes`,
    /// through the `finalize` subresource.
    async fn finalize(&self, mut ns: Namespace) -> Result<(), DeleteError> {
        for _ in 0..CONFLICT_RETRIES {
            let current = ns
                .spec
                .as_ref()
                .and_then(|s| s.finalizers.clone())
                .unwrap_or_default();
            let Some(rest) = finalized_spec(&current) else {
                return Ok(());
            };
            let name = ns.metadata.name.clone().unwrap_or_default();
            let mut body = ns.clone();
            body.spec.get_or_insert_with(Default::default).finalizers = Some(rest);
            match self
                .namespaces()
                .replace_subresource("finalize", &name, &PostParams::default(), &body)
                .await
            {
                Ok(_) => {
                    info!(namespace = %name, "namespace controller: content gone, namespace finalized");
                    return Ok(());
                }
                Err(e) if is_conflict(&e) => ns = self.refetch(&ns).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeleteError::Conflicts(
            ns.metadata.name.clone().unwrap_or_default(),
        ))
    }

    /// Upstream `deleteAllContent`: every deletable resource's objects in the
    /// namespace, the conditions written when they change; returns the
    /// longest estimate of the content left.
    async fn delete_all_content(
        &self,
        mut ns: Namespace,
        deleted_at: Timestamp,
    ) -> Result<i64, DeleteError> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let mut errs = Vec::new();
        let mut updater = ConditionUpdater::default();
        let discovered = discover(&self.client).await;
        if let Some((failing, msg)) = discovered.error() {
            updater.discovery_failed(failing, &msg);
            errs.push(msg);
        }
        for e in &discovered.unparsable {
            updater.group_version_failed(e);
            errs.push(e.clone());
        }
        let mut estimate = 0;
        let mut totals = ContentTotals::default();
        for r in &discovered.resources {
            let meta = match self.delete_resource(r, &name, deleted_at).await {
                Ok(meta) => meta,
                Err((meta, msg)) => {
                    updater.delete_content_failed(&msg);
                    errs.push(msg);
                    meta
                }
            };
            estimate = estimate.max(meta.estimate);
            if meta.remaining > 0 {
                totals.remaining.insert(r.gvr.clone(), meta.remaining);
                for (f, n) in meta.finalizers {
                    *totals.finalizers.entry(f).or_insert(0) += n;
                }
            }
        }
        updater.content_totals(&totals);
        let mut status = ns.status.clone().unwrap_or_default();
        if updater.update(&mut status, self.clock.now()) {
            ns.status = Some(status);
            if let Err(e) = self
                .namespaces()
                .replace_status(&name, &PostParams::default(), &ns)
                .await
            {
                warn!(namespace = %name, error = %e, "namespace controller: couldn't update status conditions");
            }
        }
        debug!(namespace = %name, estimate, errors = errs.len(), "namespace controller: deleteAllContent");
        if errs.is_empty() {
            Ok(estimate)
        } else {
            Err(DeleteError::Content(errs.join(", ")))
        }
    }

    /// Upstream `deleteAllContentForGroupVersionResource`.
    async fn delete_resource(
        &self,
        r: &DeletableResource,
        namespace: &str,
        deleted_at: Timestamp,
    ) -> Result<GvrRemaining, (GvrRemaining, String)> {
        let fail = |estimate: i64, e: kube::Error| {
            (
                GvrRemaining {
                    estimate,
                    ..GvrRemaining::default()
                },
                e.to_string(),
            )
        };
        let estimate = self
            .estimate_graceful_termination(&r.gvr, namespace, deleted_at)
            .await
            .map_err(|e| fail(0, e))?;
        let api = self.api(r, namespace);
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        let mut collection_deleted = false;
        if r.delete_collection && self.supported(Op::DeleteCollection, &r.gvr) {
            match api.delete_collection(&dp, &ListParams::default()).await {
                Ok(_) => collection_deleted = true,
                Err(e) if unsupported(&e) => self.set_unsupported(Op::DeleteCollection, &r.gvr),
                Err(e) => return Err(fail(estimate, e)),
            }
        }
        if !collection_deleted
            && let Some(items) = self.list(r, &api).await.map_err(|e| fail(estimate, e))?
        {
            for item in items {
                let Some(name) = item.metadata.name else {
                    continue;
                };
                match api.delete(&name, &dp).await {
                    Ok(_) => {}
                    Err(e) if unsupported(&e) => {}
                    Err(e) => return Err(fail(estimate, e)),
                }
            }
        }
        let Some(items) = self.list(r, &api).await.map_err(|e| fail(estimate, e))? else {
            return Ok(GvrRemaining {
                estimate,
                ..GvrRemaining::default()
            });
        };
        let remaining: Vec<Vec<String>> = items
            .into_iter()
            .map(|o| o.metadata.finalizers.unwrap_or_default())
            .collect();
        judge_remaining(&r.gvr, namespace, estimate, &remaining)
    }

    fn api(&self, r: &DeletableResource, namespace: &str) -> Api<DynamicObject> {
        let api_version = if r.gvr.group.is_empty() {
            r.gvr.version.clone()
        } else {
            format!("{}/{}", r.gvr.group, r.gvr.version)
        };
        let ar = ApiResource {
            group: r.gvr.group.clone(),
            version: r.gvr.version.clone(),
            api_version,
            kind: r.kind.clone(),
            plural: r.gvr.resource.clone(),
        };
        Api::namespaced_with(self.client.clone(), namespace, &ar)
    }

    /// Upstream `listCollection` (metadata only): `None` when listing is not
    /// served for the resource.
    async fn list(
        &self,
        r: &DeletableResource,
        api: &Api<DynamicObject>,
    ) -> Result<Option<Vec<kube::api::PartialObjectMeta<DynamicObject>>>, kube::Error> {
        if !r.list || !self.supported(Op::List, &r.gvr) {
            return Ok(None);
        }
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) => Ok(Some(list.items)),
            Err(e) if unsupported(&e) => {
                self.set_unsupported(Op::List, &r.gvr);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Upstream `estimateGracefulTermination`: pods only.
    async fn estimate_graceful_termination(
        &self,
        gvr: &Gvr,
        namespace: &str,
        deleted_at: Timestamp,
    ) -> Result<i64, kube::Error> {
        if !(gvr.group.is_empty() && gvr.resource == "pods") {
            return Ok(0);
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = pods.list(&ListParams::default()).await?;
        let graces: Vec<PodGrace> = list
            .items
            .iter()
            .map(|p| PodGrace {
                phase: p.status.as_ref().and_then(|s| s.phase.clone()),
                grace_seconds: p
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds),
            })
            .collect();
        let elapsed = self.clock.now().duration_since(deleted_at).as_secs().max(0);
        Ok(estimate_pod_termination(&graces, elapsed))
    }
}
