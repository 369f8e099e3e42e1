//! Running a set of controllers in one process, as kube-controller-manager does:
//! one shared informer factory, each enabled controller with its own queue and
//! workers, a readiness check for the caches, and a graceful stop. Both
//! `capstan controller-manager` and `capstan up` start controllers through here.

use std::future::Future;
use std::sync::Arc;

use capstan_runtime::controller::{RunError, SyncCheck};
use capstan_runtime::informer::SharedInformerFactory;
use kube::Client;

use crate::deployment::controller::{DeploymentController, DeploymentControllerConfig};
use crate::namespace::{NamespaceController, NamespaceControllerConfig};
use crate::replicaset::controller::{ReplicaSetController, ReplicaSetControllerConfig, SetupError};

/// Upstream name of the ReplicaSet controller (`--controllers`).
pub const REPLICASET_CONTROLLER: &str = "replicaset-controller";

/// Upstream name of the Deployment controller (`--controllers`).
pub const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";

/// Upstream name of the garbage collector (`--controllers`).
pub const GARBAGE_COLLECTOR_CONTROLLER: &str = "garbage-collector-controller";

/// Upstream name of the namespace controller (`--controllers`).
pub const NAMESPACE_CONTROLLER: &str = "namespace-controller";

/// The controllers this crate can run, by upstream name, with the short aliases
/// kube-controller-manager also accepts.
pub const KNOWN_CONTROLLERS: &[(&str, &str)] = &[
    (REPLICASET_CONTROLLER, "replicaset"),
    (DEPLOYMENT_CONTROLLER, "deployment"),
    (GARBAGE_COLLECTOR_CONTROLLER, "garbagecollector"),
    (NAMESPACE_CONTROLLER, "namespace"),
];

/// Errors of a controllers selection or of running the controllers.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// `--controllers` named a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// A controller could not be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A controller's caches did not sync.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The garbage collector stopped with an error.
    #[error(transparent)]
    GarbageCollector(#[from] crate::gc::GcError),
    /// An informer event handler could not be registered.
    #[error("registering event handler: {0}")]
    Handler(capstan_runtime::informer::InformerError),
    /// The informers could not start.
    #[error("starting informers: {0}")]
    Informers(#[from] capstan_runtime::informer::InformerError),
}

/// Which controllers run, from kube-controller-manager's `--controllers` list:
/// `*` enables every controller that is on by default, `name` enables one,
/// `-name` disables one (and wins over `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSelection {
    entries: Vec<String>,
}

impl Default for ControllerSelection {
    fn default() -> Self {
        Self {
            entries: vec!["*".to_string()],
        }
    }
}

/// The upstream name for `name` (itself or its alias), if known.
fn canonical(name: &str) -> Option<&'static str> {
    KNOWN_CONTROLLERS
        .iter()
        .find(|(full, alias)| *full == name || *alias == name)
        .map(|(full, _)| *full)
}

impl ControllerSelection {
    /// Parses the entries of `--controllers`, refusing unknown names.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ManagerError> {
        let mut out = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if e == "*" {
                out.push(e.to_string());
                continue;
            }
            let (neg, name) = match e.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, e),
            };
            let full =
                canonical(name).ok_or_else(|| ManagerError::UnknownController(name.to_string()))?;
            out.push(if neg {
                format!("-{full}")
            } else {
                full.to_string()
            });
        }
        Ok(Self { entries: out })
    }

    /// Whether the controller with upstream name `name` runs.
    pub fn is_enabled(&self, name: &str) -> bool {
        let mut star = false;
        let mut explicit = None;
        for e in &self.entries {
            if e == "*" {
                star = true;
            } else if e.strip_prefix('-') == Some(name) {
                explicit = Some(false);
            } else if e == name {
                explicit = Some(true);
            }
        }
        explicit.unwrap_or(star)
    }
}

/// Settings of [`run_controllers`] (kube-controller-manager's flags).
#[derive(Debug, Clone)]
pub struct ControllersConfig {
    /// Which controllers run (`--controllers`).
    pub selection: ControllerSelection,
    /// `--concurrent-replicaset-syncs` (default 5).
    pub concurrent_replicaset_syncs: usize,
    /// `--concurrent-deployment-syncs` (default 5).
    pub concurrent_deployment_syncs: usize,
    /// `--concurrent-namespace-syncs` (default 10).
    pub concurrent_namespace_syncs: usize,
    /// The instance name events are reported from.
    pub instance: String,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        Self {
            selection: ControllerSelection::default(),
            concurrent_replicaset_syncs: 5,
            concurrent_deployment_syncs: 5,
            concurrent_namespace_syncs: 10,
            instance: "capstan".to_string(),
        }
    }
}

/// The enabled controllers over one shared informer factory, built but not yet
/// running.
pub struct ControllerManager {
    factory: SharedInformerFactory,
    replica_sets: Option<ReplicaSetController>,
    deployments: Option<DeploymentController>,
    garbage_collector: Option<Client>,
    namespaces: Option<NamespaceController>,
    enabled: Vec<&'static str>,
    synced: Vec<SyncCheck>,
}

