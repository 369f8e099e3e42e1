//! `exec` and `attach` for the process runtime, protocol-agnostic: each gives the ends
//! of a [`Session`] (stdin to write, stdout and stderr to read, terminal resizes, the
//! exit) that the kubelet API's streaming protocols (SPDY, WebSocket) carry.
//!
//! An exec'd process runs as a CRI runtime runs one in a container: with the
//! environment and working directory the container's process got (its program looked
//! up in that `PATH`), in a process group of its own, with a pseudo-terminal when the
//! session asks for `tty` (`TERM=xterm` unless the container's environment sets
//! `TERM`). It is killed (its whole process group) when the session is dropped before
//! it ended (the client went away) and when the container instance ends (it stops,
//! restarts, or its pod is deleted); when it ends, what is left of its process group
//! (on a terminal: of its session, which an interactive shell's jobs stay in) is
//! killed too (a process runtime cannot track it any further; a CRI runtime would
//! leave it running in the container).
//!
//! Attaching joins the container's own process: its output from the moment of
//! attaching on, and its stdin when its spec says `stdin: true`.

use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::ProcessRuntime;
use super::pty::{self, Master, PtyReader, PtyWriter};
use super::stdio::{BroadcastReader, ClosingWriter, InstanceIo};
use super::supervise::{exec_error_text, exit_code, kill_group, kill_session};

/// Which streams a session carries (the kubelet's `stdin`, `stdout`, `stderr` and `tty`
/// query parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// The client sends input.
    pub stdin: bool,
    /// The client reads the standard output (with `tty`, the terminal's output).
    pub stdout: bool,
    /// The client reads the standard error (never with `tty`: it is merged into the
    /// terminal's output).
    pub stderr: bool,
    /// The session runs on a terminal.
    pub tty: bool,
}

impl StreamOptions {
    /// The options as the kubelet applies them (`remotecommand.NewOptions`): with `tty`
    /// there is no separate stderr (it is dropped, not refused), and a session must
    /// carry at least one of stdin, stdout and stderr (else `BadRequest`).
    pub fn normalized(self) -> Result<Self, SessionError> {
        let mut opts = self;
        if opts.tty {
            opts.stderr = false;
        }
        if !(opts.stdin || opts.stdout || opts.stderr) {
            return Err(SessionError::BadRequest(
                "you must specify at least 1 of stdin, stdout, stderr".into(),
            ));
        }
        Ok(opts)
    }
}

/// A terminal size (what the resize stream carries as `{"Width":..,"Height":..}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// A readable end of a session.
pub type SessionReader = Box<dyn AsyncRead + Send + Unpin>;
/// The writable end of a session.
pub type SessionWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The ends of a running exec or attach session. Read `stdout` and `stderr` to their
/// end (they end once the process ended and its output was delivered), then await
/// `done`. Dropping the session (`done` with it) before the process ended ends an exec:
/// its process group is killed.
pub struct Session {
    /// Input, when the options ask for stdin (for attach: when the container's spec
    /// also has `stdin: true`). Shutting it down is the end of input: an exec'd
    /// process without a terminal reads EOF; with a terminal the terminal's EOF
    /// character (`^D`) is typed (see [`PtyWriter`]); for attach, the container's stdin
    /// is closed when its spec has `stdinOnce: true` (after the first session with
    /// stdin ends: shut down or dropped), else only this session stops writing.
    pub stdin: Option<SessionWriter>,
    /// The standard output when the options ask for it; with `tty`, the terminal's
    /// output (stdout and stderr merged).
    pub stdout: Option<SessionReader>,
    /// The standard error when the options ask for it (never with `tty`).
    pub stderr: Option<SessionReader>,
    /// Terminal resizes, with `tty` (exec only: the process runtime attaches to no
    /// terminal). Sending fails once the process ended; ignore that.
    pub resize: Option<mpsc::Sender<TerminalSize>>,
    /// The end: for exec the process's exit code (`128 + n` when signal `n` ended it)
    /// or, when it could not be started, `Err` with the runtime's message (e.g.
    /// `exec failed: unable to start container process: exec: "nosuch": executable file
    /// not found in $PATH`, to report as the kubelet reports a failed exec); for
    /// attach, the container process's exit code once it ended.
    pub done: BoxFuture<'static, Result<i32, String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("resize", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a session cannot start: the kubelet's answer (see [`status`](Self::status)) and
/// its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// 404: the container has no running instance (`container not found ("name")`,
    /// the kubelet's message).
    #[error("{0}")]
    NotFound(String),
    /// 400: the request cannot be served (no command, no stream, attaching to a `tty`
    /// container).
    #[error("{0}")]
    BadRequest(String),
    /// 500: the agent failed (e.g. no pseudo-terminal could be opened).
    #[error("{0}")]
    Internal(String),
}

