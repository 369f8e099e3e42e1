//! The harness of capstan's end-to-end suite (`e2e/tests/`): one suite, two targets.
//!
//! - `CAPSTAN_E2E_KUBECONFIG=<path>` set (and not empty): the cluster of that kubeconfig,
//!   with capstan installed (a kind cluster from `e2e/kind/up.sh`). Plain `KUBECONFIG` is
//!   never used, so a developer's unrelated cluster is not touched by accident.
//! - unset: the embedded control plane in this process — `TestServer` (the embedded API
//!   server) with what `capstan up` runs around it ([`capstan::up::ControlPlane`]).
//!
//! Each test gets an [`E2e`]: a namespace of its own (`e2e-<test>-<random>`), NodePools
//! of its own (see [`E2e::create_pool`]), the real kubectl (`/usr/bin/kubectl`) for what a
//! user types and a `kube::Client` for the assertions. [`E2e::finish`] deletes what the
//! test made; if the test panics first, dropping the [`E2e`] deletes it on a cluster
//! without waiting. This is test code: it panics with a message instead of returning
//! errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_node_agent::node::{POOL_LABEL, VIRTUAL_TAINT_KEY, is_ready};
use capstan_node_agent::{NodePool, NodePoolSpec};
use capstan_runtime::errors::is_not_found;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use tokio::time::Instant;

/// The environment variable naming the kubeconfig of the cluster to test.
pub const KUBECONFIG_ENV: &str = "CAPSTAN_E2E_KUBECONFIG";
/// The real kubectl (a dispatcher that picks the version matching the server's).
pub const KUBECTL: &str = "/usr/bin/kubectl";
/// How long [`eventually`] polls before giving up: generous, for CI's 2 loaded cores and
/// for a kind cluster.
pub const DEADLINE: Duration = Duration::from_secs(90);
/// The scheduler name capstan's scheduler serves on a cluster (and, embedded, besides
/// `default-scheduler`).
pub const SCHEDULER_NAME: &str = "capstan-scheduler";
/// The label on everything the suite creates, to find leftovers:
/// `kubectl delete ns,nodepool -l capstan.dev/e2e`.
pub const E2E_LABEL: &str = "capstan.dev/e2e";

/// Polls `check` every 100 ms until it answers `Ok`, panicking with its last error after
/// [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not after {DEADLINE:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What the suite runs against.
enum Target {
    /// The embedded API server and `capstan up`'s control plane, in this process.
    Embedded {
        // Boxed: the server is far larger than the other variant.
        server: Box<TestServer>,
        plane: Option<capstan::up::ControlPlane>,
    },
    /// A cluster with capstan installed.
    Cluster { kubeconfig: PathBuf },
}

/// One test's view of the target: its namespace, its NodePools, kubectl and a client.
pub struct E2e {
    target: Target,
    /// A client of the target, for assertions.
    pub client: Client,
    /// The test's namespace (created by [`E2e::start`]).
    pub namespace: String,
    suffix: String,
    pools: Vec<String>,
    kubectl_cache: tempfile::TempDir,
    finished: bool,
}

