//! `capstan controller-manager`: capstan's workload controllers as a
//! kube-controller-manager-style process against any API server — kubeconfig
//! from the environment, `--controllers` selection, client rate limits,
//! leader election on a Lease, and `/metrics`, `/healthz`, `/readyz`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use capstan_controllers::manager::ControllerManager;
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{ElectedConfig, run_elected, unique_identity};
use clap::Args;

use crate::leader_election::LeaderElectionFlags;

use crate::controller_flags::ControllerFlags;

/// Flags of `capstan controller-manager`, named as kube-controller-manager's.
#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// `--controllers` and `--concurrent-*-syncs`, as `capstan up`'s.
    #[command(flatten)]
    pub(crate) controllers: ControllerFlags,
    /// Client-side requests per second to the API server.
    #[arg(long, default_value_t = 20.0)]
    kube_api_qps: f32,
    /// Client-side burst of requests to the API server.
    #[arg(long, default_value_t = 30)]
    kube_api_burst: u32,
    /// `--leader-elect` and the Lease's namespace and timings.
    #[command(flatten)]
    leader_election: LeaderElectionFlags,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "capstan-controller-manager")]
    leader_elect_resource_name: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, default_value = "127.0.0.1:10257")]
    bind_address: SocketAddr,
}

/// Parses `15s`, `500ms`, `2m` or a bare number of seconds.
pub(crate) fn humantime_secs(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Runs `capstan controller-manager` until SIGTERM/SIGINT (Ok) or lost
/// leadership (Err, so the process exits non-zero and a successor takes over).
pub async fn run(args: ControllerManagerArgs) -> Result<()> {
    let id = unique_identity();
    let config = args.controllers.config(&id)?;
    let kube_config = kube::Config::infer()
        .await
        .context("loading kubeconfig from the environment")?;
    let client = capstan_runtime::client::client_with_rate_limit(
        kube_config,
        args.kube_api_qps,
        args.kube_api_burst,
    )
    .context("building the API client")?;
    // kube-controller-manager does not release its Lease on the way out.
    let election = args
        .leader_election
        .config(&args.leader_elect_resource_name, &id, false);
    let health = HealthServer::bind(args.bind_address)
        .await
        .context("binding the health server")?;
    let worker = client.clone();
    run_elected(
        client,
        health,
        ElectedConfig::new(election),
        |ctx| async move {
            let manager = ControllerManager::new(worker, &config)?;
            // A follower is ready once it knows the leader; the caches count once it leads.
            ctx.readiness
                .add_check("informer-sync", manager.synced_check());
            manager.run(ctx.stop.cancelled_owned()).await
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kube_flags() {
        assert_eq!(humantime_secs("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(humantime_secs("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(humantime_secs("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(humantime_secs("3"), Ok(Duration::from_secs(3)));
        assert!(humantime_secs("3d").is_err());
    }
}
