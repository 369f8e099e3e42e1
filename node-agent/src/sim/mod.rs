//! The simulated runtime: containers "run" without running anything, KWOK-style, and the
//! pod status the kubelet would post is a pure function of the pod, its start and the
//! time ([`plan`]). Nothing is kept per pod but its start instant (see
//! [`crate::pods`]), and a pod costs work only when its status changes: the pod worker
//! comes back at [`SimPlan::next_change`] through its queue's `add_after`.
//!
//! Conventions (per pod, through annotations; durations as `500ms`, `5s`, `2m`, `1h` or
//! bare seconds, all multiplied by the agent's `--time-scale`):
//! - **Init containers** run first, one at a time in order, each for
//!   `capstan.dev/init-run-for` (at once without it) and exit 0 — or 1 when its
//!   `command` is `["false"]`/`["/bin/false"]`: a failed init container fails a
//!   `restartPolicy: Never` pod and is otherwise restarted behind the back-off
//!   (`Init:CrashLoopBackOff`). Restartable init containers (sidecars, `restartPolicy:
//!   Always`) start in order and keep running next to the app containers until those
//!   finished. Until its turn a container waits as `PodInitializing`.
//! - **App containers** start together once the init containers completed. A container
//!   runs until the pod is deleted, unless one of these makes it exit:
//!   - `capstan.dev/crash-every: <d>` — every instance exits `d` after it started, with
//!     `capstan.dev/exit-code` or 1;
//!   - `capstan.dev/run-for: <d>` — every instance exits `d` after it started, with
//!     `capstan.dev/exit-code` or 0 (`crash-every` wins when both are set);
//!   - `capstan.dev/exit-code: <n>` alone — instances exit at once with `n`;
//!   - a `command` of `["true"]`/`["/bin/true"]` (exit 0) or `["false"]`/`["/bin/false"]`
//!     (exit 1) — instances exit at once;
//!   - none of these on a pod owned by a Job (an owner reference of kind `Job`, the
//!     pods KWOK's `pod-complete` stage completes) — instances exit with 0 after
//!     [`JOB_POD_RUN_FOR`], so `kubectl create job` completes on sim nodes.
//!
//!   `capstan.dev/run-for: forever` keeps instances running until the pod is deleted
//!   (a Job's pods included).
//!
//!   An exit is followed by a restart per `restartPolicy` (`Always`: any exit;
//!   `OnFailure`: a non-zero one; `Never`: none) as the kubelet does: the first restart
//!   at once, later ones behind the CrashLoopBackOff (10 s doubling to 5 min; starting
//!   over when runs last more than 10 min), while the container waits in
//!   `CrashLoopBackOff` with the kubelet's message, `restartCount` counting restarts and
//!   `lastState.terminated` holding the previous instance's exit. A pod whose app
//!   containers all exited for good is `Succeeded` (all exit codes 0) or `Failed`.
//! - **Readiness**: each instance of an app container is ready once the longer of its
//!   `readinessProbe.initialDelaySeconds` and `capstan.dev/ready-after` passed since it
//!   started (at once by default), and, with `capstan.dev/unready-after: <d>`, turns
//!   unready `d` after it became ready (until it restarts): the pod's `ContainersReady`
//!   and `Ready` turn `False` with reason `ContainersNotReady`. Sidecars are ready after
//!   their own probe's initial delay.
//! - A pod being deleted has its running containers terminated by the kubelet's
//!   `SIGTERM` (exit code 143, `Error`, as a process without a handler ends), ends in a
//!   terminal phase (`Failed` unless its app containers had all exited 0; never left
//!   `Pending` or `Running`, as upstream's `TerminatePod` ensures), keeps the conditions
//!   others own (an eviction's `DisruptionTarget`), and is then deleted with grace
//!   period 0, as the kubelet does.
//!
//! Times in the status are whole seconds (as the API serialises them), so a status
//! computed again from the same inputs compares equal to the one the API server holds.

mod status;
pub mod timeline;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::lifecycle::{RestartPolicy, scaled};
pub use status::{SimPlan, needs_update, plan, stopped_status};
use timeline::Run;

