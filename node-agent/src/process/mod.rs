//! The `process` runtime: each container of a pod bound to a `runtime: process` node
//! runs as a local process — its `command` + `args` with its `env` (literal values and
//! `valueFrom`: `fieldRef`, `configMapKeyRef`, `secretKeyRef`, `envFrom`) in its
//! `workingDir` — with the kubelet's lifecycle around it: init containers first, in
//! order, each to exit 0; restarts per `restartPolicy` behind the CrashLoopBackOff; real
//! exit codes in `state.terminated` and `lastState`; `exec`, `httpGet` and `tcpSocket`
//! probes; graceful deletion (`SIGTERM`, the grace period, `SIGKILL`, then the final
//! delete with grace 0). Events carry the kubelet's reasons (`Created`, `Started`,
//! `Killing`, `BackOff`, `Unhealthy`, `Failed`). Commands can be exec'd into a running
//! container (with or without a terminal) and sessions attached to its process (its
//! output, and its stdin with `stdin: true` in the spec): see [`exec`].
//!
//! What a container does not get: its image (ignored — see [`launch`]), volumes,
//! resource limits, a network or PID namespace of its own (processes share the agent's
//! host: two pods listening on one port collide; probes go to `127.0.0.1`, see
//! [`crate::probe`]), a terminal for its own process (`tty: true`), lifecycle hooks, a
//! termination message file.
//!
//! Each pod has a directory `<state dir>/<pod UID>/` holding its logs (see [`logs`]) and
//! each container's default working directory `containers/<name>/`; it is removed when
//! the pod is deleted. Processes of pods deleted or moved off served nodes are stopped,
//! and every process group is killed when the agent stops.

pub mod exec;
pub mod launch;
pub mod logs;
pub mod pty;
pub mod state;
pub mod stdio;
pub mod supervise;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ObjectReference, Pod, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::{Client, Resource};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lifecycle::{self, CREATE_CONTAINER_CONFIG_ERROR, START_ERROR, scaled};
use crate::probe::scheduler::{Gate, ProbeHost, ProbeJob, Prober};
use crate::probe::{self, ExecContext, ProbeKind, ProbeTiming};
use crate::sim::{Placement, digest};
use launch::PodAddresses;
use state::{Exited, PodState, Running};
use supervise::{Exit, Stop};

/// How long a start that failed on its configuration waits before it is tried again
/// (scaled by the time scale).
pub const CONFIG_RETRY: Duration = Duration::from_secs(10);
/// The kubelet's minimum grace period for stopping a container.
pub const MIN_GRACE: Duration = Duration::from_secs(2);

/// Where and how the process runtime keeps its files.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// The directory holding one directory per pod (default
    /// `$TMPDIR/capstan-node-agent`).
    pub state_dir: PathBuf,
    /// The size at which a container's log file is rotated (kubelet's
    /// `containerLogMaxSize` default, 10 MiB).
    pub log_max_bytes: u64,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            state_dir: std::env::temp_dir().join("capstan-node-agent"),
            log_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Asks for a pod to be reconciled again (the pod worker's queue).
pub type Wake = Arc<dyn Fn(&ObjectKey) + Send + Sync>;

/// What the pod worker must do after a sync.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// A status to write (it differs from the last one written).
    pub status: Option<PodStatus>,
    /// Every container stopped on deletion: delete the pod with grace period 0.
    pub delete: bool,
    /// The pod finished: nothing runs and nothing will (its address can be freed).
    pub finished: bool,
    /// Sync again after this long.
    pub requeue: Option<Duration>,
}

type Cell = Mutex<PodState>;

#[derive(Default)]
struct Pods {
    by_uid: HashMap<String, Arc<Cell>>,
    by_key: HashMap<ObjectKey, String>,
}

/// The runtime: the pods it runs, their processes and probes.
pub struct ProcessRuntime {
    client: Client,
    config: ProcessConfig,
    time_scale: f64,
    pods: Mutex<Pods>,
    wake: Wake,
    prober: Prober,
    recorder: Recorder,
    tasks: TaskTracker,
    instances: AtomicU64,
    stop: CancellationToken,
}

fn grace_secs(secs: Option<i64>) -> Duration {
    Duration::from_secs(secs.and_then(|s| u64::try_from(s).ok()).unwrap_or(30)).max(MIN_GRACE)
}

