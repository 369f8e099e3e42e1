//! The `sim` runtime against a real HTTP API server (`TestServer`), time-scaled: pods
//! crash-loop per `capstan.dev/crash-every` with a growing `restartCount` and
//! `CrashLoopBackOff` (also as real `kubectl get pods` shows it), restart policies decide
//! what an exit leads to, `capstan.dev/unready-after` turns pods NotReady, and init
//! containers run first, in order.

mod support;

use capstan_node_agent::NodePoolSpec;
use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ObjectMeta;
use support::{Agent, eventually};

fn container(name: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("registry.k8s.io/pause:3.10".into()),
        ..Default::default()
    }
}

fn pod(name: &str, policy: &str, annotations: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("sim-0".into()),
            restart_policy: Some(policy.into()),
            containers: vec![container("app")],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn app(s: &PodStatus) -> Option<&ContainerStatus> {
    s.container_statuses.as_ref()?.first()
}

fn waiting_reason(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn last_exit(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.last_state.as_ref()?.terminated.as_ref()
}

fn terminated(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.state.as_ref()?.terminated.as_ref()
}

fn condition<'a>(s: &'a PodStatus, type_: &str) -> Option<&'a PodCondition> {
    s.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_every_crash_loops_with_restart_count_and_back_off() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    let created = agent
        .create(pod(
            "crash",
            "Always",
            &[("capstan.dev/crash-every", "10s")],
        ))
        .await;
    let uid = created.uid().unwrap();

    // Held back in CrashLoopBackOff, with the kubelet's message and the last exit.
    let backoff = agent
        .status_where("crash", "crash in CrashLoopBackOff", |s| {
            app(s).is_some_and(|c| waiting_reason(c) == Some("CrashLoopBackOff"))
        })
        .await;
    assert_eq!(backoff.phase.as_deref(), Some("Running"));
    let c = app(&backoff).unwrap();
    assert!(c.restart_count >= 1, "restarts: {}", c.restart_count);
    assert!(!c.ready);
    let message = c
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone();
    let message = message.unwrap_or_default();
    assert!(
        message.starts_with("back-off ")
            && message.ends_with(&format!(
                " restarting failed container=app pod=crash_default({uid})"
            )),
        "message: {message}"
    );
    let last = last_exit(c).expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(last.started_at.is_some() && last.finished_at.is_some());
    let ready = condition(&backoff, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("ContainersNotReady"))
    );

    // The restart count keeps growing.
    let seen = c.restart_count;
    agent
        .status_where("crash", "crash restarted again", |s| {
            app(s).is_some_and(|c| c.restart_count > seen + 1)
        })
        .await;

    // Real kubectl shows it as on a real cluster.
    eventually("kubectl showing CrashLoopBackOff with restarts", || {
        let agent = &agent;
        async move {
            let cols = agent.kubectl_get("crash").await;
            let restarts: i32 = cols.get(3)?.parse().ok()?;
            (cols.get(2).map(String::as_str) == Some("CrashLoopBackOff") && restarts >= 2)
                .then_some(())
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_decide_what_an_exit_leads_to() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    let failing = [
        ("capstan.dev/run-for", "10s"),
        ("capstan.dev/exit-code", "3"),
    ];
    let succeeding = [("capstan.dev/run-for", "10s")];
    for policy in ["Never", "OnFailure", "Always"] {
        let lower = policy.to_lowercase();
        agent
            .create(pod(&format!("fail-{lower}"), policy, &failing))
            .await;
        agent
            .create(pod(&format!("ok-{lower}"), policy, &succeeding))
            .await;
    }

    // Never: no restart, the pod ends with the exit.
    let s = agent
        .status_where("fail-never", "fail-never failed", |s| {
            s.phase.as_deref() == Some("Failed")
        })
        .await;
    let c = app(&s).unwrap();
    assert_eq!(c.restart_count, 0);
    let t = terminated(c).unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    let s = agent
        .status_where("ok-never", "ok-never succeeded", |s| {
            s.phase.as_deref() == Some("Succeeded")
        })
        .await;
    assert_eq!(app(&s).unwrap().restart_count, 0);

    // OnFailure: a failure restarts, a success completes the pod.
    let s = agent
        .status_where("fail-onfailure", "fail-onfailure restarting", |s| {
            app(s).is_some_and(|c| c.restart_count >= 2)
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(last_exit(app(&s).unwrap()).map(|t| t.exit_code), Some(3));
    let s = agent
        .status_where("ok-onfailure", "ok-onfailure succeeded", |s| {
            s.phase.as_deref() == Some("Succeeded")
        })
        .await;
    let c = app(&s).unwrap();
    assert_eq!(c.restart_count, 0);
    assert_eq!(terminated(c).map(|t| t.exit_code), Some(0));

    // Always: every exit restarts, successful or not.
    for name in ["fail-always", "ok-always"] {
        let s = agent
            .status_where(name, &format!("{name} restarting"), |s| {
                app(s).is_some_and(|c| c.restart_count >= 2)
            })
            .await;
        assert_eq!(s.phase.as_deref(), Some("Running"), "{name}");
    }
    let s = agent.pods.get("ok-always").await.unwrap().status.unwrap();
    let last = last_exit(app(&s).unwrap()).unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (0, Some("Completed"))
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unready_after_turns_a_ready_pod_not_ready() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    // Ready 2 s after the start (40 s scaled), NotReady 5 s after that (100 s scaled).
    agent
        .create(pod(
            "flaky",
            "Always",
            &[
                ("capstan.dev/ready-after", "40s"),
                ("capstan.dev/unready-after", "100s"),
            ],
        ))
        .await;
    let ready = agent
        .status_where("flaky", "flaky ready", |s| {
            condition(s, "Ready").is_some_and(|c| c.status == "True")
        })
        .await;
    let started = ready.start_time.clone().unwrap().0;
    let became_ready = condition(&ready, "Ready")
        .unwrap()
        .last_transition_time
        .clone()
        .unwrap()
        .0;
    assert!(
        seconds_between(started, became_ready) >= 2.0,
        "ready at {became_ready}, started {started}"
    );
    let unready = agent
        .status_where("flaky", "flaky not ready again", |s| {
            condition(s, "Ready").is_some_and(|c| c.status == "False")
        })
        .await;
    assert_eq!(unready.phase.as_deref(), Some("Running"));
    for type_ in ["Ready", "ContainersReady"] {
        let c = condition(&unready, type_).unwrap();
        assert_eq!(
            (c.reason.as_deref(), c.message.as_deref()),
            (
                Some("ContainersNotReady"),
                Some("containers with unready status: [app]")
            ),
            "{type_}"
        );
        let since = c.last_transition_time.clone().unwrap().0;
        assert!(
            seconds_between(started, since) >= 7.0,
            "{type_} False at {since}, started {started}"
        );
    }
    let c = app(&unready).unwrap();
    assert!(!c.ready && c.state.as_ref().unwrap().running.is_some());
    assert_eq!(c.restart_count, 0);

    // Settled: the agent writes it no more (a pod created after it gets its status,
    // while this one keeps its resourceVersion).
    let version = agent.pods.get("flaky").await.unwrap().resource_version();
    agent.create(pod("marker", "Always", &[])).await;
    agent
        .status_where("marker", "marker running", |s| {
            s.phase.as_deref() == Some("Running")
        })
        .await;
    assert_eq!(
        agent.pods.get("flaky").await.unwrap().resource_version(),
        version
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_first_in_order() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    // Each init container runs 3 s (60 s scaled).
    let mut p = pod("staged", "Always", &[("capstan.dev/init-run-for", "60s")]);
    p.spec.as_mut().unwrap().init_containers = Some(vec![container("fetch"), container("migrate")]);
    agent.create(p).await;
    let second = agent
        .status_where("staged", "the second init container running", |s| {
            s.init_container_statuses
                .as_ref()
                .and_then(|l| l.get(1))
                .is_some_and(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
        })
        .await;
    assert_eq!(second.phase.as_deref(), Some("Pending"));
    let first = &second.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!(terminated(first).map(|t| t.exit_code), Some(0));
    assert!(first.ready);
    assert_eq!(
        app(&second).and_then(waiting_reason),
        Some("PodInitializing")
    );
    let initialized = condition(&second, "Initialized").unwrap();
    assert_eq!(
        (
            initialized.status.as_str(),
            initialized.reason.as_deref(),
            initialized.message.as_deref()
        ),
        (
            "False",
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status: [migrate]")
        )
    );

    let running = agent
        .status_where("staged", "staged running and ready", |s| {
            condition(s, "Ready").is_some_and(|c| c.status == "True")
        })
        .await;
    assert_eq!(running.phase.as_deref(), Some("Running"));
    assert_eq!(
        condition(&running, "Initialized").map(|c| c.status.as_str()),
        Some("True")
    );
    let inits = running.init_container_statuses.as_ref().unwrap();
    let (fetch, migrate) = (
        terminated(&inits[0]).unwrap(),
        terminated(&inits[1]).unwrap(),
    );
    let at =
        |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| t.clone().unwrap().0;
    let app_started = at(&app(&running)
        .unwrap()
        .state
        .as_ref()
        .unwrap()
        .running
        .as_ref()
        .unwrap()
        .started_at);
    assert!(at(&fetch.finished_at) <= at(&migrate.started_at));
    assert!(at(&migrate.finished_at) <= app_started);
    assert!(
        seconds_between(at(&fetch.started_at), app_started) >= 5.0,
        "both init containers ran their 3 s"
    );

    // A failing init container: Never fails the pod, Always retries it behind the
    // back-off while the app waits.
    for policy in ["Never", "Always"] {
        let mut p = pod(&format!("broken-{}", policy.to_lowercase()), policy, &[]);
        let mut init = container("check");
        init.command = Some(vec!["false".into()]);
        p.spec.as_mut().unwrap().init_containers = Some(vec![init]);
        agent.create(p).await;
    }
    let s = agent
        .status_where("broken-never", "broken-never failed", |s| {
            s.phase.as_deref() == Some("Failed")
        })
        .await;
    let check = &s.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!(terminated(check).map(|t| t.exit_code), Some(1));
    let s = agent
        .status_where("broken-always", "broken-always init crash-looping", |s| {
            s.init_container_statuses
                .as_ref()
                .and_then(|l| l.first())
                .is_some_and(|c| {
                    c.restart_count >= 2 && waiting_reason(c) == Some("CrashLoopBackOff")
                })
        })
        .await;
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(app(&s).and_then(waiting_reason), Some("PodInitializing"));
    eventually("kubectl showing Init:CrashLoopBackOff", || {
        let agent = &agent;
        async move {
            let cols = agent.kubectl_get("broken-always").await;
            (cols.get(2).map(String::as_str) == Some("Init:CrashLoopBackOff")).then_some(())
        }
    })
    .await;
    agent.stop().await;
}
