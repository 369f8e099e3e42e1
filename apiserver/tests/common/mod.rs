//! Helpers shared by integration tests that drive real clients (kubectl, Helm) and
//! raw HTTP against a `TestServer`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use serde_json::Value;

/// Where this machine's versioned kubectl binaries live (`/usr/bin/kubectl` dispatches
/// to one of them by the server's minor version).
pub const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// A kubectl binary pointed at one server, with its own discovery cache.
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl `bin` against `s`.
    pub fn new(s: &TestServer, bin: &str) -> Self {
        Kubectl {
            bin: PathBuf::from(bin),
            kubeconfig: s.kubeconfig_path().to_path_buf(),
            cache: s.dir().join(format!("cache-{}", bin.replace('/', "_"))),
        }
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| panic!("{} runs: {e}", self.bin.display()));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl and asserts it succeeded; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "{} {args:?} failed: {err}\n{out}", self.bin.display());
        out
    }
}

/// The versioned kubectl binary `kubectl.<minor>` when this machine has it.
pub fn kubectl_version(minor: &str) -> Option<String> {
    let p = Path::new(KUBECTL_DIR).join(format!("kubectl.{minor}"));
    p.exists().then(|| p.to_string_lossy().into_owned())
}

/// One raw request; returns (status, Content-Type, body as JSON or `Null`).
pub async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.send(req.body(body.into()).unwrap()).await.unwrap();
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// GETs an object as JSON (panics unless 200).
pub async fn get_json(client: &kube::Client, path: &str) -> Value {
    let (code, _, v) = send(client, "GET", path, &[], Vec::new()).await;
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Polls `check` every 100 ms until it answers true; panics naming `what` when
/// `within` passes first.
pub async fn eventually<F, Fut>(what: &str, within: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
