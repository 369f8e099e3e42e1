//! `taint-eviction-controller` (upstream `pkg/controller/tainteviction`, split out of
//! the node lifecycle controller in 1.29): pods are deleted from nodes with
//! `NoExecute` taints they do not tolerate.
//!
//! For each pod bound to a node with `NoExecute` taints (upstream `processPodOnNode`,
//! decided by [`plan::decide`]):
//! - a taint it does not tolerate (or a `tolerationSeconds` of zero or less): the
//!   pod is deleted at once;
//! - all tolerated, some for a finite `tolerationSeconds`: deleted when the smallest
//!   of them has run out, counted from when the controller first saw the pod on the
//!   tainted node (upstream's `TimedWorkerQueue`);
//! - all tolerated forever: never; a deletion scheduled before is cancelled, as it
//!   is when the taints go, the pod leaves the node or is deleted.
//!
//! A deletion ([`evict`]) records the Event `TaintManagerEviction` "Marking for
//! deletion Pod ns/name", reads the pod fresh, leaves it alone when it is gone,
//! another pod of that name or already terminating, else sets the `DisruptionTarget`
//! condition (reason `DeletionByTaintManager`) through the status subresource and
//! deletes it with its uid as precondition. A cancelled deletion records
//! `TaintManagerEviction` "Cancelling deletion of Pod ns/name".
//!
//! Shape: upstream keeps two queues (node and pod updates) sharded by node name over
//! eight workers, and a goroutine timer per scheduled deletion. Here one work queue
//! of the shared kit holds both kinds of key (a node's is cluster-scoped, a pod's
//! namespaced) over eight workers (upstream's `UpdateWorkerSize`; no flag, as
//! upstream); the tainted nodes and scheduled deletions ([`state::Evictions`]) sit
//! behind one lock, taken for each decision, which gives the node/pod ordering
//! upstream's sharding gives; a scheduled deletion's timer is the delayed requeue of
//! its pod's key, and the pod's sync carries the deletion out once due by the
//! controller's clock. A failed deletion is retried with the queue's backoff and
//! is never postponed by a re-evaluation (as upstream's eviction retry queue).

pub mod evict;
pub mod plan;
pub mod state;

use std::sync::{Arc, OnceLock};

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::SharedClock;
use capstan_runtime::controller::{Action, ControllerBuilder, Reconciler, synced_all};
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, Lister, POD_NODE_NAME_INDEX, SharedInformerFactory,
    pod_node_name_index,
};
use capstan_runtime::queue::WorkQueue;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Taint};
use kube::Client;
use parking_lot::Mutex;

use crate::replicaset::controller::{SetupError, ensure_index};
use crate::util::queued::QueuedController;
use evict::{EvictError, Evicted, add_condition_and_delete};
use plan::no_execute_taints;
use state::Evictions;

/// Upstream name of the taint eviction controller (`--controllers`).
pub const TAINT_EVICTION_CONTROLLER: &str = "taint-eviction-controller";
/// Its work queue's name (upstream has two, `noexec_taint_node` and
/// `noexec_taint_pod`).
pub const TAINT_EVICTION_QUEUE: &str = "noexec_taint";
/// Upstream's `UpdateWorkerSize`: the controller's workers (no flag sets it).
pub const UPDATE_WORKER_SIZE: usize = 8;
/// The Event reason of deletions and their cancellations.
pub const TAINT_MANAGER_EVICTION: &str = "TaintManagerEviction";

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct TaintEvictionConfig {
    /// Concurrent syncs.
    pub workers: usize,
    /// The instance name Events are reported from.
    pub instance: String,
    /// Whether to record Events.
    pub record_events: bool,
    /// The clock deadlines are counted on.
    pub clock: SharedClock,
}

/// The sync of one key: a node's (cluster-scoped key) or a pod's.
pub struct TaintEvictionReconciler {
    client: Client,
    pods: Lister<Pod>,
    nodes: Lister<Node>,
    clock: SharedClock,
    recorder: Option<Recorder>,
    state: Mutex<Evictions>,
    queue: OnceLock<WorkQueue<ObjectKey>>,
}

impl TaintEvictionReconciler {
    /// A node's sync (upstream `handleNodeUpdate`): its `NoExecute` taints recorded,
    /// each of its pods decided at one `now`, their keys queued for when their
    /// deletion is due.
    fn sync_node(&self, name: &str) {
        let node = self.nodes.get_key(&ObjectKey::cluster(name));
        let now = self.clock.now();
        let outcome = {
            let mut state = self.state.lock();
            // Listed under the lock: a pod bound after this list is synced on its
            // own add, after this sync has recorded the taints.
            let pods = match self.pods.by_index(POD_NODE_NAME_INDEX, name) {
                Ok(pods) => pods,
                Err(err) => {
                    tracing::error!(node = name, %err, "listing the node's pods");
                    Vec::new()
                }
            };
            state.sync_node(name, node.as_deref(), &pods, now)
        };
        for pod in &outcome.cancelled {
            self.record(pod, "Cancelling deletion of Pod");
        }
        if let Some(queue) = self.queue.get() {
            for (pod, delay) in outcome.enqueue {
                queue.add_after(pod, delay);
            }
        }
    }

