//! What the process runtime knows of one pod — a slot per container (init containers
//! first) with its live process, its last exit, its restart count and back-off — and
//! the pure decisions on it: which containers to start or restart now (the kubelet's
//! `computePodActions`: init containers one at a time in order, then all app
//! containers; restarts per `restartPolicy` behind the CrashLoopBackOff), and the pod
//! status it amounts to.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use capstan_runtime::ObjectKey;
use capstan_runtime::events::EventType;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::stdio::InstanceIo;
use super::supervise::{Exit, Stop};
use crate::lifecycle::{
    self, Backoff, CONTAINER_CREATING, CONTAINER_STATUS_UNKNOWN, CRASH_LOOP_BACK_OFF,
    POD_INITIALIZING, RestartPolicy,
};
use crate::probe::ProbeKind;
use crate::sim::Placement;

/// A container's live process.
#[derive(Debug)]
pub struct Running {
    /// This instance's number (unique in the agent; probes refer to it).
    pub instance: u64,
    /// Its `containerID`.
    pub container_id: String,
    /// Its PID (and process group).
    pub pid: i32,
    /// When it started.
    pub started_at: Timestamp,
    /// Where stop requests go.
    pub stop: mpsc::UnboundedSender<Stop>,
    /// A stop was requested.
    pub stopping: bool,
    /// The startup probe's settled result (`None`: not settled yet).
    pub startup: Option<bool>,
    /// The readiness probe's settled result (false until it succeeds).
    pub ready: bool,
    /// A settled liveness or startup failure: the container must be killed.
    pub kill: Option<ProbeKind>,
    /// Changes whenever a line is written to this instance's log (followers wait on it).
    pub log_written: Option<tokio::sync::watch::Receiver<u64>>,
    /// What exec and attach sessions reach of it.
    pub io: Arc<InstanceIo>,
}

impl Running {
    /// Asks the process to stop (once; later requests only shorten the grace period).
    pub fn request_stop(&mut self, how: Stop) {
        self.stopping = true;
        // The supervisor may have finished already: nothing left to stop then.
        let _ = self.stop.send(how);
    }
}

/// A container instance that ended.
#[derive(Clone, Debug)]
pub struct Exited {
    /// Its terminated state.
    pub terminated: ContainerStateTerminated,
    /// When the agent saw it end (the back-off counts from here).
    pub at: Instant,
}

/// One container of the pod.
#[derive(Debug)]
pub struct Slot {
    /// Container name.
    pub name: String,
    /// The spec's image (reported, never pulled).
    pub image: String,
    /// An init container.
    pub init: bool,
    /// A restartable init container (`restartPolicy: Always`).
    pub sidecar: bool,
    /// Has a startup probe.
    pub has_startup: bool,
    /// Has a readiness probe.
    pub has_readiness: bool,
    /// How many times it was restarted.
    pub restart_count: i32,
    /// Its live process.
    pub running: Option<Running>,
    /// How its latest instance ended (when not running).
    pub exited: Option<Exited>,
    /// How the instance before that ended.
    pub last_termination: Option<ContainerStateTerminated>,
    /// Why it is not running now (`CrashLoopBackOff`, `CreateContainerConfigError`).
    pub waiting: Option<(String, String)>,
    /// When a start that failed on its configuration is tried again.
    pub retry_at: Option<Instant>,
    /// Its restart back-off.
    pub backoff: Backoff,
}

