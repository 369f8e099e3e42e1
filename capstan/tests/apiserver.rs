//! `capstan apiserver`: the API server alone, as the binary runs it. kubectl (the
//! dispatcher, picking kubectl 1.33 by the server's version, and kubectl 1.32) and
//! kube-rs talk to it through the kubeconfig it writes; Ctrl-C stops it cleanly.

mod support;

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::PostParams;
use support::Up;

async fn kubectl(bin: &str, kubeconfig: &Path, cache: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{bin} runs: {e}"));
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn capstan_apiserver_serves_kubectl_and_kube_rs() {
    let (mut server, client) = Up::start_command("apiserver-test", "apiserver").await;
    let cache =
        std::env::temp_dir().join(format!("capstan-apiserver-cache-{}", std::process::id()));
    for bin in [
        "/usr/bin/kubectl",
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    ] {
        if !Path::new(bin).exists() {
            continue;
        }
        let cache = cache.join(bin.replace('/', "_"));
        let out = kubectl(bin, &server.kubeconfig, &cache, &["get", "ns"]).await;
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            assert!(out.contains(ns), "{bin}: {out}");
        }
    }

    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "alone", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "alone"}},
            "template": {"metadata": {"labels": {"app": "alone"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}
    }))
    .expect("deployment");
    let created = Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    assert_eq!(created.spec.expect("spec").replicas, Some(1), "defaulted");
    let out = kubectl(
        "/usr/bin/kubectl",
        &server.kubeconfig,
        &cache.join("dispatcher"),
        &["get", "deployments"],
    )
    .await;
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.contains("alone"), "{out}");

    assert!(server.interrupt().await.success());
    let _ = std::fs::remove_dir_all(&cache);
}
