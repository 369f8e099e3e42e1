//! Writing an object's `status` subresource the way kube-controller-manager's
//! controllers do (upstream `updateReplicaSetStatus`, `syncRolloutStatus`, …):
//!
//! - nothing is written when the computed status would change nothing (each kind
//!   may say what "nothing" means: upstream's ReplicaSet compares counts,
//!   conditions and the observed generation only);
//! - the write is a PUT of `/status` carrying the cached object's
//!   `resourceVersion`, so a stale cache fails with 409 Conflict instead of
//!   overwriting a newer status;
//! - a failed write is retried on a fresh read of the object, at most
//!   [`STATUS_UPDATE_RETRIES`] times (upstream `statusUpdateRetries`); the new
//!   status is applied to the fresh object, so nothing but the status (and what
//!   the kind's status strategy keeps from the body) comes from the caller —
//!   never its spec.
//!
//! [`StatusWriter`] does this for any kind implementing [`HasStatus`], which the
//! built-in workload and cluster kinds do.

use std::fmt;
use std::marker::PhantomData;

use kube::api::PostParams;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Upstream `statusUpdateRetries`: one more attempt after re-reading the object.
pub const STATUS_UPDATE_RETRIES: usize = 1;

/// A kind with a `status` subresource whose status type is `Status`.
pub trait HasStatus:
    Resource<DynamicType = ()>
    + Clone
    + PartialEq
    + Serialize
    + DeserializeOwned
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The kind's status type.
    type Status: Clone + PartialEq + fmt::Debug + Send + Sync;

    /// The object's status, if any.
    fn status(&self) -> Option<&Self::Status>;

    /// The object's status, for replacing it.
    fn status_mut(&mut self) -> &mut Option<Self::Status>;

    /// The API of objects of this kind where `obj` lives (its namespace, or the
    /// cluster for cluster-scoped kinds).
    fn api_for(client: Client, obj: &Self) -> Api<Self>;
}

macro_rules! has_status {
    (@api namespaced, $client:ident, $obj:ident) => {
        Api::namespaced($client, $obj.metadata.namespace.as_deref().unwrap_or_default())
    };
    (@api cluster, $client:ident, $obj:ident) => {{
        let _ = $obj;
        Api::all($client)
    }};
    ($($scope:ident $kind:ty => $status:ty),* $(,)?) => {$(
        impl HasStatus for $kind {
            type Status = $status;

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn status_mut(&mut self) -> &mut Option<$status> {
                &mut self.status
            }

            fn api_for(client: Client, obj: &Self) -> Api<Self> {
                has_status!(@api $scope, client, obj)
            }
        }
    )*};
}

mod builtin {
    use k8s_openapi::api::apps::v1 as apps;
    use k8s_openapi::api::batch::v1 as batch;
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::policy::v1 as policy;

    use kube::{Api, Client};

    use super::HasStatus;

    has_status! {
        namespaced apps::Deployment => apps::DeploymentStatus,
        namespaced apps::ReplicaSet => apps::ReplicaSetStatus,
        namespaced apps::StatefulSet => apps::StatefulSetStatus,
        namespaced apps::DaemonSet => apps::DaemonSetStatus,
        namespaced batch::Job => batch::JobStatus,
        namespaced batch::CronJob => batch::CronJobStatus,
        namespaced core::ReplicationController => core::ReplicationControllerStatus,
        namespaced core::Pod => core::PodStatus,
        namespaced core::Service => core::ServiceStatus,
        namespaced core::PersistentVolumeClaim => core::PersistentVolumeClaimStatus,
        namespaced core::ResourceQuota => core::ResourceQuotaStatus,
        namespaced policy::PodDisruptionBudget => policy::PodDisruptionBudgetStatus,
        cluster core::Namespace => core::NamespaceStatus,
        cluster core::Node => core::NodeStatus,
    }
}

/// Whether writing `candidate` over `current` would change nothing worth a write.
pub type Unchanged<K> = fn(current: &K, candidate: &K) -> bool;

/// Writes objects' status subresource: only when it changes something, retrying
/// a failed write on a fresh read (see the [module](self) documentation).
pub struct StatusWriter<K: HasStatus> {
    client: Client,
    retries: usize,
    unchanged: Unchanged<K>,
    _kind: PhantomData<fn() -> K>,
}

