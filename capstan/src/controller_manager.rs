//! `capstan controller-manager`: capstan's workload controllers as a
//! kube-controller-manager-style process against any API server — kubeconfig
//! from the environment, `--controllers` selection, client rate limits,
//! leader election on a Lease, and `/metrics`, `/healthz`, `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use capstan_controllers::manager::{ControllerManager, ManagerError};
use capstan_runtime::controller::shutdown_signal;
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{
    LeaderElectionConfig, LeaderElector, RunOutcome, leadership_known_check,
};
use clap::{ArgAction, Args};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    /// Elect a leader on a Lease before running controllers (`--leader-elect=false`
    /// to run unconditionally).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    leader_elect: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "capstan-controller-manager")]
    leader_elect_resource_name: String,
    /// How long followers wait after the last renewal before taking over.
    #[arg(long, value_parser = humantime_secs, default_value = "15s")]
    leader_elect_lease_duration: Duration,
    /// How long the leader retries renewing before giving up.
    #[arg(long, value_parser = humantime_secs, default_value = "10s")]
    leader_elect_renew_deadline: Duration,
    /// Wait between acquire or renew attempts.
    #[arg(long, value_parser = humantime_secs, default_value = "2s")]
    leader_elect_retry_period: Duration,
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

/// This process's identity in the election: `hostname_<random>`, as
/// kube-controller-manager's `hostname_uuid`.
fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "capstan".to_string());
    format!("{host}_{:032x}", rand::random::<u128>())
}

type ManagerTask = JoinHandle<Result<(), ManagerError>>;

/// Runs `capstan controller-manager` until SIGTERM/SIGINT (Ok) or lost
/// leadership (Err, so the process exits non-zero and a successor takes over).
pub async fn run(args: ControllerManagerArgs) -> Result<()> {
    let id = identity();
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
    let health = HealthServer::bind(args.bind_address)
        .await
        .context("binding the health server")?;
    let readiness = health.readiness();
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

    let result = if !args.leader_elect {
        let manager = ControllerManager::new(client, &config)?;
        readiness.add_check("informer-sync", manager.synced_check());
        manager
            .run(stop.clone().cancelled_owned())
            .await
            .map_err(anyhow::Error::from)
    } else {
        let mut le = LeaderElectionConfig::new(
            &args.leader_elect_resource_namespace,
            &args.leader_elect_resource_name,
            &id,
        );
        le.lease_duration = args.leader_elect_lease_duration;
        le.renew_deadline = args.leader_elect_renew_deadline;
        le.retry_period = args.leader_elect_retry_period;
        let elector = LeaderElector::new(client.clone(), le)?;
        // Ready once this replica leads or follows a live leader; its controllers'
        // cache check joins when it starts leading.
        readiness.add_check(
            "leader-election",
            leadership_known_check(elector.subscribe()),
        );
        let task: Arc<Mutex<Option<ManagerTask>>> = Arc::new(Mutex::new(None));
        let slot = task.clone();
        let outcome = elector
            .run(stop.clone(), move |leading| async move {
                let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
                let handle = match ControllerManager::new(client, &config) {
                    Ok(manager) => {
                        readiness.add_check("informer-sync", manager.synced_check());
                        tokio::spawn(async move {
                            let r = manager.run(leading.cancelled_owned()).await;
                            let _ = done_tx.send(());
                            r
                        })
                    }
                    Err(e) => tokio::spawn(async move { Err(e) }),
                };
                *slot.lock() = Some(handle);
                // Leading lasts as long as the controllers run.
                let _ = done_rx.await;
            })
            .await;
        let handle = task.lock().take();
        match outcome {
            Err(e) => {
                // Another process may lead now: stop at once, as upstream exits.
                tracing::error!(error = %e, "leaderelection lost");
                Err(anyhow::Error::from(e))
            }
            Ok(RunOutcome::Cancelled) => match handle {
                Some(h) => h.await.context("controller task")?.map_err(Into::into),
                None => Ok(()),
            },
            Ok(RunOutcome::LeadingCompleted) => match handle {
                Some(h) => match h.await.context("controller task")? {
                    Ok(()) if stop.is_cancelled() => Ok(()),
                    Ok(()) => bail!("controllers stopped unexpectedly"),
                    Err(e) => Err(e.into()),
                },
                None => Ok(()),
            },
        }
    };
    stop.cancel();
    match health_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "health server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "health server task failed"),
        Ok(Ok(())) => {}
    }
    result
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
