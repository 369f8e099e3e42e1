//! `capstan`: one binary for the whole control plane.
//!
//! Subcommands are added as their components land; `capstan up` runs everything that
//! exists in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use capstan::up::{ControlPlane, ControlPlaneConfig};
use capstan_apiserver::{AdmissionConfig, ApiServer, ServerConfig};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod controller_flags;
mod controller_manager;
mod controllers;
mod crdgen;
mod flag_names;
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
    Up(UpArgs),
    /// Run the workload controllers against the API server of the kubeconfig in the
    /// environment, as kube-controller-manager does.
    ControllerManager(controller_manager::ControllerManagerArgs),
    /// Run capstan-scheduler against the cluster of the kubeconfig in the environment.
    Scheduler(scheduler::SchedulerArgs),
    /// Run the node agent: NodePools become virtual Nodes whose pods the sim runtime runs.
    NodeAgent(node_agent::NodeAgentArgs),
    /// Print (or write with --out-dir) the CustomResourceDefinitions capstan serves.
    Crdgen(crdgen::CrdgenArgs),
    /// Print (or write with --out) the controllers capstan can run: names, aliases,
    /// defaults, flags and the RBAC rules each needs (the Helm chart's RBAC reads it).
    Controllers(controllers::ControllersArgs),
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
    /// Admission plugins to turn off, by upstream's names (kube-apiserver's
    /// `--disable-admission-plugins`), e.g. `TaintNodesByCondition`.
    #[arg(long, value_delimiter = ',')]
    disable_admission_plugins: Vec<String>,
}

/// Flags of `capstan up`: the API server's and the controllers'
/// (kube-controller-manager's names, as `capstan controller-manager` takes them).
#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    apiserver: ApiserverArgs,
    #[command(flatten)]
    controllers: controller_flags::ControllerFlags,
}

/// Runs the API server alone, or with the control plane of `plane` around it
/// (`capstan up`), until Ctrl-C.
async fn run_apiserver(args: ApiserverArgs, mut plane: Option<ControlPlaneConfig>) -> Result<()> {
    let admission =
        AdmissionConfig::disabling(args.disable_admission_plugins.iter().map(String::as_str))?;
    // With the ServiceAccount controller running, every namespace gets its `default`
    // account, so the `ServiceAccount` admission step refuses pods whose account is
    // missing, as kube-apiserver does.
    let accounts_managed = plane.as_ref().is_some_and(|p| {
        p.controllers
            .selection
            .is_enabled(capstan_controllers::manager::SERVICE_ACCOUNT_CONTROLLER)
    });
    // `capstan up`: the node agent serves the kubelet API, the API server trusts it.
    let kubelet = match plane.as_mut() {
        Some(plane) => plane
            .serve_kubelet_api()
            .context("the node agent's kubelet API")?,
        None => Default::default(),
    };
    let config = ServerConfig {
        kubelet,
        bind: args.bind,
        insecure_http: args.insecure_http,
        watch_history: args.watch_history,
        admission,
        service_accounts_managed: accounts_managed,
        ..ServerConfig::default()
    };
    let server = ApiServer::start(config)
        .await
        .context("starting the API server")?;
    // `capstan up`: controllers, scheduler and node agent in process (`capstan::up`);
    // `capstan apiserver` is the server alone.
    let banner = plane.is_some();
    let plane = match plane {
        Some(plane) => {
            let config = server.config().await.context("in-process client config")?;
            Some(
                ControlPlane::start_with(config, plane)
                    .await
                    .context("starting the control plane")?,
            )
        }
        None => None,
    };
    if accounts_managed {
        let config = server.config().await.context("in-process client config")?;
        wait_for_default_service_account(config).await?;
    }
    // Written once the cluster takes pods: whoever waits for the kubeconfig may use it.
    server
        .write_kubeconfig(&args.kubeconfig_out)
        .context("writing the kubeconfig")?;
    let path = args.kubeconfig_out.display();
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

/// How long `capstan up` waits for the `default` ServiceAccount of `default`.
const DEFAULT_ACCOUNT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until the ServiceAccount controller has created `default/default`, as kubeadm
/// and kind wait for it before calling a cluster up: before that, pods in `default`
/// would be refused by the `ServiceAccount` admission step.
async fn wait_for_default_service_account(config: kube::Config) -> Result<()> {
    let client = kube::Client::try_from(config).context("in-process client")?;
    let accounts: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(client, "default");
    let poll = async {
        loop {
            if let Ok(Some(_)) = accounts.get_opt("default").await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(DEFAULT_ACCOUNT_WAIT, poll)
        .await
        .context("waiting for the default ServiceAccount of the default namespace")
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    // `--concurrent_rc_syncs` is `--concurrent-rc-syncs`, as for kube-controller-manager.
    let cli = Cli::parse_from(flag_names::normalize_flag_names(std::env::args_os()));
    match cli.command {
        Command::Metrics => print!("{}", capstan_runtime::metrics::render()),
        Command::Apiserver(args) => run_apiserver(args, None).await?,
        Command::Up(args) => {
            // An unknown controller name stops `capstan up` before it serves anything.
            let plane = ControlPlaneConfig {
                controllers: args.controllers.config("capstan")?,
                ..ControlPlaneConfig::default()
            };
            run_apiserver(args.apiserver, Some(plane)).await?
        }
        Command::ControllerManager(args) => controller_manager::run(args).await?,
        Command::Scheduler(args) => scheduler::run(args).await?,
        Command::Crdgen(args) => crdgen::run(args)?,
        Command::Controllers(args) => controllers::run(args)?,
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

    /// `capstan up` and `capstan controller-manager` take the same controller flags
    /// (one `ControllerFlags`), and every flag of the controller table.
    #[test]
    fn up_and_controller_manager_take_the_same_controller_flags() {
        use capstan_controllers::manager::CONTROLLERS;
        let mut args = vec![
            "--controllers=*,-deployment-controller".to_string(),
            "--controllers=-gc".to_string(),
        ];
        args.extend(
            CONTROLLERS
                .iter()
                .filter_map(|c| c.concurrent_syncs)
                .map(|f| format!("--{}=7", f.name)),
        );
        let flags_of = |command: &str| {
            let argv = ["capstan", command]
                .into_iter()
                .chain(args.iter().map(String::as_str));
            match Cli::try_parse_from(argv).expect("parses").command {
                Command::Up(up) => up.controllers,
                Command::ControllerManager(cm) => cm.controllers,
                other => panic!("parsed as {other:?}"),
            }
        };
        let up = flags_of("up");
        assert_eq!(up, flags_of("controller-manager"));
        assert_eq!(up.controllers, ["*", "-deployment-controller", "-gc"]);
        for c in CONTROLLERS.iter().filter(|c| c.concurrent_syncs.is_some()) {
            assert_eq!(up.concurrent_syncs.get(c.name), Some(&7), "{}", c.name);
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
