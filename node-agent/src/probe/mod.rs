//! Container probes as the kubelet runs them: the probe's timing with upstream defaults,
//! the success/failure thresholds, and one probe attempt (`exec`, `httpGet`,
//! `tcpSocket`). [`scheduler`] runs all probes of an agent from one task.
//!
//! `httpGet` and `tcpSocket` probes without a `host` go to `127.0.0.1`, not to the pod
//! IP as the kubelet's do: the process runtime's containers share the agent's network
//! namespace and the pod IP (from the node's pod CIDR) is not assigned to any local
//! interface, so loopback is where a process listening on its port is reachable.

pub mod http;
pub mod scheduler;

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::AsyncReadExt;

use crate::lifecycle::scaled;

/// The host probes without an explicit `host` are sent to (see the module docs).
pub const DEFAULT_PROBE_HOST: &str = "127.0.0.1";
/// How much of a probe's output (response body, command output) is kept (kubelet: 10 KiB).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// Which of a container's probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `startupProbe`: gates the other two until it succeeds; failure kills the container.
    Startup,
    /// `readinessProbe`: the container's `ready`.
    Readiness,
    /// `livenessProbe`: failure kills the container.
    Liveness,
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        })
    }
}

impl ProbeKind {
    /// The container's probe of this kind.
    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
        }
    }

    /// The result a probe of this kind holds before its first settled result (kubelet:
    /// readiness failure, liveness success, startup unknown).
    pub fn initial(self) -> Option<bool> {
        match self {
            ProbeKind::Startup => None,
            ProbeKind::Readiness => Some(false),
            ProbeKind::Liveness => Some(true),
        }
    }
}

/// When and how often a probe runs, and how many results settle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    /// `initialDelaySeconds` (default 0), after the container started.
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

fn positive(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

impl ProbeTiming {
    /// The timing of `probe` with the upstream defaults for unset (or zero) fields; the
    /// initial delay and period multiplied by `scale` (the agent's time scale), the
    /// timeout not (it bounds real I/O).
    pub fn of(probe: &Probe, scale: f64) -> Self {
        let secs = |v: u32| Duration::from_secs(u64::from(v));
        let delay = probe
            .initial_delay_seconds
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        ProbeTiming {
            initial_delay: scaled(secs(delay), scale),
            period: scaled(secs(positive(probe.period_seconds, 10)), scale),
            timeout: secs(positive(probe.timeout_seconds, 1)),
            success_threshold: positive(probe.success_threshold, 1),
            failure_threshold: positive(probe.failure_threshold, 3),
        }
    }
}

/// Consecutive results of one probe, settling a result when a threshold is reached (the
/// kubelet worker's `lastResult`/`resultRun`).
#[derive(Clone, Debug, Default)]
pub struct Thresholds {
    last: Option<bool>,
    run: u32,
}

impl Thresholds {
    /// Records one result; returns it when it is now settled (the threshold for it is
    /// reached), `None` while below the threshold.
    pub fn observe(&mut self, success: bool, timing: &ProbeTiming) -> Option<bool> {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            timing.success_threshold
        } else {
            timing.failure_threshold
        };
        (self.run >= threshold).then_some(success)
    }

    /// Starts counting afresh (after a liveness or startup failure killed the container).
    pub fn reset(&mut self) {
        self.run = 0;
    }
}

/// What a probe does, resolved against its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeAction {
    /// Run a command; exit 0 is success.
    Exec(Vec<String>),
    /// GET a URL; 200–399 is success.
    Http(http::HttpGet),
    /// Open a TCP connection.
    Tcp {
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u16,
    },
}

/// Resolves a probe port: a number, or the name of one of the container's ports (or a
/// number written as a string), as the kubelet's `ResolveContainerPort`.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let n = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port);
            match named {
                Some(n) => n,
                None => name
                    .parse::<i32>()
                    .map_err(|_| format!("couldn't find port: {name} in {}", container.name))?,
            }
        }
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {n}"))
}

