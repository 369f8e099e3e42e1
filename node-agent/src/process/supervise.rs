//! One container process: spawned in a process group of its own (the container's
//! stand-in for a PID namespace), its output copied into its [`ContainerLog`], and one
//! task waiting for it that also carries out stop requests the way a container runtime
//! does: `SIGTERM` to the main process, `SIGKILL` to the whole group once the grace
//! period is over; when the main process ends, whatever is left of its group is killed
//! too, as a container's processes die with its init process. Its output is also
//! published as it is read, for attached sessions, and with `stdin: true` in the spec
//! its stdin is a pipe kept open for them (see [`InstanceIo`]).

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::launch::Launch;
use super::logs::{ContainerLog, copy_lines};
use super::stdio::{ContainerStdio, ExecGroups, InstanceIo, OUTPUT_BACKLOG, StdinPipe};

/// How long the log copiers may drain after the process group is gone (a daemon that
/// left the group may hold the pipes open).
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// A request to stop a running process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `SIGTERM` now, `SIGKILL` to the group after this grace period.
    Graceful(Duration),
    /// `SIGKILL` to the group now.
    Kill,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, `128 + signal` when a signal ended it (as container runtimes
    /// report it).
    pub exit_code: i32,
    /// When it ended.
    pub finished: Timestamp,
}

/// A started process.
#[derive(Debug)]
pub struct Spawned {
    /// Its PID (also its process group ID).
    pub pid: i32,
    /// Where stop requests go; dropping it kills the process group.
    pub stop: mpsc::UnboundedSender<Stop>,
    /// What exec and attach sessions reach of it.
    pub io: Arc<InstanceIo>,
}

