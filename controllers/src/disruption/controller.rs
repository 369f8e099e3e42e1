//! The disruption controller's shell (upstream `DisruptionController`): informers on
//! pods, budgets and the four workload kinds, the `disruption` queue of budget keys
//! and the `stale_pod_disruption` queue of pod keys, each with its own workers.

use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::clock::{RealClock, SharedClock};
use capstan_runtime::controller::{
    Action, Controller, ControllerBuilder, ControllerError, Reconciler, SyncCheck, synced_all,
};
use capstan_runtime::errors::is_conflict;
use capstan_runtime::events::{EventType, Recorder};
use capstan_runtime::informer::{
    DeletedObject, EventHandlerFns, InformerError, Lister, SharedInformerFactory,
};
use capstan_runtime::queue::WorkQueue;
use capstan_runtime::status::StatusWriter;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;

use super::finders::{FinderError, ScaleFinder, Workloads};
use super::matching::{pdb_selector, pdbs_for_pod};
use super::plan::{Observation, fail_safe_status, needs_controller_scale, next_status, observe};
use super::stale::{STALE_POD_DISRUPTION_TIMEOUT, reset_disruption_target, stale_disruption_in};
use super::{DISRUPTION_QUEUE, EVENT_COMPONENT, STALE_POD_DISRUPTION_QUEUE};
use crate::util::intstr::InvalidIntOrPercent;
use crate::util::time;

/// Settings of [`DisruptionController`].
#[derive(Debug, Clone)]
pub struct DisruptionControllerConfig {
    /// The instance events are reported from.
    pub instance: String,
    /// Whether events are written.
    pub record_events: bool,
    /// The clock `now` is read from.
    pub clock: SharedClock,
    /// How long a `DisruptionTarget=True` condition may stay on a pod that is not
    /// deleted (upstream's `stalePodDisruptionTimeout`, 2 minutes).
    pub stale_pod_disruption_timeout: Duration,
}

impl Default for DisruptionControllerConfig {
    fn default() -> Self {
        Self {
            instance: "capstan".to_string(),
            record_events: true,
            clock: RealClock::shared(),
            stale_pod_disruption_timeout: STALE_POD_DISRUPTION_TIMEOUT,
        }
    }
}