/// What `probe` of `container` does; an error for a probe the runtime cannot run (a
/// named port the container does not declare, a `grpc` probe, no handler at all).
pub fn action(probe: &Probe, container: &Container) -> Result<ProbeAction, String> {
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        if command.is_empty() {
            return Err("exec probe has no command".to_string());
        }
        return Ok(ProbeAction::Exec(command));
    }
    if let Some(get) = &probe.http_get {
        return Ok(ProbeAction::Http(http::HttpGet::resolve(get, container)?));
    }
    if let Some(tcp) = &probe.tcp_socket {
        return Ok(ProbeAction::Tcp {
            host: tcp
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_PROBE_HOST.to_string()),
            port: resolve_port(&tcp.port, container)?,
        });
    }
    if probe.grpc.is_some() {
        return Err("grpc probes are not supported by the process runtime".to_string());
    }
    Err("missing probe handler".to_string())
}

/// The outcome of one probe attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Success,
    /// It passed with a warning (an HTTP redirect to another host): counts as success.
    Warning(String),
    /// It failed, with the output the kubelet reports in its `Unhealthy` event.
    Failure(String),
}

impl Outcome {
    /// Whether the attempt counts as a success.
    pub fn passed(&self) -> bool {
        !matches!(self, Outcome::Failure(_))
    }
}

/// How an `exec` probe's command runs: the container's environment and directory.
#[derive(Clone, Debug, Default)]
pub struct ExecContext {
    /// The container's resolved environment.
    pub env: Vec<(String, String)>,
    /// The container's working directory.
    pub cwd: PathBuf,
}

/// Runs one attempt of `action` within `timeout`.
pub async fn run(action: &ProbeAction, timeout: Duration, exec: &ExecContext) -> Outcome {
    match action {
        ProbeAction::Exec(command) => run_exec(command, timeout, exec).await,
        ProbeAction::Http(get) => get.probe(timeout).await,
        ProbeAction::Tcp { host, port } => run_tcp(host, *port, timeout).await,
    }
}

/// Go's rendering of a dial error, as the kubelet's probe output shows it.
pub(crate) fn dial_error(addr: &str, err: &std::io::Error) -> String {
    let what = match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => err.to_string(),
    };
    format!("dial tcp {addr}: connect: {what}")
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn run_tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    let addr = join_host_port(host, port);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(err)) => Outcome::Failure(dial_error(&addr, &err)),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

async fn run_exec(command: &[String], timeout: Duration, ctx: &ExecContext) -> Outcome {
    let Some((program, args)) = command.split_first() else {
        return Outcome::Failure("exec probe has no command".to_string());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(ctx.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&ctx.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            return Outcome::Failure(format!(
                "exec: {program:?}: {}",
                crate::process::supervise::spawn_error_text(&err)
            ));
        }
    };
    let pgid = child.id();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let (mut out, err, status) = tokio::join!(drain(out), drain(err), child.wait());
        out.extend_from_slice(&err);
        out.truncate(MAX_OUTPUT);
        (out, status)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((buf, Ok(status))) => {
            let output = String::from_utf8_lossy(&buf).into_owned();
            if status.success() {
                Outcome::Success
            } else {
                Outcome::Failure(output)
            }
        }
        Ok((_, Err(err))) => Outcome::Failure(err.to_string()),
        Err(_) => {
            if let Some(pgid) = pgid {
                crate::process::supervise::kill_group(pgid);
            }
            Outcome::Failure(format!("command {:?} timed out", command.join(" ")))
        }
    }
}

