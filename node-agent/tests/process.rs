//! The `process` runtime against a real HTTP API server (`TestServer`): containers run
//! as local processes with real exit codes, probes against them, restarts per policy
//! behind a (time-scaled) CrashLoopBackOff, graceful deletion, and no process left
//! behind by deleted pods or a stopped agent.

mod support;

use std::path::{Path, PathBuf};

use capstan_node_agent::NodePoolSpec;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, HTTPGetAction, ObjectFieldSelector,
    Pod, PodSpec, PodStatus, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{DeleteParams, ObjectMeta};
use support::{Agent, SCALE, eventually};

/// A container running `script` with `sh -c`. Kubernetes expands `$(VAR)` in commands
/// and turns `$$` into `$`: a script wanting the shell's `$$` writes `$$$$`.
fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.to_string(),
        image: Some("busybox:1.36".to_string()),
        command: Some(vec!["sh".into(), "-c".into(), script.to_string()]),
        ..Default::default()
    }
}

fn pod(name: &str, policy: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("proc-0".to_string()),
            restart_policy: Some(policy.to_string()),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn condition(s: &PodStatus, type_: &str) -> bool {
    s.conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

async fn read_pid(path: &Path) -> i32 {
    eventually(&format!("{} written", path.display()), || async move {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
    .await
}

async fn dead(pid: i32) {
    eventually(&format!("process {pid} gone"), || async move {
        (!alive(pid)).then_some(())
    })
    .await
}

fn log_text(dir: &Path) -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

#[tokio::test]
async fn http_server_goes_ready_through_its_http_readiness_probe() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let port = free_port();
    let www = tempfile::tempdir().unwrap();
    let mut web = Container {
        name: "web".into(),
        image: Some("python:3.12".into()),
        command: Some(vec!["python3".into(), "-m".into(), "http.server".into()]),
        args: Some(vec![
            "$(PORT)".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--directory".into(),
            www.path().display().to_string(),
        ]),
        env: Some(vec![EnvVar {
            name: "PORT".into(),
            value: Some(port.to_string()),
            ..Default::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(port),
            ..Default::default()
        }]),
        ..Default::default()
    };
    web.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::String("http".into()),
            path: Some("/".into()),
            ..Default::default()
        }),
        period_seconds: Some(1),
        ..Default::default()
    });
    let created = agent.create(pod("web", "Always", vec![web])).await;

    let ready = agent
        .status_where("web", "web Ready", |s| condition(s, "Ready"))
        .await;
    assert_eq!(ready.phase.as_deref(), Some("Running"));
    assert!(condition(&ready, "ContainersReady") && condition(&ready, "Initialized"));
    let c = &ready.container_statuses.as_ref().unwrap()[0];
    assert!(c.ready && c.started == Some(true));
    assert!(c.state.as_ref().unwrap().running.is_some());
    assert!(c.container_id.as_deref().unwrap().starts_with("process://"));
    assert_eq!(ready.host_ip.as_deref(), Some("10.244.0.1"));
    assert!(ready.pod_ip.as_deref().unwrap().starts_with("10.244.0."));
    // The server is really there, and its log shows the probe's requests.
    let body = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(body.is_ok(), "the process listens on its port");
    let logs = agent.log_dir(&created, "web");
    eventually("the probe's requests in the container log", || {
        let logs = logs.clone();
        async move {
            log_text(&logs)
                .contains("\"GET / HTTP/1.1\" 200")
                .then_some(())
        }
    })
    .await;
    let started = agent.events("web", "Started").await;
    assert!(
        started.contains(&"Started container web".to_string()),
        "{started:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn exit_codes_fail_never_pods_and_crash_loop_on_failure_pods() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let never = agent
        .create(pod("never", "Never", vec![sh("main", "echo bye; exit 3")]))
        .await;
    agent
        .create(pod(
            "retry",
            "OnFailure",
            vec![sh("main", "echo attempt; exit 3")],
        ))
        .await;

    let failed = agent
        .status_where("never", "never Failed", |s| {
            s.phase.as_deref() == Some("Failed")
        })
        .await;
    let c = &failed.container_statuses.as_ref().unwrap()[0];
    let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(c.restart_count, 0);
    assert!(!condition(&failed, "Ready"));
    let ready = failed
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason.as_deref(), Some("PodFailed"));
    assert!(log_text(&agent.log_dir(&never, "main")).contains(" stdout F bye\n"));

    // OnFailure: restarted again and again, behind the back-off.
    let looping = agent
        .status_where("retry", "retry in CrashLoopBackOff", |s| {
            s.container_statuses.as_ref().is_some_and(|cs| {
                cs[0]
                    .state
                    .as_ref()
                    .and_then(|st| st.waiting.as_ref())
                    .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
            })
        })
        .await;
    assert_eq!(looping.phase.as_deref(), Some("Running"));
    let c = &looping.container_statuses.as_ref().unwrap()[0];
    let w = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert!(
        w.message
            .as_deref()
            .unwrap()
            .contains("restarting failed container=main pod=retry_default("),
        "{w:?}"
    );
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 3);
    let retried = agent
        .status_where("retry", "retry restarted 3 times", |s| {
            s.container_statuses
                .as_ref()
                .is_some_and(|cs| cs[0].restart_count >= 3)
        })
        .await;
    assert_eq!(retried.phase.as_deref(), Some("Running"));
    let back_off = agent.events("retry", "BackOff").await;
    assert!(
        back_off
            .iter()
            .any(|m| m
                .starts_with("Back-off restarting failed container main in pod retry_default(")),
        "{back_off:?}"
    );

    // The instances' logs (current and previous) show the back-off between them: the
    // later one started at least its back-off (10 s doubling, time-scaled) after the
    // earlier one's output.
    let created = agent.pods.get("retry").await.unwrap();
    let dir = agent.log_dir(&created, "main");
    let (a, b, ta, tb) = eventually("two instances' logs with output", || {
        let dir = dir.clone();
        async move {
            let first_line_time = |n: i32| -> Option<Timestamp> {
                let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).ok()?;
                text.split(' ').next()?.parse().ok()
            };
            let mut instances: Vec<i32> = std::fs::read_dir(&dir)
                .ok()?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
                .collect();
            instances.sort();
            // Only the current and the previous instance's logs are kept.
            let [a, b] = instances[..] else { return None };
            Some((a, b, first_line_time(a)?, first_line_time(b)?))
        }
    })
    .await;
    assert!(b >= 3 && a == b - 1, "instances {a} and {b}");
    let backoff = 10.0 * SCALE * 2f64.powi(b - 2);
    let gap = tb.duration_since(ta).as_secs_f64();
    assert!(
        gap >= backoff,
        "instance {b} started {gap}s after {a}, back-off {backoff}s"
    );
    agent.stop().await;
}

