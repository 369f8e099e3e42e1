//! [`run_elected`]: the process glue of a leader-elected component, as
//! kube-controller-manager's and kube-scheduler's `Run` do it.
//!
//! One call serves `/healthz`, `/readyz` and `/metrics`, turns SIGTERM and SIGINT
//! into cancellation, campaigns for the Lease, makes `/readyz` report whether
//! leadership is known, runs the component only while this process leads, and
//! returns an error when leadership is lost (the renew deadline passed), so the
//! process exits non-zero and its Deployment restarts it as a candidate — the
//! behaviour of upstream's `OnStoppedLeading`, which exits the process.

use std::error::Error as StdError;
use std::future::Future;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    LeaderElectionConfig, LeaderElectionError, LeaderElector, Leadership, RunOutcome,
    leadership_known_check,
};
use crate::controller::shutdown_signal;
use crate::health::{HealthServer, Readiness};

/// The name of the `/readyz` check [`run_elected`] adds while it elects: it passes
/// once this process leads or knows the live leader ([`Leadership::is_known`]).
pub const LEADER_ELECTION_CHECK: &str = "leader-election";

/// The error a component may end with, boxed (any `std::error::Error`, or an
/// `anyhow::Error`, converts into it).
pub type ComponentError = Box<dyn StdError + Send + Sync + 'static>;

/// How [`run_elected`] runs a component.
#[derive(Debug, Clone)]
pub struct ElectedConfig {
    /// The election; `None` runs the component at once and unconditionally, as
    /// `--leader-elect=false` does upstream.
    pub leader_election: Option<LeaderElectionConfig>,
    /// Stop on SIGTERM or SIGINT (Ctrl-C). On by default; turn it off when several
    /// components share one process, as tests do, and stop them through
    /// [`shutdown`](Self::shutdown).
    pub stop_on_signals: bool,
    /// Cancelling this token stops the run as a signal does: the component's
    /// [`ComponentContext::stop`] fires and, when elected, the Lease is released if
    /// the election config says so.
    pub shutdown: CancellationToken,
}

impl ElectedConfig {
    /// Runs under `leader_election` (or unconditionally with `None`), stopping on
    /// SIGTERM/SIGINT or when [`shutdown`](Self::shutdown) is cancelled.
    pub fn new(leader_election: Option<LeaderElectionConfig>) -> Self {
        Self {
            leader_election,
            stop_on_signals: true,
            shutdown: CancellationToken::new(),
        }
    }
}

/// What a component gets when it starts (when this process starts leading, or at
/// once without election).
#[derive(Debug, Clone)]
pub struct ComponentContext {
    /// Cancelled when the component must stop: on shutdown, or when leadership
    /// ends. The component should return soon after; on a graceful shutdown it has
    /// up to the renew deadline before the Lease is released and it is dropped.
    pub stop: CancellationToken,
    /// The `/readyz` checks of the health server: add the component's own, such as
    /// "informer caches synced". They are registered only once the component runs,
    /// so a follower is ready as soon as it knows the leader, as upstream's are.
    pub readiness: Readiness,
}

