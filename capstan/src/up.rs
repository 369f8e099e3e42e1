//! The control plane of `capstan up` around any API server: the workload controllers
//! and the scheduler (profiles `capstan-scheduler` and `default-scheduler`), each
//! holding its upstream Lease (`kube-controller-manager`, `kube-scheduler`) while it
//! runs, and the node agent serving NodePools (CRD installed, a `default` pool of 3 sim
//! nodes), each a task of this process with a client of its own.
//!
//! [`ControlPlane`] is the one bootstrap of an embedded control plane: `capstan up`
//! starts it around its API server, the controllers' scenario tests and the e2e suite
//! around `TestServer`, each with a [`ControlPlaneConfig`] (which controllers, which
//! pool, where the controllers run).

use std::time::Duration;

use capstan_controllers::ControllersConfig;
use capstan_controllers::manager::{ManagerError, PV_BINDER_CONTROLLER, run_controllers};
use capstan_controllers::volume::binder::local_path::LOCAL_PATH_PROVISIONER;
use capstan_node_agent::{
    KubeletServerConfig, NodeAgentConfig, NodeAgentError, NodePool, NodePoolSpec, run_node_agent,
};
use capstan_runtime::errors::is_already_exists;
use capstan_runtime::leader::{
    LeaderElectionConfig, LeaderElectionError, LeaderElector, unique_identity,
};
use capstan_scheduler::config::{ConfigError, KubeSchedulerConfiguration};
use capstan_scheduler::shell::{SchedulerError, run_scheduler};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams};
use kube::core::CustomResourceExt;
use kube::{Api, Client};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The profiles of the scheduler inside `capstan up`: capstan's own name and
/// `default-scheduler`, since no other scheduler runs there.
pub const SCHEDULER_CONFIG: &str = "\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: capstan-scheduler
- schedulerName: default-scheduler
";

/// The NodePool `capstan up` creates.
pub const DEFAULT_POOL: &str = "default";
/// How many sim nodes [`DEFAULT_POOL`] starts with.
pub const DEFAULT_POOL_NODES: i32 = 3;

/// The default StorageClass `capstan up` creates, as kind's: the binder's built-in
/// local-path provisioner, volumes made once a pod using the claim is scheduled.
pub const DEFAULT_STORAGE_CLASS: &str = "standard";
/// The annotation that makes a StorageClass the default one.
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// The controllers `capstan up` runs beyond upstream's defaults: those a real cluster
/// has of its own, off by default in `capstan controller-manager`.
pub const EMBEDDED_CONTROLLERS: &[&str] = &[PV_BINDER_CONTROLLER];

