//! [`run_node_agent`]: the informers, the pool sync, the heartbeat ticker and the pod
//! worker (with its sim and process runtimes) wired together, running until shutdown.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::controller::{ControllerBuilder, reconciler_fn};
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, Selectors, SharedInformerFactory, pod_node_name_index,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::crd::NodePool;
use crate::heartbeat::{HeartbeatConfig, run_heartbeats};
use crate::node::{NodeOptions, POOL_LABEL};
use crate::nodes::{NodeRegistry, PoolCaches, PoolSync};
use crate::pods::{NODE_NAME_INDEX, PodWorker};
use crate::process::{ProcessConfig, ProcessRuntime};
use crate::server::{self, KubeletServer, KubeletServerConfig};

/// Default number of concurrent pod reconciles. The kubelet gives every pod its own
/// worker; one agent stands for many kubelets, so it keeps enough reconciles in flight
/// that a burst of pods is not serialised behind a few slow status writes (with 4, a
/// 1,000-pod Deployment's p99 startup was 1.5 s; with 32, under 1 s: `BENCHMARKS.md`).
pub const DEFAULT_POD_WORKERS: usize = 32;

/// How the agent runs.
#[derive(Clone, Debug)]
pub struct NodeAgentConfig {
    /// Options of the nodes it registers (e.g. the virtual taint).
    pub nodes: NodeOptions,
    /// Lease and status timing.
    pub heartbeat: HeartbeatConfig,
    /// Concurrent pod reconciles.
    pub pod_workers: usize,
    /// How often pools are re-synced when nothing changed.
    pub pool_resync: Duration,
    /// How long to wait for the informers' initial lists.
    pub cache_sync_timeout: Duration,
    /// Multiplies the kubelet's delays, to run lifecycles faster in tests (1.0: real
    /// time; 0.01: 100× faster): the CrashLoopBackOff (10 s doubling to 5 min), probes'
    /// `initialDelaySeconds` and `periodSeconds`, configuration retries, and the sim
    /// runtime's annotated durations. Not probe timeouts nor grace periods:
    /// those bound what real processes get.
    pub time_scale: f64,
    /// Files of the process runtime.
    pub process: ProcessConfig,
    /// The kubelet API (container logs, `/pods`, `/healthz`) the API server proxies
    /// to; `None`: not served.
    pub kubelet: Option<KubeletServerConfig>,
}

