//! The collector's shell: discovery, the [`Monitors`] that feed the [`Graph`] from
//! shared metadata informers, the attemptToDelete / attemptToOrphan queues and their
//! workers, and the uncached GETs, deletes and patches (upstream's
//! `GarbageCollector.Run`, `GraphBuilder.syncMonitors` and `attemptToDeleteWorker` /
//! `attemptToOrphanWorker`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use capstan_runtime::errors::{is_conflict, is_not_found};
use capstan_runtime::informer::SharedInformerFactory;
use capstan_runtime::queue::WorkQueue;
use futures::future::join_all;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::absent::{AbsentOwnerCache, OwnerKey, absent_owner_cache};
use super::decide::{
    DeleteDecision, DeletingDependentsStep, DependentsFacts, Latest, OwnerLookup, Precheck,
    Propagation, classify_owner, decide_delete, deleting_dependents_step, precheck,
    remove_finalizer_patch, remove_owner_refs_patch, unblock_owner_refs_patch,
};
use super::graph::{
    Enqueue, FOREGROUND_FINALIZER, Graph, Identity, Node, ORPHAN_FINALIZER, OwnerRef,
};
use super::monitors::{GraphInput, Monitors, SyncWaiter, all_synced, owners_of};

/// Errors of the garbage collector.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// A call to the API server failed.
    #[error("api call failed: {0}")]
    Kube(#[from] kube::Error),
    /// The collector's own informer factory could not start (no tokio runtime).
    #[error("informers: {0}")]
    Informer(#[from] capstan_runtime::informer::InformerError),
    /// An owner reference or node names a kind no served resource has.
    #[error("no served resource for {api_version} {kind}")]
    UnknownKind {
        /// `apiVersion` looked up.
        api_version: String,
        /// `kind` looked up.
        kind: String,
    },
    /// A cluster-scoped object names a namespaced owner: invalid, and retrying
    /// cannot fix it (upstream's `namespacedOwnerOfClusterScopedObjectErr`).
    #[error("cluster-scoped {name} refers to namespaced owner {owner_kind} {owner_name}")]
    NamespacedOwnerOfClusterScoped {
        /// The dependent's name.
        name: String,
        /// The owner's kind.
        owner_kind: String,
        /// The owner's name.
        owner_name: String,
    },
    /// A finalizer could not be removed after repeated conflicts.
    #[error("removing finalizer {finalizer} from {name}: too many conflicts")]
    Conflicts {
        /// The finalizer.
        finalizer: String,
        /// The object's name.
        name: String,
    },
}

/// Settings of [`run_garbage_collector_with`].
#[derive(Clone, Debug)]
pub struct GcConfig {
    /// Workers per queue (kube-controller-manager's `--concurrent-gc-syncs`, 20).
    pub workers: usize,
    /// How often served resources are re-discovered so new kinds (CRDs) get
    /// watched (upstream re-syncs monitors every 30 s).
    pub rediscovery_period: Duration,
    /// How long to wait for the first list of every watch before starting
    /// workers anyway.
    pub sync_timeout: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            workers: 20,
            rediscovery_period: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(30),
        }
    }
}

