//! Leader election on a `coordination.k8s.io/v1` Lease, with the algorithm and
//! defaults of client-go's `tools/leaderelection` (`leaderelection.go`).
//!
//! A candidate tries to acquire the Lease every `retry_period` (with client-go's
//! jitter factor 1.2) until the Lease is free or its holder stopped renewing for
//! `lease_duration`. Whether a Lease has expired is judged on the *local* clock: the
//! time this candidate last saw the Lease record change, plus the record's
//! `leaseDurationSeconds`, so clocks of different machines never have to agree. The
//! leader renews every `retry_period`; when it cannot renew within `renew_deadline`
//! it stops leading and [`LeaderElector::run`] returns
//! [`LeaderElectionError::LeadershipLost`] — kube-controller-manager exits non-zero
//! at that point, and so should a capstan binary.
//!
//! Writes use the Lease's `resourceVersion` (see [`KubeLeaseStore`]), so two
//! candidates racing for a free Lease cannot both win. The state machine is written
//! against the [`LeaseStore`] trait and unit-tested with an in-memory store and
//! paused time.
//!
//! A component process does not drive the elector itself: [`run_elected`] is the
//! glue (health server, signals, readiness that reports leadership, exit on lost
//! leadership) that capstan's binaries and user-written operators share.

mod elected;
mod kube_lease;

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use elected::{
    ComponentContext, ComponentError, ElectedConfig, ElectedError, LEADER_ELECTION_CHECK,
    run_elected,
};
pub use kube_lease::{KubeLeaseStore, apply_record, record_from_spec};

/// client-go's `JitterFactor`: the acquire loop waits `retry_period * (1 + rand*1.2)`.
pub const JITTER_FACTOR: f64 = 1.2;
/// Default lease duration (kube-controller-manager `--leader-elect-lease-duration`).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default renew deadline (`--leader-elect-renew-deadline`).
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Default retry period (`--leader-elect-retry-period`).
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

static MASTER_STATUS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    crate::metrics::register(
        IntGaugeVec::new(
            Opts::new(
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
            ),
            &["name"],
        )
        // The name and labels are constants; construction cannot fail at run time.
        .expect("valid metric definition"),
    )
});

static SLOWPATH_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::register(
        IntCounterVec::new(
            Opts::new(
                "leader_election_slowpath_total",
                "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease.",
            ),
            &["name"],
        )
        // The name and labels are constants; construction cannot fail at run time.
        .expect("valid metric definition"),
    )
});

/// The content of the election lock, as client-go's `LeaderElectionRecord`.
/// An empty `holder_identity` means nobody holds the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderElectionRecord {
    /// Identity of the holder, empty when released.
    pub holder_identity: String,
    /// How long the holder may go without renewing before others may take over.
    pub lease_duration: Duration,
    /// When the current holder acquired the lock.
    pub acquire_time: Option<Timestamp>,
    /// When the current holder last renewed it.
    pub renew_time: Option<Timestamp>,
    /// How many times the lock changed hands.
    pub leader_transitions: i32,
}

/// Errors of a [`LeaseStore`].
#[derive(Debug, thiserror::Error)]
pub enum LeaseStoreError {
    /// Someone else wrote the lock since it was read (HTTP 409), or created it first.
    #[error("lease changed concurrently: {0}")]
    Conflict(String),
    /// `update` before any successful `get` or `create`.
    #[error("lease not initialized, call get or create first")]
    NotInitialized,
    /// The API server could not be reached or refused the request.
    #[error("lease API request failed: {0}")]
    Api(#[source] Box<kube::Error>),
    /// Any other failure (used by test stores).
    #[error("{0}")]
    Other(String),
}

/// Where the election lock lives: client-go's `resourcelock.Interface`. An
/// implementation remembers what it last read or wrote so that `update` is
/// conditional on nobody having written since.
pub trait LeaseStore: Send + Sync {
    /// Reads the lock; `Ok(None)` when it does not exist yet.
    fn get(
        &self,
    ) -> impl Future<Output = Result<Option<LeaderElectionRecord>, LeaseStoreError>> + Send;
    /// Creates the lock holding `record`; fails when it already exists.
    fn create(
        &self,
        record: &LeaderElectionRecord,
    ) -> impl Future<Output = Result<(), LeaseStoreError>> + Send;
    /// Overwrites the lock with `record`, conditional on the version last seen.
    fn update(
        &self,
        record: &LeaderElectionRecord,
    ) -> impl Future<Output = Result<(), LeaseStoreError>> + Send;
    /// A human-readable name of the lock for logs (`namespace/name`).
    fn describe(&self) -> String;
}

/// A candidate identity unique to this process: the host name, `_` and a random
/// UUID, as kube-controller-manager and kube-scheduler build theirs
/// (`os.Hostname()` + `"_"` + `uuid.NewUUID()`).
pub fn unique_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}_{}", random_uuid())
}