impl Slot {
    /// The API's `started`: running, and past its startup probe if it has one.
    pub fn started(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| !self.has_startup || r.startup == Some(true))
    }

    /// The API's `ready`: an init container that completed, or a started container
    /// whose readiness probe (if any) succeeded.
    pub fn ready(&self) -> bool {
        if self.init && !self.sidecar {
            return self.running.is_none()
                && self.waiting.is_none()
                && self
                    .exited
                    .as_ref()
                    .is_some_and(|e| e.terminated.exit_code == 0);
        }
        self.started()
            && self
                .running
                .as_ref()
                .is_some_and(|r| !self.has_readiness || r.ready)
    }

    /// The restart count the next instance gets.
    pub fn next_restart_count(&self) -> i32 {
        self.restart_count + i32::from(self.exited.is_some())
    }

    fn retire(&mut self) {
        if let Some(previous) = self.exited.take() {
            self.last_termination = Some(previous.terminated);
            self.restart_count += 1;
        }
        self.waiting = None;
        self.retry_at = None;
    }

    /// A new instance is running.
    pub fn begin(&mut self, running: Running) {
        self.retire();
        self.running = Some(running);
    }

    /// A new instance could not even start: it ended as `exited`.
    pub fn begin_failed(&mut self, exited: Exited) {
        self.retire();
        self.exited = Some(exited);
    }

    /// Instance `instance` ended; ignored when it is not the live one.
    pub fn finish(&mut self, instance: u64, exit: Exit) {
        if self.running.as_ref().is_none_or(|r| r.instance != instance) {
            return;
        }
        let Some(r) = self.running.take() else {
            return;
        };
        // What was exec'd into the container ends with it.
        r.io.execs.kill_all();
        self.exited = Some(Exited {
            terminated: ContainerStateTerminated {
                exit_code: exit.exit_code,
                reason: Some(lifecycle::exit_reason(exit.exit_code).to_string()),
                started_at: Some(Time(r.started_at)),
                finished_at: Some(Time(exit.finished)),
                container_id: Some(r.container_id),
                ..Default::default()
            },
            at: Instant::now(),
        });
    }

    /// The container's status as the kubelet reports it.
    pub fn status(&self, pod_has_init: bool) -> ContainerStatus {
        let terminated = |t: &ContainerStateTerminated| ContainerState {
            terminated: Some(t.clone()),
            ..Default::default()
        };
        let waiting = |reason: &str, message: Option<&str>| ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_string()),
                message: message.map(str::to_string),
            }),
            ..Default::default()
        };
        let (state, last, id) = if let Some(r) = &self.running {
            let state = ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(r.started_at)),
                }),
                ..Default::default()
            };
            (
                state,
                self.last_termination.as_ref(),
                Some(r.container_id.clone()),
            )
        } else if let Some((reason, message)) = &self.waiting {
            let last = self
                .exited
                .as_ref()
                .map(|e| &e.terminated)
                .or(self.last_termination.as_ref());
            let id = self
                .exited
                .as_ref()
                .and_then(|e| e.terminated.container_id.clone());
            (waiting(reason, Some(message)), last, id)
        } else if let Some(e) = &self.exited {
            (
                terminated(&e.terminated),
                self.last_termination.as_ref(),
                e.terminated.container_id.clone(),
            )
        } else {
            let reason = if pod_has_init && !self.init {
                POD_INITIALIZING
            } else {
                CONTAINER_CREATING
            };
            (waiting(reason, None), self.last_termination.as_ref(), None)
        };
        ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: String::new(),
            container_id: id,
            ready: self.ready(),
            started: Some(self.started()),
            restart_count: self.restart_count,
            state: Some(state),
            last_state: Some(last.map(terminated).unwrap_or_default()),
            ..Default::default()
        }
    }
}

/// The runtime's record of one pod.
#[derive(Debug)]
pub struct PodState {
    /// Pod UID.
    pub uid: String,
    /// Pod key.
    pub key: ObjectKey,
    /// The pod's directory (logs, default working directories).
    pub dir: PathBuf,
    /// Init containers first, then app containers.
    pub slots: Vec<Slot>,
    /// How many of `slots` are init containers.
    pub n_init: usize,
    /// Every regular init container completed once (they never run again).
    pub initialized: bool,
    /// No container will be started again (the pod finished or is being deleted).
    pub terminal: bool,
    /// The pod is being deleted.
    pub deleting: bool,
    /// The runtime dropped the pod; its directory goes once nothing runs.
    pub forgotten: bool,
    /// `terminationGracePeriodSeconds` of the spec (for stops without a deletion).
    pub grace: Duration,
    /// The status last written to the API server.
    pub last_posted: Option<PodStatus>,
}

