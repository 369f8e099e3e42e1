//! The leader-election flags of kube-controller-manager and kube-scheduler
//! (`--leader-elect*`), shared by the components that take them on the command line.

use std::time::Duration;

use capstan_runtime::leader::LeaderElectionConfig;
use clap::{ArgAction, Args};

use crate::controller_manager::humantime_secs;

/// `--leader-elect` and the Lease's namespace and timings; each component names its
/// own Lease (`--leader-elect-resource-name`, whose default differs).
#[derive(Debug, Args)]
pub struct LeaderElectionFlags {
    /// Elect a leader on a Lease before running, so that of several replicas only
    /// one works at a time (`--leader-elect=false` to run unconditionally).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    pub leader_elect: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// How long followers wait after the last renewal before taking over.
    #[arg(long, value_parser = humantime_secs, default_value = "15s")]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader retries renewing before giving up.
    #[arg(long, value_parser = humantime_secs, default_value = "10s")]
    pub leader_elect_renew_deadline: Duration,
    /// Wait between acquire or renew attempts.
    #[arg(long, value_parser = humantime_secs, default_value = "2s")]
    pub leader_elect_retry_period: Duration,
}

impl LeaderElectionFlags {
    /// The election on the Lease `lease_name` as `identity` (see
    /// [`capstan_runtime::leader::unique_identity`]), or `None` with
    /// `--leader-elect=false`. `release_on_cancel` hands the Lease over at once on a
    /// graceful stop (kube-scheduler does, kube-controller-manager does not).
    pub fn config(
        &self,
        lease_name: &str,
        identity: &str,
        release_on_cancel: bool,
    ) -> Option<LeaderElectionConfig> {
        self.leader_elect.then(|| LeaderElectionConfig {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
            release_on_cancel,
            ..LeaderElectionConfig::new(&self.leader_elect_resource_namespace, lease_name, identity)
        })
    }
}
