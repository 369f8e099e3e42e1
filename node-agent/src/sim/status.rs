//! A sim pod's status at a given time: the init containers' and app containers'
//! histories ([`super::timeline`]) laid end to end from the pod's start, rendered as the
//! kubelet's container statuses, phase and conditions ([`crate::lifecycle`]), with the
//! next time anything in it changes.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::timeline::{Instance, Moment, Run, State};
use super::{
    Annotations, Placement, Readiness, app_readiness, app_run, digest, init_run, sidecar_readiness,
};
use crate::lifecycle::{self, CONTAINER_CREATING, CRASH_LOOP_BACK_OFF, POD_INITIALIZING};

/// What the sim makes of a pod at a given time.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPlan {
    /// The status the kubelet would post.
    pub status: PodStatus,
    /// When the status changes next (`None`: not unless the pod does).
    pub next_change: Option<Timestamp>,
    /// The pod finished: none of its containers will run again.
    pub finished: bool,
}

/// `d` after `start`.
fn after(start: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| start.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// How long after `start` `now` is (zero when before).
fn since(start: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(start)).unwrap_or_default()
}

/// A time as the API keeps it: whole seconds.
fn api_time(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The earliest change after the present.
struct NextChange {
    now: Duration,
    next: Option<Duration>,
}

impl NextChange {
    fn consider(&mut self, at: Duration) {
        if at > self.now {
            self.next = Some(self.next.map_or(at, |n| n.min(at)));
        }
    }
}

/// Whether an instance started at `started` (pod time) is ready at `now`, noting when
/// that changes.
fn is_ready(r: &Readiness, started: Duration, next: &mut NextChange) -> bool {
    let ready_from = started + r.after;
    if next.now < ready_from {
        next.consider(ready_from);
        return false;
    }
    match r.lost_after {
        Some(lost) => {
            let until = ready_from + lost;
            next.consider(until);
            next.now < until
        }
        None => true,
    }
}

/// Renders containers of one pod.
struct Render<'a> {
    pod: &'a Pod,
    uid: &'a str,
    start: Timestamp,
    has_init: bool,
}

impl Render<'_> {
    fn time(&self, offset: Duration) -> Time {
        api_time(after(self.start, offset))
    }

    fn container_id(&self, c: &Container, instance: u32) -> String {
        let id = if instance == 0 {
            digest(&[self.uid, &c.name])
        } else {
            digest(&[self.uid, &c.name, &instance.to_string()])
        };
        format!("sim://{id}")
    }

    fn terminated(
        &self,
        c: &Container,
        i: &Instance,
        t0: Duration,
        exit_code: i32,
    ) -> ContainerStateTerminated {
        ContainerStateTerminated {
            exit_code,
            reason: Some(lifecycle::exit_reason(exit_code).to_string()),
            started_at: Some(self.time(t0 + i.started)),
            finished_at: Some(self.time(t0 + i.exits.unwrap_or(i.started))),
            container_id: Some(self.container_id(c, i.number)),
            ..Default::default()
        }
    }

    /// A container whose turn has not come.
    fn pending(&self, c: &Container) -> ContainerStatus {
        let reason = if self.has_init {
            POD_INITIALIZING
        } else {
            CONTAINER_CREATING
        };
        ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: String::new(),
            started: Some(false),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.to_string()),
                    message: None,
                }),
                ..Default::default()
            }),
            last_state: Some(ContainerState::default()),
            ..Default::default()
        }
    }

    /// Container `c` at moment `m` of its history started at `t0` (pod time).
    fn container(
        &self,
        c: &Container,
        m: &Moment,
        t0: Duration,
        exit_code: i32,
        ready: bool,
    ) -> ContainerStatus {
        let image = c.image.clone().unwrap_or_default();
        let (state, instance) = match m.state {
            State::Running(i) => (
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(self.time(t0 + i.started)),
                    }),
                    ..Default::default()
                },
                i.number,
            ),
            State::BackOff {
                exited, backoff, ..
            } => (
                ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(CRASH_LOOP_BACK_OFF.to_string()),
                        message: Some(lifecycle::crash_loop_message(backoff, &c.name, self.pod)),
                    }),
                    ..Default::default()
                },
                exited.number,
            ),
            State::Exited(i) => (
                ContainerState {
                    terminated: Some(self.terminated(c, &i, t0, exit_code)),
                    ..Default::default()
                },
                i.number,
            ),
        };
        let last_state = m
            .previous
            .map(|p| ContainerState {
                terminated: Some(self.terminated(c, &p, t0, exit_code)),
                ..Default::default()
            })
            .unwrap_or_default();
        ContainerStatus {
            name: c.name.clone(),
            image_id: format!("{image}@sha256:{}", digest(&[&image])),
            image,
            container_id: Some(self.container_id(c, instance)),
            ready,
            started: Some(matches!(m.state, State::Running(_))),
            restart_count: i32::try_from(m.restart_count()).unwrap_or(i32::MAX),
            state: Some(state),
            last_state: Some(last_state),
            ..Default::default()
        }
    }
}

