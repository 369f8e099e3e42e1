//! The pod worker: drives pods bound to this agent's nodes through their lifecycle with
//! their node's runtime. Both runtimes share the addresses (a pod IP from the node's
//! /24, the node's `hostIP`), the status writes and the kubelet's final delete (grace
//! period 0, UID precondition).
//!
//! - `sim` (see [`crate::sim`] for the conventions): the status is computed from the pod
//!   and the time, written when it differs from the API server's, and the pod is looked
//!   at again when the plan says it next changes (the queue's `add_after`: no task or
//!   timer of its own per pod). The only thing kept per pod is its precise start
//!   instant while its status still changes (the API keeps whole seconds; without it,
//!   e.g. after an agent restart, the start is the pod's `startTime`); on deletion,
//!   containers are terminated at once.
//! - `process` (see [`crate::process`]): containers run as local processes; the worker
//!   writes what the runtime reports and deletes the pod once its processes stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::Action;
use capstan_runtime::errors::{is_conflict, is_not_found};
use capstan_runtime::informer::Lister;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use parking_lot::Mutex;

use crate::crd::NodeRuntime;
use crate::ipam::PodIpAllocator;
use crate::nodes::{NodeEntry, NodeRegistry};
use crate::process::ProcessRuntime;
use crate::sim::{self, Placement};

/// The pod informer's index from node name to the pods bound to it.
pub const NODE_NAME_INDEX: &str = "spec.nodeName";

/// Reconciles one pod at a time for the controller runner.
pub struct PodWorker {
    client: Client,
    pods: Lister<Pod>,
    registry: Arc<NodeRegistry>,
    ips: PodIpAllocator,
    process: Arc<ProcessRuntime>,
    time_scale: f64,
    /// Sim pods' precise start instants (pod UID, start), while their status changes.
    sim_starts: Mutex<HashMap<ObjectKey, (String, Timestamp)>>,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn ip_offset(ip: &str) -> Option<u8> {
    ip.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets()[3])
}

impl PodWorker {
    /// A worker over the pod cache, serving the nodes in `registry`; `process` runs the
    /// pods of `process` nodes; the sim runtime's delays are multiplied by `time_scale`.
    pub fn new(
        client: Client,
        pods: Lister<Pod>,
        registry: Arc<NodeRegistry>,
        process: Arc<ProcessRuntime>,
        time_scale: f64,
    ) -> Self {
        PodWorker {
            client,
            pods,
            registry,
            ips: PodIpAllocator::default(),
            process,
            time_scale,
            sim_starts: Mutex::new(HashMap::new()),
        }
    }