/// The message a container gets when its process is gone after an agent restart.
pub const NOT_LOCATED: &str = "The container could not be located when the pod was terminated";

impl PodState {
    /// The state of a pod first seen (at `now`), continuing from its current API status
    /// when it has one (the agent restarted): restart counts are kept, completed
    /// containers stay completed, and a container that was running is gone with its
    /// process, so it ended as `ContainerStatusUnknown` (exit 137).
    pub fn new(pod: &Pod, dir: PathBuf, now: Instant) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let inits = spec.init_containers.clone().unwrap_or_default();
        let mut slots = Vec::new();
        for (c, init, old) in inits
            .iter()
            .map(|c| (c, true, status.init_container_statuses.as_ref()))
            .chain(
                spec.containers
                    .iter()
                    .map(|c| (c, false, status.container_statuses.as_ref())),
            )
        {
            let old = old.and_then(|l| l.iter().find(|s| s.name == c.name));
            let mut slot = Slot {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                init,
                sidecar: init && lifecycle::is_sidecar(c),
                has_startup: c.startup_probe.is_some(),
                has_readiness: c.readiness_probe.is_some(),
                restart_count: 0,
                running: None,
                exited: None,
                last_termination: None,
                waiting: None,
                retry_at: None,
                backoff: Backoff::default(),
            };
            if let Some(old) = old {
                slot.restart_count = old.restart_count;
                let state = old.state.clone().unwrap_or_default();
                let last = old.last_state.as_ref().and_then(|s| s.terminated.clone());
                let exited = |t: ContainerStateTerminated| Exited {
                    terminated: t,
                    at: now,
                };
                if state.running.is_some() {
                    slot.last_termination = last;
                    slot.exited = Some(exited(ContainerStateTerminated {
                        exit_code: 137,
                        reason: Some(CONTAINER_STATUS_UNKNOWN.to_string()),
                        message: Some(NOT_LOCATED.to_string()),
                        container_id: old.container_id.clone(),
                        ..Default::default()
                    }));
                } else if let Some(t) = state.terminated {
                    slot.last_termination = last;
                    slot.exited = Some(exited(t));
                } else if let Some(t) = last {
                    slot.exited = Some(exited(t));
                }
            }
            slots.push(slot);
        }
        let n_init = inits.len();
        let app_ran = slots[n_init..].iter().any(|s| s.exited.is_some());
        let key = ObjectKey::new(
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref().unwrap_or_default(),
        );
        PodState {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            key,
            dir,
            slots,
            n_init,
            initialized: n_init == 0 || app_ran,
            terminal: false,
            deleting: false,
            forgotten: false,
            grace: Duration::from_secs(
                spec.termination_grace_period_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(30),
            ),
            last_posted: None,
        }
    }

    /// Whether any container process is alive.
    pub fn any_running(&self) -> bool {
        self.slots.iter().any(|s| s.running.is_some())
    }

    /// The API field path of container `i` (`spec.containers{name}`).
    pub fn field_path(&self, i: usize) -> String {
        let s = &self.slots[i];
        let list = if s.init {
            "initContainers"
        } else {
            "containers"
        };
        format!("spec.{list}{{{}}}", s.name)
    }

    /// The pod status this state amounts to at `now`.
    pub fn status(&self, pod: &Pod, at: &Placement, now: Timestamp) -> PodStatus {
        let spec = pod.spec.clone().unwrap_or_default();
        let has_init = self.n_init > 0;
        let init: Vec<ContainerStatus> = self.slots[..self.n_init]
            .iter()
            .map(|s| s.status(has_init))
            .collect();
        let app: Vec<ContainerStatus> = self.slots[self.n_init..]
            .iter()
            .map(|s| s.status(has_init))
            .collect();
        let all: Vec<ContainerStatus> = init.iter().chain(&app).cloned().collect();
        let finished = self.terminal && !self.any_running();
        let mut phase = lifecycle::pod_phase(&spec, &all, finished);
        let current = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if let Some(p) = current.filter(|p| lifecycle::phase_is_terminal(Some(p))) {
            // Pods never leave a terminal phase.
            phase = if p == "Succeeded" {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        // Transition times continue from what was last written.
        let mut basis = pod.clone();
        if let Some(posted) = &self.last_posted {
            basis.status = Some(posted.clone());
        }
        let conditions = lifecycle::pod_conditions(&basis, phase, &all, !finished, now);
        PodStatus {
            phase: Some(phase.to_string()),
            host_ip: Some(at.host_ip.clone()),
            host_ips: Some(vec![HostIP {
                ip: at.host_ip.clone(),
            }]),
            pod_ip: Some(at.pod_ip.clone()),
            pod_ips: Some(vec![PodIP {
                ip: at.pod_ip.clone(),
            }]),
            start_time: Some(Time(at.started)),
            qos_class: pod.status.as_ref().and_then(|s| s.qos_class.clone()),
            conditions: Some(conditions),
            container_statuses: Some(app),
            init_container_statuses: has_init.then_some(init),
            ..Default::default()
        }
    }
}

/// An event the plan wants recorded about container `container` (a slot index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Slot index.
    pub container: usize,
    /// Severity.
    pub type_: EventType,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What to do for a pod now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots to start (or restart) now.
    pub start: Vec<usize>,
    /// Running slots to stop gracefully (sidecars once the app containers are done).
    pub stop: Vec<usize>,
    /// Look again after this long (a back-off or retry expires).
    pub wake: Option<Duration>,
    /// Events to record.
    pub notes: Vec<Note>,
}

