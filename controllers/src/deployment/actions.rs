//! Performs a [`DeploymentPlan`] against the API server: the steps in order,
//! stopping at the first failure, events after each success, and upstream's
//! handling of a failed ReplicaSet creation (hash collision → `collisionCount`
//! bump; other errors → `Progressing=False` with `ReplicaSetCreateError`).

use std::collections::HashMap;

use capstan_runtime::errors;
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::status::StatusWriter;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client};

use super::plan::{DeploymentAction, DeploymentPlan, PlannedEvent};
use super::sync::{CreateConflict, on_create_conflict, on_create_failed};

/// Why a Deployment sync's writes stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentSyncError {
    /// A write failed; the sync should be retried with backoff.
    #[error("{action} failed: {source}")]
    Api {
        /// Which write, e.g. `create replica set web-abc`.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The new ReplicaSet already exists and is this Deployment's: resync to
    /// continue with it.
    #[error("replica set {0} already exists; resyncing")]
    AlreadyCreated(String),
}

/// Performs Deployment plans through a client.
#[derive(Clone)]
pub struct DeploymentActions {
    client: Client,
    recorder: Option<Recorder>,
    status: StatusWriter<Deployment>,
}

fn event_type(e: &PlannedEvent) -> EventType {
    if e.type_ == "Warning" {
        EventType::Warning
    } else {
        EventType::Normal
    }
}

impl DeploymentActions {
    /// A performer writing through `client`, recording events when given a recorder.
    pub fn new(client: Client, recorder: Option<Recorder>) -> Self {
        Self {
            // Upstream's Deployment controller does not retry a failed status
            // write: the sync fails and is requeued with backoff.
            status: StatusWriter::new(client.clone()).with_retries(0),
            client,
            recorder,
        }
    }

    fn record(&self, d: &Deployment, e: &PlannedEvent) {
        if let Some(r) = &self.recorder {
            r.record_for(d, event_type(e), e.reason, &e.message, "");
        }
    }

