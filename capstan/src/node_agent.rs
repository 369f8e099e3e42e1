//! `capstan node-agent`: the node agent alone against any kubeconfig — leader-elected
//! on a Lease (one agent serves the NodePools at a time), with `/healthz`, `/readyz`
//! and `/metrics` on `--bind-address`, stopping on SIGTERM as a pod must (its part in
//! `capstan up` is in `capstan::up`).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use capstan_node_agent::node::NodeOptions;
use capstan_node_agent::{NodeAgentConfig, ProcessConfig, run_node_agent};
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{ElectedConfig, run_elected, unique_identity};
use clap::Args;
use kube::Client;

use crate::leader_election::LeaderElectionFlags;

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
    /// `--leader-elect` (of several replicas only one drives the nodes and their pods)
    /// and the Lease's namespace and timings.
    #[command(flatten)]
    pub leader_election: LeaderElectionFlags,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "capstan-node-agent")]
    pub leader_elect_resource_name: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, default_value = "127.0.0.1:10248")]
    pub bind_address: SocketAddr,
}

/// Runs the agent against the kubeconfig in the environment until SIGTERM or SIGINT
/// (Ok), or until leadership is lost (Err: the process exits and a replica takes over).
pub async fn run(args: NodeAgentArgs) -> Result<()> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!(
            "--time-scale must be a positive number, got {}",
            args.time_scale
        );
    }
    let client = Client::try_default()
        .await
        .context("loading the kubeconfig")?;
    if args.install_crd {
        capstan::up::ensure_nodepool_crd(&client).await?;
    }
    let mut process = ProcessConfig::default();
    if let Some(dir) = args.state_dir {
        process.state_dir = dir;
    }
    let config = NodeAgentConfig {
        nodes: NodeOptions {
            virtual_taint: args.virtual_taint,
            ..NodeOptions::default()
        },
        pod_workers: args.pod_workers,
        time_scale: args.time_scale,
        process,
        ..NodeAgentConfig::default()
    };

    let health = HealthServer::bind(args.bind_address)
        .await
        .context("binding the health server")?;
    // Released on a graceful stop, so a replica takes over at once.
    let election =
        args.leader_election
            .config(&args.leader_elect_resource_name, &unique_identity(), true);
    let worker = client.clone();
    run_elected(client, health, ElectedConfig::new(election), |ctx| {
        run_node_agent(worker, config, ctx.stop.cancelled_owned())
    })
    .await
    .context("running the node agent")
}