#[tokio::test]
async fn failing_exec_liveness_probe_restarts_the_container() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    // Healthy until a file `sick` appears in its working directory; removes it on start.
    let mut main = sh("main", "rm -f sick; echo started; sleep 1000 & wait");
    main.liveness_probe = Some(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["sh".into(), "-c".into(), "test ! -e sick".into()]),
        }),
        period_seconds: Some(1),
        failure_threshold: Some(2),
        ..Default::default()
    });
    let created = agent.create(pod("live", "Always", vec![main])).await;
    agent
        .status_where("live", "live running", |s| {
            condition(s, "Ready") && s.phase.as_deref() == Some("Running")
        })
        .await;
    let cwd = agent
        .state
        .path()
        .join(created.uid().unwrap())
        .join("containers")
        .join("main");
    std::fs::write(cwd.join("sick"), "").unwrap();

    let restarted = agent
        .status_where("live", "live restarted", |s| {
            s.container_statuses.as_ref().is_some_and(|cs| {
                cs[0].restart_count >= 1
                    && cs[0].state.as_ref().is_some_and(|st| st.running.is_some())
            })
        })
        .await;
    let last = restarted.container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (143, Some("Error")),
        "stopped by SIGTERM"
    );
    let killing = agent.events("live", "Killing").await;
    assert!(
        killing.contains(&"Container main failed liveness probe, will be restarted".to_string()),
        "{killing:?}"
    );
    let unhealthy = agent.events("live", "Unhealthy").await;
    assert!(
        unhealthy
            .iter()
            .any(|m| m.starts_with("Liveness probe failed")),
        "{unhealthy:?}"
    );
    agent.stop().await;
}