    /// A pod's sync (upstream `handlePodUpdate`, and the timed worker once due).
    async fn sync_pod(&self, key: &ObjectKey, namespace: &str) -> Result<Action, EvictError> {
        let pod = self.pods.get_key(key);
        let now = self.clock.now();
        let outcome = self.state.lock().sync_pod(key, pod.as_deref(), now);
        if outcome.cancelled {
            self.record(key, "Cancelling deletion of Pod");
        }
        let Some(eviction) = outcome.evict else {
            return Ok(outcome
                .requeue_after
                .map_or(Action::Done, Action::RequeueAfter));
        };
        tracing::info!(controller = TAINT_EVICTION_CONTROLLER, pod = %key, "Deleting pod");
        if eviction.record_event {
            self.record(key, "Marking for deletion Pod");
        }
        let evicted = add_condition_and_delete(
            self.client.clone(),
            namespace,
            key.name(),
            &eviction.uid,
            now,
        )
        .await?;
        if evicted == Evicted::Moot {
            tracing::debug!(pod = %key, "nothing to delete: gone, replaced or terminating");
        }
        self.state.lock().finished(key, &eviction.uid);
        Ok(Action::Done)
    }

    /// Records `TaintManagerEviction` "`what` ns/name" about the pod (upstream's
    /// reference names the pod without its uid).
    fn record(&self, pod: &ObjectKey, what: &str) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.name().to_string()),
            namespace: pod.namespace().map(str::to_string),
            ..Default::default()
        };
        recorder.record(
            &reference,
            EventType::Normal,
            TAINT_MANAGER_EVICTION,
            &format!("{what} {pod}"),
            "",
        );
    }
}

impl Reconciler for TaintEvictionReconciler {
    type Error = EvictError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, EvictError> {
        match key.namespace().map(str::to_string) {
            None => {
                self.sync_node(key.name());
                Ok(Action::Done)
            }
            Some(namespace) => self.sync_pod(&key, &namespace).await,
        }
    }
}

/// kube-controller-manager's `taint-eviction-controller`.
pub type TaintEvictionController = QueuedController<TaintEvictionReconciler>;

fn tolerations(pod: &Pod) -> &[k8s_openapi::api::core::v1::Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

fn node_no_execute_taints(node: &Node) -> Vec<Taint> {
    no_execute_taints(
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[]),
    )
}

/// Builds the controller on `factory`'s Pod (indexed by node name) and Node
/// informers, writing through `client`.
pub fn taint_eviction_controller(
    factory: &SharedInformerFactory,
    client: Client,
    config: &TaintEvictionConfig,
) -> Result<TaintEvictionController, SetupError> {
    let pods = factory.informer::<Pod>();
    let nodes = factory.informer::<Node>();
    ensure_index(&pods, POD_NODE_NAME_INDEX, pod_node_name_index)?;
    let synced = synced_all([pods.synced_check(), nodes.synced_check()]);
    let recorder = config
        .record_events
        .then(|| Recorder::new(client.clone(), TAINT_EVICTION_CONTROLLER, &config.instance));
    let controller = ControllerBuilder::new(TAINT_EVICTION_QUEUE)
        .workers(config.workers)
        .wait_for(synced.clone())
        .build(TaintEvictionReconciler {
            client,
            pods: pods.lister(),
            nodes: nodes.lister(),
            clock: config.clock.clone(),
            recorder,
            state: Mutex::new(Evictions::default()),
            queue: OnceLock::new(),
        });
    let _ = controller.reconciler().queue.set(controller.queue());

    // Upstream `PodUpdated`: adds and deletes, and updates changing the tolerations
    // or the node.
    let (q1, q2, q3) = (controller.queue(), controller.queue(), controller.queue());
    pods.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |pod: Arc<Pod>, _| q1.add(ObjectKey::of(pod.as_ref())))
            .on_update(move |old: Arc<Pod>, new: Arc<Pod>| {
                if tolerations(&old) != tolerations(&new)
                    || crate::util::pod::node_name(&old) != crate::util::pod::node_name(&new)
                {
                    q2.add(ObjectKey::of(new.as_ref()));
                }
            })
            .on_delete(move |gone: DeletedObject<Pod>| {
                q3.add(ObjectKey::of(gone.last_state().as_ref()))
            }),
    )?;
    // Upstream `NodeUpdated`: adds and deletes, and updates changing the
    // `NoExecute` taints.
    let (q1, q2, q3) = (controller.queue(), controller.queue(), controller.queue());
    let node_key = |node: &Node| ObjectKey::cluster(node.metadata.name.as_deref().unwrap_or(""));
    nodes.add_event_handler(
        EventHandlerFns::new()
            .on_add(move |node: Arc<Node>, _| q1.add(node_key(&node)))
            .on_update(move |old: Arc<Node>, new: Arc<Node>| {
                if node_no_execute_taints(&old) != node_no_execute_taints(&new) {
                    q2.add(node_key(&new));
                }
            })
            .on_delete(move |gone: DeletedObject<Node>| q3.add(node_key(gone.last_state()))),
    )?;
    Ok(QueuedController::wrap(controller, synced))
}