impl SessionError {
    /// The HTTP status the kubelet answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            SessionError::NotFound(_) => http::StatusCode::NOT_FOUND,
            SessionError::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            SessionError::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn internal(what: &str) -> impl Fn(std::io::Error) -> SessionError + '_ {
    move |err| SessionError::Internal(format!("{what}: {err}"))
}

/// How many resizes may wait to be applied.
const RESIZE_BACKLOG: usize = 8;

impl ProcessRuntime {
    /// The running instance of container `container` of `pod`, or the kubelet's 404.
    fn running_io(&self, pod: &Pod, container: &str) -> Result<Arc<InstanceIo>, SessionError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let cell = self.pods.lock().by_uid.get(uid).cloned();
        cell.and_then(|cell| {
            let st = cell.lock();
            st.slots
                .iter()
                .find(|s| s.name == container)
                .and_then(|s| s.running.as_ref())
                .map(|r| r.io.clone())
        })
        .ok_or_else(|| SessionError::NotFound(format!("container not found ({container:?})")))
    }

    /// Runs `command` in the running instance of container `container` of `pod` with
    /// the streams `opts` asks for (see the [module](self) for how it runs).
    ///
    /// Errors: `NotFound` when the container has no running instance, `BadRequest` for
    /// an empty command or no stream, `Internal` when no terminal could be opened. A
    /// program that cannot be started (not found, not executable) is no error here: the
    /// session's `done` answers `Err` with the runtime's message and its output ends at
    /// once, as a CRI runtime reports a failed exec through the stream.
    pub async fn exec(
        &self,
        pod: &Pod,
        container: &str,
        command: Vec<String>,
        opts: StreamOptions,
    ) -> Result<Session, SessionError> {
        let opts = opts.normalized()?;
        let Some((program, args)) = command.split_first() else {
            return Err(SessionError::BadRequest(
                "you must specify at least one command for the container".into(),
            ));
        };
        let io = self.running_io(pod, container)?;
        let mut env = io.launch.env.clone();
        if opts.tty && !env.iter().any(|(k, _)| k == "TERM") {
            env.push(("TERM".into(), "xterm".into()));
        }
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&io.launch.cwd)
            .kill_on_drop(true);
        let pty = if opts.tty {
            let pty = pty::open().map_err(internal("opening a pseudo-terminal"))?;
            pty.attach(&mut cmd)
                .map_err(internal("opening a pseudo-terminal"))?;
            Some(pty)
        } else {
            let pipe = |wanted: bool| {
                if wanted {
                    std::process::Stdio::piped()
                } else {
                    std::process::Stdio::null()
                }
            };
            cmd.stdin(pipe(opts.stdin))
                .stdout(pipe(opts.stdout))
                .stderr(pipe(opts.stderr))
                .process_group(0);
            None
        };
        let spawned = cmd.spawn();
        // The command holds copies of the terminal's slave: the master reads EOF only
        // once the child's are the last ones.
        drop(cmd);
        let (master, slave) = match pty {
            Some(p) => (Some(p.master), Some(p.slave)),
            None => (None, None),
        };
        drop(slave);
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                let message = format!(
                    "exec failed: unable to start container process: {}",
                    exec_error_text(program, &err)
                );
                return Ok(failed_session(opts, message));
            }
        };
        let Some(pgid) = child.id() else {
            return Ok(failed_session(
                opts,
                "the exec'd process ended before its PID was read".into(),
            ));
        };
        if !io.execs.add(pgid, opts.tty) {
            // The container ended meanwhile: so does this.
            kill_group(pgid);
        }
        let (done_tx, done_rx) = oneshot::channel();
        let mut session = Session {
            stdin: None,
            stdout: None,
            stderr: None,
            resize: None,
            done: Box::pin(async move {
                done_rx
                    .await
                    .unwrap_or_else(|_| Err("the exec'd process was lost".into()))
            }),
        };
        let mut tty = None;
        match master {
            Some(master) => {
                let (tx, rx) = mpsc::channel(RESIZE_BACKLOG);
                session.resize = Some(tx);
                session.stdin = opts
                    .stdin
                    .then(|| Box::new(PtyWriter::new(master.clone())) as SessionWriter);
                // Nobody reading the terminal would stall the process once its buffer
                // is full: its output is drained instead.
                let drain = (!opts.stdout).then(|| PtyReader(master.clone()));
                if opts.stdout {
                    session.stdout = Some(Box::new(PtyReader(master.clone())));
                }
                tty = Some(Terminal {
                    master,
                    resizes: rx,
                    drain,
                });
            }
            None => {
                session.stdin = child
                    .stdin
                    .take()
                    .map(|s| Box::new(ClosingWriter::new(s)) as SessionWriter);
                session.stdout = child.stdout.take().map(|s| Box::new(s) as SessionReader);
                session.stderr = child.stderr.take().map(|s| Box::new(s) as SessionReader);
            }
        }
        self.tasks
            .spawn(supervise_exec(child, pgid, io, tty, done_tx));
        Ok(session)
    }

    /// Attaches to the running process of container `container` of `pod`: the session
    /// reads its stdout and stderr from now on (as `opts` asks; a session that does not
    /// keep up loses output, the container is never held back) and, when `opts` asks
    /// for stdin and the container's spec has `stdin: true`, writes to its stdin (with
    /// `stdin: false` in the spec the session has no stdin, as the kubelet ignores the
    /// request). `opts.tty` only drops stderr (see [`StreamOptions::normalized`]): the
    /// container's process has no terminal, and the session no resize.
    ///
    /// Errors: `NotFound` when the container has no running instance, `BadRequest` for
    /// no stream or a container whose spec has `tty: true` (the process runtime gives
    /// containers no terminal to attach to).
    pub async fn attach(
        &self,
        pod: &Pod,
        container: &str,
        opts: StreamOptions,
    ) -> Result<Session, SessionError> {
        let opts = opts.normalized()?;
        let io = self.running_io(pod, container)?;
        if io.stdio.tty {
            return Err(SessionError::BadRequest(format!(
                "cannot attach to container {container:?}: it has tty: true, and the \
                 process runtime runs containers without a terminal"
            )));
        }
        let stdin = io
            .stdin
            .as_ref()
            .filter(|_| opts.stdin)
            .map(|p| Box::new(p.writer(io.stdio.stdin_once)) as SessionWriter);
        let reader = |wanted: bool, tx| {
            wanted.then(|| Box::new(BroadcastReader::subscribe(tx)) as SessionReader)
        };
        let stdout = reader(opts.stdout, &io.stdout);
        let stderr = reader(opts.stderr, &io.stderr);
        let mut exit = io.exit.clone();
        Ok(Session {
            stdin,
            stdout,
            stderr,
            resize: None,
            done: Box::pin(async move {
                match exit.wait_for(Option::is_some).await {
                    Ok(code) => Ok(code.unwrap_or(255)),
                    Err(_) => Err("the container's process is gone".into()),
                }
            }),
        })
    }
}

