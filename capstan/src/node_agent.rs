//! `capstan node-agent`: the node agent alone against any kubeconfig, and its part in
//! `capstan up` (the NodePool CRD installed and a default pool of 3 nodes).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use capstan_node_agent::node::NodeOptions;
use capstan_node_agent::{NodeAgentConfig, NodePool, NodePoolSpec, ProcessConfig, run_node_agent};
use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::core::CustomResourceExt;
use kube::{Api, Client};

/// Flags of `capstan node-agent`.
#[derive(Debug, Args)]
pub struct NodeAgentArgs {
    /// Taint every virtual node `capstan.dev/virtual=true:NoSchedule`, so that workloads of
    /// a real cluster never land on them unless they tolerate it.
    #[arg(long)]
    pub virtual_taint: bool,
    /// Concurrent pod reconciles.
    #[arg(long, default_value_t = capstan_node_agent::DEFAULT_POD_WORKERS)]
    pub pod_workers: usize,
    /// Install the NodePool CRD if it is missing.
    #[arg(long)]
    pub install_crd: bool,
    /// Multiply the kubelet's delays (CrashLoopBackOff, probe initial delays and periods,
    /// the sim runtime's annotated delays) by this factor: 0.1 runs lifecycles 10× faster.
    /// Probe timeouts and grace periods are not scaled.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Where the process runtime keeps a directory per pod (container logs, default
    /// working directories); defaults to `$TMPDIR/capstan-node-agent`.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
}

/// Creates the NodePool CRD unless it exists, and waits until the kind is served.
pub async fn ensure_crd(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &NodePool::crd()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(err) => return Err(err).context("creating the NodePool CRD"),
    }
    let pools: Api<NodePool> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match pools.list(&ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                bail!("the NodePool kind is not served: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates the NodePool `default` of `nodes` nodes (4 cpu, 16Gi, 110 pods) unless it exists.
pub async fn ensure_default_pool(client: &Client, nodes: i32) -> Result<()> {
    let pools: Api<NodePool> = Api::all(client.clone());
    match pools
        .create(
            &PostParams::default(),
            &NodePool::new("default", NodePoolSpec::sim(nodes)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(err) => Err(err).context("creating the default NodePool"),
    }
}

/// Runs the agent until Ctrl-C, against the kubeconfig in the environment.
pub async fn run(args: NodeAgentArgs) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("loading the kubeconfig")?;
    if args.install_crd {
        ensure_crd(&client).await?;
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!(
            "--time-scale must be a positive number, got {}",
            args.time_scale
        );
    }
    let mut process = ProcessConfig::default();
    if let Some(dir) = args.state_dir {
        process.state_dir = dir;
    }
    let config = NodeAgentConfig {
        nodes: NodeOptions {
            virtual_taint: args.virtual_taint,
        },
        pod_workers: args.pod_workers,
        time_scale: args.time_scale,
        process,
        ..NodeAgentConfig::default()
    };
    run_node_agent(client, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("running the node agent")
}

/// The agent inside `capstan up`: CRD, a default pool of 3 nodes, no virtual taint.
pub async fn run_in_up(client: Client, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    ensure_crd(&client).await?;
    ensure_default_pool(&client, 3).await?;
    run_node_agent(client, NodeAgentConfig::default(), shutdown)
        .await
        .context("running the node agent")
}
