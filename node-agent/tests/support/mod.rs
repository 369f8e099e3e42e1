//! The node agent's integration-test harness, shared by `process.rs` and `sim.rs`: a
//! `TestServer`, the agent (time-scaled, with its own state directory) and one ready
//! pool, plus polling with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use capstan_apiserver::{KubeletClientConfig, TestServer};
use capstan_node_agent::node::is_ready;
use capstan_node_agent::{
    KubeletServerConfig, NodeAgentConfig, NodePool, NodePoolSpec, ProcessConfig, run_node_agent,
};
use capstan_runtime::errors::is_not_found;
use k8s_openapi::api::core::v1::{Event, Node, Pod, PodStatus};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::core::CustomResourceExt;
use kube::{Api, Client, ResourceExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The agent's time scale: a 10 s back-off takes 0.5 s, a 1 s probe period 50 ms,
/// `crash-every: 10s` 0.5 s.
pub const SCALE: f64 = 0.05;

/// kubectl 1.33 (WebSocket streaming era).
pub const KUBECTL_1_33: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
/// kubectl 1.28 (SPDY streaming era).
pub const KUBECTL_1_28: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.28";

/// Every kubectl the machine has: 1.27–1.29 stream over SPDY/3.1, 1.30+ exec over
/// WebSocket (`v5.channel.k8s.io`), 1.31+ port-forward over SPDY in a WebSocket.
pub const ALL_KUBECTLS: [&str; 7] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    KUBECTL_1_28,
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.29",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.30",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.31",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    KUBECTL_1_33,
];

/// Polls `check` every 50 ms until it answers `Some`, panicking after 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running agent and its server.
pub struct Agent {
    pub server: TestServer,
    pub client: Client,
    pub pods: Api<Pod>,
    pub state: tempfile::TempDir,
    /// How the API server reaches the agent's kubelet API.
    pub kubelet_client: KubeletClientConfig,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// A TestServer, the agent (time-scaled, its own state directory) and a ready
    /// one-node pool `pool` of `spec`, whose node is `<pool>-0`.
    pub async fn start(pool: &str, spec: NodePoolSpec) -> Agent {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &NodePool::crd())
            .await
            .expect("CRD created");
        let pools: Api<NodePool> = Api::all(client.clone());
        eventually("the NodePool kind to be served", || {
            let pools = pools.clone();
            async move { pools.list(&ListParams::default()).await.ok().map(|_| ()) }
        })
        .await;
        let state = tempfile::tempdir().expect("state dir");
        // The kubelet API, trusted by the API server as `capstan up` does.
        let token = capstan_node_agent::server::random_token();
        let kubelet = KubeletServerConfig::self_signed(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
            token.clone(),
        )
        .expect("serving certificate");
        let kubelet_client = KubeletClientConfig {
            ca_pem: kubelet.tls.ca_pem.clone(),
            bearer_token: Some(token),
            ..KubeletClientConfig::default()
        };
        server
            .server()
            .set_kubelet_client(kubelet_client.clone())
            .expect("kubelet client");
        let config = NodeAgentConfig {
            kubelet: Some(kubelet),
            time_scale: SCALE,
            process: ProcessConfig {
                state_dir: state.path().to_path_buf(),
                ..ProcessConfig::default()
            },
            ..NodeAgentConfig::default()
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (client, stop) = (client.clone(), stop.clone());
            async move {
                run_node_agent(client, config, stop.cancelled_owned())
                    .await
                    .expect("agent runs");
            }
        });
        pools
            .create(&PostParams::default(), &NodePool::new(pool, spec))
            .await
            .expect("pool created");
        let nodes: Api<Node> = Api::all(client.clone());
        let node = format!("{pool}-0");
        eventually(&format!("node {node} ready"), || {
            let (nodes, node) = (nodes.clone(), node.clone());
            async move { nodes.get(&node).await.ok().filter(is_ready).map(|_| ()) }
        })
        .await;
        Agent {
            kubelet_client,
            pods: Api::namespaced(client.clone(), "default"),
            client,
            state,
            stop,
            task,
            server,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("agent task joins");
    }

    pub async fn create(&self, pod: Pod) -> Pod {
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .expect("pod created")
    }

    pub async fn status_where(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&PodStatus) -> bool,
    ) -> PodStatus {
        eventually(what, || {
            let pods = self.pods.clone();
            let pred = &pred;
            async move {
                let s = pods.get(name).await.ok()?.status?;
                pred(&s).then_some(s)
            }
        })
        .await
    }

    pub async fn gone(&self, name: &str) {
        eventually(&format!("pod {name} deleted"), || {
            let pods = self.pods.clone();
            async move {
                match pods.get(name).await {
                    Err(e) if is_not_found(&e) => Some(()),
                    _ => None,
                }
            }
        })
        .await
    }

    /// Messages of the events about pod `name` with `reason`.
    pub async fn events(&self, name: &str, reason: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        events
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter(|e| {
                        e.involved_object.name.as_deref() == Some(name)
                            && e.reason.as_deref() == Some(reason)
                    })
                    .filter_map(|e| e.message)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs the kubectl binary `kubectl` (e.g. [`KUBECTL_1_33`]) against the server (120 s at
    /// most); whether it succeeded, and its stdout followed by its stderr.
    pub async fn kubectl(&self, kubectl: &str, args: &[&str]) -> (bool, String) {
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::process::Command::new(kubectl)
                .arg("--kubeconfig")
                .arg(self.server.kubeconfig_path())
                .arg("--cache-dir")
                .arg(self.server.dir().join("kubectl-cache"))
                .args(args)
                .output(),
        )
        .await
        .expect("kubectl finishes")
        .expect("kubectl runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// [`Agent::kubectl`]'s stdout alone, panicking unless kubectl succeeds.
    pub async fn kubectl_out(&self, kubectl: &str, args: &[&str]) -> String {
        let out = tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.server.dir().join("kubectl-cache"))
            .args(args)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), out)
            .await
            .expect("kubectl finishes")
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The log directory of container `container` of `pod`.
    pub fn log_dir(&self, pod: &Pod, container: &str) -> PathBuf {
        self.state
            .path()
            .join(pod.uid().expect("uid"))
            .join("logs")
            .join(container)
    }

    /// `kubectl get pod <name> --no-headers` as columns (NAME READY STATUS RESTARTS …).
    pub async fn kubectl_get(&self, name: &str) -> Vec<String> {
        let out = tokio::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.server.dir().join("kubectl-cache"))
            .args(["get", "pod", name, "--no-headers"])
            .output()
            .await
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl get pod: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}
