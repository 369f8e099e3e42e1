//! `capstan`: one binary for the whole control plane.
//!
//! Subcommands are added as their components land; `capstan up` runs everything that
//! exists in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use capstan_apiserver::{ApiServer, ServerConfig};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod controller_manager;
mod crdgen;
mod leader_election;
mod node_agent;
mod scheduler;

/// The capstan control plane. A flag given twice takes its last value, as the flags of
/// kube-controller-manager and kube-scheduler do (so a Deployment's extra args can
/// override the ones a Helm chart sets).
#[derive(Debug, Parser)]
#[command(
    name = "capstan",
    version,
    about = "The Kubernetes control plane's brain, in Rust",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the runtime's metrics in Prometheus text format (a smoke check of the build).
    Metrics,
    /// Run the embedded, in-memory Kubernetes API server alone.
    Apiserver(ApiserverArgs),
    /// Run the whole control plane in this process: the embedded API server, the
    /// controllers, the scheduler and the node agent with a default pool of 3 virtual
    /// nodes, writing a kubeconfig for kubectl.
    Up(ApiserverArgs),
    /// Run the workload controllers against the API server of the kubeconfig in the
    /// environment, as kube-controller-manager does.
    ControllerManager(controller_manager::ControllerManagerArgs),
    /// Run capstan-scheduler against the cluster of the kubeconfig in the environment.
    Scheduler(scheduler::SchedulerArgs),
    /// Run the node agent: NodePools become virtual Nodes whose pods the sim runtime runs.
    NodeAgent(node_agent::NodeAgentArgs),
    /// Print (or write with --out-dir) the CustomResourceDefinitions capstan serves.
    Crdgen(crdgen::CrdgenArgs),
}

/// Flags of the embedded API server.
#[derive(Debug, Args)]
struct ApiserverArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    bind: SocketAddr,
    /// Serve plain HTTP without authentication (debugging only).
    #[arg(long)]
    insecure_http: bool,
    /// Where to write the kubeconfig (CA and bearer token) for clients.
    #[arg(long, default_value = ".capstan/kubeconfig")]
    kubeconfig_out: PathBuf,
    /// Watch events kept per resource, for resuming watches without a relist.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
}

async fn run_apiserver(args: ApiserverArgs, banner: bool) -> Result<()> {
    let config = ServerConfig {
        bind: args.bind,
        insecure_http: args.insecure_http,
        watch_history: args.watch_history,
        ..ServerConfig::default()
    };
    let server = ApiServer::start(config)
        .await
        .context("starting the API server")?;
    server
        .write_kubeconfig(&args.kubeconfig_out)
        .context("writing the kubeconfig")?;
    let path = args.kubeconfig_out.display();
    // `capstan up`: controllers, scheduler and node agent in process (`capstan::up`);
    // `capstan apiserver` is the server alone.
    let plane = if banner {
        let config = server.config().await.context("in-process client config")?;
        Some(
            capstan::up::ControlPlane::start(config)
                .await
                .context("starting the control plane")?,
        )
    } else {
        None
    };
    if banner {
        println!("capstan is up: API server at {}", server.url());
        println!("  export KUBECONFIG={path}");
        println!("  kubectl get namespaces");
        println!("(memory only: everything is gone when this process ends; Ctrl-C to stop)");
    } else {
        println!("API server at {} (kubeconfig: {path})", server.url());
    }
    capstan_runtime::controller::shutdown_signal().await;
    if let Some(plane) = plane {
        plane.stop().await.context("stopping the control plane")?;
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Metrics => print!("{}", capstan_runtime::metrics::render()),
        Command::Apiserver(args) => run_apiserver(args, false).await?,
        Command::Up(args) => run_apiserver(args, true).await?,
        Command::ControllerManager(args) => controller_manager::run(args).await?,
        Command::Scheduler(args) => scheduler::run(args).await?,
        Command::Crdgen(args) => crdgen::run(args)?,
        Command::NodeAgent(args) => node_agent::run(args).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeated flag takes its last value (pflag's behaviour), so extra args appended
    /// after a chart's own override them instead of being refused.
    #[test]
    fn a_repeated_flag_takes_its_last_value() {
        let cli = Cli::try_parse_from([
            "capstan",
            "node-agent",
            "--pod-workers=8",
            "--pod-workers=16",
        ])
        .expect("parses");
        match cli.command {
            Command::NodeAgent(args) => assert_eq!(args.pod_workers, 16),
            other => panic!("parsed as {other:?}"),
        }
    }
}
