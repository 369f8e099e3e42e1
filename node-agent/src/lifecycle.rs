//! The kubelet's pod lifecycle rules shared by both runtimes, as pure functions: the pod
//! phase from the container statuses (`getPhase`), the kubelet-owned pod conditions
//! (`PodReadyToStartContainers`, `Initialized`, `Ready`, `ContainersReady`,
//! `PodScheduled`) with their reasons and messages, restart policies, and the
//! per-container CrashLoopBackOff (10 s doubling to 5 min, as `flowcontrol.Backoff`).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodCondition, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

/// Waiting reason of a container not started yet.
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// Waiting reason of an app container while the pod's init containers run.
pub const POD_INITIALIZING: &str = "PodInitializing";
/// Waiting reason of a container whose restart is held back.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
/// Waiting reason of a container whose configuration cannot be turned into a container
/// (a missing command, an unresolvable environment variable).
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
/// Terminated reason of a container that exited 0.
pub const COMPLETED: &str = "Completed";
/// Terminated reason of a container that exited non-zero.
pub const ERROR: &str = "Error";
/// Terminated reason of a container whose process could not be started.
pub const START_ERROR: &str = "StartError";
/// Terminated reason of a container that was running and is gone (e.g. after an agent
/// restart).
pub const CONTAINER_STATUS_UNKNOWN: &str = "ContainerStatusUnknown";

/// The kubelet's initial CrashLoopBackOff.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The kubelet's CrashLoopBackOff ceiling.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// `spec.restartPolicy` (or a restartable init container's `restartPolicy: Always`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart whatever the exit code (the default).
    Always,
    /// Restart on a non-zero exit code.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// The policy of `spec` (`Always` when unset or unknown).
    pub fn of(spec: &PodSpec) -> Self {
        match spec.restart_policy.as_deref() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `exit_code` is started again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// Whether `c` is a restartable init container (a sidecar: `restartPolicy: Always`).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The terminal reason for an exit code: `Completed` for 0, `Error` otherwise.
pub fn exit_reason(exit_code: i32) -> &'static str {
    if exit_code == 0 { COMPLETED } else { ERROR }
}