impl Default for NodeAgentConfig {
    fn default() -> Self {
        NodeAgentConfig {
            nodes: NodeOptions::default(),
            heartbeat: HeartbeatConfig::default(),
            pod_workers: DEFAULT_POD_WORKERS,
            pool_resync: Duration::from_secs(30),
            cache_sync_timeout: Duration::from_secs(60),
            time_scale: 1.0,
            process: ProcessConfig::default(),
            kubelet: None,
        }
    }
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeAgentError {
    /// An informer could not be set up or started.
    #[error("informer: {0}")]
    Informer(#[from] capstan_runtime::informer::InformerError),
    /// The caches did not fill in time (is the NodePool CRD installed?).
    #[error(transparent)]
    CacheSync(#[from] capstan_runtime::informer::CacheSyncError),
    /// An index could not be added to an informer.
    #[error("index: {0}")]
    Index(#[from] capstan_runtime::informer::IndexError),
    /// The pod worker's controller did not run.
    #[error(transparent)]
    PodWorker(#[from] capstan_runtime::controller::ControllerError),
    /// The kubelet API could not be served.
    #[error(transparent)]
    KubeletServer(#[from] crate::server::ServerError),
}

/// Runs the node agent against `client` until `shutdown` completes: NodePools become
/// Nodes with Leases, and pods bound to them are run by their pool's runtime. When it
/// returns, no process it started is left running.
pub async fn run_node_agent(
    client: Client,
    config: NodeAgentConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeAgentError> {
    let mut config = config;
    let kubelet = match &config.kubelet {
        Some(k) => Some(KubeletServer::bind(k).await?),
        None => None,
    };
    if let Some(k) = &kubelet {
        config.nodes.kubelet_endpoint = Some(k.endpoint().clone());
    }
    let factory = SharedInformerFactory::new(client.clone(), None);
    let pools = factory.informer::<NodePool>();
    let nodes = factory.informer_with::<Node>(Selectors::default().labels(POOL_LABEL));
    let pods = factory.informer_with::<Pod>(Selectors::default().fields("spec.nodeName!="));
    pods.add_index(NODE_NAME_INDEX, pod_node_name_index)?;

    let registry = Arc::new(NodeRegistry::default());
    let time_scale = if config.time_scale.is_finite() && config.time_scale > 0.0 {
        config.time_scale
    } else {
        1.0
    };
    let wake_queue: Arc<OnceLock<capstan_runtime::queue::WorkQueue<ObjectKey>>> =
        Arc::new(OnceLock::new());
    let process = Arc::new(ProcessRuntime::new(
        client.clone(),
        config.process.clone(),
        time_scale,
        {
            let wake_queue = wake_queue.clone();
            Arc::new(move |key: &ObjectKey| {
                if let Some(q) = wake_queue.get() {
                    q.add(key.clone());
                }
            })
        },
    ));
    let worker = Arc::new(PodWorker::new(
        client.clone(),
        pods.lister(),
        registry.clone(),
        process.clone(),
        time_scale,
    ));
    let controller = ControllerBuilder::new("pod-worker")
        .workers(config.pod_workers.max(1))
        .wait_for({
            let pods = pods.clone();
            Arc::new(move || pods.has_synced())
        })
        .build(reconciler_fn(move |key: ObjectKey| {
            let worker = worker.clone();
            async move { worker.reconcile(key).await }
        }));
    let queue = controller.queue();
    let _ = wake_queue.set(queue.clone());
    {
        let (q_add, q_upd, q_del) = (queue.clone(), queue.clone(), queue.clone());
        let (r_add, r_upd) = (registry.clone(), registry.clone());
        let served = move |registry: &NodeRegistry, pod: &Pod| {
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| registry.contains(n))
        };
        pods.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |pod: Arc<Pod>, _| {
                    if served(&r_add, &pod) {
                        q_add.add(ObjectKey::of(pod.as_ref()));
                    }
                })
                .on_update(move |_, pod: Arc<Pod>| {
                    if served(&r_upd, &pod) {
                        q_upd.add(ObjectKey::of(pod.as_ref()));
                    }
                })
                .on_delete(move |gone: DeletedObject<Pod>| {
                    q_del.add(ObjectKey::of(gone.last_state().as_ref()));
                }),
        )?;
    }
    let notify = Arc::new(Notify::new());
    {
        let (a, u, d) = (notify.clone(), notify.clone(), notify.clone());
        pools.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |_: Arc<NodePool>, _| a.notify_one())
                .on_update(move |_, _| u.notify_one())
                .on_delete(move |_| d.notify_one()),
        )?;
        let (a, u, d) = (notify.clone(), notify.clone(), notify.clone());
        nodes.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |_: Arc<Node>, _| a.notify_one())
                .on_update(move |old: Arc<Node>, new: Arc<Node>| {
                    // Heartbeats change only status; changes elsewhere may need undoing,
                    // a heartbeat annotation stops or resumes the node, and a
                    // readiness someone else changed is reported again.
                    if old.metadata.labels != new.metadata.labels
                        || old.metadata.annotations != new.metadata.annotations
                        || old.spec != new.spec
                        || crate::node::is_ready(&old) != crate::node::is_ready(&new)
                    {
                        u.notify_one()
                    }
                })
                .on_delete(move |_| d.notify_one()),
        )?;
    }
    factory.start()?;
    factory
        .wait_for_cache_sync(Instant::now() + config.cache_sync_timeout)
        .await?;

    let pod_lister = pods.lister();
    let on_served = {
        let queue = queue.clone();
        Arc::new(move |node: &str| {
            for pod in pod_lister
                .by_index(NODE_NAME_INDEX, node)
                .unwrap_or_default()
            {
                queue.add(ObjectKey::of(pod.as_ref()));
            }
        })
    };
    let token = CancellationToken::new();
    let sync = PoolSync::new(
        client.clone(),
        PoolCaches {
            pools: pools.lister(),
            nodes: nodes.lister(),
            pods: pods.lister(),
        },
        registry.clone(),
        config.nodes.clone(),
        config.heartbeat.clone(),
        on_served,
    );
    let sync_task = tokio::spawn(sync.run(notify, config.pool_resync, token.clone()));
    let kubelet_task = kubelet.map(|server| {
        let ctx = Arc::new(server::Context {
            pods: pods.lister(),
            registry: registry.clone(),
            process: process.clone(),
        });
        tokio::spawn(server.serve(ctx, token.clone()))
    });
    let beat_task = tokio::spawn(run_heartbeats(
        client.clone(),
        registry,
        config.heartbeat.clone(),
        token.clone(),
    ));
    let stop = token.clone();
    let result = controller
        .run(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = stop.cancelled() => {}
            }
        })
        .await;
    token.cancel();
    process.shutdown().await;
    let _ = sync_task.await;
    let _ = beat_task.await;
    if let Some(task) = kubelet_task {
        let _ = task.await;
    }
    factory.shutdown().await;
    result.map_err(NodeAgentError::from)
}
