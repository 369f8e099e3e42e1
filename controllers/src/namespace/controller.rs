//! The namespace controller's shell on capstan-runtime (upstream
//! `NamespaceController`): a Namespace informer whose add and update events
//! enqueue namespaces being deleted after a short delay, and a reconcile that
//! runs one [`NamespacedResourcesDeleter::delete`] pass, looking again after
//! `estimate/2 + 1` seconds while content remains and with backoff on errors.

use crate::util::queued::QueuedController;
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler};
use capstan_runtime::informer::{EventHandlerFns, InformerError, Lister, SharedInformerFactory};
use capstan_runtime::queue::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, WorkQueue,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;

use super::content::requeue_after;
use super::deleter::{DeleteError, NamespacedResourcesDeleter};

/// The controller's queue name (upstream's `namespace`).
pub const QUEUE_NAME: &str = "namespace";

/// Settings of a [`NamespaceController`].
#[derive(Debug, Clone)]
pub struct NamespaceControllerConfig {
    /// Concurrent syncs (`--concurrent-namespace-syncs`, default 10).
    pub workers: usize,
    /// How long a namespace event waits before it is processed, so that last
    /// creations inside it are observed (upstream `namespaceDeletionGracePeriod`,
    /// 5 s).
    pub deletion_grace_period: Duration,
    /// The wall clock condition times and pod-termination estimates read.
    pub clock: SharedClock,
}

impl Default for NamespaceControllerConfig {
    fn default() -> Self {
        Self {
            workers: 10,
            deletion_grace_period: Duration::from_secs(5),
            clock: RealClock::shared(),
        }
    }
}

/// One namespace's deletion pass per key.
pub struct NamespaceReconciler {
    namespaces: Lister<Namespace>,
    deleter: NamespacedResourcesDeleter,
}

impl Reconciler for NamespaceReconciler {
    type Error = DeleteError;

    /// One deletion pass for the namespace named by `key` (upstream
    /// `syncNamespaceFromKey`): nothing once it is gone from the cache, else
    /// [`NamespacedResourcesDeleter::delete`], looking again later while content
    /// remains.
    async fn reconcile(&self, key: ObjectKey) -> Result<Action, DeleteError> {
        if self.namespaces.get_key(&key).is_none() {
            return Ok(Action::Done);
        }
        match self.deleter.delete(key.name()).await {
            Ok(()) => Ok(Action::Done),
            Err(DeleteError::ResourcesRemaining { estimate }) => {
                tracing::debug!(namespace = %key, estimate, "content remaining in namespace");
                Ok(Action::RequeueAfter(requeue_after(estimate)))
            }
            Err(e) => Err(e),
        }
    }
}

/// kube-controller-manager's namespace controller (`namespace-controller`).
pub type NamespaceController = QueuedController<NamespaceReconciler>;

impl NamespaceController {
    /// Builds the controller on `factory`'s Namespace informer, writing through
    /// `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &NamespaceControllerConfig,
    ) -> Result<Self, InformerError> {
        let informer = factory.informer::<Namespace>();
        let synced = informer.synced_check();
        // Upstream: exponential 5 ms .. 60 s, and 10 qps / burst 100 overall.
        let limiter = MaxOfRateLimiter::new(vec![
            Box::new(ItemExponentialFailureRateLimiter::new(
                Duration::from_millis(5),
                Duration::from_secs(60),
            )),
            Box::new(BucketRateLimiter::new(10.0, 100)),
        ]);
        let controller = ControllerBuilder::new(QUEUE_NAME)
            .workers(config.workers)
            .rate_limiter(Arc::new(limiter))
            .wait_for(synced.clone())
            .build(NamespaceReconciler {
                namespaces: informer.lister(),
                deleter: NamespacedResourcesDeleter::new(client, config.clock.clone()),
            });
        let queue = controller.queue();
        let grace = config.deletion_grace_period;
        let (q1, q2) = (queue.clone(), queue);
        informer.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |ns: Arc<Namespace>, _| enqueue(&q1, &ns, grace))
                .on_update(move |_, ns: Arc<Namespace>| enqueue(&q2, &ns, grace)),
        )?;
        Ok(QueuedController::wrap(controller, synced))
    }
}

/// Upstream `enqueueNamespace`: only namespaces being deleted, after the grace
/// delay.
fn enqueue(queue: &WorkQueue<ObjectKey>, ns: &Namespace, grace: Duration) {
    if ns.metadata.deletion_timestamp.is_none() {
        return;
    }
    queue.add_after(ObjectKey::of(ns), grace);
}
