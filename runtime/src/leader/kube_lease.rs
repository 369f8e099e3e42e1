//! The [`LeaseStore`] over a real `coordination.k8s.io/v1` Lease, as client-go's
//! `resourcelock.LeaseLock`.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use parking_lot::Mutex;

use super::{LeaderElectionRecord, LeaseStore, LeaseStoreError};
use crate::errors;

/// A Lease in the API server used as the election lock. It remembers the Lease it
/// last read or wrote, so every update carries that `resourceVersion` and fails with
/// a conflict when someone else wrote in between (optimistic concurrency).
pub struct KubeLeaseStore {
    api: Api<Lease>,
    namespace: String,
    name: String,
    last: Mutex<Option<Lease>>,
}

impl KubeLeaseStore {
    /// The Lease `namespace/name`, read and written through `client`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            last: Mutex::new(None),
        }
    }
}

fn map_err(err: kube::Error) -> LeaseStoreError {
    match errors::status(&err) {
        Some(status) if errors::is_conflict(&err) || errors::is_already_exists(&err) => {
            LeaseStoreError::Conflict(status.message.clone())
        }
        _ => LeaseStoreError::Api(Box::new(err)),
    }
}

/// Converts a Lease's spec into an election record (client-go `LeaseSpecToLeaderElectionRecord`).
pub fn record_from_spec(spec: &LeaseSpec) -> LeaderElectionRecord {
    LeaderElectionRecord {
        holder_identity: spec.holder_identity.clone().unwrap_or_default(),
        lease_duration: Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        ),
        acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
        renew_time: spec.renew_time.as_ref().map(|t| t.0),
        leader_transitions: spec.lease_transitions.unwrap_or(0),
    }
}

/// Writes an election record into a Lease's spec (client-go
/// `LeaderElectionRecordToLeaseSpec`), keeping fields the record does not own.
pub fn apply_record(spec: &mut LeaseSpec, record: &LeaderElectionRecord) {
    spec.holder_identity = Some(record.holder_identity.clone());
    spec.lease_duration_seconds =
        Some(i32::try_from(record.lease_duration.as_secs()).unwrap_or(i32::MAX));
    spec.acquire_time = record.acquire_time.map(MicroTime);
    spec.renew_time = record.renew_time.map(MicroTime);
    spec.lease_transitions = Some(record.leader_transitions);
}

impl LeaseStore for KubeLeaseStore {
    async fn get(&self) -> Result<Option<LeaderElectionRecord>, LeaseStoreError> {
        let lease = self.api.get_opt(&self.name).await.map_err(map_err)?;
        let record = lease
            .as_ref()
            .map(|l| record_from_spec(&l.spec.clone().unwrap_or_default()));
        *self.last.lock() = lease;
        Ok(record)
    }

    async fn create(&self, record: &LeaderElectionRecord) -> Result<(), LeaseStoreError> {
        let mut spec = LeaseSpec::default();
        apply_record(&mut spec, record);
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        };
        let created = self
            .api
            .create(&PostParams::default(), &lease)
            .await
            .map_err(map_err)?;
        *self.last.lock() = Some(created);
        Ok(())
    }

    async fn update(&self, record: &LeaderElectionRecord) -> Result<(), LeaseStoreError> {
        let Some(mut lease) = self.last.lock().clone() else {
            return Err(LeaseStoreError::NotInitialized);
        };
        apply_record(lease.spec.get_or_insert_with(LeaseSpec::default), record);
        let updated = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(map_err)?;
        *self.last.lock() = Some(updated);
        Ok(())
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn record_round_trips_through_a_lease_spec() {
        let now = Timestamp::from_second(1_700_000_000).unwrap_or_default();
        let record = LeaderElectionRecord {
            holder_identity: "node-a_1234".into(),
            lease_duration: Duration::from_secs(15),
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: 3,
        };
        let mut spec = LeaseSpec {
            strategy: Some("OldestEmulationVersion".into()),
            ..LeaseSpec::default()
        };
        apply_record(&mut spec, &record);
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
        assert_eq!(record_from_spec(&spec), record);
    }
}

#[cfg(test)]
mod api_tests {
    //! The store and the elector over a `kube::Client` whose transport is an
    //! in-memory Lease endpoint with resourceVersion preconditions.

    use std::convert::Infallible;
    use std::sync::Arc;