/// The annotation setting the exit code of a pod's app containers.
pub const EXIT_CODE_ANNOTATION: &str = "capstan.dev/exit-code";
/// The annotation delaying the readiness of a pod's app containers.
pub const READY_AFTER_ANNOTATION: &str = "capstan.dev/ready-after";
/// The annotation making a pod's app containers exit (code 0) after each run of this
/// long.
pub const RUN_FOR_ANNOTATION: &str = "capstan.dev/run-for";
/// The annotation making a pod's app containers exit (code 1) every this long after
/// each start.
pub const CRASH_EVERY_ANNOTATION: &str = "capstan.dev/crash-every";
/// The annotation turning a pod's app containers unready this long after they became
/// ready.
pub const UNREADY_AFTER_ANNOTATION: &str = "capstan.dev/unready-after";
/// The annotation making each init container of a pod run this long.
pub const INIT_RUN_FOR_ANNOTATION: &str = "capstan.dev/init-run-for";

/// How long the app containers of a Job's pod run on sim nodes when no annotation
/// or command says otherwise (KWOK's `pod-complete` stage waits about as long).
pub const JOB_POD_RUN_FOR: Duration = Duration::from_secs(1);

/// The `capstan.dev/run-for` value keeping containers running until the pod is
/// deleted.
pub const RUN_FOREVER: &str = "forever";

/// A duration as the annotations write it: `500ms`, `5s`, `2m`, `1h`, or bare seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let v = value.trim();
    let (number, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// What a pod's annotations ask of its containers (durations unscaled; unparsable
/// values count as unset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotations {
    /// `capstan.dev/ready-after`.
    pub ready_after: Duration,
    /// `capstan.dev/unready-after`.
    pub unready_after: Option<Duration>,
    /// `capstan.dev/run-for` (a duration).
    pub run_for: Option<Duration>,
    /// `capstan.dev/run-for: forever`.
    pub run_forever: bool,
    /// Whether the pod is owned by a Job (it completes after [`JOB_POD_RUN_FOR`]
    /// unless told otherwise).
    pub job_pod: bool,
    /// `capstan.dev/crash-every`.
    pub crash_every: Option<Duration>,
    /// `capstan.dev/exit-code`.
    pub exit_code: Option<i32>,
    /// `capstan.dev/init-run-for`.
    pub init_run_for: Duration,
}

impl Annotations {
    /// The annotations of `pod`.
    pub fn of(pod: &Pod) -> Self {
        let get = |key: &str| {
            pod.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
        };
        let duration = |key: &str| get(key).and_then(parse_duration);
        Annotations {
            ready_after: duration(READY_AFTER_ANNOTATION).unwrap_or_default(),
            unready_after: duration(UNREADY_AFTER_ANNOTATION),
            run_for: duration(RUN_FOR_ANNOTATION),
            run_forever: get(RUN_FOR_ANNOTATION).is_some_and(|v| v.trim() == RUN_FOREVER),
            job_pod: pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.kind == "Job"),
            crash_every: duration(CRASH_EVERY_ANNOTATION),
            exit_code: get(EXIT_CODE_ANNOTATION).and_then(|v| v.trim().parse().ok()),
            init_run_for: duration(INIT_RUN_FOR_ANNOTATION).unwrap_or_default(),
        }
    }
}

/// The exit code `c`'s command stands for: `true` 0, `false` 1, anything else none.
fn command_exit(c: &Container) -> Option<i32> {
    match c.command.as_deref() {
        Some([cmd]) if cmd == "true" || cmd == "/bin/true" => Some(0),
        Some([cmd]) if cmd == "false" || cmd == "/bin/false" => Some(1),
        _ => None,
    }
}

/// How app container `c` runs (see the module docs), durations multiplied by `scale`.
pub fn app_run(c: &Container, a: &Annotations, policy: RestartPolicy, scale: f64) -> Run {
    let command = command_exit(c);
    let exit_code = a
        .exit_code
        .or(a.crash_every.map(|_| 1))
        .or(command)
        .unwrap_or(0);
    let lasts = if a.run_forever && a.crash_every.is_none() {
        None
    } else {
        a.crash_every
            .or(a.run_for)
            .or(a.exit_code.map(|_| Duration::ZERO))
            .or(command.map(|_| Duration::ZERO))
            .or(a.job_pod.then_some(JOB_POD_RUN_FOR))
    };
    Run {
        lasts: lasts.map(|d| scaled(d, scale)),
        exit_code,
        restarts: lasts.is_some() && policy.restarts(exit_code),
    }
}