/// A session whose process could not be started: its streams end at once, `done`
/// answers `message`.
fn failed_session(opts: StreamOptions, message: String) -> Session {
    let empty = || Box::new(tokio::io::empty()) as SessionReader;
    Session {
        stdin: opts
            .stdin
            .then(|| Box::new(tokio::io::sink()) as SessionWriter),
        stdout: opts.stdout.then(empty),
        stderr: opts.stderr.then(empty),
        resize: opts.tty.then(|| mpsc::channel(1).0),
        done: Box::pin(std::future::ready(Err(message))),
    }
}

/// An exec'd process's terminal, as its supervisor handles it.
struct Terminal {
    master: Master,
    resizes: mpsc::Receiver<TerminalSize>,
    /// The terminal's output when the session does not read it.
    drain: Option<PtyReader>,
}

/// Resolves to the next resize (`None` once the session dropped its sender); never
/// without a terminal or once `open` is false.
async fn next_resize(
    resizes: &mut Option<mpsc::Receiver<TerminalSize>>,
    open: bool,
) -> Option<TerminalSize> {
    match resizes.as_mut() {
        Some(rx) if open => rx.recv().await,
        _ => std::future::pending().await,
    }
}

/// Waits for an exec'd process: applies resizes, kills its group when the session is
/// dropped, and reports its exit code once it ended and what was left of its group was
/// killed.
async fn supervise_exec(
    mut child: Child,
    pgid: u32,
    io: Arc<InstanceIo>,
    tty: Option<Terminal>,
    mut done: oneshot::Sender<Result<i32, String>>,
) {
    let session = tty.is_some();
    let (master, mut resizes, drain) = match tty {
        Some(t) => (Some(t.master), Some(t.resizes), t.drain),
        None => (None, None, None),
    };
    let drain = async move {
        match drain {
            Some(mut r) => {
                let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
            }
            None => std::future::pending().await,
        }
    };
    let mut drain = std::pin::pin!(drain);
    let (mut drained, mut abandoned, mut resizing) = (false, false, true);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = done.closed(), if !abandoned => {
                // The client went away.
                abandoned = true;
                kill_group(pgid);
            }
            size = next_resize(&mut resizes, resizing) => match (size, &master) {
                (Some(s), Some(m)) => {
                    if let Err(err) = pty::resize(m, s.height, s.width) {
                        tracing::debug!(%err, "resizing an exec's terminal");
                    }
                }
                _ => resizing = false,
            },
            _ = &mut drain, if !drained => drained = true,
        }
    };
    kill_group(pgid);
    if session {
        kill_session(pgid);
    }
    io.execs.remove(pgid);
    let result = status
        .map(|s| exit_code(&s))
        .map_err(|err| format!("waiting for the exec'd process: {err}"));
    let _ = done.send(result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessConfig;
    use crate::sim::Placement;
    use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
    use k8s_openapi::jiff::Timestamp;
    use kube::api::ObjectMeta;
    use std::future::Future;
    use std::path::Path;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// How long any single wait in these tests may take.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// A runtime whose API client is never used (no configMap or secret references; its
    /// events go nowhere).
    fn runtime(dir: &Path) -> ProcessRuntime {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        ProcessRuntime::new(
            client,
            ProcessConfig {
                state_dir: dir.to_path_buf(),
                ..ProcessConfig::default()
            },
            1.0,
            Arc::new(|_| {}),
        )
    }

    fn sh(name: &str, script: &str) -> Container {
        Container {
            name: name.into(),
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..Default::default()
        }
    }

    fn pod(name: &str, policy: &str, containers: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                termination_grace_period_seconds: Some(2),
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Starts `pod` and waits for its container `container` to run.
    async fn started(rt: &ProcessRuntime, pod: &Pod, container: &str) {
        let at = Placement {
            host_ip: "10.244.0.1".into(),
            pod_ip: "10.244.0.2".into(),
            started: Timestamp::now(),
        };
        rt.sync(pod, Some(&at)).await;
        let uid = pod.metadata.uid.clone().unwrap();
        within("the container to run", async {
            while !rt.instance_running(&uid, container, 0) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(PATIENCE, f)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    async fn read_all(r: Option<SessionReader>) -> String {
        let mut r = r.expect("a reader");
        let mut out = String::new();
        within("the output to end", r.read_to_string(&mut out))
            .await
            .unwrap();
        out
    }

    /// Reads `r` until what was read contains `needle`; returns it all.
    async fn read_until(r: &mut SessionReader, needle: &str) -> String {
        let mut got = Vec::new();
        within(&format!("{needle:?} in the output"), async {
            while !String::from_utf8_lossy(&got).contains(needle) {
                let mut buf = [0u8; 1024];
                let n = r.read(&mut buf).await.unwrap();
                assert!(n > 0, "output ended before {needle:?}: {got:?}");
                got.extend_from_slice(&buf[..n]);
            }
        })
        .await;
        String::from_utf8_lossy(&got).into_owned()
    }

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    async fn dead(pid: i32) {
        within(&format!("process {pid} to end"), async {
            while alive(pid) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    fn cmd(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    const OUT: StreamOptions = StreamOptions {
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };

    #[test]
    fn options_and_sizes_read_as_the_kubelet_reads_them() {
        let size: TerminalSize = serde_json::from_str(r#"{"Width":100,"Height":30}"#).unwrap();
        assert_eq!(
            size,
            TerminalSize {
                width: 100,
                height: 30
            }
        );
        let all = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        assert_eq!(
            all.normalized(),
            Ok(StreamOptions {
                stderr: false,
                ..all
            }),
            "no separate stderr on a terminal"
        );
        let stderr_on_tty = StreamOptions {
            stderr: true,
            tty: true,
            ..StreamOptions::default()
        };
        assert!(matches!(
            stderr_on_tty.normalized(),
            Err(SessionError::BadRequest(_))
        ));
    }

    #[tokio::test]
    async fn exec_runs_with_the_containers_env_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let mut c = sh("main", "exec sleep 1000");
        c.env = Some(vec![EnvVar {
            name: "GREETING".into(),
            value: Some("hello from the spec".into()),
            ..Default::default()
        }]);
        c.working_dir = Some(work.path().display().to_string());
        let p = pod("web", "Always", vec![c]);
        started(&rt, &p, "main").await;

        let script = "echo $HOSTNAME; echo err >&2; exit 3";
        let s = rt
            .exec(&p, "main", cmd(&["sh", "-c", script]), OUT)
            .await
            .unwrap();
        assert!(s.stdin.is_none() && s.resize.is_none());
        let (out, err) = tokio::join!(read_all(s.stdout), read_all(s.stderr));
        assert_eq!((out.as_str(), err.as_str()), ("web\n", "err\n"));
        assert_eq!(within("the exit", s.done).await, Ok(3));

        let s = rt
            .exec(&p, "main", cmd(&["sh", "-c", "echo $GREETING; pwd"]), OUT)
            .await
            .unwrap();
        let out = read_all(s.stdout).await;
        let want = format!("hello from the spec\n{}\n", work.path().display());
        assert_eq!(out, want);
        assert_eq!(within("the exit", s.done).await, Ok(0));

        // Killed by a signal: 128 + n, as the container's own exit code.
        let s = rt
            .exec(&p, "main", cmd(&["sh", "-c", "kill -TERM $$"]), OUT)
            .await
            .unwrap();
        assert_eq!(within("the exit", s.done).await, Ok(128 + 15));
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn exec_stdin_reaches_the_process_until_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("cat", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            ..StreamOptions::default()
        };
        let s = rt.exec(&p, "main", cmd(&["cat"]), opts).await.unwrap();
        assert!(s.stderr.is_none());
        let (mut stdin, mut stdout) = (s.stdin.unwrap(), s.stdout.unwrap());
        stdin.write_all(b"hello\n").await.unwrap();
        assert_eq!(read_until(&mut stdout, "hello\n").await, "hello\n");
        stdin.write_all(b"more").await.unwrap();
        stdin.shutdown().await.unwrap();
        assert_eq!(read_all(Some(stdout)).await, "more", "cat ends at EOF");
        assert_eq!(within("the exit", s.done).await, Ok(0));
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn exec_with_a_tty_runs_on_a_resizable_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("term", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        // Waits for the resize to reach its terminal (a failing resize times out).
        let script = r#"until [ "$(stty size)" = "30 100" ]; do sleep 0.02; done
            tty; stty size; echo "TERM=$TERM"; read line; echo "got:$line""#;
        let s = rt
            .exec(&p, "main", cmd(&["sh", "-c", script]), opts)
            .await
            .unwrap();
        assert!(s.stderr.is_none(), "stderr is merged into the terminal");
        s.resize
            .as_ref()
            .unwrap()
            .send(TerminalSize {
                width: 100,
                height: 30,
            })
            .await
            .unwrap();
        let (mut stdin, mut stdout) = (s.stdin.unwrap(), s.stdout.unwrap());
        let first = read_until(&mut stdout, "TERM=xterm").await;
        stdin.write_all(b"typed\n").await.unwrap();
        let out = first + &read_all(Some(stdout)).await;
        assert!(out.contains("/dev/pts/"), "{out:?}");
        assert!(out.contains("30 100\r\n"), "{out:?}");
        assert!(out.contains("got:typed"), "{out:?}");
        assert_eq!(within("the exit", s.done).await, Ok(0));
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn what_a_terminal_session_leaves_behind_dies_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("jobs", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let opts = StreamOptions {
            stdout: true,
            tty: true,
            ..StreamOptions::default()
        };
        // With job control the background job gets a process group of its own (still
        // in the terminal's session, holding the terminal open).
        let script = "set -m; sleep 1000 & echo job:$!";
        let s = rt
            .exec(&p, "main", cmd(&["sh", "-c", script]), opts)
            .await
            .unwrap();
        let out = read_all(s.stdout).await;
        let pid: i32 = out
            .trim()
            .strip_prefix("job:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(within("the exit", s.done).await, Ok(0));
        dead(pid).await;
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn sessions_need_a_running_container_a_command_and_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("once", "Never", vec![sh("main", "exit 0")]);
        let missing = SessionError::NotFound("container not found (\"main\")".into());
        assert_eq!(missing.status(), http::StatusCode::NOT_FOUND);
        let not_found = Err(missing);
        // A pod the runtime does not run.
        let got = rt.exec(&p, "main", cmd(&["true"]), OUT).await;
        assert_eq!(got.map(|_| ()), not_found);
        let at = Placement {
            host_ip: "10.244.0.1".into(),
            pod_ip: "10.244.0.2".into(),
            started: Timestamp::now(),
        };
        rt.sync(&p, Some(&at)).await;
        within("the container to finish", async {
            loop {
                let st = rt.pods.lock().by_uid.get("uid-once").cloned().unwrap();
                if st.lock().slots[0].exited.is_some() {
                    break;
                }
                drop(st);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let got = rt.exec(&p, "main", cmd(&["true"]), OUT).await;
        assert_eq!(got.map(|_| ()), not_found);
        let got = rt.attach(&p, "main", OUT).await;
        assert!(matches!(got, Err(SessionError::NotFound(_))));
        let got = rt.exec(&p, "other", cmd(&["true"]), OUT).await;
        assert_eq!(
            got.map(|_| ()),
            Err(SessionError::NotFound(
                "container not found (\"other\")".into()
            ))
        );

        let p = pod("up", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let got = rt.exec(&p, "main", Vec::new(), OUT).await;
        assert!(matches!(got, Err(SessionError::BadRequest(_))));
        let none = StreamOptions::default();
        let got = rt.exec(&p, "main", cmd(&["true"]), none).await;
        assert_eq!(
            got.map(|_| ()),
            Err(SessionError::BadRequest(
                "you must specify at least 1 of stdin, stdout, stderr".into()
            ))
        );
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_ends_the_session_with_the_runtimes_message() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("missing", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let s = rt
            .exec(&p, "main", cmd(&["nosuch-program", "x"]), OUT)
            .await
            .unwrap();
        assert_eq!(read_all(s.stdout).await, "");
        assert_eq!(
            within("the exit", s.done).await,
            Err(
                "exec failed: unable to start container process: exec: \"nosuch-program\": \
                 executable file not found in $PATH"
                    .into()
            )
        );
        rt.shutdown().await;
    }

    /// Runs `sh -c 'echo $$; exec sleep 1000'` in `p` and returns its session and PID.
    async fn sleeper(rt: &ProcessRuntime, p: &Pod) -> (Session, i32) {
        let script = "echo $$; exec sleep 1000";
        let mut s = rt
            .exec(p, "main", cmd(&["sh", "-c", script]), OUT)
            .await
            .unwrap();
        let mut stdout = s.stdout.take().unwrap();
        let line = read_until(&mut stdout, "\n").await;
        let pid = line.trim().parse().unwrap();
        assert!(alive(pid));
        (s, pid)
    }

    #[tokio::test]
    async fn dropping_the_session_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("drop", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let (s, pid) = sleeper(&rt, &p).await;
        drop(s);
        dead(pid).await;
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn execs_end_with_their_container() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let p = pod("gone", "Always", vec![sh("main", "exec sleep 1000")]);
        started(&rt, &p, "main").await;
        let (s, pid) = sleeper(&rt, &p).await;
        // The pod goes: its container stops (SIGTERM ends `sleep`), and the exec with it.
        rt.forget("uid-gone");
        assert_eq!(within("the exec to end", s.done).await, Ok(128 + 9));
        dead(pid).await;
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn attach_writes_to_the_containers_stdin_and_reads_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let mut c = sh(
            "main",
            "while read l; do echo got:$l; echo err:$l >&2; done; echo eof",
        );
        c.stdin = Some(true);
        c.stdin_once = Some(true);
        let p = pod("attach", "Never", vec![c]);
        started(&rt, &p, "main").await;
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        // A session without stdin first: it only reads.
        let mut watcher = rt.attach(&p, "main", OUT).await.unwrap();
        assert!(watcher.stdin.is_none() && watcher.resize.is_none());
        let s = rt.attach(&p, "main", opts).await.unwrap();
        let mut stdin = s.stdin.unwrap();
        let (mut stdout, mut stderr) = (s.stdout.unwrap(), s.stderr.unwrap());
        stdin.write_all(b"ping\n").await.unwrap();
        assert_eq!(read_until(&mut stdout, "got:ping\n").await, "got:ping\n");
        assert_eq!(read_until(&mut stderr, "err:ping\n").await, "err:ping\n");
        let mut seen = watcher.stdout.take().unwrap();
        assert_eq!(read_until(&mut seen, "got:ping\n").await, "got:ping\n");
        // stdinOnce: the first session's end closes the container's stdin.
        stdin.write_all(b"last\n").await.unwrap();
        stdin.shutdown().await.unwrap();
        let rest = read_all(Some(stdout)).await;
        assert_eq!(rest, "got:last\neof\n");
        assert_eq!(within("the container to end", s.done).await, Ok(0));
        assert_eq!(within("the container to end", watcher.done).await, Ok(0));
        let log = std::fs::read_to_string(dir.path().join("uid-attach/logs/main/0.log")).unwrap();
        assert!(log.contains(" stdout F got:ping\n"), "{log}");
        rt.shutdown().await;
    }

    #[tokio::test]
    async fn attach_without_stdin_in_the_spec_or_to_a_tty_container() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let plain = sh("plain", "exec sleep 1000");
        let mut tty = sh("tty", "exec sleep 1000");
        tty.tty = Some(true);
        tty.stdin = Some(true);
        let p = pod("mixed", "Always", vec![plain, tty]);
        started(&rt, &p, "plain").await;
        started(&rt, &p, "tty").await;
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            ..StreamOptions::default()
        };
        let s = rt.attach(&p, "plain", opts).await.unwrap();
        assert!(s.stdin.is_none(), "no stdin: true in the spec");
        assert!(s.stdout.is_some());
        let got = rt.attach(&p, "tty", opts).await;
        let Err(SessionError::BadRequest(message)) = got else {
            panic!("{got:?}");
        };
        assert!(message.contains("tty: true"), "{message}");
        rt.shutdown().await;
    }
}
