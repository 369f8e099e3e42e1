//! The simulated runtime's decisions, as pure functions of the pod: what its containers
//! do, when they become ready, and the pod status the kubelet would post.
//!
//! Conventions (KWOK-style, per pod):
//! - Containers start at once; a pod is Ready once the longest
//!   `readinessProbe.initialDelaySeconds` of its containers has passed since its start
//!   (at once when no container has a readiness probe).
//!   The annotation `capstan.dev/ready-after: "<duration>"` (`500ms`, `5s`, `2m`, or
//!   bare seconds) delays readiness further.
//! - Pods with `restartPolicy: Never` or `OnFailure` complete when the annotation
//!   `capstan.dev/exit-code: "<n>"` or `capstan.dev/run-for: "<duration>"` is set (exit
//!   0 unless an exit code is given; after the run-for duration from the start, at once
//!   without it), or when every container's `command` is `["true"]`/`["/bin/true"]`
//!   (exit 0) or `["false"]`/`["/bin/false"]` (exit 1).
//!   Exit 0 → `Succeeded`; non-zero with `Never` → `Failed`. A non-zero exit with
//!   `OnFailure` would restart the container, which the sim runtime does not do yet: such
//!   pods keep running. `restartPolicy: Always` pods run until deleted.
//! - A pod being deleted has its containers terminated with exit code 0 (`Completed`)
//!   and is then deleted with grace period 0, as the kubelet does.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, HostIP, Pod,
    PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::lifecycle;

/// The annotation setting the exit code of a pod's containers (see the module docs).
pub const EXIT_CODE_ANNOTATION: &str = "capstan.dev/exit-code";

/// The annotation delaying a pod's readiness (see the module docs).
pub const READY_AFTER_ANNOTATION: &str = "capstan.dev/ready-after";
/// The annotation making a run-to-completion pod exit after a while (see the module docs).
pub const RUN_FOR_ANNOTATION: &str = "capstan.dev/run-for";

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

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// How long a run-to-completion pod runs before it exits (`capstan.dev/run-for`).
pub fn run_for(pod: &Pod) -> Duration {
    annotation(pod, RUN_FOR_ANNOTATION)
        .and_then(parse_duration)
        .unwrap_or_default()
}

/// What the containers of a pod do once started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// They run until the pod is deleted.
    Run,
    /// They exit at once with this code and the pod reaches a terminal phase.
    Exit(i32),
}

/// What `pod`'s containers do, by the conventions in the module docs.
pub fn outcome(pod: &Pod) -> Outcome {
    let spec = pod.spec.as_ref();
    let policy = spec
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    if policy == "Always" {
        return Outcome::Run;
    }
    let annotated = annotation(pod, EXIT_CODE_ANNOTATION)
        .and_then(|v| v.trim().parse::<i32>().ok())
        .or_else(|| annotation(pod, RUN_FOR_ANNOTATION).map(|_| 0));
    let code = annotated.or_else(|| {
        let containers = &spec?.containers;
        let codes: Option<Vec<i32>> = containers
            .iter()
            .map(|c| match c.command.as_deref() {
                Some([cmd]) if cmd == "true" || cmd == "/bin/true" => Some(0),
                Some([cmd]) if cmd == "false" || cmd == "/bin/false" => Some(1),
                _ => None,
            })
            .collect();
        codes.and_then(|c| c.into_iter().max())
    });
    match code {
        Some(0) => Outcome::Exit(0),
        Some(n) if policy == "Never" => Outcome::Exit(n),
        _ => Outcome::Run,
    }
}

/// How long after its start `pod` becomes ready: the longest readiness-probe
/// `initialDelaySeconds` among its containers, or `capstan.dev/ready-after` if longer.
pub fn ready_delay(pod: &Pod) -> Duration {
    let secs = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.readiness_probe.as_ref()?.initial_delay_seconds)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let probes = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let annotated = annotation(pod, READY_AFTER_ANNOTATION)
        .and_then(parse_duration)
        .unwrap_or_default();
    probes.max(annotated)
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
    /// When the pod started (its `startTime`).
    pub started: Timestamp,
}