    use bytes::Bytes;
    use http::{Method, Request, Response, StatusCode};
    use http_body_util::Full;
    use parking_lot::Mutex;
    use serde_json::{Value, json};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::leader::{LeaderElectionConfig, LeaderElector, RunOutcome};

    fn status(code: u16, reason: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "reason": reason, "code": code, "message": reason})
    }

    /// Serves one Lease at /apis/coordination.k8s.io/v1/namespaces/ns/leases/l.
    fn lease_client() -> (kube::Client, Arc<Mutex<Option<Value>>>) {
        let stored: Arc<Mutex<Option<Value>>> = Arc::default();
        let state = stored.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let state = state.clone();
            async move {
                let method = req.method().clone();
                let body = req.into_body().collect_bytes().await.unwrap_or_default();
                let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut cur = state.lock();
                let (code, out) = match method {
                    Method::GET => match cur.as_ref() {
                        Some(l) => (200, l.clone()),
                        None => (404, status(404, "NotFound")),
                    },
                    Method::POST if cur.is_some() => (409, status(409, "AlreadyExists")),
                    Method::POST | Method::PUT => {
                        let current_rv = cur
                            .as_ref()
                            .map(|l| l["metadata"]["resourceVersion"].clone());
                        if method == Method::PUT
                            && current_rv != Some(sent["metadata"]["resourceVersion"].clone())
                        {
                            (409, status(409, "Conflict"))
                        } else {
                            let next = current_rv
                                .and_then(|v| v.as_str().and_then(|s| s.parse::<u64>().ok()))
                                .unwrap_or(0)
                                + 1;
                            let mut lease = sent.clone();
                            lease["metadata"]["resourceVersion"] = json!(next.to_string());
                            *cur = Some(lease.clone());
                            (if method == Method::POST { 201 } else { 200 }, lease)
                        }
                    }
                    _ => (405, status(405, "MethodNotAllowed")),
                };
                let resp = Response::builder()
                    .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                    .header("Content-Type", "application/json")
                    .body(Full::new(Bytes::from(out.to_string())))
                    .unwrap_or_default();
                Ok::<_, Infallible>(resp)
            }
        });
        (kube::Client::new(svc, "default"), stored)
    }

    #[tokio::test]
    async fn store_maps_missing_conflict_and_uses_the_last_resource_version() {
        let (client, stored) = lease_client();
        let a = KubeLeaseStore::new(client.clone(), "ns", "l");
        let b = KubeLeaseStore::new(client, "ns", "l");
        assert!(a.get().await.expect("get").is_none());
        assert!(matches!(
            a.update(&LeaderElectionRecord::default()).await,
            Err(LeaseStoreError::NotInitialized)
        ));
        let rec = LeaderElectionRecord {
            holder_identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            ..LeaderElectionRecord::default()
        };
        a.create(&rec).await.expect("create");
        assert!(matches!(
            b.create(&rec).await,
            Err(LeaseStoreError::Conflict(_))
        ));
        assert_eq!(b.get().await.expect("get"), Some(rec.clone()));
        // a writes; b's cached version is now stale and its update conflicts.
        a.update(&rec)
            .await
            .expect("a updates from its own last write");
        assert!(matches!(
            b.update(&rec).await,
            Err(LeaseStoreError::Conflict(_))
        ));
        let lease = stored.lock().clone().expect("stored");
        assert_eq!(lease["spec"]["holderIdentity"], "a");
        assert_eq!(lease["metadata"]["resourceVersion"], "2");
    }

    #[tokio::test]
    async fn the_elector_leads_through_a_kube_client() {
        let (client, stored) = lease_client();
        let mut cfg = LeaderElectionConfig::new("ns", "l", "me");
        cfg.release_on_cancel = true;
        let elector = LeaderElector::new(client, cfg).expect("valid");
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let outcome = elector
            .run(cancel, |_| async move { stop.cancel() })
            .await
            .expect("no error");
        assert!(matches!(
            outcome,
            RunOutcome::Cancelled | RunOutcome::LeadingCompleted
        ));
        let lease = stored.lock().clone().expect("stored");
        // Acquired (transitions 0), then released on the way out.
        assert_eq!(lease["spec"]["holderIdentity"], "");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);
        assert_eq!(lease["spec"]["leaseTransitions"], 0);
    }
}
