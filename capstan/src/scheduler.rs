//! `capstan scheduler`: capstan-scheduler against any cluster (kubeconfig from the
//! environment), leader-elected through a Lease, with `/healthz`, `/readyz` and
//! `/metrics` on `--bind-address` (`capstan up`'s in-process one is in `capstan::up`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use capstan_runtime::client::client_with_rate_limit;
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{ElectedConfig, LeaderElectionConfig, run_elected, unique_identity};
use capstan_scheduler::config::KubeSchedulerConfiguration;
use capstan_scheduler::shell::{RunOptions, run_scheduler_with};
use clap::Args;

/// Flags of `capstan scheduler` (named as kube-scheduler's).
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// A KubeSchedulerConfiguration file (YAML or JSON); defaults: one profile
    /// `capstan-scheduler` with the default plugins.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Elect a leader through the Lease `kube-system/capstan-scheduler` (or the
    /// configuration's `leaderElection.resourceNamespace/resourceName`) before
    /// scheduling. Overrides the configuration's `leaderElection.leaderElect`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: Option<bool>,
    /// Address of the health and metrics server (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, default_value = "127.0.0.1:10259")]
    bind_address: SocketAddr,
    /// Queries per second to the API server (kube-scheduler's clientConnection.qps).
    #[arg(long, default_value_t = 50.0)]
    kube_api_qps: f32,
    /// Burst of queries to the API server (kube-scheduler's clientConnection.burst).
    #[arg(long, default_value_t = 100)]
    kube_api_burst: u32,
    /// Feature gates, as kube-scheduler's: `Name=true|false` pairs, comma-separated.
    /// Known: `OpportunisticBatching` (default true: pods alike reuse each other's
    /// per-node results; decisions are the same either way).
    #[arg(long, value_delimiter = ',')]
    feature_gates: Vec<String>,
}

/// The feature gates `capstan scheduler` knows, with upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FeatureGates {
    opportunistic_batching: bool,
}

impl Default for FeatureGates {
    fn default() -> Self {
        FeatureGates {
            opportunistic_batching: true,
        }
    }
}

/// Parses `--feature-gates` pairs; an unknown gate or a value that is not a
/// boolean is an error, as in kube-scheduler.
fn parse_feature_gates(pairs: &[String]) -> Result<FeatureGates> {
    let mut gates = FeatureGates::default();
    for pair in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("missing bool value for {pair}"))?;
        let value = match value.trim() {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
            "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
            other => anyhow::bail!("invalid value of {name}={other}, err: not a boolean"),
        };
        match name.trim() {
            "OpportunisticBatching" => gates.opportunistic_batching = value,
            other => anyhow::bail!("unrecognized feature gate: {other}"),
        }
    }
    Ok(gates)
}

fn load_config(path: Option<&PathBuf>) -> Result<KubeSchedulerConfiguration> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading scheduler config {}", p.display()))?;
            KubeSchedulerConfiguration::from_yaml(&text)
                .with_context(|| format!("loading scheduler config {}", p.display()))
        }
        None => Ok(KubeSchedulerConfiguration::default()),
    }
}

/// Runs `capstan scheduler` until SIGINT/SIGTERM (or until leadership is lost, which is an
/// error: another instance may be scheduling now).
pub async fn run(args: SchedulerArgs) -> Result<()> {
    let gates = parse_feature_gates(&args.feature_gates)?;
    let mut config = load_config(args.config.as_ref())?;
    if let Some(elect) = args.leader_elect {
        config.leader_election.leader_elect = elect;
    }
    let kube_config = kube::Config::infer()
        .await
        .context("loading a kubeconfig from the environment")?;
    let client = client_with_rate_limit(kube_config, args.kube_api_qps, args.kube_api_burst)
        .context("building the API client")?;
    let health = HealthServer::bind(args.bind_address)
        .await
        .context("binding the health server")?;
    let options = RunOptions {
        synced: None,
        reporting_instance: None,
        disable_batching: !gates.opportunistic_batching,
    };
    serve(client, config, options, health, ElectedConfig::new(None)).await
}

/// The election `config.leaderElection` asks for: `None` unless `leaderElect`. The
/// Lease is released on a graceful stop, as kube-scheduler's `ReleaseOnCancel`.
fn leader_election(config: &KubeSchedulerConfiguration) -> Result<Option<LeaderElectionConfig>> {
    let le = &config.leader_election;
    if !le.leader_elect {
        return Ok(None);
    }
    let (lease_duration, renew_deadline, retry_period) = le.durations()?;
    Ok(Some(LeaderElectionConfig {
        lease_duration,
        renew_deadline,
        retry_period,
        release_on_cancel: true,
        ..LeaderElectionConfig::new(
            &le.resource_namespace,
            &le.resource_name,
            &unique_identity(),
        )
    }))
}