/// A random (version 4) UUID in its text form.
fn random_uuid() -> String {
    let bits = rand::random::<u128>();
    // Version 4 in bits 48..52 of the text order, variant 0b10 in bits 64..66.
    let bits = (bits & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Settings of one election (client-go `LeaderElectionConfig`).
#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (e.g. `kube-controller-manager`).
    pub lease_name: String,
    /// This candidate's identity, unique per process (kube-controller-manager uses
    /// `hostname_uuid`).
    pub identity: String,
    /// How long non-leaders wait after the last observed renewal before taking over.
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a failed renewal before giving up.
    pub renew_deadline: Duration,
    /// Wait between acquire or renew attempts.
    pub retry_period: Duration,
    /// Release the Lease (empty holder, 1 s duration) when stopping voluntarily, so a
    /// successor does not wait for it to expire.
    pub release_on_cancel: bool,
    /// Name used in metrics; the Lease name by default.
    pub name: String,
}

impl LeaderElectionConfig {
    /// A config with upstream defaults (15 s / 10 s / 2 s, no release on cancel).
    pub fn new(namespace: &str, lease_name: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            lease_name: lease_name.to_string(),
            identity: identity.to_string(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            release_on_cancel: false,
            name: lease_name.to_string(),
        }
    }

    /// Checks the constraints client-go's `NewLeaderElector` enforces.
    pub fn validate(&self) -> Result<(), LeaderElectionError> {
        let invalid = |msg: &str| Err(LeaderElectionError::InvalidConfig(msg.to_string()));
        if self.lease_duration <= self.renew_deadline {
            return invalid("leaseDuration must be greater than renewDeadline");
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return invalid("renewDeadline must be greater than retryPeriod*JitterFactor");
        }
        if self.lease_duration < Duration::from_secs(1) {
            return invalid("leaseDuration must be at least one second");
        }
        if self.retry_period.is_zero() {
            return invalid("retryPeriod must be greater than zero");
        }
        if self.identity.is_empty() {
            return invalid("lock identity is empty");
        }
        Ok(())
    }
}

/// Errors of [`LeaderElector`].
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// The configuration breaks one of client-go's constraints.
    #[error("invalid leader election config: {0}")]
    InvalidConfig(String),
    /// This process led, then failed to renew the Lease within the renew deadline:
    /// another process may be leading now, so this one must stop all work.
    #[error("leader election lost: could not renew lease {lease} within the renew deadline")]
    LeadershipLost {
        /// The Lease, as `namespace/name`.
        lease: String,
    },
}

/// What this candidate knows about leadership, published on [`LeaderElector::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// No attempt has completed yet.
    Unknown,
    /// Another candidate holds a valid lease.
    Follower {
        /// The current holder's identity.
        holder: String,
    },
    /// This candidate holds the lease.
    Leader,
    /// The election stopped (cancelled, leading work finished, or lost).
    Stopped,
}

impl Leadership {
    /// Whether this candidate knows who leads: it leads, or another candidate holds a
    /// valid lease. Not before the first attempt completed, nor after the election
    /// stopped.
    pub fn is_known(&self) -> bool {
        matches!(self, Leadership::Leader | Leadership::Follower { .. })
    }
}

/// A readiness check for [`crate::health`]'s `/readyz` that passes while leadership is
/// known ([`Leadership::is_known`]), fed by [`LeaderElector::subscribe`].
pub fn leadership_known_check(
    status: watch::Receiver<Leadership>,
) -> crate::health::ReadinessCheck {
    std::sync::Arc::new(move || status.borrow().is_known())
}

/// Why [`LeaderElector::run`] returned without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The cancellation token fired (before or while leading).
    Cancelled,
    /// The leading future finished by itself.
    LeadingCompleted,
}

/// A candidate in one election. Create it, [`subscribe`](Self::subscribe) if
/// readiness or logs need the leadership state, then [`run`](Self::run) it.
pub struct LeaderElector<S: LeaseStore = KubeLeaseStore> {
    config: LeaderElectionConfig,
    store: S,
    observed: LeaderElectionRecord,
    observed_time: Instant,
    status: watch::Sender<Leadership>,
}