impl E2e {
    /// Connects to the target (see the crate docs), boots the embedded control plane if
    /// there is no cluster, and creates the namespace `e2e-<test>-<random>`.
    pub async fn start(test: &str) -> E2e {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let (target, client) = match std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
            Some(path) => {
                let kubeconfig = PathBuf::from(path);
                let kc = Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| {
                    panic!(
                        "{KUBECONFIG_ENV}={}: {e} (a relative path is taken from {}: give an \
                         absolute one)",
                        kubeconfig.display(),
                        std::env::current_dir().unwrap_or_default().display()
                    )
                });
                let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={}: {e}", kubeconfig.display()));
                let client = Client::try_from(config).expect("a client of the cluster");
                (Target::Cluster { kubeconfig }, client)
            }
            None => {
                let server = TestServer::start().await.expect("the embedded API server");
                // As `capstan up`: the node agent serves the kubelet API and the API
                // server trusts it (`kubectl logs`, `exec`, `port-forward`).
                let mut config = capstan::up::ControlPlaneConfig::default();
                let kubelet = config
                    .serve_kubelet_api()
                    .expect("the node agent's kubelet API");
                server
                    .server()
                    .set_kubelet_client(kubelet)
                    .expect("the API server's kubelet client");
                let plane = capstan::up::ControlPlane::start_with(server.config().await, config)
                    .await
                    .expect("capstan up's control plane");
                let client = server.client().await;
                let plane = Some(plane);
                let server = Box::new(server);
                (Target::Embedded { server, plane }, client)
            }
        };
        let suffix = format!("{:08x}", rand::random::<u32>());
        let namespace = format!("e2e-{test}-{suffix}");
        let ns: Namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                labels: Some(BTreeMap::from([(E2E_LABEL.into(), "true".into())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {namespace}: {e}"));
        E2e {
            target,
            client,
            namespace,
            suffix,
            pools: Vec::new(),
            kubectl_cache: tempfile::tempdir().expect("a kubectl cache directory"),
            finished: false,
        }
    }

    /// Whether the target is a cluster (`CAPSTAN_E2E_KUBECONFIG`) rather than embedded.
    pub fn on_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    fn kubeconfig(&self) -> &Path {
        match &self.target {
            Target::Embedded { server, .. } => server.kubeconfig_path(),
            Target::Cluster { kubeconfig } => kubeconfig,
        }
    }

    /// A name unique to this test run: `<base>-<random>`, for cluster-scoped objects.
    pub fn unique(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix)
    }

    /// `Api<K>` in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs the real kubectl in the test's namespace (`stdin` fed to it, if any) for at
    /// most 150 s; its stdout, or the exit status with stdout and stderr as the error.
    pub async fn try_kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(KUBECTL);
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.kubectl_cache.path())
            .args(["--namespace", &self.namespace])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("running {KUBECTL}: {e}"))?;
        let mut input = child.stdin.take().expect("kubectl's stdin is piped");
        if let Some(text) = stdin {
            input
                .write_all(text.as_bytes())
                .await
                .map_err(|e| format!("writing kubectl's stdin: {e}"))?;
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(150), child.wait_with_output())
            .await
            .map_err(|_| format!("kubectl {args:?} did not finish in 150 s"))?
            .map_err(|e| format!("kubectl {args:?}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "kubectl {args:?}: {}: {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// [`E2e::try_kubectl`] without stdin, panicking unless kubectl succeeds.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        self.try_kubectl(args, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kubectl apply -f -` of `manifest` (JSON is YAML), panicking unless it succeeds.
    pub async fn apply(&self, manifest: &Value) -> String {
        self.try_kubectl(&["apply", "-f", "-"], Some(&manifest.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kubectl rollout status deployment/<name>`, which must report success.
    pub async fn rollout_status(&self, name: &str) {
        let out = self
            .kubectl(&[
                "rollout",
                "status",
                &format!("deployment/{name}"),
                "--timeout=120s",
            ])
            .await;
        assert!(
            out.contains(&format!("deployment \"{name}\" successfully rolled out")),
            "kubectl rollout status deployment/{name}: {out}"
        );
    }

    /// Creates a sim NodePool named [`E2e::unique`]`(base)` of `nodes` nodes (deleted by
    /// [`E2e::finish`]) and waits until they are Ready; returns its name.
    pub async fn create_pool(&mut self, base: &str, nodes: i32) -> String {
        self.create_pool_of(base, NodePoolSpec::sim(nodes)).await
    }

    /// [`E2e::create_pool`] with any spec (e.g. `NodePoolSpec::process(1)`, whose pods
    /// run as processes of the node agent).
    pub async fn create_pool_of(&mut self, base: &str, spec: NodePoolSpec) -> String {
        let name = self.unique(base);
        let nodes = spec.nodes;
        let mut pool = NodePool::new(&name, spec);
        pool.metadata.labels = Some(BTreeMap::from([(E2E_LABEL.into(), "true".into())]));
        Api::<NodePool>::all(self.client.clone())
            .create(&PostParams::default(), &pool)
            .await
            .unwrap_or_else(|e| panic!("creating NodePool {name}: {e}"));
        self.pools.push(name.clone());
        self.wait_pool_nodes(&name, nodes).await;
        name
    }

    /// Registers a NodePool the test created itself, so that it is cleaned up.
    pub fn track_pool(&mut self, name: &str) {
        self.pools.push(name.to_string());
    }

    /// The Nodes of the pool `name`, by node name.
    pub async fn pool_nodes(&self, name: &str) -> Result<BTreeMap<String, Node>, String> {
        Ok(Api::<Node>::all(self.client.clone())
            .list(&ListParams::default().labels(&format!("{POOL_LABEL}={name}")))
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .map(|n| (n.metadata.name.clone().unwrap_or_default(), n))
            .collect())
    }

    /// Waits until the pool `name` has exactly `nodes` Nodes, every one Ready.
    pub async fn wait_pool_nodes(&self, name: &str, nodes: i32) {
        let want = usize::try_from(nodes).unwrap_or(0);
        eventually(&format!("NodePool {name}: {nodes} Ready nodes"), || async {
            let found = self.pool_nodes(name).await?;
            let ready = found.values().filter(|n| is_ready(n)).count();
            if found.len() == want && ready == want {
                Ok(())
            } else {
                Err(format!(
                    "{} nodes, {ready} Ready: {:?}",
                    found.len(),
                    found.keys()
                ))
            }
        })
        .await;
    }

    /// Deletes the test's NodePools (waiting until their nodes are gone) and its
    /// namespace (not waiting: a cluster's namespace controller finishes it), then stops
    /// the embedded control plane, checking it stops cleanly.
    pub async fn finish(mut self) {
        let pools: Api<NodePool> = Api::all(self.client.clone());
        for name in std::mem::take(&mut self.pools) {
            match pools.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => panic!("deleting NodePool {name}: {e}"),
            }
            eventually(&format!("NodePool {name}'s nodes gone"), || async {
                let left = self.pool_nodes(&name).await?;
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{:?}", left.keys()))
                }
            })
            .await;
        }
        match Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => panic!("deleting namespace {}: {e}", self.namespace),
        }
        self.finished = true;
        if let Target::Embedded { plane, .. } = &mut self.target
            && let Some(plane) = plane.take()
        {
            tokio::time::timeout(Duration::from_secs(60), plane.stop())
                .await
                .expect("the control plane stops in time")
                .expect("the control plane stops cleanly");
        }
    }
}

impl Drop for E2e {
    /// After a panic, on a cluster: delete the test's namespace and pools without
    /// waiting, so that a failed run leaves nothing behind on a shared cluster.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Target::Cluster { kubeconfig } = &self.target {
            let mut objects = vec![format!("namespace/{}", self.namespace)];
            objects.extend(self.pools.iter().map(|p| format!("nodepool/{p}")));
            let _ = std::process::Command::new(KUBECTL)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["delete", "--wait=false", "--ignore-not-found"])
                .args(&objects)
                .status();
        }
    }
}

/// The scheduling part of a pod spec the suite's pods share: capstan's scheduler, the
/// pool `pool`'s nodes only, and the toleration of the virtual nodes' taint (a cluster's
/// node agent taints them `capstan.dev/virtual=true:NoSchedule`; embedded, they are not
/// tainted and the toleration is moot).
pub fn on_pool(pool: &str) -> Value {
    json!({
        "schedulerName": SCHEDULER_NAME,
        "nodeSelector": {POOL_LABEL: pool},
        "tolerations": [{"key": VIRTUAL_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    })
}

/// `base` with the keys of `extra` set (both JSON objects; `extra` wins).
pub fn merged(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}