/// What the sim makes of `pod` at `now`, placed by `at` (its `started` anchors every
/// container's history), with the agent's time scale `scale`. See the module docs of
/// [`crate::sim`] for the conventions.
pub fn plan(pod: &Pod, at: &Placement, now: Timestamp, scale: f64) -> SimPlan {
    let spec = pod.spec.clone().unwrap_or_default();
    let annotations = Annotations::of(pod);
    let policy = lifecycle::RestartPolicy::of(&spec);
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    let render = Render {
        pod,
        uid: pod.metadata.uid.as_deref().unwrap_or_default(),
        start: at.started,
        has_init: !inits.is_empty(),
    };
    let t = since(at.started, now);
    let mut next = NextChange { now: t, next: None };
    let moment = |run: &Run, t0: Duration, next: &mut NextChange| {
        let m = run.at(t.saturating_sub(t0), scale);
        if let Some(n) = m.next_change() {
            next.consider(t0 + n);
        }
        m
    };

    // Init containers, in order: `cursor` is when the next one starts (once reached).
    let mut cursor = Some(Duration::ZERO);
    let mut failed_at = None;
    let mut init_statuses = Vec::with_capacity(inits.len());
    let mut sidecars = Vec::new();
    for (i, c) in inits.iter().enumerate() {
        let Some(t0) = cursor else {
            init_statuses.push(render.pending(c));
            continue;
        };
        if lifecycle::is_sidecar(c) {
            let m = moment(&Run::FOREVER, t0, &mut next);
            let ready = is_ready(&sidecar_readiness(c, scale), t0, &mut next);
            init_statuses.push(render.container(c, &m, t0, 0, ready));
            sidecars.push((i, t0));
            continue;
        }
        let run = init_run(c, &annotations, policy, scale);
        let m = moment(&run, t0, &mut next);
        let completed = matches!(m.state, State::Exited(_)) && run.exit_code == 0;
        init_statuses.push(render.container(c, &m, t0, run.exit_code, completed));
        cursor = match m.state {
            State::Exited(done) => {
                let end = t0 + done.exits.unwrap_or(done.started);
                if completed {
                    Some(end)
                } else {
                    failed_at = Some(end);
                    None
                }
            }
            _ => None,
        };
    }

    // App containers, together once the init containers completed.
    let mut app_statuses = Vec::with_capacity(spec.containers.len());
    let mut apps_done_at = (!spec.containers.is_empty()).then_some(Duration::ZERO);
    for c in &spec.containers {
        let Some(t0) = cursor else {
            app_statuses.push(render.pending(c));
            apps_done_at = None;
            continue;
        };
        let run = app_run(c, &annotations, policy, scale);
        let m = moment(&run, t0, &mut next);
        let ready = match m.state {
            State::Running(i) => is_ready(
                &app_readiness(c, &annotations, scale),
                t0 + i.started,
                &mut next,
            ),
            _ => false,
        };
        app_statuses.push(render.container(c, &m, t0, run.exit_code, ready));
        apps_done_at = match (apps_done_at, m.state) {
            (Some(at), State::Exited(i)) => Some(at.max(t0 + i.exits.unwrap_or(i.started))),
            _ => None,
        };
    }

    let finished_at = failed_at.or(apps_done_at);
    if let Some(end) = finished_at {
        // Nothing runs again: the sidecars were stopped when the pod finished.
        for (i, t0) in sidecars {
            let c = &inits[i];
            let first = Instance {
                number: 0,
                started: Duration::ZERO,
                exits: Some(end.saturating_sub(t0)),
            };
            init_statuses[i] = render.container(
                c,
                &Moment {
                    state: State::Exited(first),
                    previous: None,
                },
                t0,
                0,
                false,
            );
        }
        next.next = None;
    }
    let finished = finished_at.is_some();
    let phase = lifecycle::pod_phase(&spec, &all_of(&init_statuses, &app_statuses), finished);
    let status = pod_status(pod, at, init_statuses, app_statuses, phase, finished, now);
    SimPlan {
        status,
        next_change: next.next.map(|d| after(at.started, d)),
        finished,
    }
}