impl LeaderElector<KubeLeaseStore> {
    /// A candidate for the Lease `config.namespace/config.lease_name` through `client`.
    pub fn new(
        client: kube::Client,
        config: LeaderElectionConfig,
    ) -> Result<Self, LeaderElectionError> {
        let store = KubeLeaseStore::new(client, &config.namespace, &config.lease_name);
        Self::with_store(store, config)
    }
}

impl<S: LeaseStore> LeaderElector<S> {
    /// A candidate using any lock store (tests use an in-memory one).
    pub fn with_store(store: S, config: LeaderElectionConfig) -> Result<Self, LeaderElectionError> {
        config.validate()?;
        let (status, _) = watch::channel(Leadership::Unknown);
        MASTER_STATUS.with_label_values(&[&config.name]).set(0);
        Ok(Self {
            config,
            store,
            observed: LeaderElectionRecord::default(),
            observed_time: Instant::now(),
            status,
        })
    }

    /// A receiver of the leadership state, updated as attempts complete.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.status.subscribe()
    }

    /// True when the last record observed names this candidate as holder.
    fn is_leader(&self) -> bool {
        self.observed.holder_identity == self.config.identity
    }

    /// True when the observed record's lease has not expired on the local clock.
    fn is_lease_valid(&self, now: Instant) -> bool {
        self.observed_time + self.observed.lease_duration > now
    }

    fn set_observed(&mut self, record: LeaderElectionRecord) {
        self.observed = record;
        self.observed_time = Instant::now();
    }

    fn publish(&self, state: Leadership) {
        self.status.send_if_modified(|cur| {
            if *cur == state {
                false
            } else {
                *cur = state;
                true
            }
        });
    }

    /// One attempt to acquire or renew, as client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let now = Instant::now();
        let wall = Timestamp::now();
        let mut desired = LeaderElectionRecord {
            holder_identity: self.config.identity.clone(),
            lease_duration: Duration::from_secs(self.config.lease_duration.as_secs()),
            acquire_time: Some(wall),
            renew_time: Some(wall),
            leader_transitions: 0,
        };

        // 1. Fast path: the leader updates optimistically from what it last wrote.
        if self.is_leader() && self.is_lease_valid(now) {
            desired.acquire_time = self.observed.acquire_time;
            desired.leader_transitions = self.observed.leader_transitions;
            match self.store.update(&desired).await {
                Ok(()) => {
                    self.set_observed(desired);
                    return true;
                }
                Err(err) => {
                    tracing::warn!(lease = %self.store.describe(), %err, "failed to update lease optimistically, falling back to slow path");
                }
            }
        }

        // 2. Read (or create) the record.
        let current = match self.store.get().await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return match self.store.create(&desired).await {
                    Ok(()) => {
                        self.set_observed(desired);
                        true
                    }
                    Err(err) => {
                        tracing::warn!(lease = %self.store.describe(), %err, "error initially creating leader election record");
                        false
                    }
                };
            }
            Err(err) => {
                tracing::warn!(lease = %self.store.describe(), %err, "error retrieving lease");
                return false;
            }
        };

        // 3. Restart the expiry clock only when the record changed.
        if current != self.observed {
            self.set_observed(current.clone());
        }
        if !current.holder_identity.is_empty() && self.is_lease_valid(now) && !self.is_leader() {
            tracing::debug!(holder = %current.holder_identity, "lease is held and has not yet expired");
            self.publish(Leadership::Follower {
                holder: current.holder_identity,
            });
            return false;
        }

        // 4. Take over (or renew through the slow path).
        if self.is_leader() {
            desired.acquire_time = current.acquire_time;
            desired.leader_transitions = current.leader_transitions;
            SLOWPATH_TOTAL.with_label_values(&[&self.config.name]).inc();
        } else {
            desired.leader_transitions = current.leader_transitions.saturating_add(1);
        }
        match self.store.update(&desired).await {
            Ok(()) => {
                self.set_observed(desired);
                true
            }
            Err(err) => {
                tracing::warn!(lease = %self.store.describe(), %err, "failed to update lease");
                false
            }
        }
    }

    /// client-go's `release`: clears the holder so successors need not wait.
    async fn release(&mut self) -> bool {
        if !self.is_leader() {
            return true;
        }
        let now = Timestamp::now();
        let record = LeaderElectionRecord {
            holder_identity: String::new(),
            lease_duration: Duration::from_secs(1),
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: self.observed.leader_transitions,
        };
        match tokio::time::timeout(self.config.renew_deadline, self.store.update(&record)).await {
            Ok(Ok(())) => {
                self.set_observed(record);
                tracing::info!(lease = %self.store.describe(), "released lease");
                true
            }
            Ok(Err(err)) => {
                tracing::warn!(lease = %self.store.describe(), %err, "failed to release lease");
                false
            }
            Err(_) => {
                tracing::warn!(lease = %self.store.describe(), "timed out releasing lease");
                false
            }
        }
    }

    /// Retries renewal every retry period until it succeeds or the renew deadline
    /// passes (client-go's `PollImmediateUntil` inside `renew`).
    async fn renew_within_deadline(&mut self) -> bool {
        let retry = self.config.retry_period;
        let deadline = self.config.renew_deadline;
        let attempts = async {
            loop {
                if self.try_acquire_or_renew().await {
                    return;
                }
                tokio::time::sleep(retry).await;
            }
        };
        tokio::time::timeout(deadline, attempts).await.is_ok()
    }

    fn jittered_retry(&self) -> Duration {
        let factor = rand::random::<f64>() * JITTER_FACTOR;
        self.config.retry_period + self.config.retry_period.mul_f64(factor)
    }

    /// Campaigns until this candidate leads, then runs `on_started_leading` while
    /// renewing the Lease. The future gets a token that is cancelled when leadership
    /// ends. When `cancel` fires, the future is polled until it finishes (at most the
    /// renew deadline) before the Lease is released; when leadership is lost it is
    /// dropped at once. Work it spawns must watch the token.
    ///
    /// Returns `Ok(Cancelled)` when `cancel` fires, `Ok(LeadingCompleted)` when the
    /// leading future finishes, and `Err(LeadershipLost)` when renewal failed for
    /// `renew_deadline` — the caller must then stop (kube-controller-manager exits).
    /// With `release_on_cancel`, the Lease is released on the way out.
    pub async fn run<F, Fut>(
        mut self,
        cancel: CancellationToken,
        on_started_leading: F,
    ) -> Result<RunOutcome, LeaderElectionError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let lease = self.store.describe();
        tracing::info!(%lease, identity = %self.config.identity, "attempting to acquire leader lease");
        loop {
            if cancel.is_cancelled() {
                self.publish(Leadership::Stopped);
                return Ok(RunOutcome::Cancelled);
            }
            let acquired = tokio::select! {
                _ = cancel.cancelled() => false,
                ok = self.try_acquire_or_renew() => ok,
            };
            if acquired {
                break;
            }
            let wait = self.jittered_retry();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }

        tracing::info!(%lease, identity = %self.config.identity, "successfully acquired lease");
        MASTER_STATUS.with_label_values(&[&self.config.name]).set(1);
        self.publish(Leadership::Leader);

        let leading_token = cancel.child_token();
        let mut leading = Box::pin(on_started_leading(leading_token.clone()));
        let outcome = loop {
            let renewed = tokio::select! {
                biased;
                _ = cancel.cancelled() => break Ok(RunOutcome::Cancelled),
                _ = &mut leading => break Ok(RunOutcome::LeadingCompleted),
                ok = self.renew_within_deadline() => ok,
            };
            if !renewed {
                tracing::error!(%lease, "failed to renew lease within the renew deadline");
                break Err(LeaderElectionError::LeadershipLost {
                    lease: lease.clone(),
                });
            }
            tracing::trace!(%lease, "renewed lease");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break Ok(RunOutcome::Cancelled),
                _ = &mut leading => break Ok(RunOutcome::LeadingCompleted),
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
        };

        // Stop the leader's work before anyone else can take the Lease. On a voluntary stop
        // the Lease is still ours, so the work gets up to the renew deadline to observe its
        // token and wind down: releasing first would let a successor act while this
        // process still does (work it spawned would outlive the dropped future).
        leading_token.cancel();
        if matches!(outcome, Ok(RunOutcome::Cancelled))
            && tokio::time::timeout(self.config.renew_deadline, &mut leading)
                .await
                .is_err()
        {
            tracing::warn!(%lease, "leading work did not stop within the renew deadline; dropping it");
        }
        drop(leading);
        MASTER_STATUS.with_label_values(&[&self.config.name]).set(0);
        if self.config.release_on_cancel {
            self.release().await;
        }
        self.publish(Leadership::Stopped);
        outcome
    }
}

#[cfg(test)]
mod tests;