impl Plan {
    fn wake_in(&mut self, d: Duration) {
        self.wake = Some(self.wake.map_or(d, |w| w.min(d)));
    }
}

/// Decides whether slot `i` (not running) starts now: at once the first time, behind
/// its back-off after an exit (then waiting in `CrashLoopBackOff`), and not before a
/// pending configuration retry.
fn start_or_back_off(
    st: &mut PodState,
    i: usize,
    pod: &Pod,
    now: Instant,
    scale: f64,
    plan: &mut Plan,
) {
    let slot = &mut st.slots[i];
    if let Some(at) = slot.retry_at
        && at > now
    {
        plan.wake_in(at - now);
        return;
    }
    let Some(exit_at) = slot.exited.as_ref().map(|e| e.at) else {
        plan.start.push(i);
        return;
    };
    match slot.backoff.remaining(exit_at, now, scale) {
        Some((left, backoff)) => {
            let message = lifecycle::crash_loop_message(backoff, &slot.name, pod);
            if slot.waiting.as_ref().map(|w| &w.1) != Some(&message) {
                plan.notes.push(Note {
                    container: i,
                    type_: EventType::Warning,
                    reason: "BackOff",
                    message: format!(
                        "Back-off restarting failed container {} in pod {}",
                        slot.name,
                        lifecycle::format_pod(pod)
                    ),
                });
            }
            slot.waiting = Some((CRASH_LOOP_BACK_OFF.to_string(), message));
            plan.wake_in(left);
        }
        None => {
            slot.backoff.next(exit_at, now, scale);
            plan.start.push(i);
        }
    }
}

fn exit_code(slot: &Slot) -> Option<i32> {
    slot.exited.as_ref().map(|e| e.terminated.exit_code)
}

