//! The sim pod worker: drives pods bound to this agent's nodes through their lifecycle
//! (see [`crate::sim`] for the conventions): Pending → Running with addresses and
//! container statuses, Ready after the readiness delay, terminal phases for completing
//! pods, and on deletion containers terminated then the kubelet's final delete
//! (grace period 0, UID precondition).

use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::Action;
use capstan_runtime::informer::Lister;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::ipam::PodIpAllocator;
use crate::nodes::NodeRegistry;
use crate::sim::{Outcome, Placement, outcome, pod_status, ready_delay, run_for};

/// The pod informer's index from node name to the pods bound to it.
pub const NODE_NAME_INDEX: &str = "spec.nodeName";

/// Reconciles one pod at a time for the controller runner.
pub struct PodWorker {
    client: Client,
    pods: Lister<Pod>,
    registry: Arc<NodeRegistry>,
    ips: PodIpAllocator,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn ip_offset(ip: &str) -> Option<u8> {
    ip.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets()[3])
}

impl PodWorker {
    /// A worker over the pod cache, serving the nodes in `registry`.
    pub fn new(client: Client, pods: Lister<Pod>, registry: Arc<NodeRegistry>) -> Self {
        PodWorker {
            client,
            pods,
            registry,
            ips: PodIpAllocator::default(),
        }
    }

    /// Brings the pod `key` one step closer to what the kubelet would have made of it.
    pub async fn reconcile(&self, key: ObjectKey) -> Result<Action, kube::Error> {
        let Some(pod) = self.pods.get_key(&key) else {
            return Ok(Action::Done);
        };
        let uid = pod.uid().unwrap_or_default();
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return Ok(Action::Done);
        };
        let Some(entry) = self.registry.get(&node) else {
            return Ok(Action::Done);
        };
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), key.namespace().unwrap_or("default"));
        let now = Timestamp::now();
        let status = pod.status.clone().unwrap_or_default();
        let host_ip = entry.subnet.host_ip().to_string();
        let started = status.start_time.as_ref().map(|t| t.0);
        let placement = |pod_ip: String| Placement {
            host_ip: host_ip.clone(),
            pod_ip,
            started: started.unwrap_or(now),
        };

        if pod.metadata.deletion_timestamp.is_some() {
            if !is_terminal(&pod)
                && let Some(pod_ip) = status.pod_ip.clone()
            {
                let done = pod_status(&pod, &placement(pod_ip), false, Some(0), now);
                self.patch_status(&api, &key, &done).await?;
            }
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(key.name(), &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(err) => return Err(err),
            }
            self.ips.release(&uid);
            return Ok(Action::Done);
        }
        if is_terminal(&pod) {
            self.ips.release(&uid);
            return Ok(Action::Done);
        }

        let pod_ip = match status.pod_ip.as_deref() {
            Some(ip) => {
                if let Some(offset) = ip_offset(ip) {
                    self.ips.reserve(&node, &uid, offset);
                }
                ip.to_string()
            }
            None => {
                // Addresses other pods on the node already hold (e.g. before a restart).
                for other in self
                    .pods
                    .by_index(NODE_NAME_INDEX, &node)
                    .unwrap_or_default()
                {
                    let held = other.status.as_ref().and_then(|s| s.pod_ip.as_deref());
                    if let (Some(other_uid), Some(offset)) = (other.uid(), held.and_then(ip_offset))
                        && !is_terminal(&other)
                    {
                        self.ips.reserve(&node, &other_uid, offset);
                    }
                }
                let Some(offset) = self.ips.allocate(&node, &uid) else {
                    tracing::warn!(pod = %key, node = %node, "no pod address left on node");
                    return Ok(Action::requeue_after(Duration::from_secs(10)));
                };
                entry.subnet.nth(offset).to_string()
            }
        };
        let at = placement(pod_ip);
        let after = |d: Duration| {
            at.started + k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or_default()
        };
        let exit_at = match outcome(&pod) {
            Outcome::Exit(code) => {
                let exit_at = after(run_for(&pod));
                if exit_at <= now {
                    let done = pod_status(&pod, &at, false, Some(code), now);
                    self.patch_status(&api, &key, &done).await?;
                    self.ips.release(&uid);
                    return Ok(Action::Done);
                }
                Some(exit_at)
            }
            Outcome::Run => None,
        };
        let ready_at = after(ready_delay(&pod));
        let ready = ready_at <= now;
        let running = status.phase.as_deref() == Some("Running");
        if !running || ready != is_ready(&pod) {
            let next = pod_status(&pod, &at, ready, None, now);
            self.patch_status(&api, &key, &next).await?;
        }
        let next_change = [(!ready).then_some(ready_at), exit_at]
            .into_iter()
            .flatten()
            .min();
        Ok(match next_change {
            None => Action::Done,
            Some(when) => {
                let wait = Duration::try_from(when.duration_since(now))
                    .unwrap_or(Duration::from_millis(100));
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
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(err) => Err(err),
        }
    }
}