/// `SIGKILL` to process group `pgid`; errors (it is gone already) are ignored.
pub fn kill_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// `SIGKILL` to every process of session `sid` (what a terminal session leaves behind
/// may have moved to process groups of its own: an interactive shell's jobs). Found
/// through `/proc`; errors (gone already) are ignored.
pub fn kill_session(sid: u32) {
    if sid <= 1 {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp session …`; `comm` may hold anything but `)` ends it.
        let session = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(3))
            .and_then(|s| s.parse::<u32>().ok());
        if session == Some(sid)
            && let Some(pid) = Pid::from_raw(pid)
        {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}

fn terminate(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::TERM);
    }
}

/// The words Go's `exec` uses for a failed start, which the kubelet's messages carry.
pub fn spawn_error_text(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}

/// Why `program` could not be started, as Go's `exec` (and so runc) words it:
/// `exec: "prog": executable file not found in $PATH` for a bare name not found.
pub fn exec_error_text(program: &str, err: &std::io::Error) -> String {
    let what = if err.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
        "executable file not found in $PATH".to_string()
    } else {
        spawn_error_text(err)
    };
    format!("exec: {program:?}: {what}")
}

/// Why a process could not be started, in the shape of a runtime's start error.
pub fn start_error_message(launch: &Launch, err: &std::io::Error) -> String {
    format!(
        "failed to start container process: {}",
        exec_error_text(&launch.program, err)
    )
}

/// The code a container runtime reports for `status`.
pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// Spawns `launch` with its output going to `log` (and to attached sessions), its
/// stdin per `stdio`, supervised by a task in `tasks`; `on_exit` is called once the
/// process ended and its output is in the log.
pub fn spawn(
    launch: &Launch,
    stdio: ContainerStdio,
    log: ContainerLog,
    tasks: &TaskTracker,
    on_exit: impl FnOnce(Exit) + Send + 'static,
) -> std::io::Result<Spawned> {
    std::fs::create_dir_all(&launch.cwd)?;
    let mut cmd = tokio::process::Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&launch.cwd)
        .stdin(if stdio.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the process ended before its PID was read"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let log = Arc::new(log);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin = child.stdin.take().map(|s| StdinPipe::start(s, tasks));
    let (out_tap, _) = broadcast::channel(OUTPUT_BACKLOG);
    let (err_tap, _) = broadcast::channel(OUTPUT_BACKLOG);
    let (exit_tx, exit_rx) = watch::channel(None);
    let io = Arc::new(InstanceIo {
        launch: launch.clone(),
        stdio,
        stdin: stdin.clone(),
        stdout: out_tap.downgrade(),
        stderr: err_tap.downgrade(),
        exit: exit_rx,
        execs: ExecGroups::new(),
    });
    tasks.spawn(async move {
        let copy = async {
            let out = async {
                if let Some(s) = stdout {
                    copy_lines(s, "stdout", log.clone(), Some(out_tap)).await
                }
            };
            let err = async {
                if let Some(s) = stderr {
                    copy_lines(s, "stderr", log.clone(), Some(err_tap)).await
                }
            };
            tokio::join!(out, err);
        };
        let mut copy = std::pin::pin!(copy);
        let wait = wait_or_stop(&mut child, pid, rx);
        let mut wait = std::pin::pin!(wait);
        let mut copied = false;
        let status = loop {
            tokio::select! {
                status = &mut wait => break status,
                _ = &mut copy, if !copied => copied = true,
            }
        };
        kill_group(pid);
        if let Some(stdin) = &stdin {
            stdin.close();
        }
        if !copied && tokio::time::timeout(LOG_DRAIN, copy).await.is_err() {
            tracing::debug!(
                pid,
                "container output still open after its process group ended"
            );
        }
        let exit_code = match &status {
            Ok(s) => exit_code(s),
            Err(err) => {
                tracing::warn!(pid, %err, "waiting for container process");
                255
            }
        };
        let _ = exit_tx.send(Some(exit_code));
        on_exit(Exit {
            exit_code,
            finished: Timestamp::now(),
        });
    });
    Ok(Spawned {
        pid: i32::try_from(pid).unwrap_or(i32::MAX),
        stop: tx,
        io,
    })
}

async fn wait_or_stop(
    child: &mut tokio::process::Child,
    pid: u32,
    mut stops: mpsc::UnboundedReceiver<Stop>,
) -> std::io::Result<std::process::ExitStatus> {
    let mut deadline: Option<Instant> = None;
    let mut open = true;
    loop {
        let kill_at = deadline;
        tokio::select! {
            status = child.wait() => return status,
            stop = stops.recv(), if open => match stop {
                Some(Stop::Kill) | None => {
                    // A dropped handle kills too: nothing may outlive its supervisor's owner.
                    open = stop.is_some();
                    kill_group(pid);
                }
                Some(Stop::Graceful(grace)) => {
                    if deadline.is_none() {
                        terminate(pid);
                    }
                    let at = Instant::now() + grace;
                    deadline = Some(deadline.map_or(at, |d| d.min(at)));
                }
            },
            _ = async { tokio::time::sleep_until(kill_at.unwrap_or_else(Instant::now)).await }, if kill_at.is_some() => {
                kill_group(pid);
                deadline = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tokio::sync::oneshot;

    fn launch(script: &str, cwd: &Path) -> Launch {
        Launch {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
            cwd: cwd.to_path_buf(),
        }
    }

    async fn run(
        script: &str,
        dir: &Path,
    ) -> (Spawned, oneshot::Receiver<Exit>, std::path::PathBuf) {
        let log = ContainerLog::create(&dir.join("logs"), 0, 1 << 20).unwrap();
        let log_path = log.path().to_path_buf();
        let (tx, rx) = oneshot::channel();
        let tasks = TaskTracker::new();
        let stdio = ContainerStdio::default();
        let spawned = spawn(&launch(script, dir), stdio, log, &tasks, move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        (spawned, rx, log_path)
    }

    fn alive(pid: i32) -> bool {
        // A reaped process has no /proc entry (zombies of the group are reaped by init).
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn exit_codes_and_output_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, rx, log) = run("echo out; echo err >&2; exit 3", dir.path()).await;
        let exit = rx.await.unwrap();
        assert_eq!(exit.exit_code, 3);
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            text.contains(" stdout F out\n") && text.contains(" stderr F err\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn graceful_stop_sends_term_then_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        // Traps TERM: writes a file and exits 0.
        let (s, rx, _) = run(
            "trap 'echo bye > term; exit 0' TERM; echo ready > up; sleep 1000 & wait",
            dir.path(),
        )
        .await;
        let up = dir.path().join("up");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !up.exists() {
            assert!(Instant::now() < deadline, "script never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s.stop
            .send(Stop::Graceful(Duration::from_secs(30)))
            .unwrap();
        let exit = rx.await.unwrap();
        assert_eq!(exit.exit_code, 0, "the trap ran and exited 0");
        assert!(dir.path().join("term").exists());

        // Ignores TERM: killed after the grace period, group included.
        let (s, rx, _) = run(
            "trap '' TERM; sleep 1000 & echo $! > child; wait",
            dir.path(),
        )
        .await;
        let child = dir.path().join("child");
        while !child.exists() {
            assert!(Instant::now() < deadline, "script never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let grandchild: i32 = std::fs::read_to_string(&child)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        s.stop
            .send(Stop::Graceful(Duration::from_millis(200)))
            .unwrap();
        let exit = rx.await.unwrap();
        assert_eq!(exit.exit_code, 128 + 9, "SIGKILL after the grace period");
        while alive(grandchild) {
            assert!(
                Instant::now() < deadline,
                "the group's other process survived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn dropping_the_handle_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let (s, rx, _) = run("sleep 1000", dir.path()).await;
        let pid = s.pid;
        drop(s);
        assert_eq!(rx.await.unwrap().exit_code, 128 + 9);
        assert!(!alive(pid));
    }

    #[test]
    fn start_errors_read_like_a_runtimes() {
        let l = launch("", Path::new("/"));
        let missing = Launch {
            program: "no-such-program".into(),
            ..l.clone()
        };
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            start_error_message(&missing, &err),
            "failed to start container process: exec: \"no-such-program\": executable file not found in $PATH"
        );
    }
}