/// Schedules with `config` on `client` under [`run_elected`], behind the Lease of
/// `config.leaderElection` when `leaderElect` is set (replacing `elected`'s
/// election), directly otherwise. `/readyz` gets kube-scheduler's
/// `sched-handler-sync` check once scheduling starts.
async fn serve(
    client: kube::Client,
    config: KubeSchedulerConfiguration,
    mut options: RunOptions,
    health: HealthServer,
    mut elected: ElectedConfig,
) -> Result<()> {
    elected.leader_election = leader_election(&config)?;
    let worker = client.clone();
    run_elected(client, health, elected, |ctx| async move {
        let synced = options.synced.get_or_insert_default().clone();
        ctx.readiness.add_check(
            "sched-handler-sync",
            Arc::new(move || synced.load(Ordering::SeqCst)),
        );
        run_scheduler_with(worker, config, options, ctx.stop.cancelled_owned()).await
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_elects_on_the_capstan_lease() {
        let c = load_config(None).unwrap();
        assert!(c.leader_election.leader_elect);
        assert_eq!(c.leader_election.resource_namespace, "kube-system");
        assert_eq!(c.leader_election.resource_name, "capstan-scheduler");
        assert_eq!(
            c.profiles[0].scheduler_name.as_deref(),
            Some("capstan-scheduler")
        );
    }

    /// Two leader-elected instances: only the Lease holder schedules; when it stops
    /// (releasing the Lease) the other takes over and schedules new pods.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_leader_schedules_and_the_follower_takes_over() {
        use k8s_openapi::api::coordination::v1::Lease;
        use k8s_openapi::api::core::v1::{Event, Node, Pod};
        use kube::Api;
        use kube::api::{ListParams, Patch, PatchParams, PostParams};
        use serde_json::json;
        use std::time::Duration;
        use tokio::time::Instant;
        use tokio_util::sync::CancellationToken;

        use capstan_apiserver::{Admission, AdmissionConfig, TestServer};
        // No node lifecycle controller runs here to take the not-ready taint off n1.
        let server = TestServer::start_with_admission(
            AdmissionConfig::all().without(Admission::TaintNodesByCondition),
        )
        .await
        .unwrap();
        let client = server.client().await;
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let room = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
        nodes
            .patch_status(
                "n1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"allocatable": room, "capacity": room,
                    "conditions": [{"type": "Ready", "status": "True"}]}})),
            )
            .await
            .unwrap();
        let config = KubeSchedulerConfiguration::from_yaml(
            "leaderElection:\n  leaderElect: true\n  leaseDuration: 2s\n  renewDeadline: 1500ms\n  retryPeriod: 200ms\nprofiles:\n- schedulerName: capstan-scheduler\n",
        )
        .unwrap();
        let start = |instance: &str| {
            let cancel = CancellationToken::new();
            let options = RunOptions {
                synced: None,
                reporting_instance: Some(instance.to_string()),
                ..RunOptions::default()
            };
            let elected = ElectedConfig {
                stop_on_signals: false,
                shutdown: cancel.clone(),
                ..ElectedConfig::new(None)
            };
            let client = client.clone();
            let config = config.clone();
            let task = tokio::spawn(async move {
                let health = HealthServer::bind("127.0.0.1:0".parse()?).await?;
                serve(client, config, options, health, elected).await
            });
            (cancel, task)
        };
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let holder = async || {
            leases
                .get_opt("capstan-scheduler")
                .await
                .unwrap()
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty())
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let (stop_a, task_a) = start("instance-a");
        let first_holder = loop {
            if let Some(h) = holder().await {
                break h;
            }
            assert!(Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (stop_b, task_b) = start("instance-b");

        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let events: Api<Event> = Api::namespaced(client.clone(), "default");
        let create = async |name: &str| {
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"schedulerName": "capstan-scheduler",
                         "containers": [{"name": "app", "image": "pause"}]},
            }))
            .unwrap();
            pods.create(&PostParams::default(), &pod).await.unwrap();
        };
        // The instance that recorded the pod's Scheduled event.
        let scheduled_by = async |name: &str| {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found = events
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .filter(|e| {
                        e.involved_object.name.as_deref() == Some(name)
                            && e.reason.as_deref() == Some("Scheduled")
                    })
                    .filter_map(|e| e.reporting_instance)
                    .collect::<Vec<_>>();
                if !found.is_empty() {
                    return found;
                }
                assert!(Instant::now() < deadline, "{name} not scheduled");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        create("one").await;
        assert_eq!(scheduled_by("one").await, ["instance-a"]);
        assert_eq!(holder().await.as_deref(), Some(first_holder.as_str()));

        stop_a.cancel();
        task_a.await.unwrap().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while holder().await.is_none_or(|h| h == first_holder) {
            assert!(Instant::now() < deadline, "the follower did not take over");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        create("two").await;
        assert_eq!(scheduled_by("two").await, ["instance-b"]);

        stop_b.cancel();
        task_b.await.unwrap().unwrap();
    }

    #[test]
    fn feature_gates_parse_as_kube_schedulers() {
        assert!(parse_feature_gates(&[]).unwrap().opportunistic_batching);
        let off = parse_feature_gates(&["OpportunisticBatching=false".into()]).unwrap();
        assert!(!off.opportunistic_batching);
        let on = parse_feature_gates(&[" OpportunisticBatching=true ".into()]).unwrap();
        assert!(on.opportunistic_batching);
        let err = parse_feature_gates(&["NoSuchGate=true".into()]).unwrap_err();
        assert_eq!(err.to_string(), "unrecognized feature gate: NoSuchGate");
        let err = parse_feature_gates(&["OpportunisticBatching=maybe".into()]).unwrap_err();
        assert!(
            err.to_string().contains("OpportunisticBatching=maybe"),
            "{err}"
        );
        assert!(parse_feature_gates(&["OpportunisticBatching".into()]).is_err());
    }
}