/// What to start, restart or stop for `pod` now, by the kubelet's rules; marks the
/// state terminal when nothing will run again (all app containers done and not
/// restarting, or an init container failed under `restartPolicy: Never`).
pub fn plan(st: &mut PodState, pod: &Pod, now: Instant, scale: f64) -> Plan {
    let mut plan = Plan::default();
    if st.terminal {
        return plan;
    }
    let policy = pod
        .spec
        .as_ref()
        .map(RestartPolicy::of)
        .unwrap_or(RestartPolicy::Always);

    // Init containers, one at a time in order (once: they never run again).
    if !st.initialized {
        let mut done = true;
        for i in 0..st.n_init {
            let slot = &st.slots[i];
            if slot.running.is_some() {
                if slot.sidecar && slot.started() {
                    continue;
                }
                done = false;
                break;
            }
            if slot.sidecar {
                start_or_back_off(st, i, pod, now, scale, &mut plan);
                done = false;
                break;
            }
            match exit_code(slot) {
                Some(0) => continue,
                Some(_) if policy == RestartPolicy::Never => {
                    st.terminal = true;
                    plan.stop = running_sidecars(st);
                    return plan;
                }
                _ => {
                    start_or_back_off(st, i, pod, now, scale, &mut plan);
                    done = false;
                    break;
                }
            }
        }
        if !done {
            return plan;
        }
        st.initialized = true;
    }

    // Sidecars keep running next to the app containers, whatever the pod's policy.
    for i in 0..st.n_init {
        if st.slots[i].sidecar && st.slots[i].running.is_none() {
            start_or_back_off(st, i, pod, now, scale, &mut plan);
        }
    }
    for i in st.n_init..st.slots.len() {
        let slot = &st.slots[i];
        if slot.running.is_some() {
            continue;
        }
        match exit_code(slot) {
            Some(code) if !policy.restarts(code) => {}
            _ => start_or_back_off(st, i, pod, now, scale, &mut plan),
        }
    }
    let app_done = st.slots[st.n_init..]
        .iter()
        .all(|s| s.running.is_none() && exit_code(s).is_some_and(|code| !policy.restarts(code)));
    if app_done {
        // Nothing restarts any more: the sidecars are stopped and the pod finishes.
        plan.start.retain(|i| !st.slots[*i].sidecar);
        for i in 0..st.n_init {
            if st.slots[i].sidecar {
                st.slots[i].waiting = None;
            }
        }
        plan.wake = None;
        plan.stop = running_sidecars(st);
        st.terminal = true;
    }
    plan
}

