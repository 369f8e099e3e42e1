//! Shared by the scheduler's integration tests against `TestServer`: polling with a
//! deadline, reading a pod's node, and a scheduler run in the test's runtime.

#![allow(dead_code)]

use std::time::Duration;

use capstan_apiserver::{Admission, AdmissionConfig, TestServer};
use capstan_scheduler::config::KubeSchedulerConfiguration;
use capstan_scheduler::shell::{SchedulerError, run_scheduler};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a test waits for the scheduler to reach what it expects.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `get` until `done` holds for its value or [`DEADLINE`] passes; returns the
/// last value seen.
pub async fn poll<T: std::fmt::Debug>(
    what: &str,
    mut get: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let v = get().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: last seen {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node a pod is bound to, if any.
pub fn bound_to(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()?
        .node_name
        .clone()
        .filter(|n| !n.is_empty())
}

/// A scheduler serving `default-scheduler`, running until [`Scheduler::stop`].
pub struct Scheduler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), SchedulerError>>,
}

impl Scheduler {
    /// Starts the scheduler against the cluster `client` talks to.
    pub fn start(client: &Client) -> Scheduler {
        let config = KubeSchedulerConfiguration::from_yaml(
            "profiles:\n- schedulerName: default-scheduler\n",
        )
        .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_scheduler(client.clone(), config, async {
            let _ = stopped.await;
        }));
        Scheduler { stop, task }
    }

    /// Shuts it down and checks it stopped cleanly.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("scheduler stops on shutdown")
            .unwrap()
            .unwrap();
    }
}

/// The embedded API server as upstream's scheduler integration tests start theirs
/// (`InitTestAPIServer`): without `TaintNodesByCondition`, since no node lifecycle
/// controller runs here to take the not-ready taint off the nodes the tests create.
pub async fn test_server() -> TestServer {
    TestServer::start_with_admission(
        AdmissionConfig::all().without(Admission::TaintNodesByCondition),
    )
    .await
    .expect("test server starts")
}