/// How long [`ensure_nodepool_crd`] waits for the NodePool kind to be served.
const CRD_SERVED_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the control plane could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// A component's client could not be built from the kubeconfig.
    #[error("building a client: {0}")]
    Client(#[source] kube::Error),
    /// The NodePool CRD could not be created.
    #[error("creating the NodePool CRD: {0}")]
    Crd(#[source] kube::Error),
    /// The NodePool kind was not served in time after its CRD was created.
    #[error("the NodePool kind is not served after {CRD_SERVED_TIMEOUT:?}: {0}")]
    CrdNotServed(#[source] kube::Error),
    /// A NodePool could not be created.
    #[error("creating the NodePool {name:?}: {source}")]
    Pool {
        /// The pool's name.
        name: String,
        /// What the API server answered.
        source: kube::Error,
    },
    /// The default StorageClass could not be created.
    #[error("creating the StorageClass {DEFAULT_STORAGE_CLASS:?}: {0}")]
    StorageClass(#[source] kube::Error),
    /// [`SCHEDULER_CONFIG`] did not load.
    #[error("the embedded scheduler configuration: {0}")]
    SchedulerConfig(#[from] ConfigError),
    /// The controllers stopped with an error.
    #[error("controllers: {0}")]
    Controllers(#[from] ManagerError),
    /// The scheduler stopped with an error.
    #[error("scheduler: {0}")]
    Scheduler(#[from] SchedulerError),
    /// The node agent stopped with an error.
    #[error("node agent: {0}")]
    NodeAgent(#[from] NodeAgentError),
    /// The controllers' own runtime could not be built.
    #[error("building the controllers' runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// [`ControlPlane::kill_controllers`] was asked of controllers on the shared
    /// runtime, whose tasks cannot all be dropped at once.
    #[error("killing the controllers needs ControllersRuntime::Dedicated")]
    SharedControllersRuntime,
    /// [`ControlPlane::start_controllers`] was asked while they run.
    #[error("the controllers are already running")]
    ControllersRunning,
    /// A component's leader election could not start, or its Lease was lost.
    #[error("{component}'s leader election: {source}")]
    Election {
        /// Which component.
        component: &'static str,
        /// What went wrong.
        source: LeaderElectionError,
    },
    /// The embedded node agent's kubelet API material could not be generated.
    #[error("generating the node agent's serving certificate: {0}")]
    KubeletTls(#[from] capstan_node_agent::server::tls::TlsError),
    /// A component's task panicked.
    #[error("the {component} task failed: {source}")]
    Task {
        /// Which component.
        component: &'static str,
        /// How the task ended.
        source: tokio::task::JoinError,
    },
}

/// [`SCHEDULER_CONFIG`], loaded.
pub fn scheduler_config() -> Result<KubeSchedulerConfiguration, UpError> {
    Ok(KubeSchedulerConfiguration::from_yaml(SCHEDULER_CONFIG)?)
}

/// Creates the NodePool CRD unless it exists, and waits until the kind is served.
pub async fn ensure_nodepool_crd(client: &Client) -> Result<(), UpError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &NodePool::crd()).await {
        Ok(_) => {}
        Err(err) if is_already_exists(&err) => {}
        Err(err) => return Err(UpError::Crd(err)),
    }
    let pools: Api<NodePool> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + CRD_SERVED_TIMEOUT;
    loop {
        match pools.list(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                return Err(UpError::CrdNotServed(err));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates the sim NodePool `name` of `nodes` nodes (4 cpu, 16Gi, 110 pods) unless it
/// exists.
pub async fn ensure_sim_pool(client: &Client, name: &str, nodes: i32) -> Result<(), UpError> {
    let pools: Api<NodePool> = Api::all(client.clone());
    match pools
        .create(
            &PostParams::default(),
            &NodePool::new(name, NodePoolSpec::sim(nodes)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if is_already_exists(&err) => Ok(()),
        Err(source) => Err(UpError::Pool {
            name: name.to_string(),
            source,
        }),
    }
}

/// The default StorageClass [`DEFAULT_STORAGE_CLASS`] (kind's `standard`).
pub fn default_storage_class() -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(DEFAULT_STORAGE_CLASS.to_string()),
            annotations: Some([(IS_DEFAULT_CLASS.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
        provisioner: LOCAL_PATH_PROVISIONER.to_string(),
        reclaim_policy: Some("Delete".to_string()),
        volume_binding_mode: Some("WaitForFirstConsumer".to_string()),
        ..StorageClass::default()
    }
}

/// Creates [`default_storage_class`] unless a class of its name exists (one a user
/// changed is left as it is).
pub async fn ensure_default_storage_class(client: &Client) -> Result<(), UpError> {
    let classes: Api<StorageClass> = Api::all(client.clone());
    match classes
        .create(&PostParams::default(), &default_storage_class())
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if is_already_exists(&err) => Ok(()),
        Err(err) => Err(UpError::StorageClass(err)),
    }
}

/// Where the controllers' tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllersRuntime {
    /// On the runtime that starts the control plane, beside the other components
    /// (`capstan up`).
    Shared,
    /// On a tokio runtime of their own with `worker_threads`, so that
    /// [`ControlPlane::kill_controllers`] can drop every task of theirs at once,
    /// as SIGKILL would (tests of restart safety).
    Dedicated {
        /// Worker threads of that runtime.
        worker_threads: usize,
    },
}

/// A NodePool of sim nodes the control plane creates at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPool {
    /// The pool's name (its nodes are `<name>-<n>`).
    pub name: String,
    /// How many nodes it has.
    pub nodes: i32,
}

/// What the embedded control plane runs. Settings a later component or controller
/// needs from whoever embeds the control plane (a wall clock for the controllers,
/// `--node-monitor-grace-period`, …) are fields of this struct or of
/// [`ControllersConfig`], so `capstan up`, the controllers' tests and the e2e suite
/// all pass them the same way.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Which controllers run and their concurrent syncs (`--controllers`,
    /// `--concurrent-*-syncs`).
    pub controllers: ControllersConfig,
    /// Where the controllers run.
    pub controllers_runtime: ControllersRuntime,
    /// The NodePool of sim nodes to create, if any (`capstan up`: [`DEFAULT_POOL`] of
    /// [`DEFAULT_POOL_NODES`]).
    pub pool: Option<SimPool>,
    /// The node agent's settings.
    pub node_agent: NodeAgentConfig,
}

impl Default for ControlPlaneConfig {
    /// `capstan up`'s: every controller on by default on the shared runtime, the
    /// default pool of 3 sim nodes, the node agent's defaults (no virtual taint).
    fn default() -> Self {
        Self {
            controllers: ControllersConfig::default(),
            controllers_runtime: ControllersRuntime::Shared,
            pool: Some(SimPool {
                name: DEFAULT_POOL.to_string(),
                nodes: DEFAULT_POOL_NODES,
            }),
            node_agent: NodeAgentConfig::default(),
        }
    }
}

impl ControlPlaneConfig {
    /// Makes the node agent serve the kubelet API on a free port of `127.0.0.1`, with a
    /// fresh self-signed certificate and a random bearer token, and returns how the API
    /// server reaches it (that CA, that token): `capstan up` passes it to the API server
    /// it starts in the same process, so `kubectl logs` works there.
    pub fn serve_kubelet_api(&mut self) -> Result<capstan_apiserver::KubeletClientConfig, UpError> {
        let token = capstan_node_agent::server::random_token();
        let server = KubeletServerConfig::self_signed(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
            token.clone(),
        )?;
        let client = capstan_apiserver::KubeletClientConfig {
            ca_pem: server.tls.ca_pem.clone(),
            bearer_token: Some(token),
            ..capstan_apiserver::KubeletClientConfig::default()
        };
        self.node_agent.kubelet = Some(server);
        Ok(client)
    }
}

/// The running controllers: their task, and their runtime when they have their own.
struct RunningControllers {
    stop: CancellationToken,
    task: JoinHandle<Result<(), UpError>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RunningControllers {
    /// Starts the controllers of `config` against the API server of `client_config`,
    /// stopping when `stop` is cancelled.
    fn start(
        client_config: &kube::Config,
        config: &ControlPlaneConfig,
        stop: CancellationToken,
    ) -> Result<Self, UpError> {
        let client_config = client_config.clone();
        let controllers = config.controllers.clone();
        // The client is built where the controllers run: its request buffer is a task
        // of that runtime.
        let run = {
            let stop = stop.clone();
            async move {
                let client = Client::try_from(client_config).map_err(UpError::Client)?;
                let lease_client = client.clone();
                let controllers = &controllers;
                leading(lease_client, CONTROLLER_MANAGER_LEASE, stop, |leading| {
                    logged(
                        "controllers",
                        run_controllers(client, controllers, leading.cancelled_owned()),
                    )
                })
                .await
            }
        };
        let (task, runtime) = match config.controllers_runtime {
            ControllersRuntime::Shared => (tokio::spawn(run), None),
            ControllersRuntime::Dedicated { worker_threads } => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads)
                    .thread_name("controllers")
                    .enable_all()
                    .build()
                    .map_err(UpError::Runtime)?;
                (runtime.spawn(run), Some(runtime))
            }
        };
        Ok(Self {
            stop,
            task,
            runtime,
        })
    }

    /// Stops them gracefully and waits for them.
    async fn stop(mut self) -> Result<(), UpError> {
        self.stop.cancel();
        let result = joined("controllers", (&mut self.task).await);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        result
    }
}

impl Drop for RunningControllers {
    fn drop(&mut self) {
        // A runtime may not be dropped where blocking is not allowed (inside another
        // runtime): let its threads end in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The controllers, the scheduler and the node agent around an API server, running
/// as tasks of this process until [`ControlPlane::stop`]: the one bootstrap of
/// `capstan up`, of the controllers' scenario tests and of the e2e suite.
pub struct ControlPlane {
    /// What restarting the controllers needs (boxed: a handle stays small).
    started: Box<Started>,
    stop: CancellationToken,
    controllers: Option<Box<RunningControllers>>,
    scheduler: JoinHandle<Result<(), UpError>>,
    agent: JoinHandle<Result<(), NodeAgentError>>,
}

/// What a [`ControlPlane`] was started with.
struct Started {
    client_config: kube::Config,
    config: ControlPlaneConfig,
}

impl ControlPlane {
    /// [`ControlPlane::start_with`] `capstan up`'s [`ControlPlaneConfig::default`].
    pub async fn start(config: kube::Config) -> Result<ControlPlane, UpError> {
        Self::start_with(config, ControlPlaneConfig::default()).await
    }

    /// Installs the NodePool CRD, the configured pool of sim nodes and the default
    /// StorageClass, then starts the controllers (no client rate limit; `*` also
    /// enabling [`EMBEDDED_CONTROLLERS`]) and the scheduler ([`SCHEDULER_CONFIG`]), each
    /// leading its Lease, and the node agent, each with its own client of
    /// `client_config`'s API server. A component that fails logs its error at once
    /// and reports it from [`ControlPlane::stop`].
    pub async fn start_with(
        client_config: kube::Config,
        mut config: ControlPlaneConfig,
    ) -> Result<ControlPlane, UpError> {
        config.controllers.selection = config
            .controllers
            .selection
            .with_star_also_enabling(EMBEDDED_CONTROLLERS);
        let client = || Client::try_from(client_config.clone()).map_err(UpError::Client);
        let setup = client()?;
        ensure_nodepool_crd(&setup).await?;
        ensure_default_storage_class(&setup).await?;
        if let Some(pool) = &config.pool {
            ensure_sim_pool(&setup, &pool.name, pool.nodes).await?;
        }
        let scheduler_config = scheduler_config()?;
        let stop = CancellationToken::new();
        let controllers = RunningControllers::start(&client_config, &config, stop.child_token())?;
        let scheduler = {
            let client = client()?;
            let lease_client = client.clone();
            tokio::spawn(leading(
                lease_client,
                SCHEDULER_LEASE,
                stop.clone(),
                move |leading| {
                    logged(
                        "scheduler",
                        run_scheduler(client, scheduler_config, leading.cancelled_owned()),
                    )
                },
            ))
        };
        let agent = tokio::spawn(logged(
            "node agent",
            run_node_agent(
                client()?,
                config.node_agent.clone(),
                stop.clone().cancelled_owned(),
            ),
        ));
        Ok(ControlPlane {
            started: Box::new(Started {
                client_config,
                config,
            }),
            stop,
            controllers: Some(Box::new(controllers)),
            scheduler,
            agent,
        })
    }

    /// Kills the controllers as SIGKILL would: their runtime is shut down with every
    /// task dropped wherever it is (requests already sent still reach the server).
    /// Needs [`ControllersRuntime::Dedicated`]; does nothing when they are not running.
    pub async fn kill_controllers(&mut self) -> Result<(), UpError> {
        if self.started.config.controllers_runtime == ControllersRuntime::Shared {
            return Err(UpError::SharedControllersRuntime);
        }
        let Some(mut controllers) = self.controllers.take() else {
            return Ok(());
        };
        if let Some(runtime) = controllers.runtime.take() {
            tokio::task::spawn_blocking(move || runtime.shutdown_timeout(KILL_TIMEOUT))
                .await
                .map_err(|source| UpError::Task {
                    component: "controllers",
                    source,
                })?;
        }
        Ok(())
    }

    /// Starts a fresh set of controllers (after [`ControlPlane::kill_controllers`]).
    pub fn start_controllers(&mut self) -> Result<(), UpError> {
        if self.controllers.is_some() {
            return Err(UpError::ControllersRunning);
        }
        self.controllers = Some(Box::new(RunningControllers::start(
            &self.started.client_config,
            &self.started.config,
            self.stop.child_token(),
        )?));
        Ok(())
    }

    /// Stops every component and waits for them (the node agent's pods, the
    /// scheduler's and the controllers' in-flight writes); the first error, if any.
    pub async fn stop(mut self) -> Result<(), UpError> {
        self.stop.cancel();
        let agent = joined("node agent", (&mut self.agent).await);
        let scheduler = joined("scheduler", (&mut self.scheduler).await);
        let controllers = match self.controllers.take() {
            Some(c) => c.stop().await,
            None => Ok(()),
        };
        agent.and(scheduler).and(controllers)
    }
}

/// How long [`ControlPlane::kill_controllers`] waits for the controllers' runtime to
/// drop its tasks.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// The Lease the embedded controllers hold while they run (kube-controller-manager's).
pub const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";
/// The Lease the embedded scheduler holds while it runs (kube-scheduler's).
pub const SCHEDULER_LEASE: &str = "kube-scheduler";

/// Runs `component` while it leads the Lease `kube-system/<lease>`, as kind's
/// kube-controller-manager and kube-scheduler run, so the API server's
/// `componentstatuses` (which reads those Leases) reports the embedded components'
/// real health: held and renewed while they run, released when they stop, left to
/// expire if the process dies. With a fresh API server the Lease is free, so the
/// component starts at once; `stop` ends it and releases the Lease.
async fn leading<E, Fut>(
    client: Client,
    lease: &'static str,
    stop: CancellationToken,
    component: impl FnOnce(CancellationToken) -> Fut,
) -> Result<(), UpError>
where
    E: Into<UpError>,
    Fut: Future<Output = Result<(), E>>,
{
    let election = |source| UpError::Election {
        component: lease,
        source,
    };
    let config = LeaderElectionConfig {
        release_on_cancel: true,
        ..LeaderElectionConfig::new("kube-system", lease, &unique_identity())
    };
    let elector = LeaderElector::new(client, config).map_err(election)?;
    let mut result = None;
    elector
        .run(stop, |leading| async {
            result = Some(component(leading).await);
        })
        .await
        .map_err(election)?;
    result.map_or(Ok(()), |r| r.map_err(Into::into))
}

/// Runs a component, logging its error when it stops with one.
async fn logged<E: std::fmt::Display>(
    component: &'static str,
    run: impl Future<Output = Result<(), E>>,
) -> Result<(), E> {
    let result = run.await;
    if let Err(e) = &result {
        tracing::error!(component, error = %e, "stopped");
    }
    result
}

fn joined<E: Into<UpError>>(
    component: &'static str,
    result: Result<Result<(), E>, tokio::task::JoinError>,
) -> Result<(), UpError> {
    match result {
        Ok(r) => r.map_err(Into::into),
        Err(source) => Err(UpError::Task { component, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_config_serves_both_names_without_leader_election() {
        let c = scheduler_config().unwrap();
        assert!(!c.leader_election.leader_elect);
        let names: Vec<_> = c
            .profiles
            .iter()
            .filter_map(|p| p.scheduler_name.as_deref())
            .collect();
        assert_eq!(names, ["capstan-scheduler", "default-scheduler"]);
    }

    /// `capstan up`'s scheduler serves both of its names and leaves other pods alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scheduler_binds_pods_of_both_names_only() {
        use k8s_openapi::api::core::v1::{Node, Pod};
        use kube::api::{Patch, PatchParams};
        use serde_json::json;

        use capstan_apiserver::{Admission, AdmissionConfig, TestServer};
        // No node lifecycle controller runs here to take the not-ready taint off n1.
        let server = TestServer::start_with_admission(
            AdmissionConfig::all().without(Admission::TaintNodesByCondition),
        )
        .await
        .unwrap();
        let client = server.client().await;
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let room = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
        nodes
            .patch_status(
                "n1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"allocatable": room, "capacity": room,
                    "conditions": [{"type": "Ready", "status": "True"}]}})),
            )
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let scheduler = tokio::spawn(run_scheduler(
            client.clone(),
            scheduler_config().unwrap(),
            stop.clone().cancelled_owned(),
        ));
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        for (name, scheduler) in [
            ("ours", "capstan-scheduler"),
            ("default", "default-scheduler"),
            ("theirs", "someone-else"),
        ] {
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"schedulerName": scheduler,
                         "containers": [{"name": "app", "image": "pause"}]},
            }))
            .unwrap();
            pods.create(&PostParams::default(), &pod).await.unwrap();
        }
        let node_of =
            async |name: &str| pods.get(name).await.unwrap().spec.and_then(|s| s.node_name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while node_of("ours").await.is_none() || node_of("default").await.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pods not bound in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(node_of("ours").await.as_deref(), Some("n1"));
        assert_eq!(node_of("default").await.as_deref(), Some("n1"));
        assert_eq!(node_of("theirs").await, None);
        stop.cancel();
        scheduler.await.unwrap().unwrap();
    }
}