/// Reads `r` to its end, keeping the first [`MAX_OUTPUT`] bytes.
async fn drain<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    let Some(mut r) = r else {
        return buf;
    };
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, ExecAction, HTTPGetAction, TCPSocketAction};

    #[test]
    fn timing_defaults_are_upstreams() {
        let t = ProbeTiming::of(&Probe::default(), 1.0);
        assert_eq!(t.initial_delay, Duration::ZERO);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        let p = Probe {
            initial_delay_seconds: Some(5),
            period_seconds: Some(2),
            timeout_seconds: Some(3),
            success_threshold: Some(2),
            failure_threshold: Some(1),
            ..Default::default()
        };
        let t = ProbeTiming::of(&p, 0.1);
        assert_eq!(t.initial_delay, Duration::from_millis(500));
        assert_eq!(t.period, Duration::from_millis(200));
        assert_eq!(t.timeout, Duration::from_secs(3), "timeouts are not scaled");
        assert_eq!((t.success_threshold, t.failure_threshold), (2, 1));
    }

    #[test]
    fn thresholds_settle_after_consecutive_results() {
        let timing = ProbeTiming {
            success_threshold: 2,
            failure_threshold: 3,
            ..ProbeTiming::of(&Probe::default(), 1.0)
        };
        let mut t = Thresholds::default();
        assert_eq!(t.observe(true, &timing), None);
        assert_eq!(t.observe(true, &timing), Some(true));
        assert_eq!(t.observe(false, &timing), None);
        assert_eq!(t.observe(false, &timing), None);
        assert_eq!(
            t.observe(true, &timing),
            None,
            "a success breaks the failure run"
        );
        assert_eq!(t.observe(false, &timing), None);
        assert_eq!(t.observe(false, &timing), None);
        assert_eq!(t.observe(false, &timing), Some(false));
        assert_eq!(t.observe(false, &timing), Some(false));
    }

    fn container() -> Container {
        Container {
            name: "app".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn ports_resolve_by_number_or_name() {
        let c = container();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9090".into()), &c),
            Ok(9090)
        );
        assert!(resolve_port(&IntOrString::String("grpc".into()), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(0), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &c).is_err());
    }

    #[test]
    fn actions_default_to_loopback() {
        let c = container();
        let tcp = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("http".into()),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            action(&tcp, &c),
            Ok(ProbeAction::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            })
        );
        let get = Probe {
            http_get: Some(HTTPGetAction {
                port: IntOrString::Int(8080),
                path: Some("/healthz".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let Ok(ProbeAction::Http(h)) = action(&get, &c) else {
            panic!("http action");
        };
        assert_eq!(h.url(), "http://127.0.0.1:8080/healthz");
        let exec = Probe {
            exec: Some(ExecAction {
                command: Some(vec!["true".into()]),
            }),
            ..Default::default()
        };
        assert_eq!(
            action(&exec, &c),
            Ok(ProbeAction::Exec(vec!["true".into()]))
        );
        assert!(action(&Probe::default(), &c).is_err());
    }

    #[tokio::test]
    async fn exec_and_tcp_attempts() {
        let ctx = ExecContext {
            env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
            cwd: std::env::temp_dir(),
        };
        let t = Duration::from_secs(10);
        assert_eq!(run_exec(&["true".into()], t, &ctx).await, Outcome::Success);
        assert_eq!(
            run_exec(
                &["sh".into(), "-c".into(), "echo nope; exit 1".into()],
                t,
                &ctx
            )
            .await,
            Outcome::Failure("nope\n".into())
        );
        let slow = run_exec(
            &["sh".into(), "-c".into(), "sleep 30".into()],
            Duration::from_millis(200),
            &ctx,
        )
        .await;
        assert_eq!(
            slow,
            Outcome::Failure("command \"sh -c sleep 30\" timed out".into())
        );
        let missing = run_exec(&["/nonexistent/probe".into()], t, &ctx).await;
        assert!(
            matches!(&missing, Outcome::Failure(m) if m.contains("no such file")),
            "{missing:?}"
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(run_tcp("127.0.0.1", port, t).await, Outcome::Success);
        drop(listener);
        let refused = run_tcp("127.0.0.1", port, t).await;
        assert_eq!(
            refused,
            Outcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }
}