fn running_sidecars(st: &PodState) -> Vec<usize> {
    (0..st.n_init)
        .filter(|i| st.slots[*i].running.as_ref().is_some_and(|r| !r.stopping))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodSpec, Probe};

    fn container(name: &str) -> Container {
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            command: Some(vec!["sh".into()]),
            ..Default::default()
        }
    }

    fn pod(policy: &str, inits: &[&str], containers: &[&str]) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("p".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some("u".into());
        p.spec = Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!inits.is_empty())
                .then(|| inits.iter().map(|n| container(n)).collect()),
            containers: containers.iter().map(|n| container(n)).collect(),
            ..Default::default()
        });
        p
    }

    fn run(st: &mut PodState, i: usize, instance: u64) {
        let (tx, _rx) = mpsc::unbounded_channel();
        st.slots[i].begin(Running {
            instance,
            container_id: format!("process://{instance}"),
            pid: 1,
            started_at: Timestamp::now(),
            stop: tx,
            stopping: false,
            startup: None,
            ready: false,
            kill: None,
            log_written: None,
            io: Arc::new(InstanceIo::detached()),
        });
    }

    fn exit(st: &mut PodState, i: usize, instance: u64, code: i32) {
        st.slots[i].finish(
            instance,
            Exit {
                exit_code: code,
                finished: Timestamp::now(),
            },
        );
    }

    fn state(p: &Pod) -> PodState {
        PodState::new(p, PathBuf::from("/nonexistent"), Instant::now())
    }

    fn at() -> Placement {
        Placement {
            host_ip: "10.244.0.1".into(),
            pod_ip: "10.244.0.2".into(),
            started: Timestamp::now(),
        }
    }

    fn reason(s: &ContainerStatus) -> Option<String> {
        let st = s.state.as_ref()?;
        st.waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .or_else(|| st.terminated.as_ref().and_then(|t| t.reason.clone()))
    }

    #[test]
    fn init_containers_run_one_at_a_time_then_all_app_containers() {
        let p = pod("Always", &["i1", "i2"], &["a", "b"]);
        let mut st = state(&p);
        let now = Instant::now();
        assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![0]);
        let s = st.status(&p, &at(), Timestamp::now());
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(
            reason(&s.container_statuses.as_ref().unwrap()[0]).as_deref(),
            Some("PodInitializing")
        );
        run(&mut st, 0, 1);
        assert_eq!(plan(&mut st, &p, now, 1.0).start, Vec::<usize>::new());
        exit(&mut st, 0, 1, 0);
        assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![1]);
        run(&mut st, 1, 2);
        exit(&mut st, 1, 2, 0);
        assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![2, 3]);
        run(&mut st, 2, 3);
        run(&mut st, 3, 4);
        let s = st.status(&p, &at(), Timestamp::now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let init = s.init_container_statuses.unwrap();
        assert!(
            init.iter()
                .all(|c| c.ready && reason(c).as_deref() == Some("Completed"))
        );
    }

    #[test]
    fn failing_init_container_fails_a_never_pod_and_restarts_otherwise() {
        let never = pod("Never", &["i1"], &["a"]);
        let mut st = state(&never);
        let now = Instant::now();
        plan(&mut st, &never, now, 1.0);
        run(&mut st, 0, 1);
        exit(&mut st, 0, 1, 2);
        assert_eq!(plan(&mut st, &never, now, 1.0), Plan::default());
        assert!(st.terminal);
        let s = st.status(&never, &at(), Timestamp::now());
        assert_eq!(s.phase.as_deref(), Some("Failed"));

        let always = pod("Always", &["i1"], &["a"]);
        let mut st = state(&always);
        run(&mut st, 0, 1);
        exit(&mut st, 0, 1, 2);
        assert_eq!(
            plan(&mut st, &always, now, 1.0).start,
            vec![0],
            "first restart at once"
        );
        run(&mut st, 0, 2);
        exit(&mut st, 0, 2, 2);
        let p = plan(&mut st, &always, now, 1.0);
        assert!(p.start.is_empty());
        assert_eq!(p.wake, Some(Duration::from_secs(10)));
        let s = st.status(&always, &at(), Timestamp::now());
        let init = &s.init_container_statuses.unwrap()[0];
        assert_eq!(reason(init).as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(init.restart_count, 1);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn restart_policies_decide_restarts_and_the_final_phase() {
        let now = Instant::now();
        for (policy, code, restarts, phase) in [
            ("Always", 0, true, "Running"),
            ("Always", 3, true, "Running"),
            ("OnFailure", 3, true, "Running"),
            ("OnFailure", 0, false, "Succeeded"),
            ("Never", 3, false, "Failed"),
            ("Never", 0, false, "Succeeded"),
        ] {
            let p = pod(policy, &[], &["a"]);
            let mut st = state(&p);
            assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![0]);
            run(&mut st, 0, 1);
            exit(&mut st, 0, 1, code);
            let next = plan(&mut st, &p, now, 1.0);
            assert_eq!(!next.start.is_empty(), restarts, "{policy} exit {code}");
            assert_eq!(st.terminal, !restarts);
            let s = st.status(&p, &at(), Timestamp::now());
            assert_eq!(s.phase.as_deref(), Some(phase), "{policy} exit {code}");
            let c = &s.container_statuses.unwrap()[0];
            let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
            assert_eq!(t.exit_code, code);
        }
    }

    #[test]
    fn crash_loop_back_off_grows_and_counts_restarts() {
        let p = pod("OnFailure", &[], &["a"]);
        let mut st = state(&p);
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for instance in 0..5u64 {
            let mut next = plan(&mut st, &p, now, 0.1);
            if next.start.is_empty() {
                waits.push(next.wake.unwrap());
                let s = st.status(&p, &at(), Timestamp::now());
                let c = &s.container_statuses.unwrap()[0];
                let w = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
                assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
                assert!(
                    w.message.as_deref().unwrap().starts_with("back-off ")
                        && w.message
                            .as_deref()
                            .unwrap()
                            .ends_with("restarting failed container=a pod=p_default(u)"),
                    "{w:?}"
                );
                let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
                assert_eq!(last.exit_code, 1);
                assert_eq!(next.notes[0].reason, "BackOff");
                now += next.wake.unwrap();
                next = plan(&mut st, &p, now, 0.1);
            }
            assert_eq!(next.start, vec![0]);
            run(&mut st, 0, instance);
            assert_eq!(st.slots[0].restart_count, instance as i32);
            exit(&mut st, 0, instance, 1);
            // The exit is seen "now" by the test's clock.
            st.slots[0].exited.as_mut().unwrap().at = now;
        }
        assert_eq!(
            waits,
            [
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ],
            "immediate first restart, then 10 s doubling (scaled by 0.1)"
        );
    }

    #[test]
    fn probes_decide_started_and_ready() {
        let mut p = pod("Always", &[], &["a"]);
        let c = &mut p.spec.as_mut().unwrap().containers[0];
        c.startup_probe = Some(Probe::default());
        c.readiness_probe = Some(Probe::default());
        let mut st = state(&p);
        run(&mut st, 0, 1);
        let status = |st: &PodState| st.status(&p, &at(), Timestamp::now());
        let c0 = |s: PodStatus| s.container_statuses.unwrap().remove(0);
        assert_eq!(c0(status(&st)).started, Some(false));
        st.slots[0].running.as_mut().unwrap().startup = Some(true);
        let c = c0(status(&st));
        assert_eq!((c.started, c.ready), (Some(true), false));
        st.slots[0].running.as_mut().unwrap().ready = true;
        let s = status(&st);
        assert!(c0(s.clone()).ready);
        let ready = s
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
    }

    #[test]
    fn an_agent_restart_continues_from_the_api_status() {
        let mut p = pod("Always", &["init"], &["a"]);
        let mut st = state(&p);
        run(&mut st, 0, 1);
        exit(&mut st, 0, 1, 0);
        plan(&mut st, &p, Instant::now(), 1.0);
        run(&mut st, 1, 2);
        exit(&mut st, 1, 2, 1);
        plan(&mut st, &p, Instant::now(), 1.0);
        run(&mut st, 1, 3);
        p.status = Some(st.status(&p, &at(), Timestamp::now()));

        let mut again = state(&p);
        assert!(again.initialized, "completed init containers are not rerun");
        assert_eq!(again.slots[1].restart_count, 1);
        let next = plan(&mut again, &p, Instant::now(), 1.0);
        assert_eq!(next.start, vec![1]);
        run(&mut again, 1, 4);
        let s = again.status(&p, &at(), Timestamp::now());
        let c = &s.container_statuses.unwrap()[0];
        assert_eq!(c.restart_count, 2);
        let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(
            (
                last.exit_code,
                last.reason.as_deref(),
                last.message.as_deref()
            ),
            (137, Some("ContainerStatusUnknown"), Some(NOT_LOCATED))
        );
    }

    #[test]
    fn sidecars_start_in_order_and_stop_when_the_app_is_done() {
        let mut p = pod("Never", &["side", "init"], &["a"]);
        p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].restart_policy =
            Some("Always".into());
        let mut st = state(&p);
        let now = Instant::now();
        assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![0]);
        run(&mut st, 0, 1);
        assert_eq!(
            plan(&mut st, &p, now, 1.0).start,
            vec![1],
            "started sidecar lets init run"
        );
        run(&mut st, 1, 2);
        exit(&mut st, 1, 2, 0);
        assert_eq!(plan(&mut st, &p, now, 1.0).start, vec![2]);
        run(&mut st, 2, 3);
        exit(&mut st, 0, 1, 1);
        assert_eq!(
            plan(&mut st, &p, now, 1.0).start,
            vec![0],
            "sidecar restarts under Never"
        );
        run(&mut st, 0, 4);
        exit(&mut st, 2, 3, 0);
        let next = plan(&mut st, &p, now, 1.0);
        assert_eq!((next.start.clone(), next.stop.clone()), (vec![], vec![0]));
        assert!(st.terminal);
        assert_eq!(
            st.status(&p, &at(), Timestamp::now()).phase.as_deref(),
            Some("Running"),
            "not finished while the sidecar stops"
        );
        exit(&mut st, 0, 4, 143);
        assert_eq!(
            st.status(&p, &at(), Timestamp::now()).phase.as_deref(),
            Some("Succeeded")
        );
    }
}