/// The grace period of a deletion (`deletionGracePeriodSeconds`, else the spec's).
fn deletion_grace(pod: &Pod) -> Duration {
    grace_secs(pod.metadata.deletion_grace_period_seconds.or_else(|| {
        pod.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
    }))
}

/// The grace period of a kill after a failed probe (the probe's own, else the spec's).
fn probe_grace(pod: &Pod, container: Option<&Container>, kind: ProbeKind) -> Duration {
    let own = container
        .and_then(|c| kind.of(c))
        .and_then(|p| p.termination_grace_period_seconds);
    grace_secs(own.or_else(|| {
        pod.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
    }))
}

fn container_spec(pod: &Pod, st: &PodState, i: usize) -> Option<Container> {
    let spec = pod.spec.as_ref()?;
    if i < st.n_init {
        spec.init_containers.as_ref()?.get(i).cloned()
    } else {
        spec.containers.get(i - st.n_init).cloned()
    }
}

impl ProcessRuntime {
    /// A runtime keeping its files per `config`, its delays scaled by `time_scale`,
    /// calling `wake` when a pod needs another sync (a process exited, a probe result
    /// changed). Spawns its probe task and event writer: call inside a tokio runtime.
    pub fn new(client: Client, config: ProcessConfig, time_scale: f64, wake: Wake) -> Self {
        let stop = CancellationToken::new();
        let (prober, _task) = Prober::start(stop.clone());
        ProcessRuntime {
            recorder: Recorder::new(client.clone(), "kubelet", "capstan-node-agent"),
            client,
            config,
            time_scale,
            pods: Mutex::new(Pods::default()),
            wake,
            prober,
            tasks: TaskTracker::new(),
            instances: AtomicU64::new(1),
            stop,
        }
    }

