//! `kubectl exec`, `attach` and `port-forward` end to end: every installed kubectl
//! (1.27–1.29 speak SPDY/3.1; 1.30+ exec over WebSocket `v5.channel.k8s.io`; 1.31+
//! port-forward over SPDY tunnelled in a WebSocket) and kube-rs against `TestServer`,
//! whose `pods/exec|attach|portforward` are spliced to the node agent's kubelet API
//! over HTTPS; the process runtime runs the commands; sim pods refuse with the
//! documented message.

mod support;

use std::process::Stdio;
use std::time::Duration;

use capstan_node_agent::NodePoolSpec;
use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec, PodStatus};
use kube::api::{AttachParams, ObjectMeta};
use support::{Agent, eventually};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Every kubectl the machine has.
const KUBECTLS: [&str; 7] = support::ALL_KUBECTLS;

fn container(name: &str, command: &[&str]) -> Container {
    Container {
        name: name.to_string(),
        image: Some("busybox:1.36".to_string()),
        command: Some(command.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn pod(name: &str, node: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_string()),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn running(s: &PodStatus) -> bool {
    let statuses = s.container_statuses.as_deref().unwrap_or_default();
    !statuses.is_empty()
        && statuses
            .iter()
            .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
}

/// kubectl's exit code, stdout and stderr, with `stdin` written to it.
async fn kubectl(agent: &Agent, bin: &str, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(agent.server.kubeconfig_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("stdin written");
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{bin} {args:?} finishes"))
        .expect("kubectl output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running process pod `shell` whose container `app` sleeps, with `GREETING` set and
/// working directory `work`; and a second container `side`.
async fn shell_pod(agent: &Agent) {
    let mut app = container("app", &["sleep", "3600"]);
    app.env = Some(vec![EnvVar {
        name: "GREETING".into(),
        value: Some("hello from the spec".into()),
        ..Default::default()
    }]);
    app.working_dir = Some("work".into());
    let side = container("side", &["sleep", "3600"]);
    agent.create(pod("shell", "proc-0", vec![app, side])).await;
    agent
        .status_where("shell", "the shell pod running", running)
        .await;
}

#[tokio::test]
async fn kubectl_exec_returns_output_and_exit_codes_with_every_version() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    shell_pod(&agent).await;
    for bin in KUBECTLS {
        let (code, out, err) = kubectl(
            &agent,
            bin,
            &[
                "exec",
                "shell",
                "-c",
                "app",
                "--",
                "sh",
                "-c",
                "echo $HOSTNAME; echo $GREETING; pwd; echo oops >&2; exit 3",
            ],
            b"",
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(code, 3, "{bin}: exit code; stdout {out:?} stderr {err:?}");
        assert_eq!(
            lines[..2],
            ["shell", "hello from the spec"],
            "{bin}: {out:?}"
        );
        assert!(lines[2].ends_with("/work"), "{bin}: working dir {out:?}");
        assert!(err.contains("oops"), "{bin}: stderr {err:?}");
        assert!(
            err.contains("command terminated with exit code 3"),
            "{bin}: {err:?}"
        );

        // `-i`: stdin reaches the command, which ends at its EOF.
        let (code, out, err) = kubectl(
            &agent,
            bin,
            &[
                "exec",
                "-i",
                "shell",
                "-c",
                "side",
                "--",
                "sh",
                "-c",
                "while read l; do echo got:$l; done",
            ],
            b"one\ntwo\n",
        )
        .await;
        assert_eq!(
            (code, out.as_str()),
            (0, "got:one\ngot:two\n"),
            "{bin}: {err:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn exec_errors_are_upstreams() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    shell_pod(&agent).await;
    let bin = KUBECTLS[6];
    let (code, _, err) = kubectl(
        &agent,
        bin,
        &["exec", "shell", "-c", "nope", "--", "true"],
        b"",
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("container nope is not valid for pod shell"),
        "{err:?}"
    );
    // A pod not bound to a node.
    let mut pending = pod("pending", "", vec![container("app", &["true"])]);
    if let Some(spec) = pending.spec.as_mut() {
        spec.node_name = None;
    }
    agent.create(pending).await;
    for bin in [KUBECTLS[1], KUBECTLS[6]] {
        let (code, _, err) = kubectl(&agent, bin, &["exec", "pending", "--", "true"], b"").await;
        assert_ne!(code, 0);
        assert!(
            err.contains("does not have a host assigned"),
            "{bin}: {err:?}"
        );
    }
    // A program that does not exist.
    let (code, _, err) = kubectl(
        &agent,
        bin,
        &["exec", "shell", "-c", "app", "--", "no-such-program"],
        b"",
    )
    .await;
    assert_ne!(code, 0, "{err:?}");
    assert!(err.contains("no-such-program"), "{err:?}");
    agent.stop().await;
}

#[tokio::test]
async fn exec_on_a_sim_pod_is_refused_naming_the_sim_runtime() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    agent
        .create(pod(
            "simmed",
            "sim-0",
            vec![container("app", &["sleep", "3600"])],
        ))
        .await;
    agent
        .status_where("simmed", "the sim pod running", running)
        .await;
    for bin in [KUBECTLS[0], KUBECTLS[6]] {
        let (code, _, err) = kubectl(&agent, bin, &["exec", "simmed", "--", "true"], b"").await;
        assert_ne!(code, 0);
        assert!(
            err.contains(
                "exec is not supported for pod default/simmed: its node uses capstan's sim runtime"
            ),
            "{bin}: {err:?}"
        );
    }
    agent.stop().await;
}

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.0 GET to `127.0.0.1:port`; the whole answer.
async fn http_get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect through the forward");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("request sent");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .expect("answer read");
    answer
}

/// `kubectl port-forward pod/web :<port>` running, and the local port it reports.
async fn port_forward(agent: &Agent, bin: &str, port: u16) -> (u16, tokio::process::Child) {
    let mut child = tokio::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(agent.server.kubeconfig_path())
        .args(["port-forward", "pod/web", &format!(":{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl port-forward runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let local = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await.expect("read") {
            // "Forwarding from 127.0.0.1:41234 -> 8000"
            if let Some(rest) = l.strip_prefix("Forwarding from 127.0.0.1:") {
                return rest.split_whitespace().next().and_then(|p| p.parse().ok());
            }
        }
        None
    })
    .await
    .expect("kubectl reports the local port")
    .unwrap_or_else(|| panic!("{bin}: no local port"));
    // Keep draining stdout so kubectl never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (local, child)
}

#[tokio::test]
async fn kubectl_port_forward_reaches_a_process_pods_http_server() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let port = free_port();
    let script = format!(
        "mkdir -p site && echo served-by-the-pod > site/hello.txt && cd site && exec python3 -m http.server {port} --bind 127.0.0.1"
    );
    agent
        .create(pod(
            "web",
            "proc-0",
            vec![container("http", &["sh", "-c", &script])],
        ))
        .await;
    agent
        .status_where("web", "the server running", running)
        .await;
    eventually("the pod's server listening", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    // 1.27–1.30 forward over SPDY, 1.31+ over SPDY in a WebSocket.
    for bin in KUBECTLS {
        let (local, mut child) = port_forward(&agent, bin, port).await;
        for _ in 0..2 {
            let answer = http_get(local, "/hello.txt").await;
            assert!(answer.starts_with("HTTP/1.0 200"), "{bin}: {answer:?}");
            assert!(answer.ends_with("served-by-the-pod\n"), "{bin}: {answer:?}");
        }
        child.kill().await.expect("port-forward stops");
    }

    // kube-rs forwards over WebSocket channels (`v4.channel.k8s.io`).
    let mut forwarder = agent
        .pods
        .portforward("web", &[port])
        .await
        .expect("kube-rs port-forward starts");
    let mut stream = forwarder.take_stream(port).expect("the port's stream");
    stream
        .write_all(b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request sent");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .expect("kube-rs: the answer in time")
        .expect("kube-rs: the answer read");
    assert!(answer.starts_with("HTTP/1.0 200"), "kube-rs: {answer:?}");
    assert!(
        answer.ends_with("served-by-the-pod\n"),
        "kube-rs: {answer:?}"
    );
    drop(stream);
    forwarder.abort();

    // A port nothing listens on: the refusal comes back on the pair's error stream and
    // kubectl reports it.
    let closed = free_port();
    for bin in [KUBECTLS[1], KUBECTLS[6]] {
        let (local, mut child) = port_forward(&agent, bin, closed).await;
        let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let _ = tokio::net::TcpStream::connect(("127.0.0.1", local)).await;
        let reported = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(l)) = stderr.next_line().await {
                if l.contains(&format!(
                    "error forwarding port {closed} to pod default/web"
                )) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            reported,
            Ok(true),
            "{bin}: the refused connection is reported"
        );
        child.kill().await.expect("port-forward stops");
    }
    agent.stop().await;
}

#[tokio::test]
async fn kubectl_attach_joins_a_containers_stdin_and_output() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    let mut echo = container("echo", &["sh", "-c", "while read l; do echo got:$l; done"]);
    echo.stdin = Some(true);
    agent.create(pod("talker", "proc-0", vec![echo])).await;
    agent
        .status_where("talker", "the talker running", running)
        .await;
    for bin in [KUBECTLS[1], KUBECTLS[6]] {
        let mut child = tokio::process::Command::new(bin)
            .arg("--kubeconfig")
            .arg(agent.server.kubeconfig_path())
            .args(["attach", "-i", "talker"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl attach runs");
        let mut input = child.stdin.take().expect("stdin");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let word = format!("hi-{}", bin.rsplit('.').next().unwrap_or(""));
        // Written until the echo comes back: the first line may race the attach.
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                input
                    .write_all(format!("{word}\n").as_bytes())
                    .await
                    .expect("write");
                let next =
                    tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await;
                if let Ok(Ok(Some(l))) = next
                    && l == format!("got:{word}")
                {
                    return;
                }
            }
        })
        .await;
        assert!(
            seen.is_ok(),
            "{bin}: the attached container echoed the input"
        );
        child.kill().await.expect("attach stops");
    }
    agent.stop().await;
}

#[tokio::test]
async fn kube_rs_exec_streams_and_status() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    shell_pod(&agent).await;
    // stdout, stderr and the exit status.
    let mut attached = agent
        .pods
        .exec(
            "shell",
            ["sh", "-c", "echo out; echo err >&2; exit 4"],
            &AttachParams::default().container("app").stderr(true),
        )
        .await
        .expect("exec starts");
    let mut out = String::new();
    attached
        .stdout()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("stdout read");
    let mut err = String::new();
    attached
        .stderr()
        .expect("stderr")
        .read_to_string(&mut err)
        .await
        .expect("stderr read");
    let status = attached
        .take_status()
        .expect("status")
        .await
        .expect("a status");
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status
        .details
        .and_then(|d| d.causes)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("4"));

    // A terminal: the command sees a pseudo-terminal of the size sent.
    let mut attached = agent
        .pods
        .exec(
            "shell",
            ["sh", "-c", "sleep 0.5; stty size; tty"],
            &AttachParams::interactive_tty().container("app"),
        )
        .await
        .expect("exec with a tty starts");
    let mut resize = attached.terminal_size().expect("a resize channel");
    futures::SinkExt::send(
        &mut resize,
        kube::api::TerminalSize {
            width: 100,
            height: 30,
        },
    )
    .await
    .expect("resize sent");
    let mut out = String::new();
    attached
        .stdout()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("stdout read");
    assert!(out.contains("30 100"), "{out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    agent.stop().await;
}