/// A `tcpSocket` startup probe holds readiness back until the process listens, and a
/// startup probe that keeps failing kills the container, which restarts.
#[tokio::test]
async fn tcp_startup_probe_gates_readiness_and_kills_a_container_that_never_starts() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let port = free_port();
    let tcp = |port: u16, failure_threshold: i32| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        period_seconds: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    };
    // Listens only once a file `go` appears in its working directory.
    let mut late = sh(
        "late",
        &format!(
            "while [ ! -e go ]; do sleep 0.1; done; \
             exec python3 -m http.server {port} --bind 127.0.0.1"
        ),
    );
    late.startup_probe = Some(tcp(port, 100_000));
    late.readiness_probe = Some(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["true".into()]),
        }),
        period_seconds: Some(1),
        ..Default::default()
    });
    let created = agent.create(pod("late", "Always", vec![late])).await;
    let waiting = agent
        .status_where("late", "late running, not started", |s| {
            s.container_statuses.as_ref().is_some_and(|cs| {
                cs[0].state.as_ref().is_some_and(|st| st.running.is_some())
                    && cs[0].started == Some(false)
            })
        })
        .await;
    assert!(!condition(&waiting, "Ready"), "not Ready before startup");
    assert!(!waiting.container_statuses.unwrap()[0].ready);
    let cwd = agent
        .state
        .path()
        .join(created.uid().unwrap())
        .join("containers")
        .join("late");
    std::fs::write(cwd.join("go"), "").unwrap();
    let ready = agent
        .status_where("late", "late started and Ready", |s| condition(s, "Ready"))
        .await;
    let c = &ready.container_statuses.unwrap()[0];
    assert_eq!((c.started, c.restart_count), (Some(true), 0));

    let mut never = sh("main", "sleep 1000 & wait");
    never.startup_probe = Some(tcp(free_port(), 2));
    agent.create(pod("never", "Always", vec![never])).await;
    let restarted = agent
        .status_where("never", "never restarted", |s| {
            s.container_statuses
                .as_ref()
                .is_some_and(|cs| cs[0].restart_count >= 1)
        })
        .await;
    assert!(!condition(&restarted, "Ready"));
    let killing = agent.events("never", "Killing").await;
    assert!(
        killing.contains(&"Container main failed startup probe, will be restarted".to_string()),
        "{killing:?}"
    );
    let unhealthy = agent.events("never", "Unhealthy").await;
    assert!(
        unhealthy
            .iter()
            .any(|m| m.starts_with("Startup probe failed")),
        "{unhealthy:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn graceful_deletion_sends_sigterm_and_then_deletes_the_pod() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let scratch = tempfile::tempdir().unwrap();
    let term = scratch.path().join("terminated");
    let pid_file = scratch.path().join("pid");
    let script = format!(
        "trap 'echo term > {}; exit 0' TERM; echo $$$$ > {}; sleep 1000 & wait",
        term.display(),
        pid_file.display()
    );
    agent
        .create(pod("graceful", "Always", vec![sh("main", &script)]))
        .await;
    agent
        .status_where("graceful", "graceful running", |s| {
            s.phase.as_deref() == Some("Running")
        })
        .await;
    let pid = read_pid(&pid_file).await;
    agent
        .pods
        .delete("graceful", &DeleteParams::default())
        .await
        .unwrap();
    agent.gone("graceful").await;
    assert_eq!(
        std::fs::read_to_string(&term).ok().as_deref(),
        Some("term\n"),
        "the container saw SIGTERM before the pod was deleted"
    );
    dead(pid).await;
    let killing = agent.events("graceful", "Killing").await;
    assert!(
        killing.contains(&"Stopping container main".to_string()),
        "{killing:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn deleting_a_pod_kills_its_processes_even_when_they_ignore_sigterm() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let scratch = tempfile::tempdir().unwrap();
    let (pid_file, child_file) = (scratch.path().join("pid"), scratch.path().join("child"));
    let script = format!(
        "trap '' TERM; echo $$$$ > {}; sleep 1000 & echo $! > {}; wait",
        pid_file.display(),
        child_file.display()
    );
    agent
        .create(pod("stubborn", "Always", vec![sh("main", &script)]))
        .await;
    let pid = read_pid(&pid_file).await;
    let child = read_pid(&child_file).await;
    assert!(alive(pid) && alive(child));
    let params = DeleteParams {
        grace_period_seconds: Some(1),
        ..DeleteParams::default()
    };
    agent.pods.delete("stubborn", &params).await.unwrap();
    agent.gone("stubborn").await;
    dead(pid).await;
    dead(child).await;
    agent.stop().await;
}

#[tokio::test]
async fn init_containers_run_first_and_env_reaches_the_process() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("initialized");
    let mut main = sh(
        "main",
        &format!(
            "test -f {} || exit 1; echo \"$GREETING from $POD_NAME at $POD_IP\"; sleep 1000 & wait",
            marker.display()
        ),
    );
    main.env = Some(vec![
        EnvVar {
            name: "WHO".into(),
            value: Some("init".into()),
            ..Default::default()
        },
        EnvVar {
            name: "GREETING".into(),
            value: Some("hello $(WHO)".into()),
            ..Default::default()
        },
        EnvVar {
            name: "POD_NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        EnvVar {
            name: "POD_IP".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "status.podIP".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    ]);
    let mut p = pod("inits", "Always", vec![main]);
    p.spec.as_mut().unwrap().init_containers = Some(vec![
        sh("first", "sleep 0.2; echo one > first-ran"),
        sh("second", &format!("echo done > {}", marker.display())),
    ]);
    let created = agent.create(p).await;
    let running = agent
        .status_where("inits", "inits running", |s| {
            s.phase.as_deref() == Some("Running") && condition(s, "Ready")
        })
        .await;
    let inits = running.init_container_statuses.unwrap();
    assert_eq!(inits.len(), 2);
    for c in &inits {
        let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        assert!(c.ready);
    }
    let main = &running.container_statuses.unwrap()[0];
    assert_eq!(main.restart_count, 0, "the init containers ran before it");
    let ip = running.pod_ip.unwrap();
    let logs = agent.log_dir(&created, "main");
    eventually("main's greeting in its log", || {
        let (logs, ip) = (logs.clone(), ip.clone());
        async move {
            log_text(&logs)
                .contains(&format!(" stdout F hello init from inits at {ip}\n"))
                .then_some(())
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn a_container_without_command_waits_with_a_config_error() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let no_command = Container {
        name: "nginx".into(),
        image: Some("nginx:1.27".into()),
        ..Default::default()
    };
    agent
        .create(pod("imageonly", "Always", vec![no_command]))
        .await;
    let waiting = agent
        .status_where("imageonly", "CreateContainerConfigError", |s| {
            s.container_statuses.as_ref().is_some_and(|cs| {
                cs[0]
                    .state
                    .as_ref()
                    .and_then(|st| st.waiting.as_ref())
                    .is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
            })
        })
        .await;
    assert_eq!(waiting.phase.as_deref(), Some("Pending"));
    let w = waiting.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert!(
        w.message
            .as_deref()
            .unwrap()
            .contains("\"nginx\" has no command"),
        "{w:?}"
    );
    // The agent keeps serving other pods.
    agent
        .create(pod("next", "Never", vec![sh("main", "exit 0")]))
        .await;
    agent
        .status_where("next", "next Succeeded", |s| {
            s.phase.as_deref() == Some("Succeeded")
        })
        .await;
    agent.stop().await;
}

#[tokio::test]
async fn stopping_the_agent_leaves_no_process_behind() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let scratch = tempfile::tempdir().unwrap();
    let (pid_file, child_file) = (scratch.path().join("pid"), scratch.path().join("child"));
    let script = format!(
        "echo $$$$ > {}; sleep 1000 & echo $! > {}; wait",
        pid_file.display(),
        child_file.display()
    );
    agent
        .create(pod("left", "Always", vec![sh("main", &script)]))
        .await;
    let pid = read_pid(&pid_file).await;
    let child = read_pid(&child_file).await;
    agent.stop().await;
    assert!(
        !alive(pid),
        "the main process was killed when the agent stopped"
    );
    dead(child).await;
}