/// Init and app container statuses in one list, as [`lifecycle`] takes them.
fn all_of(init: &[ContainerStatus], app: &[ContainerStatus]) -> Vec<ContainerStatus> {
    init.iter().chain(app).cloned().collect()
}

fn pod_status(
    pod: &Pod,
    at: &Placement,
    init_statuses: Vec<ContainerStatus>,
    app_statuses: Vec<ContainerStatus>,
    phase: &str,
    finished: bool,
    now: Timestamp,
) -> PodStatus {
    let all = all_of(&init_statuses, &app_statuses);
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
        start_time: Some(api_time(at.started)),
        qos_class: pod.status.as_ref().and_then(|s| s.qos_class.clone()),
        conditions: Some(lifecycle::pod_conditions(pod, phase, &all, !finished, now)),
        container_statuses: Some(app_statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        ..Default::default()
    }
}

/// The exit code of a sim container stopped by its pod's deletion: `128 + SIGTERM`,
/// what a container runtime reports for a process ended by the kubelet's `SIGTERM`
/// (the `process` runtime reports the same for a command without a handler).
pub const STOPPED_EXIT_CODE: i32 = 128 + 15;

/// The final status of `pod` being deleted at `now`: its running containers
/// terminated by the kubelet's `SIGTERM` ([`STOPPED_EXIT_CODE`], `Error`), the pod
/// in its terminal phase — `Failed` unless every app container had already exited 0,
/// and `Failed` too when the containers alone would leave it `Pending` or `Running`
/// (upstream's status manager `TerminatePod`: a deleted pod always ends terminal, so
/// a Job's pod failure policy sees the failure with the pod's conditions, e.g. an
/// eviction's `DisruptionTarget`).
pub fn stopped_status(pod: &Pod, at: &Placement, now: Timestamp, scale: f64) -> PodStatus {
    let plan = plan(pod, at, now, scale);
    let stop = |s: &mut ContainerStatus| {
        let Some(state) = s.state.as_mut() else {
            return;
        };
        if let Some(running) = state.running.take() {
            state.terminated = Some(ContainerStateTerminated {
                exit_code: STOPPED_EXIT_CODE,
                reason: Some(lifecycle::exit_reason(STOPPED_EXIT_CODE).to_string()),
                started_at: running.started_at,
                finished_at: Some(api_time(now)),
                container_id: s.container_id.clone(),
                ..Default::default()
            });
            s.ready = false;
            s.started = Some(false);
        }
    };
    let mut status = plan.status;
    let mut init = status.init_container_statuses.take().unwrap_or_default();
    let mut app = status.container_statuses.take().unwrap_or_default();
    init.iter_mut().chain(app.iter_mut()).for_each(stop);
    let spec = pod.spec.clone().unwrap_or_default();
    let phase = match lifecycle::pod_phase(&spec, &all_of(&init, &app), true) {
        done @ ("Succeeded" | "Failed") => done,
        _ => "Failed",
    };
    pod_status(pod, at, init, app, phase, true, now)
}

