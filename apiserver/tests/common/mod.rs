//! Helpers shared by integration tests that drive real clients (kubectl, Helm) and
//! raw HTTP against a `TestServer`.

#![allow(dead_code)]

pub mod written;

use std::path::{Path, PathBuf};

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use serde_json::{Value, json};

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
    let (code, ct, bytes) = send_raw(client, method, path, headers, body).await;
    (
        code,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One raw request; returns (status, Content-Type, body bytes as written).
pub async fn send_raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, bytes::Bytes) {
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
    (code, ct, bytes)
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

/// POSTs a JSON body; returns (status, body as JSON or `Null`).
pub async fn post_json(client: &kube::Client, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let (code, _, v) = send(
        client,
        "POST",
        path,
        &[("content-type", "application/json")],
        bytes,
    )
    .await;
    (code, v)
}

/// A client of `s` that presents `token` instead of the admin token.
pub async fn client_with_token(s: &TestServer, token: &str) -> kube::Client {
    let yaml = s.server().kubeconfig_yaml().replace(
        &format!("token: {}", s.server().token()),
        &format!("token: {token}"),
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// Part `index` of a JWT (0: header, 1: claims), decoded.
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.trim().split('.').nth(index).expect("a JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// `token` with its signature altered (one character of it changed).
pub fn tampered(token: &str) -> String {
    let token = token.trim();
    let (head, sig) = token.rsplit_once('.').expect("a JWT");
    let mut sig: Vec<char> = sig.chars().collect();
    sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", sig.into_iter().collect::<String>())
}

/// The pod's `DisruptionTarget` condition, checked to be the one the eviction API writes
/// (`True`, `EvictionByEvictionAPI`, `Eviction API: evicting`); `None` without one.
pub fn disruption_target(pod: &Pod) -> Option<PodCondition> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let target = conditions.iter().find(|c| c.type_ == "DisruptionTarget")?;
    assert_eq!(
        (
            target.status.as_str(),
            target.reason.as_deref(),
            target.message.as_deref()
        ),
        (
            "True",
            Some("EvictionByEvictionAPI"),
            Some("Eviction API: evicting")
        ),
        "{target:?}"
    );
    Some(target.clone())
}

/// A pod labelled `app: web` with one nginx container.
pub fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap()
}

/// A Deployment of `replicas` nginx pods labelled and selected by `app: <name>`.
pub fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .unwrap()
}