impl ControllerManager {
    /// Builds every enabled controller on a fresh informer factory over `client`.
    /// Call inside a tokio runtime.
    pub fn new(client: Client, config: &ControllersConfig) -> Result<Self, ManagerError> {
        let factory = SharedInformerFactory::new(client.clone(), None);
        let mut enabled = Vec::new();
        let replica_sets = if config.selection.is_enabled(REPLICASET_CONTROLLER) {
            enabled.push(REPLICASET_CONTROLLER);
            Some(ReplicaSetController::new(
                &factory,
                client.clone(),
                &ReplicaSetControllerConfig {
                    workers: config.concurrent_replicaset_syncs,
                    instance: config.instance.clone(),
                    record_events: true,
                },
            )?)
        } else {
            None
        };
        let deployments = if config.selection.is_enabled(DEPLOYMENT_CONTROLLER) {
            enabled.push(DEPLOYMENT_CONTROLLER);
            Some(DeploymentController::new(
                &factory,
                client.clone(),
                &DeploymentControllerConfig {
                    workers: config.concurrent_deployment_syncs,
                    instance: config.instance.clone(),
                    record_events: true,
                },
            )?)
        } else {
            None
        };
        let garbage_collector = if config.selection.is_enabled(GARBAGE_COLLECTOR_CONTROLLER) {
            enabled.push(GARBAGE_COLLECTOR_CONTROLLER);
            Some(client.clone())
        } else {
            None
        };
        let namespaces = if config.selection.is_enabled(NAMESPACE_CONTROLLER) {
            enabled.push(NAMESPACE_CONTROLLER);
            Some(
                NamespaceController::new(
                    &factory,
                    client.clone(),
                    &NamespaceControllerConfig {
                        workers: config.concurrent_namespace_syncs,
                        ..NamespaceControllerConfig::default()
                    },
                )
                .map_err(ManagerError::Handler)?,
            )
        } else {
            None
        };
        let synced = replica_sets
            .iter()
            .map(ReplicaSetController::synced_check)
            .chain(deployments.iter().map(DeploymentController::synced_check))
            .chain(namespaces.iter().map(NamespaceController::synced_check))
            .collect();
        Ok(Self {
            factory,
            replica_sets,
            deployments,
            garbage_collector,
            namespaces,
            enabled,
            synced,
        })
    }

    /// The upstream names of the controllers that will run.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// A readiness check: true once every informer cache has synced.
    pub fn synced_check(&self) -> SyncCheck {
        let checks = self.synced.clone();
        Arc::new(move || checks.iter().all(|c| c()))
    }

    /// Starts the informers and runs every controller until `shutdown` completes,
    /// then lets in-flight syncs finish and stops the informers. Returns the
    /// first controller's error (its caches did not sync), after stopping the
    /// others.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ManagerError> {
        self.factory.start()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(rs) = self.replica_sets {
            let run = rs.run(stopped());
            tasks.spawn(async move { run.await.map_err(ManagerError::from) });
        }
        if let Some(d) = self.deployments {
            let run = d.run(stopped());
            tasks.spawn(async move { run.await.map_err(ManagerError::from) });
        }
        if let Some(ns) = self.namespaces {
            let run = ns.run(stopped());
            tasks.spawn(async move { run.await.map_err(ManagerError::from) });
        }
        if let Some(client) = self.garbage_collector {
            // The collector's metadata informers come from the shared factory.
            let factory = self.factory.clone();
            let stop = stopped();
            tasks.spawn(async move {
                let config = crate::gc::shell::GcConfig::default();
                crate::gc::run_garbage_collector_on(&factory, client, config, stop)
                    .await
                    .map_err(ManagerError::from)
            });
        }
        tracing::info!(controllers = ?self.enabled, "started controllers");
        tokio::pin!(shutdown);
        let mut first_err: Option<ManagerError> = None;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                done = tasks.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { first_err = Some(e); break; }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "controller task failed");
                    }
                },
            }
        }
        let _ = stop_tx.send(true);
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        self.factory.shutdown().await;
        tracing::info!("controllers stopped");
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Builds and runs the enabled controllers until `shutdown` completes (the
/// in-process entry point `capstan up` uses).
pub async fn run_controllers(
    client: Client,
    config: &ControllersConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ManagerError> {
    ControllerManager::new(client, config)?.run(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_enables_all_and_minus_disables() {
        let all = ControllerSelection::parse(&["*"]).unwrap();
        assert!(all.is_enabled(REPLICASET_CONTROLLER));
        let none = ControllerSelection::parse(&["*", "-replicaset-controller"]).unwrap();
        assert!(!none.is_enabled(REPLICASET_CONTROLLER));
        let alias = ControllerSelection::parse(&["-replicaset", "*"]).unwrap();
        assert!(!alias.is_enabled(REPLICASET_CONTROLLER));
        assert!(alias.is_enabled(DEPLOYMENT_CONTROLLER));
        let explicit = ControllerSelection::parse(&["replicaset"]).unwrap();
        assert!(explicit.is_enabled(REPLICASET_CONTROLLER));
        assert!(!explicit.is_enabled(DEPLOYMENT_CONTROLLER));
        let empty = ControllerSelection::parse::<&str>(&[]).unwrap();
        assert!(!empty.is_enabled(REPLICASET_CONTROLLER));
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = ControllerSelection::parse(&["*", "-nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"nope\" is not in the list of known controllers"
        );
    }
}