/// Whether the API server's `current` status differs from `next` in anything the sim
/// decides (condition transition times aside), i.e. whether `next` must be written.
pub fn needs_update(current: &PodStatus, next: &PodStatus) -> bool {
    let conditions = |s: &PodStatus| {
        s.conditions
            .iter()
            .flatten()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    current.phase != next.phase
        || current.pod_ip != next.pod_ip
        || current.host_ip != next.host_ip
        || current.start_time != next.start_time
        || current.container_statuses != next.container_statuses
        || current.init_container_statuses != next.init_container_statuses
        || conditions(current) != conditions(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{
        CRASH_EVERY_ANNOTATION, EXIT_CODE_ANNOTATION, INIT_RUN_FOR_ANNOTATION,
        READY_AFTER_ANNOTATION, RUN_FOR_ANNOTATION, UNREADY_AFTER_ANNOTATION,
    };
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec};

    const START: i64 = 1_700_000_000;

    fn container(name: &str) -> Container {
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            ..Default::default()
        }
    }

    fn pod(policy: &str, annotations: &[(&str, &str)]) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some("u1".into());
        p.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p.spec = Some(PodSpec {
            restart_policy: Some(policy.into()),
            containers: vec![container("app")],
            ..Default::default()
        });
        p
    }

    fn with_inits(mut p: Pod, inits: Vec<Container>) -> Pod {
        p.spec.as_mut().unwrap().init_containers = Some(inits);
        p
    }

    fn at() -> Placement {
        Placement {
            host_ip: "10.244.0.1".into(),
            pod_ip: "10.244.0.2".into(),
            started: Timestamp::from_second(START).unwrap(),
        }
    }

    fn secs(s: f64) -> Timestamp {
        after(at().started, Duration::from_secs_f64(s))
    }

    /// The plan of `pod` at `t` seconds after its start (time scale 1).
    fn plan_at(pod: &Pod, t: f64) -> SimPlan {
        plan(pod, &at(), secs(t), 1.0)
    }

    fn app(p: &SimPlan) -> &ContainerStatus {
        &p.status.container_statuses.as_ref().unwrap()[0]
    }

    fn inits(p: &SimPlan) -> &[ContainerStatus] {
        p.status.init_container_statuses.as_deref().unwrap()
    }

    fn cond<'a>(p: &'a SimPlan, t: &str) -> &'a PodCondition {
        p.status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    fn phase(p: &SimPlan) -> &str {
        p.status.phase.as_deref().unwrap()
    }

    fn waiting(s: &ContainerStatus) -> Option<(&str, Option<&str>)> {
        let w = s.state.as_ref()?.waiting.as_ref()?;
        Some((w.reason.as_deref()?, w.message.as_deref()))
    }

    fn terminated(s: &ContainerState) -> Option<&ContainerStateTerminated> {
        s.terminated.as_ref()
    }

    fn next_in(p: &SimPlan) -> Option<f64> {
        p.next_change
            .map(|n| n.duration_since(at().started).as_secs_f64())
    }

    #[test]
    fn a_plain_pod_runs_ready_and_never_changes() {
        let p = plan_at(&pod("Always", &[]), 0.0);
        assert_eq!(phase(&p), "Running");
        assert!(!p.finished);
        assert_eq!(p.next_change, None);
        let s = app(&p);
        assert!(s.ready && s.started == Some(true));
        assert_eq!(s.restart_count, 0);
        assert_eq!(s.last_state, Some(ContainerState::default()));
        assert!(s.container_id.as_deref().unwrap().starts_with("sim://"));
        assert!(s.image_id.starts_with("busybox@sha256:"));
        assert_eq!(
            s.state
                .as_ref()
                .unwrap()
                .running
                .as_ref()
                .unwrap()
                .started_at,
            Some(Time(at().started))
        );
        for t in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            assert_eq!(cond(&p, t).status, "True", "{t}");
        }
        assert_eq!(p.status.pod_ip.as_deref(), Some("10.244.0.2"));
    }

    #[test]
    fn crash_every_crash_loops_with_the_kubelet_status_shapes() {
        let pod = pod("Always", &[(CRASH_EVERY_ANNOTATION, "10s")]);
        let first = plan_at(&pod, 5.0);
        assert!(app(&first).ready);
        assert_eq!(next_in(&first), Some(10.0));

        // The first exit restarts at once.
        let second = plan_at(&pod, 10.0);
        let s = app(&second);
        assert_eq!(s.restart_count, 1);
        assert!(s.state.as_ref().unwrap().running.is_some());
        let last = terminated(s.last_state.as_ref().unwrap()).unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
        assert_eq!(last.started_at, Some(Time(secs(0.0))));
        assert_eq!(last.finished_at, Some(Time(secs(10.0))));
        assert_ne!(last.container_id, s.container_id, "a new container");

        // The second exit backs off 10 s.
        let backoff = plan_at(&pod, 25.0);
        let s = app(&backoff);
        assert_eq!(
            waiting(s),
            Some((
                "CrashLoopBackOff",
                Some("back-off 10s restarting failed container=app pod=web_default(u1)")
            ))
        );
        assert_eq!(s.restart_count, 1);
        assert!(!s.ready && s.started == Some(false));
        let last = terminated(s.last_state.as_ref().unwrap()).unwrap();
        assert_eq!(last.finished_at, Some(Time(secs(20.0))));
        assert_eq!(phase(&backoff), "Running");
        let ready = cond(&backoff, "Ready");
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_deref(),
                ready.message.as_deref()
            ),
            (
                "False",
                Some("ContainersNotReady"),
                Some("containers with unready status: [app]")
            )
        );
        assert_eq!(next_in(&backoff), Some(30.0));
        assert_eq!(app(&plan_at(&pod, 30.0)).restart_count, 2);

        // Later back-offs double: 20 s after the third exit (at 40 s).
        let s = plan_at(&pod, 45.0);
        assert!(
            waiting(app(&s))
                .unwrap()
                .1
                .unwrap()
                .starts_with("back-off 20s ")
        );
        assert_eq!(app(&s).restart_count, 2);
        assert_eq!(next_in(&s), Some(60.0));
    }

    #[test]
    fn restart_policies_decide_what_an_exit_leads_to() {
        let annotations = [(RUN_FOR_ANNOTATION, "5s"), (EXIT_CODE_ANNOTATION, "3")];
        let never = plan_at(&pod("Never", &annotations), 6.0);
        assert_eq!(phase(&never), "Failed");
        assert!(never.finished && never.next_change.is_none());
        let t = terminated(app(&never).state.as_ref().unwrap()).unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
        assert_eq!(cond(&never, "Ready").reason.as_deref(), Some("PodFailed"));
        assert_eq!(cond(&never, "PodReadyToStartContainers").status, "False");

        for policy in ["OnFailure", "Always"] {
            let p = plan_at(&pod(policy, &annotations), 6.0);
            assert_eq!(phase(&p), "Running", "{policy}");
            assert_eq!(app(&p).restart_count, 1, "{policy}");
            assert!(!p.finished);
        }

        let success = [(RUN_FOR_ANNOTATION, "5s")];
        for policy in ["Never", "OnFailure"] {
            let p = plan_at(&pod(policy, &success), 5.0);
            assert_eq!(phase(&p), "Succeeded", "{policy}");
            assert!(p.finished);
            assert_eq!(cond(&p, "Ready").reason.as_deref(), Some("PodCompleted"));
        }
        // `Always` restarts after every run, also a successful one.
        let always = pod("Always", &success);
        let p = plan_at(&always, 5.0);
        assert_eq!(phase(&p), "Running");
        assert_eq!(app(&p).restart_count, 1);
        let p = plan_at(&always, 12.0);
        assert_eq!(waiting(app(&p)).map(|w| w.0), Some("CrashLoopBackOff"));
        let last = terminated(app(&p).last_state.as_ref().unwrap()).unwrap();
        assert_eq!(
            (last.exit_code, last.reason.as_deref()),
            (0, Some("Completed"))
        );
    }

    #[test]
    fn unready_after_turns_the_pod_not_ready() {
        let pod = pod(
            "Always",
            &[
                (READY_AFTER_ANNOTATION, "2s"),
                (UNREADY_AFTER_ANNOTATION, "3s"),
            ],
        );
        let p = plan_at(&pod, 1.0);
        assert!(!app(&p).ready);
        assert_eq!(next_in(&p), Some(2.0));
        let p = plan_at(&pod, 2.0);
        assert!(app(&p).ready);
        assert_eq!(cond(&p, "Ready").status, "True");
        assert_eq!(next_in(&p), Some(5.0));
        let p = plan_at(&pod, 5.0);
        let s = app(&p);
        assert!(!s.ready && s.state.as_ref().unwrap().running.is_some());
        assert_eq!(phase(&p), "Running");
        for t in ["Ready", "ContainersReady"] {
            let c = cond(&p, t);
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
                (
                    "False",
                    Some("ContainersNotReady"),
                    Some("containers with unready status: [app]")
                )
            );
        }
        assert_eq!(p.next_change, None, "unready until it restarts");

        // With crash-every, every new instance is ready again, then loses it.
        let mut crashing = pod.clone();
        crashing
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(CRASH_EVERY_ANNOTATION.into(), "10s".into());
        let p = plan_at(&crashing, 12.0);
        assert_eq!(app(&p).restart_count, 1);
        assert!(app(&p).ready);
        assert!(!app(&plan_at(&crashing, 16.0)).ready);
    }

    #[test]
    fn init_containers_run_first_in_order() {
        let pod = with_inits(
            pod("Always", &[(INIT_RUN_FOR_ANNOTATION, "2s")]),
            vec![container("init-a"), container("init-b")],
        );
        let p = plan_at(&pod, 1.0);
        assert_eq!(phase(&p), "Pending");
        assert!(inits(&p)[0].state.as_ref().unwrap().running.is_some());
        assert_eq!(waiting(&inits(&p)[1]), Some(("PodInitializing", None)));
        assert_eq!(waiting(app(&p)), Some(("PodInitializing", None)));
        let init = cond(&p, "Initialized");
        assert_eq!(
            (
                init.status.as_str(),
                init.reason.as_deref(),
                init.message.as_deref()
            ),
            (
                "False",
                Some("ContainersNotInitialized"),
                Some("containers with incomplete status: [init-a init-b]")
            )
        );
        assert_eq!(next_in(&p), Some(2.0));

        let p = plan_at(&pod, 3.0);
        let a = &inits(&p)[0];
        let t = terminated(a.state.as_ref().unwrap()).unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        assert!(a.ready, "a completed init container is ready");
        assert!(inits(&p)[1].state.as_ref().unwrap().running.is_some());
        assert_eq!(phase(&p), "Pending");
        assert_eq!(next_in(&p), Some(4.0));

        let p = plan_at(&pod, 4.0);
        assert_eq!(phase(&p), "Running");
        assert_eq!(
            app(&p)
                .state
                .as_ref()
                .unwrap()
                .running
                .as_ref()
                .unwrap()
                .started_at,
            Some(Time(secs(4.0)))
        );
        assert_eq!(cond(&p, "Initialized").status, "True");
        assert_eq!(cond(&p, "Ready").status, "True");
        assert_eq!(p.next_change, None);
    }

    #[test]
    fn a_failing_init_container_fails_never_pods_and_crash_loops_others() {
        let mut failing = container("init");
        failing.command = Some(vec!["false".into()]);
        let never = with_inits(pod("Never", &[]), vec![failing.clone()]);
        let p = plan_at(&never, 0.0);
        assert_eq!(phase(&p), "Failed");
        assert!(p.finished);
        assert_eq!(waiting(app(&p)), Some(("PodInitializing", None)));

        let always = with_inits(pod("Always", &[]), vec![failing]);
        let p = plan_at(&always, 1.0);
        assert_eq!(phase(&p), "Pending");
        let init = &inits(&p)[0];
        assert_eq!(init.restart_count, 1);
        assert_eq!(waiting(init).map(|w| w.0), Some("CrashLoopBackOff"));
        assert!(!init.ready);
        assert_eq!(waiting(app(&p)), Some(("PodInitializing", None)));
        assert_eq!(next_in(&p), Some(10.0));
    }

    #[test]
    fn sidecars_run_beside_the_app_and_stop_when_it_finished() {
        let mut sidecar = container("proxy");
        sidecar.restart_policy = Some("Always".into());
        let pod = with_inits(
            pod("Never", &[(RUN_FOR_ANNOTATION, "5s")]),
            vec![sidecar, container("setup")],
        );
        let p = plan_at(&pod, 2.0);
        assert_eq!(phase(&p), "Running");
        assert!(inits(&p)[0].started == Some(true) && inits(&p)[0].ready);
        assert!(inits(&p)[1].ready);
        let p = plan_at(&pod, 5.0);
        assert_eq!(phase(&p), "Succeeded");
        let t = terminated(inits(&p)[0].state.as_ref().unwrap()).unwrap();
        assert_eq!(t.finished_at, Some(Time(secs(5.0))));
    }

    #[test]
    fn time_scale_shrinks_annotations_and_back_off() {
        let pod = pod("Always", &[(CRASH_EVERY_ANNOTATION, "10s")]);
        // Scale 0.1: crash every 1 s, back-off 1 s; restarts at 1 (at once) and 3.
        let p = plan(&pod, &at(), secs(2.5), 0.1);
        assert_eq!(
            waiting(app(&p)).and_then(|w| w.1),
            Some("back-off 1s restarting failed container=app pod=web_default(u1)")
        );
        assert_eq!(next_in(&p), Some(3.0));
    }

    #[test]
    fn a_status_read_back_from_the_api_needs_no_update() {
        let pod = pod("Always", &[(CRASH_EVERY_ANNOTATION, "10s")]);
        for t in [0.3, 10.7, 25.2] {
            let p = plan_at(&pod, t);
            let json = serde_json::to_string(&p.status).unwrap();
            let back: PodStatus = serde_json::from_str(&json).unwrap();
            assert!(!needs_update(&back, &p.status), "at {t}");
            assert!(!needs_update(&back, &plan_at(&pod, t + 0.1).status));
        }
        assert!(needs_update(
            &plan_at(&pod, 5.0).status,
            &plan_at(&pod, 10.0).status
        ));
        assert!(needs_update(
            &PodStatus::default(),
            &plan_at(&pod, 0.0).status
        ));
    }

    #[test]
    fn deletion_terminates_running_containers() {
        let pod = pod("Always", &[]);
        let s = stopped_status(&pod, &at(), secs(7.0), 1.0);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let ready = s.conditions.iter().flatten().find(|c| c.type_ == "Ready");
        assert_eq!(ready.unwrap().reason.as_deref(), Some("PodFailed"));
        let c = &s.container_statuses.unwrap()[0];
        let t = terminated(c.state.as_ref().unwrap()).unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (143, Some("Error")));
        assert_eq!(t.finished_at, Some(Time(secs(7.0))));
        assert!(!c.ready);
    }

    #[test]
    fn a_deleted_pod_that_already_succeeded_stays_succeeded() {
        let pod = pod("Never", &[(RUN_FOR_ANNOTATION, "2s")]);
        let s = stopped_status(&pod, &at(), secs(5.0), 1.0);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        let c = &s.container_statuses.unwrap()[0];
        let t = terminated(c.state.as_ref().unwrap()).unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    }

    #[test]
    fn a_deleted_pod_keeps_its_disruption_target_and_ends_failed() {
        let mut pod = pod("Never", &[(RUN_FOR_ANNOTATION, "forever")]);
        pod.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("EvictionByEvictionAPI".into()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let s = stopped_status(&pod, &at(), secs(3.0), 1.0);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let target = s
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "DisruptionTarget");
        assert_eq!(target.map(|c| c.status.as_str()), Some("True"));
    }

    #[test]
    fn a_pod_deleted_while_initializing_ends_failed_as_terminate_pod_marks_it() {
        let pod = with_inits(
            pod("Always", &[(INIT_RUN_FOR_ANNOTATION, "10s")]),
            vec![container("init")],
        );
        let s = stopped_status(&pod, &at(), secs(3.0), 1.0);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
    }
}