    /// The pod address of `pod` on `node`: the one in its status (re-reserved after a
    /// restart) or a newly allocated one; `None` when the node's range is full.
    fn assign_ip(&self, pod: &Pod, node: &str, entry: &NodeEntry) -> Option<String> {
        let uid = pod.uid().unwrap_or_default();
        if let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()) {
            if let Some(offset) = ip_offset(ip) {
                self.ips.reserve(node, &uid, offset);
            }
            return Some(ip.to_string());
        }
        // Addresses other pods on the node already hold (e.g. before a restart).
        for other in self
            .pods
            .by_index(NODE_NAME_INDEX, node)
            .unwrap_or_default()
        {
            let held = other.status.as_ref().and_then(|s| s.pod_ip.as_deref());
            if let (Some(other_uid), Some(offset)) = (other.uid(), held.and_then(ip_offset))
                && !is_terminal(&other)
            {
                self.ips.reserve(node, &other_uid, offset);
            }
        }
        let offset = self.ips.allocate(node, &uid)?;
        Some(entry.subnet.nth(offset).to_string())
    }

    async fn delete_now(
        &self,
        api: &Api<Pod>,
        key: &ObjectKey,
        uid: &str,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(key.name(), &params).await {
            Ok(_) => Ok(()),
            // Gone, or replaced by a namesake (the uid precondition failed).
            Err(err) if is_not_found(&err) || is_conflict(&err) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// A pod of a `process` node: the runtime syncs its processes; its status is
    /// written and, once its processes stopped on deletion, it is deleted.
    async fn reconcile_process(
        &self,
        key: &ObjectKey,
        pod: &Pod,
        node: &str,
        entry: &NodeEntry,
    ) -> Result<Action, kube::Error> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or("default"));
        let uid = pod.uid().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let pod_ip = if pod.metadata.deletion_timestamp.is_some() || is_terminal(pod) {
            status.pod_ip.clone()
        } else {
            match self.assign_ip(pod, node, entry) {
                Some(ip) => Some(ip),
                None => {
                    tracing::warn!(pod = %key, node = %node, "no pod address left on node");
                    return Ok(Action::requeue_after(Duration::from_secs(10)));
                }
            }
        };
        let at = pod_ip.map(|pod_ip| Placement {
            host_ip: entry.subnet.host_ip().to_string(),
            pod_ip,
            started: status
                .start_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or_else(Timestamp::now),
        });
        let outcome = self.process.sync(pod, at.as_ref()).await;
        if let Some(next) = outcome.status {
            self.patch_status(&api, key, &next).await?;
            self.process.posted(&uid, next);
        }
        if outcome.delete {
            self.delete_now(&api, key, &uid).await?;
            self.process.forget(&uid);
            self.ips.release(&uid);
            return Ok(Action::Done);
        }
        if outcome.finished {
            self.ips.release(&uid);
        }
        Ok(match outcome.requeue {
            Some(delay) => Action::requeue_after(delay.max(Duration::from_millis(10))),
            None => Action::Done,
        })
    }

    /// Brings the pod `key` one step closer to what the kubelet would have made of it.
    pub async fn reconcile(&self, key: ObjectKey) -> Result<Action, kube::Error> {
        let Some(pod) = self.pods.get_key(&key) else {
            // Deleted: whatever of it still runs is stopped.
            self.process.forget_key(&key);
            self.sim_starts.lock().remove(&key);
            return Ok(Action::Done);
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Ok(Action::Done);
        };
        let Some(entry) = self.registry.get(&node) else {
            // Its node is no longer served here.
            self.process.forget_key(&key);
            self.sim_starts.lock().remove(&key);
            return Ok(Action::Done);
        };
        if entry.stopped {
            // Its kubelet is silent: the pod keeps its record and its last status
            // (the node lifecycle controller's `Ready=False` included) until the
            // node's heartbeats resume and its pods are looked at again.
            return Ok(Action::Done);
        }
        if entry.runtime == NodeRuntime::Process {
            self.sim_starts.lock().remove(&key);
            return self.reconcile_process(&key, &pod, &node, &entry).await;
        }
        if !self.process.is_empty() {
            // The node changed runtime: processes of this pod (if any) stop.
            self.process.forget_key(&key);
        }
        self.reconcile_sim(&key, &pod, &node, &entry).await
    }

    /// When the sim pod `key` started: the instant kept since its first status write,
    /// else its `startTime`, else `now` (it starts now).
    fn sim_start(&self, key: &ObjectKey, uid: &str, pod: &Pod, now: Timestamp) -> Timestamp {
        let kept = self.sim_starts.lock().get(key).cloned();
        match kept {
            Some((kept_uid, start)) if kept_uid == uid => start,
            _ => pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0)
                .unwrap_or(now),
        }
    }

    /// A pod of a `sim` node: its status at this moment is written when it differs
    /// from the API server's, and the pod is looked at again when it next changes.
    async fn reconcile_sim(
        &self,
        key: &ObjectKey,
        pod: &Pod,
        node: &str,
        entry: &NodeEntry,
    ) -> Result<Action, kube::Error> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or("default"));
        let uid = pod.uid().unwrap_or_default();
        let now = Timestamp::now();
        let status = pod.status.clone().unwrap_or_default();
        let placement = |pod_ip: String| Placement {
            host_ip: entry.subnet.host_ip().to_string(),
            pod_ip,
            started: self.sim_start(key, &uid, pod, now),
        };
        let forget = || {
            self.sim_starts.lock().remove(key);
            self.ips.release(&uid);
        };

        if pod.metadata.deletion_timestamp.is_some() {
            if !is_terminal(pod)
                && let Some(pod_ip) = status.pod_ip.clone()
            {
                let done = sim::stopped_status(pod, &placement(pod_ip), now, self.time_scale);
                self.patch_status(&api, key, &done).await?;
            }
            self.delete_now(&api, key, &uid).await?;
            forget();
            return Ok(Action::Done);
        }
        if is_terminal(pod) {
            forget();
            return Ok(Action::Done);
        }

        let Some(pod_ip) = self.assign_ip(pod, node, entry) else {
            tracing::warn!(pod = %key, node = %node, "no pod address left on node");
            return Ok(Action::requeue_after(Duration::from_secs(10)));
        };
        let at = placement(pod_ip);
        let plan = sim::plan(pod, &at, now, self.time_scale);
        if sim::needs_update(&status, &plan.status) {
            self.patch_status(&api, key, &plan.status).await?;
        }
        if plan.finished {
            forget();
            return Ok(Action::Done);
        }
        // The precise start is kept while the status changes, and until the API
        // server's copy (whole seconds) is in the cache.
        if plan.next_change.is_some() || status.start_time.is_none() {
            self.sim_starts
                .lock()
                .insert(key.clone(), (uid.clone(), at.started));
        } else {
            self.sim_starts.lock().remove(key);
        }
        Ok(match plan.next_change {
            None => Action::Done,
            Some(when) => {
                let wait = Duration::try_from(when.duration_since(Timestamp::now()))
                    .unwrap_or(Duration::ZERO);
                Action::requeue_after(wait.max(Duration::from_millis(10)))
            }
        })
    }

    async fn patch_status(
        &self,
        api: &Api<Pod>,
        key: &ObjectKey,
        status: &k8s_openapi::api::core::v1::PodStatus,
    ) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"status": status});
        match api
            .patch_status(key.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