fn status_of<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn last_terminated_exit(s: &ContainerStatus) -> Option<i32> {
    s.last_state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

/// The pod phase the kubelet derives from its container statuses (`getPhase`, v1.33):
/// `statuses` holds init and app container statuses; `pod_is_terminal` when the pod's
/// containers will not run again (it is being deleted or has finished).
pub fn pod_phase(
    spec: &PodSpec,
    statuses: &[ContainerStatus],
    pod_is_terminal: bool,
) -> &'static str {
    let policy = RestartPolicy::of(spec);
    let (mut pending_init, mut failed_init, mut pending_sidecars) = (0, 0, 0);
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        let Some(s) = status_of(statuses, &c.name) else {
            if is_sidecar(c) {
                unknown += 1;
            } else {
                pending_init += 1;
            }
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if is_sidecar(c) {
            if state.running.is_some() {
                if s.started != Some(true) {
                    pending_sidecars += 1;
                }
                running += 1;
            } else if state.terminated.is_some() {
            } else if state.waiting.is_some() {
                if last_terminated_exit(s).is_none() {
                    pending_sidecars += 1;
                    waiting += 1;
                }
            } else {
                pending_sidecars += 1;
                unknown += 1;
            }
            continue;
        }
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match last_terminated_exit(s) {
                Some(code) if code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    let regular_started = spec.containers.iter().any(|c| {
        status_of(statuses, &c.name).is_some_and(|s| {
            let st = s.state.clone().unwrap_or_default();
            st.running.is_some() || st.terminated.is_some() || last_terminated_exit(s).is_some()
        })
    });
    for c in &spec.containers {
        let Some(s) = status_of(statuses, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if last_terminated_exit(s).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return "Failed";
    }
    if pending_init > 0 || (pending_sidecars > 0 && !regular_started) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        return match policy {
            RestartPolicy::Always => "Running",
            _ if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
            RestartPolicy::OnFailure => "Running",
        };
    }
    "Pending"
}

fn is_terminal_phase(phase: &str) -> bool {
    phase == "Succeeded" || phase == "Failed"
}

fn bracketed(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// A kubelet-owned condition; `lastTransitionTime` is kept from `previous` when the
/// status did not change (as the kubelet's status manager does), `now` otherwise.
fn condition(
    previous: &[PodCondition],
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(since),
        ..Default::default()
    }
}

/// The kubelet-owned conditions of `pod` given its phase and container statuses (init
/// and app containers in `statuses`), in the kubelet's order. `sandbox_ready` is
/// `PodReadyToStartContainers`; conditions owned by others (readiness gates,
/// `DisruptionTarget`) are kept from the pod's current status.
pub fn pod_conditions(
    pod: &Pod,
    phase: &str,
    statuses: &[ContainerStatus],
    sandbox_ready: bool,
    now: Timestamp,
) -> Vec<PodCondition> {
    const OWNED: [&str; 5] = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    let spec = pod.spec.clone().unwrap_or_default();
    let previous: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut out: Vec<PodCondition> = previous
        .iter()
        .filter(|c| !OWNED.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    out.push(condition(
        &previous,
        "PodReadyToStartContainers",
        sandbox_ready,
        None,
        None,
        now,
    ));

    // Initialized.
    let inits = spec.init_containers.clone().unwrap_or_default();
    let mut unknown_init = Vec::new();
    let mut incomplete = Vec::new();
    for c in &inits {
        match status_of(statuses, &c.name) {
            None => unknown_init.push(c.name.as_str()),
            Some(s) => {
                let done = if is_sidecar(c) {
                    s.started == Some(true)
                } else {
                    s.ready
                };
                if !done {
                    incomplete.push(c.name.as_str());
                }
            }
        }
    }
    let regular_started = spec.containers.iter().any(|c| {
        status_of(statuses, &c.name).is_some_and(|s| {
            s.state
                .as_ref()
                .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
                || last_terminated_exit(s).is_some()
        })
    });
    let initialized = if phase == "Succeeded" && unknown_init.is_empty() {
        condition(
            &previous,
            "Initialized",
            true,
            Some("PodCompleted"),
            None,
            now,
        )
    } else if regular_started || (unknown_init.is_empty() && incomplete.is_empty()) {
        condition(&previous, "Initialized", true, None, None, now)
    } else {
        let mut parts = Vec::new();
        if !unknown_init.is_empty() {
            parts.push(format!(
                "containers with unknown status: {}",
                bracketed(&unknown_init)
            ));
        }
        if !incomplete.is_empty() {
            parts.push(format!(
                "containers with incomplete status: {}",
                bracketed(&incomplete)
            ));
        }
        condition(
            &previous,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(parts.join(", ")),
            now,
        )
    };
    out.push(initialized);

    // ContainersReady and Ready.
    let (ok, reason, message) = containers_ready(&spec, statuses, phase);
    out.push(condition(
        &previous,
        "Ready",
        ok,
        reason,
        message.clone(),
        now,
    ));
    out.push(condition(
        &previous,
        "ContainersReady",
        ok,
        reason,
        message,
        now,
    ));
    out.push(condition(&previous, "PodScheduled", true, None, None, now));
    out
}

fn containers_ready<'a>(
    spec: &PodSpec,
    statuses: &[ContainerStatus],
    phase: &str,
) -> (bool, Option<&'a str>, Option<String>) {
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_sidecar(c));
    for c in sidecars.chain(spec.containers.iter()) {
        match status_of(statuses, &c.name) {
            None => unknown.push(c.name.as_str()),
            Some(s) if !s.ready => unready.push(c.name.as_str()),
            Some(_) => {}
        }
    }
    if phase == "Failed" || (phase == "Succeeded" && unknown.is_empty()) {
        let reason = if phase == "Failed" {
            "PodFailed"
        } else {
            "PodCompleted"
        };
        return (false, Some(reason), None);
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!(
            "containers with unknown status: {}",
            bracketed(&unknown)
        ));
    }
    if !unready.is_empty() {
        parts.push(format!(
            "containers with unready status: {}",
            bracketed(&unready)
        ));
    }
    if parts.is_empty() {
        (true, None, None)
    } else {
        (false, Some("ContainersNotReady"), Some(parts.join(", ")))
    }
}

/// Whether a pod in `phase` has finished for good.
pub fn phase_is_terminal(phase: Option<&str>) -> bool {
    phase.is_some_and(is_terminal_phase)
}

/// One container's restart back-off, as the kubelet's `flowcontrol.Backoff` entry keyed
/// by the container: the first restart is immediate and arms 10 s; each later restart
/// waits the current back-off counted from the last exit, then doubles it up to 5
/// minutes; an entry untouched for twice the ceiling starts over. All durations are
/// multiplied by `scale` (the agent's time scale).
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    entry: Option<(Duration, Instant)>,
}