/// Why a budget's or a pod's sync failed.
#[derive(Debug, thiserror::Error)]
pub enum DisruptionError {
    /// The budget's selector does not parse.
    #[error("{0}")]
    Selector(#[from] capstan_labels::Error),
    /// A pod's controller could not be found or read.
    #[error(transparent)]
    Finder(#[from] FinderError),
    /// `minAvailable` or `maxUnavailable` is a string but not a percentage.
    #[error(transparent)]
    Percent(#[from] InvalidIntOrPercent),
    /// Writing the budget's status failed (a conflict when the cache was stale).
    #[error("writing the status of PodDisruptionBudget {pdb}: {source}")]
    WriteStatus {
        /// The budget.
        pdb: ObjectKey,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Resetting a pod's `DisruptionTarget` condition failed.
    #[error("clearing the DisruptionTarget condition of pod {pod}: {source}")]
    WritePod {
        /// The pod.
        pod: ObjectKey,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl DisruptionError {
    fn is_conflict(&self) -> bool {
        matches!(self, DisruptionError::WriteStatus { source, .. } if is_conflict(source))
    }
}

/// One budget's sync: upstream `sync` / `trySync` / `failSafe`.
pub struct PdbReconciler {
    pdbs: Lister<PodDisruptionBudget>,
    pods: Lister<Pod>,
    workloads: Workloads,
    scales: ScaleFinder,
    writer: StatusWriter<PodDisruptionBudget>,
    recorder: Option<Recorder>,
    clock: SharedClock,
}

impl PdbReconciler {
    fn event(&self, pdb: &PodDisruptionBudget, type_: EventType, reason: &str, message: &str) {
        if let Some(r) = &self.recorder {
            r.record_for(pdb, type_, reason, message, "");
        }
    }

    /// Upstream `getExpectedScale`: the sum of the scale of the pods' controllers,
    /// and the pods that have none (reported, not counted).
    async fn expected_scale(&self, pods: &[&Pod]) -> Result<(i32, Vec<String>), FinderError> {
        let mut scales: std::collections::BTreeMap<String, i32> = Default::default();
        let mut unmanaged = Vec::new();
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let Some(r) = capstan_runtime::ownership::controller_of(*pod) else {
                unmanaged.push(name);
                continue;
            };
            if scales.contains_key(&r.uid) {
                continue;
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            let found = match self.workloads.find(r, ns)? {
                Some(found) => Some(found),
                None => self.scales.find(r, ns).await?,
            };
            let Some(found) = found else {
                return Err(FinderError::NoControllers(name));
            };
            scales.insert(found.uid, found.scale);
        }
        Ok((
            scales.values().fold(0i32, |a, s| a.saturating_add(*s)),
            unmanaged,
        ))
    }

    /// Upstream `trySync`: the counts, then the status write; the budget is looked
    /// at again when the youngest `disruptedPods` entry expires.
    async fn try_sync(
        &self,
        key: &ObjectKey,
        pdb: &PodDisruptionBudget,
    ) -> Result<Action, DisruptionError> {
        let selector = pdb_selector(pdb).inspect_err(|e| {
            self.event(
                pdb,
                EventType::Warning,
                "NoPods",
                &format!("Failed to get pods: {e}"),
            );
        })?;
        let ns = key.namespace().unwrap_or_default();
        let cached = self.pods.list(Some(ns), &selector);
        let pods: Vec<&Pod> = cached.iter().map(Arc::as_ref).collect();
        if pods.is_empty() {
            self.event(pdb, EventType::Normal, "NoPods", "No matching pods found");
        }
        let spec = pdb.spec.clone().unwrap_or_default();
        let now = self.clock.now();
        let counted = async {
            let (scale, unmanaged) = if needs_controller_scale(&spec) {
                self.expected_scale(&pods).await?
            } else {
                (0, Vec::new())
            };
            Ok::<_, DisruptionError>((observe(pdb, &pods, scale, now)?, unmanaged))
        }
        .await;
        let (observation, unmanaged) = counted.inspect_err(|e| {
            self.event(
                pdb,
                EventType::Warning,
                "CalculateExpectedPodCountFailed",
                &format!("Failed to calculate the number of expected pods: {e}"),
            );
        })?;
        if !unmanaged.is_empty() {
            tracing::debug!(pdb = %key, pods = ?unmanaged, "unmanaged pods selected by the budget");
            let selector = serde_json::to_string(&spec.selector).unwrap_or_default();
            self.event(
                pdb,
                EventType::Warning,
                "UnmanagedPods",
                &format!(
                    "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to \
                     be unmanaged. As a result, the status of the PDB cannot be calculated \
                     correctly, which may result in undefined behavior. To account for these pods \
                     please set \".spec.minAvailable\" field of the PDB to an integer value."
                ),
            );
        }
        for name in &observation.expired {
            tracing::info!(pdb = %key, pod = %name, "pod was expected to be deleted but it wasn't");
            if let (Some(r), Some(pod)) = (&self.recorder, self.pods.get(ns, name)) {
                let message = format!("Pod was expected by PDB {key} to be deleted but it wasn't");
                r.record_for(pod.as_ref(), EventType::Warning, "NotDeleted", &message, "");
            }
        }
        let Observation {
            observed,
            recheck_at,
            ..
        } = observation;
        if let Some(status) = next_status(pdb, &observed, now) {
            self.write(key, pdb, status).await?;
        }
        Ok(match recheck_at {
            Some(at) => Action::requeue_after(time::since(at, now)),
            None => Action::Done,
        })
    }

    async fn write(
        &self,
        key: &ObjectKey,
        pdb: &PodDisruptionBudget,
        status: k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
    ) -> Result<(), DisruptionError> {
        self.writer
            .write(pdb, &status)
            .await
            .map_err(|source| DisruptionError::WriteStatus {
                pdb: key.clone(),
                source,
            })?;
        Ok(())
    }
}

impl Reconciler for PdbReconciler {
    type Error = DisruptionError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, DisruptionError> {
        let Some(pdb) = self.pdbs.get_key(&key) else {
            tracing::debug!(pdb = %key, "PodDisruptionBudget has been deleted");
            return Ok(Action::Done);
        };
        match self.try_sync(&key, &pdb).await {
            Ok(action) => Ok(action),
            // A conflict is retried without failing safe.
            Err(e) if e.is_conflict() => Err(e),
            Err(e) => {
                tracing::error!(pdb = %key, error = %e, "failed to sync PDB");
                let status = fail_safe_status(&pdb, &e.to_string(), self.clock.now());
                self.write(&key, &pdb, status).await?;
                Ok(Action::Done)
            }
        }
    }
}

/// One pod's stale-condition check: upstream `syncStalePodDisruption`.
pub struct StalePodReconciler {
    pods: Lister<Pod>,
    writer: StatusWriter<Pod>,
    clock: SharedClock,
    timeout: Duration,
}

impl Reconciler for StalePodReconciler {
    type Error = DisruptionError;

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, DisruptionError> {
        let Some(pod) = self.pods.get_key(&key) else {
            return Ok(Action::Done);
        };
        let now = self.clock.now();
        match stale_disruption_in(&pod, now, self.timeout) {
            None => return Ok(Action::Done),
            Some(wait) if !wait.is_zero() => return Ok(Action::requeue_after(wait)),
            Some(_) => {}
        }
        let Some(status) = reset_disruption_target(&pod, now) else {
            return Ok(Action::Done);
        };
        self.writer
            .write(&pod, &status)
            .await
            .map_err(|source| DisruptionError::WritePod {
                pod: key.clone(),
                source,
            })?;
        tracing::info!(pod = %key, "reset stale DisruptionTarget condition to False");
        Ok(Action::Done)
    }
}

/// kube-controller-manager's `disruption-controller`: its two queues' controllers.
pub struct DisruptionController {
    pdbs: Controller<PdbReconciler>,
    stale: Controller<StalePodReconciler>,
    synced: SyncCheck,
}

/// The key of a pod's budget, recording upstream's `MultiplePodDisruptionBudgets`
/// warning when several select it (the first by name is synced).
fn pdb_for_pod(
    pod: &Pod,
    pdbs: &Lister<PodDisruptionBudget>,
    recorder: Option<&Recorder>,
) -> Option<ObjectKey> {
    let ns = pod.metadata.namespace.as_deref()?;
    let all = pdbs.list(Some(ns), &capstan_labels::Selector::everything());
    let found = pdbs_for_pod(pod, &all);
    let first = found.first()?;
    if found.len() > 1
        && let Some(r) = recorder
    {
        let message = format!(
            "Pod {:?}/{:?} matches multiple PodDisruptionBudgets.  Chose {:?} arbitrarily.",
            ns,
            pod.metadata.name.as_deref().unwrap_or_default(),
            first.metadata.name.as_deref().unwrap_or_default()
        );
        r.record_for(
            pod,
            EventType::Warning,
            "MultiplePodDisruptionBudgets",
            &message,
            "",
        );
    }
    Some(ObjectKey::of(first.as_ref()))
}

/// Upstream `addPod`/`updatePod`: the pod's budget is synced, and a pod with a
/// `DisruptionTarget` condition is looked at once it may be stale.
fn pod_changed(
    pod: &Pod,
    pdbs: &Lister<PodDisruptionBudget>,
    recorder: Option<&Recorder>,
    queues: (&WorkQueue<ObjectKey>, &WorkQueue<ObjectKey>),
    clock: &SharedClock,
    timeout: Duration,
) {
    if let Some(key) = pdb_for_pod(pod, pdbs, recorder) {
        queues.0.add(key);
    }
    if let Some(wait) = stale_disruption_in(pod, clock.now(), timeout) {
        queues.1.add_after(ObjectKey::of(pod), wait);
    }
}

impl DisruptionController {
    /// Builds it on `factory`'s informers, writing through `client`.
    pub fn new(
        factory: &SharedInformerFactory,
        client: Client,
        config: &DisruptionControllerConfig,
    ) -> Result<Self, InformerError> {
        let pods = factory.informer::<Pod>();
        let pdbs = factory.informer::<PodDisruptionBudget>();
        let rcs = factory.informer::<ReplicationController>();
        let rss = factory.informer::<ReplicaSet>();
        let deployments = factory.informer::<Deployment>();
        let statefulsets = factory.informer::<StatefulSet>();
        let synced = synced_all([
            pods.synced_check(),
            pdbs.synced_check(),
            rcs.synced_check(),
            rss.synced_check(),
            deployments.synced_check(),
            statefulsets.synced_check(),
        ]);
        let recorder = config
            .record_events
            .then(|| Recorder::new(client.clone(), EVENT_COMPONENT, &config.instance));
        // Upstream runs one worker per queue.
        let pdb_controller = ControllerBuilder::new(DISRUPTION_QUEUE)
            .workers(1)
            .wait_for(synced.clone())
            .build(PdbReconciler {
                pdbs: pdbs.lister(),
                pods: pods.lister(),
                workloads: Workloads {
                    rcs: rcs.lister(),
                    rss: rss.lister(),
                    deployments: deployments.lister(),
                    statefulsets: statefulsets.lister(),
                },
                scales: ScaleFinder::new(client.clone()),
                // Upstream's writePdbStatus does not retry: the key is requeued.
                writer: StatusWriter::new(client.clone()).with_retries(0),
                recorder: recorder.clone(),
                clock: config.clock.clone(),
            });
        let stale_controller = ControllerBuilder::new(STALE_POD_DISRUPTION_QUEUE)
            .workers(1)
            .wait_for(synced.clone())
            .build(StalePodReconciler {
                pods: pods.lister(),
                writer: StatusWriter::new(client).with_retries(0),
                clock: config.clock.clone(),
                timeout: config.stale_pod_disruption_timeout,
            });

        let pdb_queue = pdb_controller.queue();
        let (q1, q2, q3) = (pdb_queue.clone(), pdb_queue.clone(), pdb_queue.clone());
        pdbs.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |p: Arc<PodDisruptionBudget>, _| q1.add(ObjectKey::of(p.as_ref())))
                .on_update(move |_, p: Arc<PodDisruptionBudget>| q2.add(ObjectKey::of(p.as_ref())))
                .on_delete(move |gone: DeletedObject<PodDisruptionBudget>| {
                    q3.add(ObjectKey::of(gone.last_state().as_ref()))
                }),
        )?;

        let stale_queue = stale_controller.queue();
        let on_change = {
            let pdbs = pdbs.lister();
            let recorder = recorder.clone();
            let (pdb_queue, stale_queue) = (pdb_queue.clone(), stale_queue);
            let clock = config.clock.clone();
            let timeout = config.stale_pod_disruption_timeout;
            Arc::new(move |pod: &Pod| {
                pod_changed(
                    pod,
                    &pdbs,
                    recorder.as_ref(),
                    (&pdb_queue, &stale_queue),
                    &clock,
                    timeout,
                )
            })
        };
        let (on_add, on_update) = (on_change.clone(), on_change);
        let deleted_pdbs = pdbs.lister();
        pods.add_event_handler(
            EventHandlerFns::new()
                .on_add(move |p: Arc<Pod>, _| on_add(&p))
                .on_update(move |_, p: Arc<Pod>| on_update(&p))
                .on_delete(move |gone: DeletedObject<Pod>| {
                    if let Some(key) = pdb_for_pod(gone.last_state(), &deleted_pdbs, None) {
                        pdb_queue.add(key);
                    }
                }),
        )?;
        Ok(Self {
            pdbs: pdb_controller,
            stale: stale_controller,
            synced,
        })
    }

    /// True once the informers it reads have synced.
    pub fn synced_check(&self) -> SyncCheck {
        self.synced.clone()
    }

    /// The budgets' queue (for tests and metrics).
    pub fn queue(&self) -> WorkQueue<ObjectKey> {
        self.pdbs.queue()
    }

    /// Runs both queues' workers until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let stop = shutdown.boxed().shared();
        let (pdbs, stale) = tokio::join!(self.pdbs.run(stop.clone()), self.stale.run(stop));
        pdbs.and(stale)
    }
}