/// The status of `pod` at `now`: containers running (ready when `ready`), or, with
/// `exit`, terminated with that code and the pod in its terminal phase.
pub fn pod_status(
    pod: &Pod,
    at: &Placement,
    ready: bool,
    exit: Option<i32>,
    now: Timestamp,
) -> PodStatus {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let status_of = |c: &k8s_openapi::api::core::v1::Container, exit: Option<i32>, ready: bool| {
        let image = c.image.clone().unwrap_or_default();
        let state = match exit {
            None => ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(at.started)),
                }),
                ..Default::default()
            },
            Some(code) => ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(lifecycle::exit_reason(code).to_string()),
                    started_at: Some(Time(at.started)),
                    finished_at: Some(Time(now)),
                    container_id: Some(format!("sim://{}", digest(&[uid, &c.name]))),
                    ..Default::default()
                }),
                ..Default::default()
            },
        };
        ContainerStatus {
            name: c.name.clone(),
            image_id: format!("{image}@sha256:{}", digest(&[&image])),
            image,
            container_id: Some(format!("sim://{}", digest(&[uid, &c.name]))),
            ready,
            started: Some(exit.is_none()),
            restart_count: 0,
            state: Some(state),
            ..Default::default()
        }
    };
    let init_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| status_of(c, Some(0), true))
        .collect();
    let running = exit.is_none();
    let containers_ready = running && ready;
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| status_of(c, exit, containers_ready))
        .collect();
    let all: Vec<ContainerStatus> = init_statuses.iter().chain(&statuses).cloned().collect();
    let phase = lifecycle::pod_phase(&spec, &all, !running);
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
        conditions: Some(lifecycle::pod_conditions(pod, phase, &all, running, now)),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
    use std::collections::BTreeMap;

    fn pod(policy: &str, command: Option<Vec<&str>>, exit_annotation: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.uid = Some("u1".into());
        if let Some(code) = exit_annotation {
            p.metadata.annotations = Some(BTreeMap::from([(
                EXIT_CODE_ANNOTATION.to_string(),
                code.to_string(),
            )]));
        }
        p.spec = Some(PodSpec {
            restart_policy: Some(policy.into()),
            containers: vec![Container {
                name: "main".into(),
                image: Some("busybox".into()),
                command: command.map(|c| c.into_iter().map(String::from).collect()),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn outcomes_follow_the_documented_convention() {
        assert_eq!(outcome(&pod("Always", None, Some("0"))), Outcome::Run);
        assert_eq!(outcome(&pod("Never", None, None)), Outcome::Run);
        assert_eq!(outcome(&pod("Never", None, Some("3"))), Outcome::Exit(3));
        assert_eq!(
            outcome(&pod("OnFailure", None, Some("0"))),
            Outcome::Exit(0)
        );
        assert_eq!(outcome(&pod("OnFailure", None, Some("2"))), Outcome::Run);
        assert_eq!(
            outcome(&pod("Never", Some(vec!["true"]), None)),
            Outcome::Exit(0)
        );
        assert_eq!(
            outcome(&pod("Never", Some(vec!["/bin/false"]), None)),
            Outcome::Exit(1)
        );
        assert_eq!(
            outcome(&pod("Never", Some(vec!["sleep", "10"]), None)),
            Outcome::Run
        );
    }

    #[test]
    fn durations_and_run_for() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("5x"), None);
        let mut p = pod("Never", None, None);
        p.metadata.annotations = Some(BTreeMap::from([(
            RUN_FOR_ANNOTATION.to_string(),
            "2s".to_string(),
        )]));
        assert_eq!(outcome(&p), Outcome::Exit(0));
        assert_eq!(run_for(&p), Duration::from_secs(2));
    }

    #[test]
    fn ready_delay_is_the_longest_initial_delay() {
        let mut p = pod("Always", None, None);
        assert_eq!(ready_delay(&p), Duration::ZERO);
        p.spec.as_mut().unwrap().containers[0].readiness_probe = Some(Probe {
            initial_delay_seconds: Some(5),
            ..Default::default()
        });
        assert_eq!(ready_delay(&p), Duration::from_secs(5));
        p.metadata.annotations = Some(BTreeMap::from([(
            READY_AFTER_ANNOTATION.to_string(),
            "7s".to_string(),
        )]));
        assert_eq!(ready_delay(&p), Duration::from_secs(7));
    }

    #[test]
    fn running_and_terminated_statuses() {
        let p = pod("Never", None, None);
        let at = Placement {
            host_ip: "10.244.0.1".into(),
            pod_ip: "10.244.0.2".into(),
            started: Timestamp::now(),
        };
        let s = pod_status(&p, &at, true, None, Timestamp::now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.2"));
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
        assert!(cs.container_id.as_deref().unwrap().starts_with("sim://"));
        let ready = |s: &PodStatus, t: &str| {
            s.conditions
                .as_ref()
                .unwrap()
                .iter()
                .any(|c| c.type_ == t && c.status == "True")
        };
        assert!(ready(&s, "Ready") && ready(&s, "ContainersReady") && ready(&s, "Initialized"));

        let unready = pod_status(&p, &at, false, None, Timestamp::now());
        assert!(!ready(&unready, "Ready"));

        let done = pod_status(&p, &at, false, Some(3), Timestamp::now());
        assert_eq!(done.phase.as_deref(), Some("Failed"));
        let term = done.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(term.exit_code, 3);
        assert_eq!(term.reason.as_deref(), Some("Error"));
    }
}