    /// Performs `plan` for `d` (the cached Deployment the plan was made from).
    /// Status writes carry the latest `resourceVersion` seen, so several in one
    /// sync do not conflict with each other. Returns the Deployment as last
    /// written (or `d` when the plan wrote none).
    pub async fn perform(
        &self,
        d: &Deployment,
        plan: &DeploymentPlan,
        now: Timestamp,
    ) -> Result<Deployment, DeploymentSyncError> {
        for e in &plan.events {
            self.record(d, e);
        }
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let rs_api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        let mut latest = d.clone();
        // A plan may write one ReplicaSet twice (sync its annotations, then scale
        // it): later writes carry the resourceVersion the earlier one returned, as
        // upstream continues with the object the API server gave back.
        let mut rs_versions: HashMap<String, String> = HashMap::new();
        for step in &plan.steps {
            let err = |action: String| move |source| DeploymentSyncError::Api { action, source };
            match &step.action {
                DeploymentAction::CreateReplicaSet(rs) => {
                    let name = rs.metadata.name.clone().unwrap_or_default();
                    match rs_api.create(&PostParams::default(), rs).await {
                        Ok(created) => {
                            if let Some(rv) = created.metadata.resource_version {
                                rs_versions.insert(name.clone(), rv);
                            }
                        }
                        Err(e) if errors::is_already_exists(&e) => {
                            let existing = rs_api
                                .get(&name)
                                .await
                                .map_err(err(format!("get replica set {name}")))?;
                            return match on_create_conflict(&latest, &existing) {
                                CreateConflict::AlreadyCreated => {
                                    Err(DeploymentSyncError::AlreadyCreated(name))
                                }
                                CreateConflict::Collision(bumped) => {
                                    tracing::info!(deployment = ?latest.metadata.name, replicaset = %name, "hash collision, bumping collisionCount");
                                    let _ = self
                                        .status
                                        .write_with(&latest, |d| d.status = bumped.status.clone())
                                        .await;
                                    Err(DeploymentSyncError::Api {
                                        action: format!("create replica set {name}"),
                                        source: e,
                                    })
                                }
                            };
                        }
                        Err(e) => {
                            let msg = errors::message(&e);
                            let (status, event) = on_create_failed(&latest, &name, &msg, now);
                            if let Some(updated) = status {
                                // A bigger problem is being reported; this write may fail.
                                let _ = self
                                    .status
                                    .write_with(&latest, |d| d.status = updated.status.clone())
                                    .await;
                            }
                            self.record(&latest, &event);
                            return Err(DeploymentSyncError::Api {
                                action: format!("create replica set {name}"),
                                source: e,
                            });
                        }
                    }
                }
                DeploymentAction::UpdateReplicaSet(rs)
                | DeploymentAction::ScaleReplicaSet { rs, .. } => {
                    let name = rs.metadata.name.clone().unwrap_or_default();
                    let mut body = rs.clone();
                    if let Some(rv) = rs_versions.get(&name) {
                        body.metadata.resource_version = Some(rv.clone());
                    }
                    let stored = rs_api
                        .replace(&name, &PostParams::default(), &body)
                        .await
                        .map_err(err(format!("update replica set {name}")))?;
                    if let Some(rv) = stored.metadata.resource_version {
                        rs_versions.insert(name, rv);
                    }
                }
                DeploymentAction::DeleteReplicaSet { name, uid } => {
                    let dp = DeleteParams::default().preconditions(Preconditions {
                        uid: Some(uid.clone()).filter(|u| !u.is_empty()),
                        resource_version: None,
                    });
                    match rs_api.delete(name, &dp).await {
                        Ok(_) => {}
                        Err(e) if errors::is_not_found(&e) => {}
                        Err(e) => {
                            return Err(DeploymentSyncError::Api {
                                action: format!("delete replica set {name}"),
                                source: e,
                            });
                        }
                    }
                }
                DeploymentAction::UpdateStatus(planned) => {
                    // The status and the revision annotations, which apps/v1's
                    // status strategy keeps from a status write.
                    let written = self
                        .status
                        .write_with(&latest, |d| {
                            d.status = planned.status.clone();
                            d.metadata.annotations = planned.metadata.annotations.clone();
                        })
                        .await
                        .map_err(err(format!(
                            "update status of deployment {}",
                            planned.metadata.name.as_deref().unwrap_or_default()
                        )))?;
                    if let Some(stored) = written {
                        latest = stored;
                    }
                }
            }
            if let Some(e) = &step.event {
                self.record(&latest, e);
            }
        }
        Ok(latest)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::StatusCode;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::json;

    use super::*;
    use crate::deployment::{DeploymentInput, plan_deployment};
    use crate::util::testing::{at, deployment, template};
    use capstan_runtime::fake_api;

    fn plan_for(d: &Deployment) -> DeploymentPlan {
        plan_deployment(DeploymentInput {
            deployment: d,
            replica_sets: &[],
            pods: &[],
            now: at(0),
        })
    }

    fn new_deployment() -> Deployment {
        let mut d = deployment(3, IntOrString::Int(1), IntOrString::Int(1));
        d.metadata.resource_version = Some("10".into());
        d
    }

    #[tokio::test]
    async fn steps_run_in_order_and_status_writes_chain_resource_versions() {
        let n = Arc::new(AtomicUsize::new(0));
        let (client, log) =
            fake_api::client(move |rec| fake_api::echo(rec, n.fetch_add(1, Ordering::SeqCst)));
        let d = new_deployment();
        let plan = plan_for(&d);
        let latest = DeploymentActions::new(client, None)
            .perform(&d, &plan, at(0))
            .await
            .unwrap();
        let log = log.lock().unwrap();
        let calls: Vec<(String, String)> = log
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        assert_eq!(
            calls[0],
            (
                "POST".into(),
                "/apis/apps/v1/namespaces/default/replicasets".into()
            )
        );
        assert_eq!(
            calls[1],
            (
                "PUT".into(),
                "/apis/apps/v1/namespaces/default/deployments/web/status".into()
            )
        );
        assert_eq!(calls.len(), plan.steps.len());
        // The first status write uses the cached version, the next the returned one.
        assert_eq!(log[1].body["metadata"]["resourceVersion"], json!("10"));
        assert_eq!(log[2].body["metadata"]["resourceVersion"], json!("101"));
        assert_eq!(
            log[1].body["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            json!("1")
        );
        assert_eq!(latest.metadata.resource_version.as_deref(), Some("102"));
    }

    #[tokio::test]
    async fn a_stalled_rollout_asks_for_a_deadline_requeue() {
        use crate::deployment::revision::REVISION;
        use crate::util::testing::{annotate, rs};
        let (client, log) = fake_api::client(|rec| fake_api::echo(rec, 0));
        let mut d = new_deployment();
        d.metadata.annotations = Some([(REVISION.to_string(), "1".to_string())].into());
        let mut current = annotate(rs("web-1", 3, at(0)), REVISION, "1");
        current.spec.as_mut().unwrap().template = Some(d.spec.as_ref().unwrap().template.clone());
        current = crate::util::testing::with_status(current, 3, 1);
        crate::deployment::revision::set_replicas_annotations(&mut current, 3, 4);
        // First sync writes the status; feed it back as the cached object.
        let actions = DeploymentActions::new(client, None);
        let written = {
            let plan = plan_deployment(DeploymentInput {
                deployment: &d,
                replica_sets: std::slice::from_ref(&current),
                pods: &[],
                now: at(100),
            });
            actions.perform(&d, &plan, at(100)).await.unwrap()
        };
        let writes_before = log.lock().unwrap().len();
        assert!(writes_before > 0);
        let mut cached = d.clone();
        cached.status = written.status.clone();
        let plan = plan_deployment(DeploymentInput {
            deployment: &cached,
            replica_sets: std::slice::from_ref(&current),
            pods: &[],
            now: at(130),
        });
        actions.perform(&cached, &plan, at(130)).await.unwrap();
        let requeue = plan.requeue;
        // Progressing last updated at 100, deadline 600 s: 570 s left, plus 1.
        assert_eq!(
            requeue,
            Some(crate::deployment::Requeue::After(
                std::time::Duration::from_secs(571)
            ))
        );
        assert_eq!(
            log.lock().unwrap().len(),
            writes_before,
            "nothing changed, nothing written"
        );
    }

    #[tokio::test]
    async fn a_replica_set_written_twice_carries_the_returned_resource_version() {
        use crate::deployment::revision::{REVISION, set_replicas_annotations};
        use crate::util::testing::{annotate, rs, with_status};
        let n = Arc::new(AtomicUsize::new(0));
        let (client, log) =
            fake_api::client(move |rec| fake_api::echo(rec, n.fetch_add(1, Ordering::SeqCst)));
        // A settled Deployment of 3 gets an annotation and is scaled to 5 at once:
        // its ReplicaSet is updated (annotation copied), then scaled.
        let mut d = new_deployment();
        d.metadata.annotations = Some(
            [
                (REVISION.to_string(), "1".to_string()),
                ("team".to_string(), "blue".to_string()),
            ]
            .into(),
        );
        d.spec.as_mut().unwrap().replicas = Some(5);
        let mut current = with_status(annotate(rs("web-1", 3, at(0)), REVISION, "1"), 3, 3);
        current.spec.as_mut().unwrap().template = Some(d.spec.as_ref().unwrap().template.clone());
        current.metadata.resource_version = Some("7".into());
        set_replicas_annotations(&mut current, 3, 4);
        let plan = plan_deployment(DeploymentInput {
            deployment: &d,
            replica_sets: std::slice::from_ref(&current),
            pods: &[],
            now: at(1),
        });
        let kinds: Vec<&str> = plan
            .actions()
            .map(|a| match a {
                DeploymentAction::UpdateReplicaSet(_) => "update",
                DeploymentAction::ScaleReplicaSet { .. } => "scale",
                DeploymentAction::UpdateStatus(_) => "status",
                _ => "other",
            })
            .collect();
        // In between, FoundNewReplicaSet and the revision go out as a status write.
        assert_eq!(kinds, ["update", "status", "scale", "status"]);
        DeploymentActions::new(client, None)
            .perform(&d, &plan, at(1))
            .await
            .unwrap();
        let log = log.lock().unwrap();
        let rs_puts: Vec<_> = log
            .iter()
            .filter(|r| r.path.ends_with("/replicasets/web-1"))
            .collect();
        assert_eq!(rs_puts[0].body["metadata"]["resourceVersion"], json!("7"));
        assert_eq!(
            rs_puts[0].body["metadata"]["annotations"]["team"],
            json!("blue")
        );
        assert_eq!(rs_puts[1].body["metadata"]["resourceVersion"], json!("100"));
        assert_eq!(rs_puts[1].body["spec"]["replicas"], json!(5));
    }

    #[tokio::test]
    async fn a_hash_collision_bumps_collision_count_and_fails_the_sync() {
        let (client, log) = fake_api::client(|rec| match rec.method.as_str() {
            "POST" => fake_api::status(409, "AlreadyExists", "replicasets.apps exists"),
            "GET" => {
                // Someone else's RS under our name, with another template.
                let mut other = crate::util::testing::rs("x", 1, at(0));
                other.spec.as_mut().unwrap().template = Some(template("other"));
                (StatusCode::OK, serde_json::to_value(other).unwrap())
            }
            _ => fake_api::echo(rec, 0),
        });
        let d = new_deployment();
        let err = DeploymentActions::new(client, None)
            .perform(&d, &plan_for(&d), at(0))
            .await
            .unwrap_err();
        assert!(matches!(err, DeploymentSyncError::Api { .. }));
        let log = log.lock().unwrap();
        let put = log.iter().find(|r| r.method == "PUT").unwrap();
        assert_eq!(put.body["status"]["collisionCount"], json!(1));
        assert_eq!(log.len(), 3, "POST, GET, status PUT; nothing after");
    }

    #[tokio::test]
    async fn our_own_existing_replica_set_means_resync() {
        let d = new_deployment();
        let plan = plan_for(&d);
        let DeploymentAction::CreateReplicaSet(planned) = plan.actions().next().unwrap().clone()
        else {
            panic!()
        };
        let body = serde_json::to_value(&planned).unwrap();
        let (client, _log) = fake_api::client(move |rec| match rec.method.as_str() {
            "POST" => fake_api::status(409, "AlreadyExists", "exists"),
            _ => (StatusCode::OK, body.clone()),
        });
        let err = DeploymentActions::new(client, None)
            .perform(&d, &plan, at(0))
            .await
            .unwrap_err();
        assert!(matches!(err, DeploymentSyncError::AlreadyCreated(_)));
    }

    #[tokio::test]
    async fn other_creation_errors_report_replica_set_create_error() {
        let (client, log) = fake_api::client(|rec| match rec.method.as_str() {
            "POST" => fake_api::status(403, "Forbidden", "exceeded quota"),
            _ => fake_api::echo(rec, 0),
        });
        let d = new_deployment();
        DeploymentActions::new(client, None)
            .perform(&d, &plan_for(&d), at(0))
            .await
            .unwrap_err();
        let log = log.lock().unwrap();
        let put = log.iter().find(|r| r.method == "PUT").unwrap();
        let conds = put.body["status"]["conditions"].as_array().unwrap();
        let p = conds.iter().find(|c| c["type"] == "Progressing").unwrap();
        assert_eq!(p["reason"], json!("ReplicaSetCreateError"));
        assert_eq!(p["status"], json!("False"));
    }
}
