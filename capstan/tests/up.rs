//! `capstan up` runs the controllers in process: a bare pod created with the real
//! `kubectl run` is scheduled and reaches Running and Ready on a node of the default
//! pool, a Deployment applied to its API server gets a ReplicaSet and pods, a deleted
//! namespace with content is emptied and removed, and Ctrl-C (SIGINT) stops it cleanly.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use support::{Up, eventually};

#[tokio::test]
async fn capstan_up_runs_the_controllers_in_process() {
    let (mut up, client) = Up::start("up-test").await;

    // A bare pod from kubectl: scheduled by the in-process scheduler (as
    // `default-scheduler`) and run by the node agent, with no other help.
    let out = std::process::Command::new("kubectl")
        .args(["run", "bare", "--image=nginx:1.27", "--kubeconfig"])
        .arg(&up.kubeconfig)
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "kubectl run: {out:?}");
    let bare: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("the bare pod Running and Ready", || async {
        let p = bare.get("bare").await.map_err(|e| e.to_string())?;
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        let status = p.status.clone().unwrap_or_default();
        let cond = |t: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == t && c.status == "True")
        };
        let ok = node.as_deref().is_some_and(|n| n.starts_with("default-"))
            && status.phase.as_deref() == Some("Running")
            && cond("PodScheduled")
            && cond("Ready")
            && status.pod_ip.is_some()
            && status.host_ip.is_some();
        if ok {
            Ok(())
        } else {
            Err(format!("{node:?} {status:?}"))
        }
    })
    .await;

    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("a ReplicaSet and 2 pods", || async {
        let r = rss
            .list(&ListParams::default().labels("app=nginx"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        let p = pods
            .list(&ListParams::default().labels("app=nginx"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if (r, p) == (1, 2) {
            Ok(())
        } else {
            Err(format!("{r} replica sets, {p} pods"))
        }
    })
    .await;

    // The namespace controller empties and removes a deleted namespace.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "scratch"}}))
                .expect("namespace"),
        )
        .await
        .expect("create namespace");
    Api::<ConfigMap>::namespaced(client.clone(), "scratch")
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "leftover"}}))
                .expect("configmap"),
        )
        .await
        .expect("create configmap");
    namespaces
        .delete("scratch", &DeleteParams::default())
        .await
        .expect("delete namespace");
    eventually("namespace scratch removed", || async {
        match namespaces.get_opt("scratch").await {
            Ok(None) => Ok(()),
            Ok(Some(ns)) => Err(format!("still there: {:?}", ns.status)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;

    let status = up.interrupt().await;
    assert!(status.success(), "clean stop: {status:?}");
}