/// Why [`run_elected`] returned an error.
#[derive(Debug, thiserror::Error)]
pub enum ElectedError {
    /// The election config is invalid, or this process led and could not renew the
    /// Lease within the renew deadline ([`LeaderElectionError::LeadershipLost`]):
    /// another process may be leading now, so this one must exit.
    #[error(transparent)]
    Election(#[from] LeaderElectionError),
    /// The component returned an error.
    #[error("the component failed: {0}")]
    Component(#[source] ComponentError),
    /// The component returned `Ok` while leading without having been asked to stop;
    /// a leader-elected component is meant to run until its stop token fires.
    #[error("the component stopped while leading without being asked to")]
    StoppedWhileLeading,
}

/// Runs `component` the way kube-controller-manager and kube-scheduler run theirs.
///
/// - `health` is served (`/healthz`, `/readyz`, `/metrics`) until the run ends.
/// - SIGTERM and SIGINT cancel [`ElectedConfig::shutdown`] (unless
///   [`ElectedConfig::stop_on_signals`] is off).
/// - With [`ElectedConfig::leader_election`], this process campaigns for the Lease
///   through `client`; `/readyz` gets the [`LEADER_ELECTION_CHECK`], and
///   `component` is called once this process leads. Without it, `component` is
///   called at once.
///
/// Returns `Ok(())` after a requested stop (the component's own error, if it
/// returned one, is reported instead), and
/// [`ElectedError::Election`] when leadership was lost: the caller must then exit
/// non-zero, as upstream components do. A component that returns by itself while
/// leading ends the run too ([`ElectedError::Component`] or
/// [`ElectedError::StoppedWhileLeading`]); without election its result is returned
/// as is.
///
/// # Example
///
/// A user's operator, leader-elected on the Lease `my-system/my-operator`:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use capstan_runtime::health::HealthServer;
/// use capstan_runtime::leader::{
///     ComponentContext, ElectedConfig, LeaderElectionConfig, run_elected, unique_identity,
/// };
///
/// async fn reconcile_forever(
///     client: kube::Client,
///     ctx: ComponentContext,
/// ) -> Result<(), kube::Error> {
///     // Start informers and workers here; report readiness once caches synced.
///     ctx.readiness.add_check("informer-sync", Arc::new(|| true));
///     ctx.stop.cancelled().await;
///     Ok(())
/// }
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// let health = HealthServer::bind("0.0.0.0:8080".parse()?).await?;
/// let mut election = LeaderElectionConfig::new("my-system", "my-operator", &unique_identity());
/// election.release_on_cancel = true;
/// let worker = client.clone();
/// run_elected(client, health, ElectedConfig::new(Some(election)), |ctx| {
///     reconcile_forever(worker, ctx)
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn run_elected<F, Fut, E>(
    client: kube::Client,
    health: HealthServer,
    config: ElectedConfig,
    component: F,
) -> Result<(), ElectedError>
where
    F: FnOnce(ComponentContext) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<ComponentError>,
{
    // An invalid election config fails before anything is served.
    let elector = match config.leader_election {
        Some(election) => Some(LeaderElector::new(client, election)?),
        None => None,
    };
    let readiness = health.readiness();
    match health.local_addr() {
        Ok(address) => tracing::info!(%address, "serving /metrics, /healthz and /readyz"),
        Err(err) => tracing::warn!(%err, "serving /metrics, /healthz and /readyz"),
    }
    let health_stop = CancellationToken::new();
    let health_task = tokio::spawn(health.serve(health_stop.clone().cancelled_owned()));
    let shutdown = config.shutdown;
    let signals = config
        .stop_on_signals
        .then(|| tokio::spawn(cancel_on_signal(shutdown.clone())));

    let result = match elector {
        None => {
            let context = ComponentContext {
                stop: shutdown.child_token(),
                readiness,
            };
            component(context)
                .await
                .map_err(|err| ElectedError::Component(err.into()))
        }
        Some(elector) => {
            readiness.add_check(
                LEADER_ELECTION_CHECK,
                leadership_known_check(elector.subscribe()),
            );
            // Ends when the elector, the sender, is dropped at the end of its run.
            tokio::spawn(log_followed_leaders(elector.subscribe()));
            let mut finished = None;
            let slot = &mut finished;
            let outcome = elector
                .run(shutdown.clone(), move |leading| async move {
                    let context = ComponentContext {
                        stop: leading,
                        readiness,
                    };
                    *slot = Some(component(context).await.map_err(Into::into));
                })
                .await;
            leading_result(outcome, finished, shutdown.is_cancelled())
        }
    };

    if let Some(signals) = signals {
        signals.abort();
    }
    health_stop.cancel();
    match health_task.await {
        Ok(Err(err)) => tracing::warn!(%err, "health server stopped with an error"),
        Err(err) => tracing::warn!(%err, "health server task failed"),
        Ok(Ok(())) => {}
    }
    result
}

/// How an elected run ended, from the elector's `outcome`, the component's result
/// if it `finished`, and whether a stop was `requested`.
fn leading_result(
    outcome: Result<RunOutcome, LeaderElectionError>,
    finished: Option<Result<(), ComponentError>>,
    requested: bool,
) -> Result<(), ElectedError> {
    match (outcome, finished) {
        (Err(err), _) => {
            tracing::error!(error = %err, "leaderelection lost");
            Err(err.into())
        }
        (Ok(_), Some(Err(err))) => Err(ElectedError::Component(err)),
        (Ok(RunOutcome::LeadingCompleted), _) if !requested => {
            Err(ElectedError::StoppedWhileLeading)
        }
        (Ok(_), _) => Ok(()),
    }
}

/// Cancels `shutdown` on SIGTERM or SIGINT; returns early once it is cancelled.
async fn cancel_on_signal(shutdown: CancellationToken) {
    tokio::select! {
        () = shutdown_signal() => shutdown.cancel(),
        () = shutdown.cancelled() => {}
    }
}

/// Logs each leader this process follows, as client-go's "new leader elected".
async fn log_followed_leaders(mut status: watch::Receiver<Leadership>) {
    while status.changed().await.is_ok() {
        let state = status.borrow_and_update().clone();
        if let Leadership::Follower { holder } = state {
            tracing::info!(%holder, "following the current leader");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Option<Result<(), ComponentError>> {
        Some(Err("caches did not sync".into()))
    }

    #[test]
    fn a_lost_lease_is_an_error_whatever_the_component_did() {
        let lost = || LeaderElectionError::LeadershipLost {
            lease: "ns/l".into(),
        };
        for finished in [None, Some(Ok(())), failed()] {
            let result = leading_result(Err(lost()), finished, false);
            assert!(
                matches!(
                    result,
                    Err(ElectedError::Election(
                        LeaderElectionError::LeadershipLost { .. }
                    ))
                ),
                "{result:?}"
            );
        }
    }

    #[test]
    fn a_requested_stop_is_ok_unless_the_component_failed() {
        let cancelled = || Ok(RunOutcome::Cancelled);
        assert!(leading_result(cancelled(), None, true).is_ok());
        assert!(leading_result(cancelled(), Some(Ok(())), true).is_ok());
        let err = leading_result(cancelled(), failed(), true).expect_err("reported");
        assert_eq!(err.to_string(), "the component failed: caches did not sync");
    }

    #[test]
    fn a_component_that_returns_while_leading_ends_the_run_with_an_error() {
        let completed = || Ok(RunOutcome::LeadingCompleted);
        assert!(matches!(
            leading_result(completed(), Some(Ok(())), false),
            Err(ElectedError::StoppedWhileLeading)
        ));
        assert!(matches!(
            leading_result(completed(), failed(), false),
            Err(ElectedError::Component(_))
        ));
        // Finished in the instant a stop was asked for: a graceful stop.
        assert!(leading_result(completed(), Some(Ok(())), true).is_ok());
    }
}
