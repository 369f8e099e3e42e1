//! `capstan node-agent`: the node agent alone against any kubeconfig — leader-elected
//! on a Lease (one agent serves the NodePools at a time), with `/healthz`, `/readyz`
//! and `/metrics` on `--bind-address`, stopping on SIGTERM as a pod must (its part in
//! `capstan up` is in `capstan::up`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use capstan_node_agent::node::NodeOptions;
use capstan_node_agent::{NodeAgentConfig, ProcessConfig, run_node_agent};
use capstan_runtime::controller::shutdown_signal;
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{LeaderElectionConfig, LeaderElector, Leadership, RunOutcome};
use clap::{ArgAction, Args};

use crate::controller_manager::humantime_secs;
use kube::Client;
use tokio_util::sync::CancellationToken;

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
    /// Elect a leader on a Lease before serving NodePools, so that of several replicas
    /// only one drives the nodes and their pods (`--leader-elect=false` to serve
    /// unconditionally).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub leader_elect: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "capstan-node-agent")]
    pub leader_elect_resource_name: String,
    /// How long followers wait after the last renewal before taking over.
    #[arg(long, value_parser = humantime_secs, default_value = "15s")]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader retries renewing before giving up.
    #[arg(long, value_parser = humantime_secs, default_value = "10s")]
    pub leader_elect_renew_deadline: Duration,
    /// Wait between acquire or renew attempts.
    #[arg(long, value_parser = humantime_secs, default_value = "2s")]
    pub leader_elect_retry_period: Duration,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, default_value = "127.0.0.1:10248")]
    pub bind_address: SocketAddr,
}

/// This process's identity in the election: host name and a random suffix, as
/// kube-controller-manager's `hostname_uuid`.
fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "capstan-node-agent".to_string());
    format!("{host}_{:032x}", rand::random::<u128>())
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
        },
        pod_workers: args.pod_workers,
        time_scale: args.time_scale,
        process,
        ..NodeAgentConfig::default()
    };

    let health = HealthServer::bind(args.bind_address)
        .await
        .context("binding the health server")?;
    // Ready once this replica leads or follows a known leader.
    let elected = Arc::new(AtomicBool::new(!args.leader_elect));
    let ready = elected.clone();
    health.add_readiness_check(
        "leader-election",
        Arc::new(move || ready.load(Ordering::SeqCst)),
    );
    tracing::info!(address = %health.local_addr()?, "serving /metrics, /healthz and /readyz");
    let stop = CancellationToken::new();
    let health_task = tokio::spawn(health.serve(stop.clone().cancelled_owned()));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });

    let result = if args.leader_elect {
        let le = LeaderElectionConfig {
            lease_duration: args.leader_elect_lease_duration,
            renew_deadline: args.leader_elect_renew_deadline,
            retry_period: args.leader_elect_retry_period,
            release_on_cancel: true,
            ..LeaderElectionConfig::new(
                &args.leader_elect_resource_namespace,
                &args.leader_elect_resource_name,
                &identity(),
            )
        };
        let elector = LeaderElector::new(client.clone(), le)?;
        let mut leadership = elector.subscribe();
        tokio::spawn(async move {
            while leadership.changed().await.is_ok() {
                let known = matches!(
                    &*leadership.borrow(),
                    Leadership::Leader | Leadership::Follower { .. }
                );
                elected.store(known, Ordering::SeqCst);
            }
        });
        let failure: Arc<parking_lot::Mutex<Option<anyhow::Error>>> = Arc::default();
        let failed = failure.clone();
        let outcome = elector
            .run(stop.clone(), move |leading| async move {
                if let Err(e) = run_node_agent(client, config, leading.cancelled_owned()).await {
                    tracing::error!(error = %e, "node agent stopped");
                    *failed.lock() = Some(anyhow::Error::from(e));
                }
            })
            .await;
        match outcome {
            Err(e) => {
                tracing::error!(error = %e, "leaderelection lost");
                Err(anyhow::Error::from(e))
            }
            Ok(RunOutcome::Cancelled) => failure.lock().take().map_or(Ok(()), Err),
            Ok(RunOutcome::LeadingCompleted) => Err(failure
                .lock()
                .take()
                .unwrap_or_else(|| anyhow!("the node agent stopped while leading"))),
        }
    } else {
        run_node_agent(client, config, stop.clone().cancelled_owned())
            .await
            .map_err(anyhow::Error::from)
    };
    stop.cancel();
    match health_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "health server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "health server task failed"),
        Ok(Ok(())) => {}
    }
    result.context("running the node agent")
}