impl Backoff {
    fn expired(&self, event: Instant, scale: f64) -> bool {
        match self.entry {
            None => true,
            Some((_, last_update)) => {
                event.saturating_duration_since(last_update) > scaled(BACKOFF_MAX * 2, scale)
            }
        }
    }

    /// How much longer a restart must wait after an exit at `exited` (`None`: restart
    /// now), and the current back-off (for the `back-off 10s …` message).
    pub fn remaining(
        &self,
        exited: Instant,
        now: Instant,
        scale: f64,
    ) -> Option<(Duration, Duration)> {
        let (backoff, _) = self.entry?;
        if self.expired(exited, scale) {
            return None;
        }
        let waited = now.saturating_duration_since(exited);
        (waited < backoff).then(|| (backoff - waited, backoff))
    }

    /// Records a restart at `now` after an exit at `exited`: arms or doubles the back-off.
    pub fn next(&mut self, exited: Instant, now: Instant, scale: f64) {
        let backoff = match self.entry {
            Some((current, _)) if !self.expired(exited, scale) => {
                (current * 2).min(scaled(BACKOFF_MAX, scale))
            }
            _ => scaled(BACKOFF_INITIAL, scale),
        };
        self.entry = Some((backoff, now));
    }
}

/// The wait [`Backoff`] imposes before restart number `restart` (1 for the first) of a
/// container whose every run lasted `ran` and that is restarted as soon as allowed: the
/// first restart at once, then 10 s doubling to 5 minutes; none at all when each run
/// lasted more than twice the ceiling (10 minutes), since the back-off then starts over
/// at every exit. Durations multiplied by `scale`. A closed form of [`Backoff`] for a
/// runtime that computes a container's history rather than living through it (the sim).
pub fn restart_delay(restart: u32, ran: Duration, scale: f64) -> Duration {
    if restart <= 1 || ran > scaled(BACKOFF_MAX * 2, scale) {
        return Duration::ZERO;
    }
    let ceiling = scaled(BACKOFF_MAX, scale);
    let mut delay = scaled(BACKOFF_INITIAL, scale);
    for _ in 2..restart {
        if delay >= ceiling {
            break;
        }
        delay = (delay * 2).min(ceiling);
    }
    delay.min(ceiling)
}

/// The value [`restart_delay`] settles at for runs lasting `ran`: every restart from the
/// first one that waits this long on waits as long.
pub fn settled_restart_delay(ran: Duration, scale: f64) -> Duration {
    if ran > scaled(BACKOFF_MAX * 2, scale) {
        Duration::ZERO
    } else {
        scaled(BACKOFF_MAX, scale)
    }
}

/// `d` multiplied by the time scale (at least 1 ms, so that timers still order events).
pub fn scaled(d: Duration, scale: f64) -> Duration {
    if d.is_zero() || (scale - 1.0).abs() < f64::EPSILON {
        return d;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * scale.max(0.0))
        .unwrap_or(d)
        .max(Duration::from_millis(1))
}

/// The kubelet's rendering of a back-off duration (Go's `time.Duration.String` for the
/// whole-second values it uses: `10s`, `2m40s`, `5m0s`; sub-second for scaled ones).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (m, s) = ((secs / 60.0).floor() as u64, secs % 60.0);
    let s = if (s - s.round()).abs() < 1e-9 {
        format!("{}", s.round() as u64)
    } else {
        format!("{s:.3}").trim_end_matches('0').to_string()
    };
    if m == 0 {
        format!("{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

/// The kubelet's CrashLoopBackOff message for container `container` of `pod`.
pub fn crash_loop_message(backoff: Duration, container: &str, pod: &Pod) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={}",
        go_duration(backoff),
        format_pod(pod)
    )
}