    /// The directory of pod `uid`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.config.state_dir.join(uid)
    }

    fn cell(&self, pod: &Pod) -> Arc<Cell> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let key = ObjectKey::of(pod);
        let mut pods = self.pods.lock();
        let stale = pods.by_key.get(&key).filter(|u| **u != uid).cloned();
        if let Some(old) = stale
            && let Some(cell) = pods.by_uid.remove(&old)
        {
            // Another pod of the same name ran here: it is gone.
            drop_pod(&cell);
        }
        pods.by_key.insert(key, uid.clone());
        pods.by_uid
            .entry(uid.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(PodState::new(
                    pod,
                    self.pod_dir(&uid),
                    Instant::now(),
                )))
            })
            .clone()
    }

    /// Brings the processes of `pod` one step closer to its spec, at `at` (its
    /// addresses; `None` for a pod that never got one, which has nothing running).
    pub async fn sync(&self, pod: &Pod, at: Option<&Placement>) -> SyncOutcome {
        let cell = self.cell(pod);
        let now = Instant::now();
        if pod.metadata.deletion_timestamp.is_some() {
            return self.sync_deleted(&cell, pod, at);
        }
        if lifecycle::phase_is_terminal(pod.status.as_ref().and_then(|s| s.phase.as_deref())) {
            let mut st = cell.lock();
            st.terminal = true;
            let grace = st.grace;
            for slot in &mut st.slots {
                if let Some(r) = slot.running.as_mut().filter(|r| !r.stopping) {
                    r.request_stop(Stop::Graceful(grace));
                }
            }
            return SyncOutcome {
                finished: !st.any_running(),
                ..SyncOutcome::default()
            };
        }
        // Settled liveness or startup failures: kill, the restart policy does the rest.
        let mut notes = Vec::new();
        {
            let mut st = cell.lock();
            for i in 0..st.slots.len() {
                let container = container_spec(pod, &st, i);
                let slot = &mut st.slots[i];
                let name = slot.name.clone();
                if let Some(r) = slot.running.as_mut()
                    && !r.stopping
                    && let Some(kind) = r.kill
                {
                    r.request_stop(Stop::Graceful(probe_grace(pod, container.as_ref(), kind)));
                    let probe = if kind == ProbeKind::Startup {
                        "startup"
                    } else {
                        "liveness"
                    };
                    notes.push((
                        i,
                        EventType::Normal,
                        "Killing",
                        format!("Container {name} failed {probe} probe, will be restarted"),
                    ));
                }
            }
        }
        let plan = {
            let mut st = cell.lock();
            state::plan(&mut st, pod, now, self.time_scale)
        };
        for n in plan.notes {
            notes.push((n.container, n.type_, n.reason, n.message));
        }
        self.record_all(&cell, pod, notes);
        let mut requeue = plan.wake;
        if let Some(at) = at {
            for i in plan.start {
                if let Some(retry) = self.start(&cell, pod, at, i).await {
                    requeue = Some(requeue.map_or(retry, |r| r.min(retry)));
                }
            }
        } else if !plan.start.is_empty() {
            // No address yet: look again shortly.
            requeue = Some(Duration::from_secs(1));
        }
        let stopped = {
            let mut st = cell.lock();
            let grace = st.grace;
            let mut names = Vec::new();
            for i in plan.stop {
                if let Some(r) = st.slots[i].running.as_mut() {
                    r.request_stop(Stop::Graceful(grace));
                    names.push(i);
                }
            }
            names
        };
        let stopping = self.stopping_notes(&cell, stopped);
        self.record_all(&cell, pod, stopping);
        let st = cell.lock();
        SyncOutcome {
            status: at.and_then(|at| if_changed(&st, st.status(pod, at, Timestamp::now()))),
            delete: false,
            finished: st.terminal && !st.any_running(),
            requeue,
        }
    }

    fn stopping_notes(
        &self,
        cell: &Arc<Cell>,
        slots: Vec<usize>,
    ) -> Vec<(usize, EventType, &'static str, String)> {
        let st = cell.lock();
        slots
            .into_iter()
            .map(|i| {
                (
                    i,
                    EventType::Normal,
                    "Killing",
                    format!("Stopping container {}", st.slots[i].name),
                )
            })
            .collect()
    }

    fn sync_deleted(&self, cell: &Arc<Cell>, pod: &Pod, at: Option<&Placement>) -> SyncOutcome {
        let grace = deletion_grace(pod);
        let stopped = {
            let mut st = cell.lock();
            st.terminal = true;
            st.deleting = true;
            let mut stopped = Vec::new();
            for (i, slot) in st.slots.iter_mut().enumerate() {
                if let Some(r) = slot.running.as_mut() {
                    if !r.stopping {
                        stopped.push(i);
                    }
                    // Also when a probe failure is stopping it already: the shorter of
                    // the two grace periods applies.
                    r.request_stop(Stop::Graceful(grace));
                }
            }
            stopped
        };
        let notes = self.stopping_notes(cell, stopped);
        self.record_all(cell, pod, notes);
        let st = cell.lock();
        let status = at.and_then(|at| if_changed(&st, st.status(pod, at, Timestamp::now())));
        if st.any_running() {
            // The supervisors wake the pod as processes end; this is a safety net.
            return SyncOutcome {
                status,
                requeue: Some(grace + MIN_GRACE),
                ..SyncOutcome::default()
            };
        }
        SyncOutcome {
            status,
            delete: true,
            finished: true,
            requeue: None,
        }
    }

    /// Records that `status` was written for pod `uid`.
    pub fn posted(&self, uid: &str, status: PodStatus) {
        if let Some(cell) = self.pods.lock().by_uid.get(uid) {
            cell.lock().last_posted = Some(status);
        }
    }

    /// Drops pod `uid`: its processes are stopped (within its grace period) and its
    /// directory removed once none runs.
    pub fn forget(&self, uid: &str) {
        let cell = {
            let mut pods = self.pods.lock();
            let cell = pods.by_uid.remove(uid);
            pods.by_key.retain(|_, u| u != uid);
            cell
        };
        if let Some(cell) = cell {
            drop_pod(&cell);
        }
    }

    /// Drops the pod known under `key` (it was deleted, or its node is no longer
    /// served), as [`forget`](Self::forget).
    pub fn forget_key(&self, key: &ObjectKey) {
        let uid = self.pods.lock().by_key.get(key).cloned();
        if let Some(uid) = uid {
            self.forget(&uid);
        }
    }

    /// The log `kubectl logs [--previous]` reads for container `name` of `pod`: the
    /// instance the kubelet's `validateContainerLogStatus` picks from the runtime's
    /// container statuses (the API's, for a pod the runtime does not hold yet), or the
    /// kubelet's message why there is none.
    pub fn container_log(
        &self,
        pod: &Pod,
        name: &str,
        previous: bool,
    ) -> Result<InstanceLog, String> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let cell = self.pods.lock().by_uid.get(&uid).cloned();
        let status = match &cell {
            Some(cell) => {
                let st = cell.lock();
                let has_init = st.n_init > 0;
                let statuses = |slots: &[state::Slot]| {
                    Some(slots.iter().map(|s| s.status(has_init)).collect())
                };
                PodStatus {
                    init_container_statuses: statuses(&st.slots[..st.n_init]),
                    container_statuses: statuses(&st.slots[st.n_init..]),
                    ..PodStatus::default()
                }
            }
            None => pod.status.clone().unwrap_or_default(),
        };
        let id = crate::server::container::log_container_id(&pod_name, &status, name, previous)?;
        let latest =
            crate::server::container::find_status(&status, name).map_or(0, |s| s.restart_count);
        let restart_count = (latest.saturating_sub(2)..=latest.saturating_add(1))
            .rev()
            .find(|n| container_id(&uid, name, *n) == id)
            .ok_or_else(|| format!("container {name:?} in pod {pod_name:?} is not available"))?;
        let written = cell.and_then(|cell| {
            let st = cell.lock();
            let slot = st.slots.iter().find(|s| s.name == name)?;
            slot.running
                .as_ref()
                .filter(|_| slot.restart_count == restart_count)
                .and_then(|r| r.log_written.clone())
        });
        Ok(InstanceLog {
            path: logs::log_path(&logs::log_dir(&self.pod_dir(&uid), name), restart_count),
            restart_count,
            written,
        })
    }

    /// Whether instance `restart_count` of container `name` of pod `uid` still runs
    /// (what log followers stop on).
    pub fn instance_running(&self, uid: &str, name: &str, restart_count: i32) -> bool {
        let Some(cell) = self.pods.lock().by_uid.get(uid).cloned() else {
            return false;
        };
        let st = cell.lock();
        st.slots
            .iter()
            .find(|s| s.name == name)
            .is_some_and(|s| s.running.is_some() && s.restart_count == restart_count)
    }

    /// How many pods the runtime holds.
    pub fn len(&self) -> usize {
        self.pods.lock().by_uid.len()
    }

    /// Whether the runtime holds no pod.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Kills every process group at once and waits (a little) for the supervisors to
    /// see them end; the probe task stops. Called when the agent stops.
    pub async fn shutdown(&self) {
        self.kill_all();
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("container supervisors still running after the agent stopped");
        }
    }

    fn kill_all(&self) {
        let cells: Vec<Arc<Cell>> = self.pods.lock().by_uid.values().cloned().collect();
        for cell in cells {
            let mut st = cell.lock();
            st.terminal = true;
            for slot in &mut st.slots {
                if let Some(r) = slot.running.as_mut() {
                    supervise::kill_group(u32::try_from(r.pid).unwrap_or(0));
                    r.io.execs.kill_all();
                    r.request_stop(Stop::Kill);
                }
            }
        }
    }

    fn record_all(
        &self,
        cell: &Arc<Cell>,
        pod: &Pod,
        notes: Vec<(usize, EventType, &'static str, String)>,
    ) {
        if notes.is_empty() {
            return;
        }
        let paths: Vec<String> = {
            let st = cell.lock();
            notes.iter().map(|n| st.field_path(n.0)).collect()
        };
        for ((_, type_, reason, message), path) in notes.into_iter().zip(paths) {
            self.recorder
                .record(&container_ref(pod, path), type_, reason, &message, "");
        }
    }

    /// Starts container `i`; returns when to retry if its configuration is not usable.
    async fn start(
        &self,
        cell: &Arc<Cell>,
        pod: &Pod,
        at: &Placement,
        i: usize,
    ) -> Option<Duration> {
        let (container, restart_count, dir, key, uid, field_path) = {
            let st = cell.lock();
            let c = container_spec(pod, &st, i)?;
            (
                c,
                st.slots[i].next_restart_count(),
                st.dir.clone(),
                st.key.clone(),
                st.uid.clone(),
                st.field_path(i),
            )
        };
        let name = container.name.clone();
        let addresses = PodAddresses {
            host_ip: &at.host_ip,
            pod_ip: &at.pod_ip,
        };
        let default_cwd = dir.join("containers").join(&name);
        let prepared = match launch::container_env(&self.client, pod, addresses, &container).await {
            Ok(env) => launch::launch(&container, env, &default_cwd),
            Err(err) => Err(err),
        };
        let launch = match prepared {
            Ok(l) => l,
            Err(message) => {
                let retry = scaled(CONFIG_RETRY, self.time_scale);
                {
                    let mut st = cell.lock();
                    let slot = &mut st.slots[i];
                    slot.waiting =
                        Some((CREATE_CONTAINER_CONFIG_ERROR.to_string(), message.clone()));
                    slot.retry_at = Some(Instant::now() + retry);
                }
                self.recorder.record(
                    &container_ref(pod, field_path),
                    EventType::Warning,
                    "Failed",
                    &format!("Error: {message}"),
                    "",
                );
                return Some(retry);
            }
        };
        let instance = self.instances.fetch_add(1, Ordering::Relaxed);
        let container_id = container_id(&uid, &name, restart_count);
        let on_exit = {
            let (cell, wake, key) = (cell.clone(), self.wake.clone(), key.clone());
            move |exit: Exit| {
                let cleanup = {
                    let mut st = cell.lock();
                    st.slots[i].finish(instance, exit);
                    (st.forgotten && !st.any_running()).then(|| st.dir.clone())
                };
                match cleanup {
                    Some(dir) => remove_dir(&dir),
                    None => wake(&key),
                }
            }
        };
        let log = logs::ContainerLog::create(
            &logs::log_dir(&dir, &name),
            restart_count,
            self.config.log_max_bytes,
        );
        let log_written = log.as_ref().ok().map(logs::ContainerLog::subscribe);
        let started_at = Timestamp::now();
        let stdio = stdio::ContainerStdio::of(&container);
        let spawned =
            log.and_then(|log| supervise::spawn(&launch, stdio, log, &self.tasks, on_exit));
        let object = container_ref(pod, field_path);
        match spawned {
            Ok(s) => {
                cell.lock().slots[i].begin(Running {
                    instance,
                    container_id,
                    pid: s.pid,
                    started_at,
                    stop: s.stop,
                    stopping: false,
                    startup: None,
                    ready: false,
                    kill: None,
                    log_written,
                    io: s.io,
                });
                self.recorder.record(
                    &object,
                    EventType::Normal,
                    "Created",
                    &format!("Created container: {name}"),
                    "",
                );
                self.recorder.record(
                    &object,
                    EventType::Normal,
                    "Started",
                    &format!("Started container {name}"),
                    "",
                );
                self.add_probes(cell, &container, &launch, instance, i, &key, object);
            }
            Err(err) => {
                let message = supervise::start_error_message(&launch, &err);
                cell.lock().slots[i].begin_failed(Exited {
                    terminated: ContainerStateTerminated {
                        exit_code: 128,
                        reason: Some(START_ERROR.to_string()),
                        message: Some(message.clone()),
                        started_at: Some(Time(Timestamp::UNIX_EPOCH)),
                        finished_at: Some(Time(Timestamp::now())),
                        container_id: Some(container_id),
                        ..Default::default()
                    },
                    at: Instant::now(),
                });
                self.recorder.record(
                    &object,
                    EventType::Warning,
                    "Failed",
                    &format!("Error: {message}"),
                    "",
                );
                // Decide the restart (and its back-off) in the next sync.
                (self.wake)(&key);
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn add_probes(
        &self,
        cell: &Arc<Cell>,
        container: &Container,
        launch: &launch::Launch,
        instance: u64,
        index: usize,
        key: &ObjectKey,
        object: ObjectReference,
    ) {
        let host = Arc::new(InstanceProbes {
            cell: Arc::downgrade(cell),
            index,
            instance,
            key: key.clone(),
            wake: self.wake.clone(),
            recorder: self.recorder.clone(),
            object,
        });
        for kind in [
            ProbeKind::Startup,
            ProbeKind::Readiness,
            ProbeKind::Liveness,
        ] {
            let Some(p) = kind.of(container) else {
                continue;
            };
            self.prober.add(ProbeJob {
                kind,
                group: instance,
                action: probe::action(p, container),
                exec: ExecContext {
                    env: launch.env.clone(),
                    cwd: launch.cwd.clone(),
                },
                timing: ProbeTiming::of(p, self.time_scale),
                started: Instant::now(),
                host: host.clone(),
            });
        }
    }
}

impl Drop for ProcessRuntime {
    fn drop(&mut self) {
        // Whatever happened to the agent, no container process outlives it.
        self.kill_all();
        self.stop.cancel();
    }
}

/// The `containerID` of instance `restart_count` of container `name` of pod `uid`.
pub fn container_id(uid: &str, name: &str, restart_count: i32) -> String {
    format!(
        "process://{}",
        digest(&[uid, name, &restart_count.to_string()])
    )
}

/// The log file of one container instance, as [`ProcessRuntime::container_log`] finds it.
#[derive(Debug)]
pub struct InstanceLog {
    /// The file (in the CRI format).
    pub path: PathBuf,
    /// The instance's restart count (its file's number).
    pub restart_count: i32,
    /// Changes after every line written, while the instance runs.
    pub written: Option<tokio::sync::watch::Receiver<u64>>,
}

/// The status to write, when it differs from the last one written.
fn if_changed(st: &PodState, status: PodStatus) -> Option<PodStatus> {
    (st.last_posted.as_ref() != Some(&status)).then_some(status)
}

fn drop_pod(cell: &Arc<Cell>) {
    let dir = {
        let mut st = cell.lock();
        st.forgotten = true;
        st.terminal = true;
        let grace = st.grace;
        for slot in &mut st.slots {
            if let Some(r) = slot.running.as_mut().filter(|r| !r.stopping) {
                r.request_stop(Stop::Graceful(grace));
            }
        }
        (!st.any_running()).then(|| st.dir.clone())
    };
    if let Some(dir) = dir {
        remove_dir(&dir);
    }
}

fn remove_dir(dir: &std::path::Path) {
    if let Err(err) = std::fs::remove_dir_all(dir)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), %err, "removing pod directory");
    }
}