/// How regular init container `c` runs (see the module docs): to completion, restarted
/// after a failure unless the pod's policy is `Never`.
pub fn init_run(c: &Container, a: &Annotations, policy: RestartPolicy, scale: f64) -> Run {
    let exit_code = command_exit(c).unwrap_or(0);
    Run {
        lasts: Some(scaled(a.init_run_for, scale)),
        exit_code,
        restarts: exit_code != 0 && policy != RestartPolicy::Never,
    }
}

/// When each instance of a container becomes ready and, optionally, unready again
/// (counted from the instance's start; scaled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Ready this long after the start.
    pub after: Duration,
    /// Unready this long after becoming ready.
    pub lost_after: Option<Duration>,
}

fn probe_delay(c: &Container) -> Duration {
    let secs = c
        .readiness_probe
        .as_ref()
        .and_then(|p| p.initial_delay_seconds)
        .unwrap_or(0);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// When instances of app container `c` are ready: after the longer of its readiness
/// probe's initial delay and `capstan.dev/ready-after`, unready after
/// `capstan.dev/unready-after`.
pub fn app_readiness(c: &Container, a: &Annotations, scale: f64) -> Readiness {
    Readiness {
        after: scaled(probe_delay(c).max(a.ready_after), scale),
        lost_after: a.unready_after.map(|d| scaled(d, scale)),
    }
}

/// When instances of sidecar `c` are ready: after its readiness probe's initial delay.
pub fn sidecar_readiness(c: &Container, scale: f64) -> Readiness {
    Readiness {
        after: scaled(probe_delay(c), scale),
        lost_after: None,
    }
}

/// A stable hex SHA-256 of `parts` (container and image IDs).
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and when a pod runs: the inputs of its status.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The node's address.
    pub host_ip: String,
    /// The pod's address.
    pub pod_ip: String,
    /// When the pod started (its `startTime`; the sim counts every container's history
    /// from here).
    pub started: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Probe;
    use std::collections::BTreeMap;

    fn container(command: Option<&[&str]>) -> Container {
        Container {
            name: "main".into(),
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn annotations(pairs: &[(&str, &str)]) -> Annotations {
        let mut p = Pod::default();
        p.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        Annotations::of(&p)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn app_containers_follow_the_documented_conventions() {
        use RestartPolicy::*;
        let plain = container(None);
        let none = Annotations::default();
        assert_eq!(app_run(&plain, &none, Always, 1.0), Run::FOREVER);
        assert_eq!(app_run(&plain, &none, Never, 1.0), Run::FOREVER);

        let run = |a: &Annotations, c: &Container, p| {
            let r = app_run(c, a, p, 1.0);
            (r.lasts.map(|d| d.as_secs()), r.exit_code, r.restarts)
        };
        let crash = annotations(&[(CRASH_EVERY_ANNOTATION, "30s")]);
        assert_eq!(run(&crash, &plain, Always), (Some(30), 1, true));
        assert_eq!(run(&crash, &plain, OnFailure), (Some(30), 1, true));
        assert_eq!(run(&crash, &plain, Never), (Some(30), 1, false));
        let crash_0 = annotations(&[(CRASH_EVERY_ANNOTATION, "30s"), (EXIT_CODE_ANNOTATION, "0")]);
        assert_eq!(run(&crash_0, &plain, OnFailure), (Some(30), 0, false));
        assert_eq!(run(&crash_0, &plain, Always), (Some(30), 0, true));

        let run_for = annotations(&[(RUN_FOR_ANNOTATION, "2s")]);
        assert_eq!(run(&run_for, &plain, Always), (Some(2), 0, true));
        assert_eq!(run(&run_for, &plain, OnFailure), (Some(2), 0, false));
        let both = annotations(&[(RUN_FOR_ANNOTATION, "2s"), (CRASH_EVERY_ANNOTATION, "9s")]);
        assert_eq!(run(&both, &plain, Never), (Some(9), 1, false));

        let code = annotations(&[(EXIT_CODE_ANNOTATION, "3")]);
        assert_eq!(run(&code, &plain, Never), (Some(0), 3, false));
        assert_eq!(run(&code, &plain, OnFailure), (Some(0), 3, true));

        let t = container(Some(&["true"]));
        let f = container(Some(&["/bin/false"]));
        let sleep = container(Some(&["sleep", "10"]));
        assert_eq!(run(&none, &t, Never), (Some(0), 0, false));
        assert_eq!(run(&none, &t, Always), (Some(0), 0, true));
        assert_eq!(run(&none, &f, OnFailure), (Some(0), 1, true));
        assert_eq!(run(&none, &sleep, Never), (None, 0, false));
        assert_eq!(run(&run_for, &f, Never), (Some(2), 1, false));

        // A Job's pod completes after a second unless its annotations say otherwise.
        let job_pod = Annotations {
            job_pod: true,
            ..Annotations::default()
        };
        assert_eq!(run(&job_pod, &sleep, Never), (Some(1), 0, false));
        assert_eq!(run(&job_pod, &sleep, OnFailure), (Some(1), 0, false));
        let job_failing = Annotations {
            exit_code: Some(2),
            ..job_pod.clone()
        };
        assert_eq!(run(&job_failing, &sleep, Never), (Some(0), 2, false));
        let mut forever = annotations(&[(RUN_FOR_ANNOTATION, "forever")]);
        forever.job_pod = true;
        assert_eq!(run(&forever, &sleep, Never), (None, 0, false));
        assert_eq!(run(&forever, &f, Never), (None, 1, false));

        // Scaled.
        let r = app_run(&plain, &crash, Always, 0.1);
        assert_eq!(r.lasts, Some(Duration::from_secs(3)));
    }

    #[test]
    fn init_containers_complete_unless_their_command_fails() {
        use RestartPolicy::*;
        let slow = annotations(&[(INIT_RUN_FOR_ANNOTATION, "4s")]);
        let ok = init_run(&container(None), &slow, Always, 0.5);
        assert_eq!(
            (ok.lasts, ok.exit_code, ok.restarts),
            (Some(Duration::from_secs(2)), 0, false)
        );
        let bad = container(Some(&["false"]));
        assert!(init_run(&bad, &slow, Always, 1.0).restarts);
        assert!(init_run(&bad, &slow, OnFailure, 1.0).restarts);
        assert!(!init_run(&bad, &slow, Never, 1.0).restarts);
        // The pod's exit-code and crash-every annotations are for app containers.
        let crash = annotations(&[(CRASH_EVERY_ANNOTATION, "1s"), (EXIT_CODE_ANNOTATION, "2")]);
        let r = init_run(&container(None), &crash, Always, 1.0);
        assert_eq!((r.lasts, r.exit_code), (Some(Duration::ZERO), 0));
    }

    #[test]
    fn readiness_is_the_longer_delay_then_optionally_lost() {
        let mut c = container(None);
        assert_eq!(
            app_readiness(&c, &Annotations::default(), 1.0),
            Readiness::default()
        );
        c.readiness_probe = Some(Probe {
            initial_delay_seconds: Some(5),
            ..Default::default()
        });
        let a = annotations(&[
            (READY_AFTER_ANNOTATION, "7s"),
            (UNREADY_AFTER_ANNOTATION, "1m"),
        ]);
        assert_eq!(
            app_readiness(&c, &a, 1.0),
            Readiness {
                after: Duration::from_secs(7),
                lost_after: Some(Duration::from_secs(60)),
            }
        );
        let short = annotations(&[(READY_AFTER_ANNOTATION, "1s")]);
        assert_eq!(
            app_readiness(&c, &short, 0.5).after,
            Duration::from_millis(2500)
        );
        assert_eq!(sidecar_readiness(&c, 1.0).after, Duration::from_secs(5));
    }
}