/// Run the garbage collector with [`GcConfig::default`] and informers of its own
/// until `shutdown` completes.
pub async fn run_garbage_collector(
    client: Client,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GcError> {
    run_garbage_collector_with(client, GcConfig::default(), shutdown).await
}

/// A served resource the collector can map a kind to.
#[derive(Clone, Debug)]
struct Mapping {
    resource: ApiResource,
    namespaced: bool,
}

/// apiVersion/kind → resource, over every served version, with a fallback on
/// group/kind for versions no longer served.
#[derive(Default, Debug)]
struct Mapper {
    exact: HashMap<(String, String), Mapping>,
    by_group: HashMap<(String, String), Mapping>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl Mapper {
    fn lookup(&self, api_version: &str, kind: &str) -> Option<Mapping> {
        self.exact
            .get(&(api_version.to_string(), kind.to_string()))
            .or_else(|| {
                self.by_group
                    .get(&(group_of(api_version).to_string(), kind.to_string()))
            })
            .cloned()
    }
}

struct Collector {
    client: Client,
    input: GraphInput,
    /// Workers hold it shared per item; a resync holds it exclusively until new
    /// watches have listed (upstream's `workerLock`), so no decision is made on
    /// a graph missing a newly discovered kind.
    pause: tokio::sync::RwLock<()>,
    mapper: RwLock<Mapper>,
    to_delete: WorkQueue<String>,
    to_orphan: WorkQueue<String>,
}

/// Whether a processed item goes back on its queue.
enum Outcome {
    Forget,
    Requeue,
}

/// Run the garbage collector with informers of its own until `shutdown`
/// completes (see [`run_garbage_collector_on`]).
pub async fn run_garbage_collector_with(
    client: Client,
    config: GcConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GcError> {
    let factory = SharedInformerFactory::new(client.clone(), None);
    factory.start()?;
    let result = run_garbage_collector_on(&factory, client, config, shutdown).await;
    factory.shutdown().await;
    result
}

/// Run the garbage collector until `shutdown` completes: discover every
/// deletable served kind, watch their metadata through `factory`'s shared
/// metadata informers (created as kinds appear; they start with the factory, or at
/// once if it already started), and work both queues. The factory is left
/// running for its other users.
pub async fn run_garbage_collector_on(
    factory: &SharedInformerFactory,
    client: Client,
    config: GcConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GcError> {
    let to_delete = WorkQueue::builder()
        .name("garbage_collector_attempt_to_delete")
        .build();
    let to_orphan = WorkQueue::builder()
        .name("garbage_collector_attempt_to_orphan")
        .build();
    let input = GraphInput {
        graph: Arc::new(Mutex::new(Graph::new())),
        absent: Arc::new(Mutex::new(absent_owner_cache())),
        to_delete: to_delete.clone(),
        to_orphan: to_orphan.clone(),
    };
    let gc = Arc::new(Collector {
        client: client.clone(),
        input: input.clone(),
        pause: tokio::sync::RwLock::new(()),
        mapper: RwLock::new(Mapper::default()),
        to_delete,
        to_orphan,
    });
    let mut monitors = Monitors::new(factory.clone(), input);
    tokio::pin!(shutdown);

    // First discovery, retried until it works, then wait for the first lists.
    let first = loop {
        match gc.rediscover(&mut monitors).await {
            Ok(synced) => break synced,
            Err(e) => {
                warn!(error = %e, "garbage collector: discovery failed, retrying");
                tokio::select! {
                    _ = &mut shutdown => { monitors.stop(); return Ok(()); }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    tokio::select! {
        _ = &mut shutdown => { monitors.stop(); return Ok(()); }
        r = tokio::time::timeout(config.sync_timeout, all_synced(&first)) => {
            if r.is_err() {
                warn!("garbage collector: not every watch listed in time; starting anyway");
            }
        }
    }
    info!(
        resources = monitors.len(),
        "garbage collector: graph synced, starting workers"
    );

    let mut workers = Vec::new();
    for _ in 0..config.workers.max(1) {
        let g = Arc::clone(&gc);
        workers.push(tokio::spawn(async move {
            while let Some(uid) = g.to_delete.get().await {
                let _running = g.pause.read().await;
                let outcome = g.attempt_to_delete(&uid).await;
                g.finish(&g.to_delete, &uid, outcome, "attemptToDelete");
            }
        }));
        let g = Arc::clone(&gc);
        workers.push(tokio::spawn(async move {
            while let Some(uid) = g.to_orphan.get().await {
                let _running = g.pause.read().await;
                let outcome = g.attempt_to_orphan(&uid).await;
                g.finish(&g.to_orphan, &uid, outcome, "attemptToOrphan");
            }
        }));
    }

    let mut tick = tokio::time::interval(config.rediscovery_period);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                match gc.rediscover(&mut monitors).await {
                    Ok(synced) if !synced.is_empty() => {
                        info!(new = synced.len(), "garbage collector: new resources, pausing workers until they are listed");
                        let _paused = gc.pause.write().await;
                        tokio::select! {
                            _ = &mut shutdown => break,
                            r = tokio::time::timeout(config.sync_timeout, all_synced(&synced)) => {
                                if r.is_err() {
                                    warn!("garbage collector: new watches did not list in time; resuming");
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "garbage collector: re-discovery failed"),
                }
            }
        }
    }
    gc.to_delete.shut_down();
    gc.to_orphan.shut_down();
    monitors.stop();
    join_all(workers).await;
    Ok(())
}

fn resource_key(r: &ApiResource) -> String {
    format!("{}/{}", r.api_version, r.plural)
}

fn deletable(caps: &kube::discovery::ApiCapabilities) -> bool {
    [verbs::LIST, verbs::WATCH, verbs::DELETE]
        .iter()
        .all(|v| caps.supports_operation(v))
}

fn lookup_from(meta: &ObjectMeta) -> OwnerLookup {
    OwnerLookup::Found {
        uid: meta.uid.clone().unwrap_or_default(),
        being_deleted: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    }
}

fn raw_owner_refs(meta: &ObjectMeta) -> Vec<Value> {
    meta.owner_references
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

impl Collector {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.input.graph()
    }

    fn enqueue(&self, work: Vec<Enqueue>) {
        self.input.enqueue(work);
    }

    fn finish(
        &self,
        queue: &WorkQueue<String>,
        uid: &String,
        outcome: Result<Outcome, GcError>,
        what: &str,
    ) {
        match outcome {
            Ok(Outcome::Forget) => queue.forget(uid),
            Ok(Outcome::Requeue) => queue.add_rate_limited(uid.clone()),
            Err(e @ GcError::NamespacedOwnerOfClusterScoped { .. }) => {
                warn!(%uid, error = %e, "garbage collector: invalid owner reference, not retrying");
                queue.forget(uid);
            }
            Err(e) => {
                warn!(%uid, error = %e, "garbage collector: {what} failed, retrying");
                queue.add_rate_limited(uid.clone());
            }
        }
        queue.done(uid);
    }

    /// Discover served resources, refresh the mapper, and have the monitors watch
    /// every deletable kind (and only those). Returns the waiters of new monitors.
    async fn rediscover(
        self: &Arc<Self>,
        monitors: &mut Monitors,
    ) -> Result<Vec<SyncWaiter>, GcError> {
        let discovery = Discovery::new(self.client.clone()).run().await?;
        let mut mapper = Mapper::default();
        let mut wanted: HashMap<String, ApiResource> = HashMap::new();
        let mut served: HashSet<String> = HashSet::new();
        for group in discovery.groups() {
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    served.insert(resource_key(&ar));
                    let m = Mapping {
                        resource: ar.clone(),
                        namespaced: caps.scope == Scope::Namespaced,
                    };
                    mapper
                        .exact
                        .insert((ar.api_version.clone(), ar.kind.clone()), m);
                }
            }
            for (ar, caps) in group.recommended_resources() {
                let m = Mapping {
                    resource: ar.clone(),
                    namespaced: caps.scope == Scope::Namespaced,
                };
                mapper
                    .by_group
                    .insert((ar.group.clone(), ar.kind.clone()), m);
                if deletable(&caps) {
                    wanted.insert(resource_key(&ar), ar);
                }
            }
        }
        *self.mapper.write().unwrap_or_else(|p| p.into_inner()) = mapper;
        Ok(monitors.sync(wanted, &served).await)
    }

    fn api_for(&self, identity: &Identity) -> Result<(Api<DynamicObject>, Mapping), GcError> {
        self.api_for_kind(
            &identity.api_version,
            &identity.kind,
            identity.namespace.as_deref(),
        )
    }

    fn api_for_kind(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<(Api<DynamicObject>, Mapping), GcError> {
        let mapping = self
            .mapper
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(api_version, kind)
            .ok_or_else(|| GcError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })?;
        let api = match (mapping.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &mapping.resource),
            _ => Api::all_with(self.client.clone(), &mapping.resource),
        };
        Ok((api, mapping))
    }

    /// An uncached GET of the node's object.
    async fn get(&self, identity: &Identity) -> Result<Option<DynamicObject>, GcError> {
        let (api, _) = self.api_for(identity)?;
        Ok(api.get_opt(&identity.name).await?)
    }

    /// `attemptToDeleteItem` plus the worker's requeue rule for unobserved nodes.
    async fn attempt_to_delete(&self, uid: &str) -> Result<Outcome, GcError> {
        let Some(item) = self.graph().node(uid).cloned() else {
            return Ok(Outcome::Forget);
        };
        let live = if item.being_deleted && !item.deleting_dependents {
            None
        } else {
            self.get(&item.identity).await?
        };
        let latest = live.as_ref().map(|o| Latest {
            uid: o.metadata.uid.clone().unwrap_or_default(),
            owners: owners_of(&o.metadata),
            finalizers: o.metadata.finalizers.clone().unwrap_or_default(),
            being_deleted: o.metadata.deletion_timestamp.is_some(),
        });
        match precheck(&item, latest.as_ref()) {
            Precheck::WaitForDeletion => return Ok(Outcome::Forget),
            Precheck::Vanished => {
                debug!(%uid, name = %item.identity.name, "garbage collector: object gone, dropping node");
                let work = self.graph().remove(uid);
                self.enqueue(work);
                return Ok(Outcome::Forget);
            }
            Precheck::DeletingDependents => {
                let step = {
                    let graph = self.graph();
                    deleting_dependents_step(&graph.blocking_dependents(uid))
                };
                match step {
                    DeletingDependentsStep::RemoveFinalizer => {
                        info!(name = %item.identity.name, kind = %item.identity.kind, "garbage collector: dependents gone, removing foregroundDeletion finalizer");
                        self.remove_finalizer(&item.identity, FOREGROUND_FINALIZER)
                            .await?;
                    }
                    DeletingDependentsStep::Enqueue(deps) => {
                        self.enqueue(deps.into_iter().map(Enqueue::AttemptToDelete).collect());
                    }
                }
            }
            Precheck::NoOwners => {}
            Precheck::ClassifyOwners(refs) => {
                let (Some(live), Some(latest)) = (live.as_ref(), latest.as_ref()) else {
                    return Ok(Outcome::Forget);
                };
                let mut classified = Vec::with_capacity(refs.len());
                for r in refs {
                    let lookup = self.lookup_owner(&item, &r).await?;
                    let state = classify_owner(&r, &lookup);
                    classified.push((r, state));
                }
                let facts = {
                    let graph = self.graph();
                    let deps = graph.dependents(uid);
                    DependentsFacts {
                        has_dependents: !deps.is_empty(),
                        some_deleting_dependents: deps.iter().any(|d| d.deleting_dependents),
                    }
                };
                self.act(&item, live, decide_delete(&classified, latest, facts))
                    .await?;
            }
        }
        Ok(if item.observed {
            Outcome::Forget
        } else {
            Outcome::Requeue
        })
    }

    /// Upstream's `isDangling` lookup: the absent-owner cache first, then an
    /// uncached GET; owners found gone (or replaced) are remembered.
    async fn lookup_owner(&self, item: &Node, r: &OwnerRef) -> Result<OwnerLookup, GcError> {
        let (api, mapping) =
            self.api_for_kind(&r.api_version, &r.kind, item.identity.namespace.as_deref())?;
        if mapping.namespaced && item.identity.namespace.is_none() {
            return Err(GcError::NamespacedOwnerOfClusterScoped {
                name: item.identity.name.clone(),
                owner_kind: r.kind.clone(),
                owner_name: r.name.clone(),
            });
        }
        let key = OwnerKey {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: if mapping.namespaced {
                item.identity.namespace.clone()
            } else {
                None
            },
            name: r.name.clone(),
            uid: r.uid.clone(),
        };
        if self.absent().get(&key).is_some() {
            return Ok(OwnerLookup::Absent);
        }
        let lookup = match api.get_opt(&r.name).await? {
            None => OwnerLookup::Absent,
            Some(o) => lookup_from(&o.metadata),
        };
        if matches!(&lookup, OwnerLookup::Absent)
            || matches!(&lookup, OwnerLookup::Found { uid, .. } if *uid != r.uid)
        {
            self.absent().insert(key, ());
        }
        Ok(lookup)
    }

    fn absent(&self) -> MutexGuard<'_, AbsentOwnerCache> {
        self.input.absent()
    }

    async fn act(
        &self,
        item: &Node,
        live: &DynamicObject,
        decision: DeleteDecision,
    ) -> Result<(), GcError> {
        let id = &item.identity;
        let (api, _) = self.api_for(id)?;
        match decision {
            DeleteDecision::Keep => Ok(()),
            DeleteDecision::RemoveOwnerRefs(uids) => {
                let refs = raw_owner_refs(&live.metadata);
                if let Some(patch) = remove_owner_refs_patch(&refs, &id.uid, &uids) {
                    info!(name = %id.name, kind = %id.kind, owners = ?uids, "garbage collector: removing dangling owner references");
                    self.patch(&api, &id.name, patch).await?;
                }
                Ok(())
            }
            DeleteDecision::Delete {
                propagation,
                unblock_first,
            } => {
                if unblock_first
                    && let Some(patch) =
                        unblock_owner_refs_patch(&raw_owner_refs(&live.metadata), &id.uid)
                {
                    self.patch(&api, &id.name, patch).await?;
                }
                info!(name = %id.name, kind = %id.kind, namespace = ?id.namespace, propagation = propagation.as_str(), "garbage collector: deleting object");
                let dp = DeleteParams {
                    propagation_policy: Some(match propagation {
                        Propagation::Background => PropagationPolicy::Background,
                        Propagation::Foreground => PropagationPolicy::Foreground,
                        Propagation::Orphan => PropagationPolicy::Orphan,
                    }),
                    preconditions: Some(Preconditions {
                        uid: Some(id.uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&id.name, &dp).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(&e) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    async fn patch(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        patch: Value,
    ) -> Result<(), GcError> {
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove `finalizer` from the object, re-reading on conflict.
    async fn remove_finalizer(&self, id: &Identity, finalizer: &str) -> Result<(), GcError> {
        let (api, _) = self.api_for(id)?;
        for _ in 0..5 {
            let Some(live) = api.get_opt(&id.name).await? else {
                return Ok(());
            };
            if live.metadata.uid.as_deref() != Some(id.uid.as_str()) {
                return Ok(());
            }
            let fins = live.metadata.finalizers.clone().unwrap_or_default();
            let rv = live.metadata.resource_version.clone().unwrap_or_default();
            let Some(patch) = remove_finalizer_patch(&fins, finalizer, &rv) else {
                return Ok(());
            };
            match api
                .patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GcError::Conflicts {
            finalizer: finalizer.to_string(),
            name: id.name.clone(),
        })
    }

    /// `attemptToOrphanWorker`: strip the owner's reference from every
    /// dependent, then remove the `orphan` finalizer.
    async fn attempt_to_orphan(&self, uid: &str) -> Result<Outcome, GcError> {
        let (owner, dependents) = {
            let graph = self.graph();
            let Some(owner) = graph.node(uid).cloned() else {
                return Ok(Outcome::Forget);
            };
            let deps: Vec<Identity> = graph
                .dependents(uid)
                .into_iter()
                .map(|d| d.identity.clone())
                .collect();
            (owner, deps)
        };
        for dep in &dependents {
            let Some(live) = self.get(dep).await? else {
                continue;
            };
            if live.metadata.uid.as_deref() != Some(dep.uid.as_str()) {
                continue;
            }
            let refs = raw_owner_refs(&live.metadata);
            if let Some(patch) = remove_owner_refs_patch(&refs, &dep.uid, &[uid.to_string()]) {
                let (api, _) = self.api_for(dep)?;
                self.patch(&api, &dep.name, patch).await?;
            }
        }
        info!(name = %owner.identity.name, kind = %owner.identity.kind, dependents = dependents.len(), "garbage collector: dependents orphaned, removing orphan finalizer");
        self.remove_finalizer(&owner.identity, ORPHAN_FINALIZER)
            .await?;
        Ok(Outcome::Forget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::GroupVersionKind;

    fn mapping(group: &str, version: &str, kind: &str, plural: &str) -> Mapping {
        Mapping {
            resource: ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            ),
            namespaced: true,
        }
    }

    #[test]
    fn mapper_prefers_exact_version_and_falls_back_on_group_kind() {
        let mut m = Mapper::default();
        let v1 = mapping("apps", "v1", "ReplicaSet", "replicasets");
        let beta = mapping("apps", "v1beta2", "ReplicaSet", "replicasets");
        m.exact
            .insert(("apps/v1".into(), "ReplicaSet".into()), v1.clone());
        m.exact
            .insert(("apps/v1beta2".into(), "ReplicaSet".into()), beta);
        m.by_group.insert(("apps".into(), "ReplicaSet".into()), v1);
        let cm = mapping("", "v1", "ConfigMap", "configmaps");
        m.exact
            .insert(("v1".into(), "ConfigMap".into()), cm.clone());
        m.by_group.insert(("".into(), "ConfigMap".into()), cm);

        let got = |av: &str, k: &str| m.lookup(av, k).map(|x| x.resource.api_version);
        assert_eq!(
            got("apps/v1beta2", "ReplicaSet").as_deref(),
            Some("apps/v1beta2")
        );
        // A version no longer served maps to the preferred one of the group.
        assert_eq!(
            got("apps/v1beta1", "ReplicaSet").as_deref(),
            Some("apps/v1")
        );
        assert_eq!(got("v1", "ConfigMap").as_deref(), Some("v1"));
        assert_eq!(got("extensions/v1beta1", "ReplicaSet"), None);
        assert_eq!(got("v1", "Widget"), None);
    }

    #[test]
    fn group_of_api_versions() {
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("example.com/v1alpha1"), "example.com");
    }
}