impl<K: HasStatus> Clone for StatusWriter<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            retries: self.retries,
            unchanged: self.unchanged,
            _kind: PhantomData,
        }
    }
}

impl<K: HasStatus> fmt::Debug for StatusWriter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusWriter")
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl<K: HasStatus> StatusWriter<K> {
    /// A writer through `client` that retries [`STATUS_UPDATE_RETRIES`] times and
    /// skips writes leaving the object equal.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            retries: STATUS_UPDATE_RETRIES,
            unchanged: |current, candidate| current == candidate,
            _kind: PhantomData,
        }
    }

    /// Retries a failed write `retries` times on a fresh read (0: the caller
    /// handles failures, as upstream's Deployment controller does by requeueing).
    pub fn with_retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// Decides with `unchanged` (given the cached object and the object with the
    /// new status applied) when there is nothing to write.
    pub fn skip_when(mut self, unchanged: Unchanged<K>) -> Self {
        self.unchanged = unchanged;
        self
    }

    /// Writes `status` as the status of `current` (the cached object) unless that
    /// changes nothing. Returns the stored object, `None` when nothing was written.
    pub async fn write(&self, current: &K, status: &K::Status) -> Result<Option<K>, kube::Error> {
        self.write_with(current, |obj| *obj.status_mut() = Some(status.clone()))
            .await
    }

    /// Like [`write`](Self::write), for kinds whose status writes carry more than
    /// the status: `apply` sets the status (and, e.g., the annotations a
    /// Deployment's status strategy keeps) on the cached object and, after a failed
    /// write, on the fresh one.
    pub async fn write_with(
        &self,
        current: &K,
        apply: impl Fn(&mut K),
    ) -> Result<Option<K>, kube::Error> {
        let mut candidate = current.clone();
        apply(&mut candidate);
        if (self.unchanged)(current, &candidate) {
            return Ok(None);
        }
        let api = K::api_for(self.client.clone(), current);
        let name = current.meta().name.clone().unwrap_or_default();
        let mut attempt = 0;
        loop {
            match api
                .replace_status(&name, &PostParams::default(), &candidate)
                .await
            {
                Ok(stored) => return Ok(Some(stored)),
                Err(e) if attempt >= self.retries => return Err(e),
                Err(e) => {
                    tracing::debug!(kind = %K::kind(&()), name = %name, error = %e, "status update failed, re-reading and retrying");
                    candidate = api.get(&name).await?;
                    apply(&mut candidate);
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::StatusCode;
    use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::api::core::v1::{Namespace, NamespaceStatus};
    use serde_json::json;

    use super::*;
    use crate::fake_api::{self, Recorded};

    fn rs(replicas: i32, rv: &str) -> ReplicaSet {
        let mut r = ReplicaSet::default();
        r.metadata.name = Some("web".into());
        r.metadata.namespace = Some("default".into());
        r.metadata.resource_version = Some(rv.into());
        r.spec = Some(ReplicaSetSpec {
            replicas: Some(replicas),
            ..Default::default()
        });
        r
    }

    fn status(replicas: i32) -> ReplicaSetStatus {
        ReplicaSetStatus {
            replicas,
            ..Default::default()
        }
    }

    /// Writes status replicas 2 over a cached RS (spec replicas 3, version 5),
    /// expecting a write.
    async fn write_two(client: Client) -> ReplicaSet {
        StatusWriter::new(client)
            .write(&rs(3, "5"), &status(2))
            .await
            .unwrap()
            .expect("written")
    }

    fn puts(log: &fake_api::Log) -> Vec<Recorded> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "PUT")
            .cloned()
            .collect()
    }

    /// The first PUT answers 409; GETs return the stored object (spec replicas
    /// 7, resourceVersion 8); later PUTs echo.
    fn conflict_once() -> (Client, fake_api::Log) {
        let n = Arc::new(AtomicUsize::new(0));
        fake_api::client(move |rec| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            match (rec.method.as_str(), i) {
                ("PUT", 0) => fake_api::status(409, "Conflict", "the object has been modified"),
                ("GET", _) => (StatusCode::OK, serde_json::to_value(rs(7, "8")).unwrap()),
                _ => fake_api::echo(rec, i),
            }
        })
    }

    #[tokio::test]
    async fn an_equal_status_is_not_written() {
        let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 0));
        let mut cached = rs(3, "5");
        cached.status = Some(status(3));
        let written = StatusWriter::new(client)
            .write(&cached, &status(3))
            .await
            .unwrap();
        assert_eq!(written, None);
        assert!(log.lock().unwrap().is_empty(), "no request at all");
    }

    #[tokio::test]
    async fn a_changed_status_is_put_to_the_status_subresource_with_the_cached_version() {
        let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 0));
        let stored = write_two(client).await;
        assert_eq!(stored.status, Some(status(2)));
        let puts = puts(&log);
        assert_eq!(puts.len(), 1);
        assert_eq!(
            puts[0].path,
            "/apis/apps/v1/namespaces/default/replicasets/web/status"
        );
        assert_eq!(puts[0].body["metadata"]["resourceVersion"], json!("5"));
        assert_eq!(puts[0].body["status"]["replicas"], json!(2));
    }

    #[tokio::test]
    async fn a_conflict_is_retried_once_on_a_fresh_read_without_the_callers_spec() {
        let (client, log) = conflict_once();
        // The caller's copy is stale and carries a spec of its own (replicas 3).
        let stored = write_two(client).await;
        assert_eq!(stored.status, Some(status(2)));
        let calls: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.method.clone())
            .collect();
        assert_eq!(calls, ["PUT", "GET", "PUT"]);
        let retry = &puts(&log)[1];
        assert_eq!(retry.body["metadata"]["resourceVersion"], json!("8"));
        assert_eq!(retry.body["spec"]["replicas"], json!(7), "the fresh spec");
        assert_eq!(retry.body["status"]["replicas"], json!(2));
    }

    #[tokio::test]
    async fn without_retries_or_after_the_last_one_the_error_is_returned() {
        let (client, log) = conflict_once();
        let err = StatusWriter::new(client)
            .with_retries(0)
            .write(&rs(3, "5"), &status(2))
            .await
            .unwrap_err();
        assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
        assert_eq!(log.lock().unwrap().len(), 1, "no re-read");

        let (client, log) = fake_api::client(|rec| match rec.method.as_str() {
            "PUT" => fake_api::status(409, "Conflict", "modified"),
            _ => (StatusCode::OK, serde_json::to_value(rs(7, "8")).unwrap()),
        });
        let err = StatusWriter::new(client)
            .write(&rs(3, "5"), &status(2))
            .await
            .unwrap_err();
        assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
        assert_eq!(puts(&log).len(), 1 + STATUS_UPDATE_RETRIES);
    }

    #[tokio::test]
    async fn a_kind_may_say_what_counts_as_unchanged_and_what_a_write_carries() {
        let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 0));
        // Only the replica count matters to this writer.
        let writer = StatusWriter::<ReplicaSet>::new(client).skip_when(|cur, new| {
            cur.status.as_ref().map(|s| s.replicas) == new.status.as_ref().map(|s| s.replicas)
        });
        let mut cached = rs(3, "5");
        cached.status = Some(status(3));
        let mut same_count = status(3);
        same_count.ready_replicas = Some(0);
        assert_eq!(writer.write(&cached, &same_count).await.unwrap(), None);
        assert!(log.lock().unwrap().is_empty());
        // A write carrying an annotation with the status.
        let stored = writer
            .write_with(&cached, |r| {
                r.status = Some(status(1));
                r.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert("revision".into(), "2".into());
            })
            .await
            .unwrap()
            .expect("written");
        assert_eq!(
            stored.metadata.annotations.unwrap()["revision"],
            "2".to_string()
        );
    }

    #[tokio::test]
    async fn cluster_scoped_objects_are_written_at_their_cluster_path() {
        let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 0));
        let mut ns = Namespace::default();
        ns.metadata.name = Some("team".into());
        let phase = NamespaceStatus {
            phase: Some("Terminating".into()),
            ..Default::default()
        };
        StatusWriter::new(client).write(&ns, &phase).await.unwrap();
        assert_eq!(puts(&log)[0].path, "/api/v1/namespaces/team/status");
    }
}