/// The kubelet's `format.Pod`: `name_namespace(uid)`.
pub fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        PodStatus,
    };

    fn spec(policy: &str, inits: &[&str], containers: &[&str]) -> PodSpec {
        let c = |n: &&str| Container {
            name: n.to_string(),
            ..Default::default()
        };
        PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!inits.is_empty()).then(|| inits.iter().map(c).collect()),
            containers: containers.iter().map(c).collect(),
            ..Default::default()
        }
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready,
            started: Some(true),
            state: Some(ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready: code == 0,
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn waiting(name: &str, reason: &str, last_exit: Option<i32>) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            last_state: last_exit.map(|code| ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn phase_follows_get_phase() {
        let s = spec("Always", &[], &["a"]);
        assert_eq!(
            pod_phase(&s, &[waiting("a", CONTAINER_CREATING, None)], false),
            "Pending"
        );
        assert_eq!(pod_phase(&s, &[running("a", false)], false), "Running");
        // Crash looping counts as stopped: the pod stays Running.
        assert_eq!(
            pod_phase(&s, &[waiting("a", CRASH_LOOP_BACK_OFF, Some(1))], false),
            "Running"
        );
        assert_eq!(pod_phase(&s, &[exited("a", 1)], false), "Running");
        // Deleted: terminal whatever the policy.
        assert_eq!(pod_phase(&s, &[exited("a", 143)], true), "Failed");
        assert_eq!(pod_phase(&s, &[exited("a", 0)], true), "Succeeded");

        let never = spec("Never", &[], &["a", "b"]);
        assert_eq!(
            pod_phase(&never, &[exited("a", 0), exited("b", 3)], false),
            "Failed"
        );
        assert_eq!(
            pod_phase(&never, &[exited("a", 0), running("b", true)], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&never, &[exited("a", 0), exited("b", 0)], false),
            "Succeeded"
        );
        let on_failure = spec("OnFailure", &[], &["a"]);
        assert_eq!(pod_phase(&on_failure, &[exited("a", 3)], false), "Running");
        assert_eq!(
            pod_phase(&on_failure, &[exited("a", 0)], false),
            "Succeeded"
        );
        // A status missing for a container: Pending.
        assert_eq!(pod_phase(&never, &[exited("a", 0)], false), "Pending");
    }

    #[test]
    fn init_containers_gate_the_phase() {
        let s = spec("Never", &["i1", "i2"], &["a"]);
        let app_waiting = waiting("a", POD_INITIALIZING, None);
        assert_eq!(
            pod_phase(&s, &[running("i1", false), app_waiting.clone()], false),
            "Pending"
        );
        assert_eq!(
            pod_phase(
                &s,
                &[exited("i1", 0), exited("i2", 2), app_waiting.clone()],
                false
            ),
            "Failed"
        );
        let on_failure = spec("OnFailure", &["i1"], &["a"]);
        assert_eq!(
            pod_phase(
                &on_failure,
                &[waiting("i1", CRASH_LOOP_BACK_OFF, Some(1)), app_waiting],
                false
            ),
            "Pending"
        );
    }

    fn pod_with(spec: PodSpec, conditions: Vec<PodCondition>) -> Pod {
        Pod {
            spec: Some(spec),
            status: Some(PodStatus {
                conditions: Some(conditions),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn find<'a>(cs: &'a [PodCondition], t: &str) -> &'a PodCondition {
        cs.iter().find(|c| c.type_ == t).expect("condition present")
    }

    #[test]
    fn conditions_have_the_kubelet_reasons_and_messages() {
        let pod = pod_with(spec("Always", &["init"], &["a", "b"]), vec![]);
        let now = Timestamp::now();
        let statuses = [
            running("init", false),
            waiting("a", POD_INITIALIZING, None),
            waiting("b", POD_INITIALIZING, None),
        ];
        let cs = pod_conditions(&pod, "Pending", &statuses, true, now);
        let init = find(&cs, "Initialized");
        assert_eq!(init.status, "False");
        assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            init.message.as_deref(),
            Some("containers with incomplete status: [init]")
        );
        let ready = find(&cs, "Ready");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        let statuses = [exited("init", 0), running("a", true), running("b", true)];
        let cs = pod_conditions(&pod, "Running", &statuses, true, now);
        assert!(cs.iter().all(|c| c.status == "True"), "{cs:?}");
        let types: Vec<_> = cs.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );

        let done = [exited("init", 0), exited("a", 0), exited("b", 1)];
        let cs = pod_conditions(&pod, "Failed", &done, false, now);
        assert_eq!(find(&cs, "Ready").reason.as_deref(), Some("PodFailed"));
        assert_eq!(find(&cs, "PodReadyToStartContainers").status, "False");
    }

    #[test]
    fn transition_times_are_kept_while_the_status_holds() {
        let earlier = Timestamp::from_second(1_700_000_000).unwrap();
        let gate = PodCondition {
            type_: "example.com/gate".into(),
            status: "True".into(),
            ..Default::default()
        };
        let pod = pod_with(
            spec("Always", &[], &["a"]),
            vec![
                PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(earlier)),
                    ..Default::default()
                },
                gate.clone(),
            ],
        );
        let now = Timestamp::now();
        let cs = pod_conditions(&pod, "Running", &[running("a", true)], true, now);
        assert_eq!(find(&cs, "Ready").last_transition_time, Some(Time(earlier)));
        assert_eq!(
            find(&cs, "ContainersReady").last_transition_time,
            Some(Time(now))
        );
        assert_eq!(
            find(&cs, "example.com/gate"),
            &gate,
            "others' conditions are kept"
        );
        let cs = pod_conditions(&pod, "Running", &[running("a", false)], true, now);
        assert_eq!(find(&cs, "Ready").last_transition_time, Some(Time(now)));
    }

    #[test]
    fn backoff_is_immediate_then_doubles_to_the_ceiling() {
        let scale = 1.0;
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.remaining(t0, t0, scale), None, "first restart at once");
        b.next(t0, t0, scale);
        let exit = t0 + Duration::from_secs(1);
        assert_eq!(
            b.remaining(exit, exit + Duration::from_secs(4), scale),
            Some((Duration::from_secs(6), Duration::from_secs(10)))
        );
        assert_eq!(
            b.remaining(exit, exit + Duration::from_secs(10), scale),
            None
        );
        let mut now = exit + Duration::from_secs(10);
        let mut seen = Vec::new();
        for _ in 0..7 {
            b.next(now, now, scale);
            seen.push(b.remaining(now, now, scale).map(|(_, d)| d.as_secs()));
            now += Duration::from_secs(1);
        }
        assert_eq!(
            seen,
            [
                Some(20),
                Some(40),
                Some(80),
                Some(160),
                Some(300),
                Some(300),
                Some(300)
            ]
        );
        // Untouched for more than twice the ceiling: back to the start.
        let later = now + Duration::from_secs(601);
        assert_eq!(b.remaining(later, later, scale), None);
        b.next(later, later, scale);
        assert_eq!(
            b.remaining(later, later, scale).map(|(_, d)| d),
            Some(Duration::from_secs(10))
        );
    }

    /// Lives through a steady crash loop with [`Backoff`] (each run lasting `ran`, each
    /// restart as soon as allowed) and returns the wait before each of `n` restarts.
    fn lived_delays(n: u32, ran: Duration, scale: f64) -> Vec<Duration> {
        let mut b = Backoff::default();
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..n {
            now += ran;
            let exited = now;
            let wait = b
                .remaining(exited, exited, scale)
                .map_or(Duration::ZERO, |(w, _)| w);
            waits.push(wait);
            now += wait;
            b.next(exited, now, scale);
        }
        waits
    }

    #[test]
    fn restart_delay_is_the_backoff_of_a_steady_crash_loop() {
        for scale in [1.0, 0.05, 0.001] {
            for ran in [0, 1, 30, 599, 600, 601, 3600] {
                let ran = scaled(Duration::from_secs(ran), scale);
                let lived = lived_delays(12, ran, scale);
                let computed: Vec<Duration> =
                    (1..=12).map(|r| restart_delay(r, ran, scale)).collect();
                assert_eq!(computed, lived, "ran {ran:?} at scale {scale}");
                assert_eq!(
                    computed.last().copied(),
                    Some(settled_restart_delay(ran, scale))
                );
            }
        }
        let secs: Vec<u64> = (1..=8)
            .map(|r| restart_delay(r, Duration::from_secs(1), 1.0).as_secs())
            .collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300]);
        // Runs of more than 10 minutes: the back-off starts over at every exit.
        assert_eq!(
            restart_delay(5, Duration::from_secs(601), 1.0),
            Duration::ZERO
        );
    }

    #[test]
    fn time_scale_shrinks_the_backoff() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.next(t0, t0, 0.01);
        assert_eq!(
            b.remaining(t0, t0, 0.01).map(|(_, d)| d),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn messages_match_the_kubelet() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        let mut pod = Pod::default();
        pod.metadata.name = Some("web".into());
        pod.metadata.namespace = Some("prod".into());
        pod.metadata.uid = Some("u-1".into());
        assert_eq!(
            crash_loop_message(Duration::from_secs(20), "app", &pod),
            "back-off 20s restarting failed container=app pod=web_prod(u-1)"
        );
        assert_eq!(exit_reason(0), "Completed");
        assert_eq!(exit_reason(3), "Error");
    }
}
