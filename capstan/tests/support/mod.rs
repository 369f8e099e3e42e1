//! Shared by the tests that run the `capstan` binary: start `capstan up` (or
//! `capstan apiserver`) on a free port, poll with a deadline, stop it with Ctrl-C (SIGINT).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::time::Instant;

/// A running `capstan up`, killed (and its files removed) when dropped.
pub struct Up {
    child: Child,
    dir: PathBuf,
    /// The kubeconfig it wrote.
    pub kubeconfig: PathBuf,
}

impl Up {
    /// Starts `capstan up` on a free loopback port with its kubeconfig in a fresh
    /// directory, and waits until its API server answers.
    pub async fn start(name: &str) -> (Up, Client) {
        Up::start_command(name, "up").await
    }

    /// Starts `capstan <command>` (`up` or `apiserver`) as [`Up::start`] does.
    pub async fn start_command(name: &str, command: &str) -> (Up, Client) {
        Up::start_with_args(name, command, &[]).await
    }

    /// [`Up::start_command`] with `extra` flags after the command's own.
    pub async fn start_with_args(name: &str, command: &str, extra: &[&str]) -> (Up, Client) {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("capstan-{name}-{}-{port}", std::process::id()));
        let kubeconfig = dir.join("kubeconfig");
        let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .args([
                command,
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn capstan {command}: {e}"));
        let up = Up {
            child,
            dir,
            kubeconfig: kubeconfig.clone(),
        };
        let client = eventually("the kubeconfig and a working client", || async {
            let kc = Kubeconfig::read_from(&kubeconfig).map_err(|e| e.to_string())?;
            let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            let client = Client::try_from(config).map_err(|e| e.to_string())?;
            client
                .apiserver_version()
                .await
                .map_err(|e| e.to_string())?;
            Ok(client)
        })
        .await;
        (up, client)
    }

    /// Sends Ctrl-C (SIGINT) and waits for it to exit.
    pub async fn interrupt(&mut self) -> ExitStatus {
        signal_pid(self.child.id(), "INT");
        wait_exit(&mut self.child, "exit after Ctrl-C").await
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `capstan <args>` against the cluster of `kubeconfig`, logging at `info`
/// into the file `log` (read it to explain a failure).
pub fn spawn_capstan(args: &[&str], kubeconfig: &Path, log: &Path) -> Proc {
    let log = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn capstan {}: {e}", args.join(" ")));
    Proc(child)
}

/// The holder of the Lease `name` (empty when released); Err when it is missing or
/// unreadable.
pub async fn lease_holder(leases: &Api<Lease>, name: &str) -> Result<String, String> {
    match leases.get_opt(name).await {
        Ok(Some(l)) => Ok(l.spec.and_then(|s| s.holder_identity).unwrap_or_default()),
        other => Err(format!("{other:?}")),
    }
}

/// A child process killed on drop, so a failing test leaves no process behind.
pub struct Proc(pub Child);

impl Proc {
    /// Sends `signal` (`TERM`, `INT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        signal_pid(self.0.id(), signal);
    }

    /// Waits (polling with a deadline) until the process has exited.
    pub async fn exited(&mut self, what: &str) -> ExitStatus {
        wait_exit(&mut self.0, what).await
    }
}

fn signal_pid(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{signal} {pid}");
}

async fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    eventually(what, || {
        let r = child.try_wait();
        async move {
            match r {
                Ok(Some(s)) => Ok(s),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on a component's health server at `port`: (status code, response), or
/// None when it is not up.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `check` every 50 ms until it answers `Ok`, panicking with its last error
/// after 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: last seen {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
