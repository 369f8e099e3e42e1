//! `capstan node-agent`: the node agent alone against any kubeconfig — leader-elected
//! on a Lease (one agent serves the NodePools at a time), with `/healthz`, `/readyz`
//! and `/metrics` on `--bind-address`, stopping on SIGTERM as a pod must (its part in
//! `capstan up` is in `capstan::up`). With `--kubelet-port` it serves the kubelet API
//! the API server proxies `kubectl logs` to (certificate and callers per the kubelet's
//! flags: `--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use capstan_node_agent::node::NodeOptions;
use capstan_node_agent::{
    KubeletServerConfig, NodeAgentConfig, ProcessConfig, ServingTls, run_node_agent,
};
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
    /// Serve the kubelet API (`/containerLogs`, `/healthz`, `/pods`, what the API server
    /// proxies `kubectl logs` to) on this port; not served without it (the kubelet's
    /// `--port`, 10250).
    #[arg(long)]
    pub kubelet_port: Option<u16>,
    /// The address the kubelet API listens on (the kubelet's `--address`).
    #[arg(long, default_value = "0.0.0.0")]
    pub kubelet_address: std::net::IpAddr,
    /// The address every node publishes as its `InternalIP`, where the API server
    /// reaches the kubelet API (the kubelet's `--node-ip`); default: the listen
    /// address, or 127.0.0.1 when listening on every interface.
    #[arg(long)]
    pub node_ip: Option<std::net::IpAddr>,
    /// The kubelet API's serving certificate (PEM); a self-signed one without it.
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The serving certificate's key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<std::path::PathBuf>,
    /// Client certificates chaining to this CA (PEM) may call the kubelet API: the
    /// cluster CA, which signed kube-apiserver's `--kubelet-client-certificate`.
    #[arg(long)]
    pub client_ca_file: Option<std::path::PathBuf>,
    /// A file holding a bearer token that may call the kubelet API.
    #[arg(long)]
    pub kubelet_token_file: Option<std::path::PathBuf>,
}

impl NodeAgentArgs {
    /// The kubelet API's configuration, when `--kubelet-port` asks for it.
    fn kubelet(&self) -> Result<Option<KubeletServerConfig>> {
        let Some(port) = self.kubelet_port else {
            return Ok(None);
        };
        let bind = SocketAddr::new(self.kubelet_address, port);
        let tls = match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(cert), Some(key)) => ServingTls::from_files(cert, key, None)?,
            _ => {
                let mut sans = vec![bind.ip().to_string()];
                sans.extend(self.node_ip.map(|ip| ip.to_string()));
                ServingTls::self_signed(&sans)?
            }
        };
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        };
        let client_ca_pem = self.client_ca_file.as_deref().map(read).transpose()?;
        let tokens = match &self.kubelet_token_file {
            Some(p) => vec![read(p)?.trim().to_string()],
            None => Vec::new(),
        };
        if client_ca_pem.is_none() && tokens.is_empty() {
            bail!(
                "--kubelet-port needs --client-ca-file or --kubelet-token-file: nobody could call it"
            );
        }
        Ok(Some(KubeletServerConfig {
            bind,
            advertise: self.node_ip,
            tls,
            client_ca_pem,
            tokens,
        }))
    }
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
    let kubelet = args.kubelet().context("the kubelet API")?;
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
        kubelet,
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