fn container_ref(pod: &Pod, field_path: String) -> ObjectReference {
    let mut r = pod.object_ref(&());
    r.field_path = Some(field_path);
    r
}

/// The probes of one container instance, reporting into its pod's state.
struct InstanceProbes {
    cell: Weak<Cell>,
    index: usize,
    instance: u64,
    key: ObjectKey,
    wake: Wake,
    recorder: Recorder,
    object: ObjectReference,
}

impl ProbeHost for InstanceProbes {
    fn gate(&self, kind: ProbeKind) -> Gate {
        let Some(cell) = self.cell.upgrade() else {
            return Gate::Stop;
        };
        let st = cell.lock();
        let slot = &st.slots[self.index];
        let Some(r) = slot
            .running
            .as_ref()
            .filter(|r| r.instance == self.instance && !r.stopping)
        else {
            return Gate::Stop;
        };
        match kind {
            ProbeKind::Startup if r.startup == Some(true) => Gate::Stop,
            ProbeKind::Startup => Gate::Probe,
            _ if slot.has_startup && r.startup != Some(true) => Gate::Wait,
            _ => Gate::Probe,
        }
    }

    fn settle(&self, kind: ProbeKind, success: bool) {
        let Some(cell) = self.cell.upgrade() else {
            return;
        };
        let changed = {
            let mut st = cell.lock();
            let Some(r) = st.slots[self.index]
                .running
                .as_mut()
                .filter(|r| r.instance == self.instance)
            else {
                return;
            };
            match kind {
                ProbeKind::Startup => {
                    let changed = r.startup != Some(success);
                    r.startup = Some(success);
                    if !success {
                        r.kill = Some(ProbeKind::Startup);
                    }
                    changed
                }
                ProbeKind::Readiness => {
                    let changed = r.ready != success;
                    r.ready = success;
                    changed
                }
                ProbeKind::Liveness => {
                    if !success {
                        r.kill = Some(ProbeKind::Liveness);
                    }
                    !success
                }
            }
        };
        if changed {
            (self.wake)(&self.key);
        }
    }

    fn report(&self, _kind: ProbeKind, reason: &str, message: String) {
        self.recorder
            .record(&self.object, EventType::Warning, reason, &message, "");
    }
}
