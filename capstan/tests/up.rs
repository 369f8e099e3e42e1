//! `capstan up` runs the controllers in process: a bare pod created with the real
//! `kubectl run` is scheduled and reaches Running and Ready on a node of the default
//! pool, a Deployment applied to its API server gets a ReplicaSet and pods, a deleted
//! namespace with content is emptied and removed, and Ctrl-C (SIGINT) stops it cleanly.
//! Its controller flags are kube-controller-manager's: `--controllers '*,-deployment-controller'`
//! leaves Deployments alone while ReplicaSets work, and an unknown controller name
//! stops it with upstream's message. `kubectl logs` reaches the in-process node agent's
//! kubelet API, for a sim pod and a process pod.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use support::{Proc, Up, eventually};

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

/// `capstan up` hands its API server the node agent's CA and token: `kubectl logs` of a
/// sim pod shows its lifecycle line, of a process pod its real output.
#[tokio::test]
async fn capstan_up_serves_kubectl_logs() {
    let (mut up, client) = Up::start("up-logs").await;
    kubectl(&up, &["run", "web", "--image=nginx:1.27"], None);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running = |name: &'static str| {
        let pods = pods.clone();
        async move {
            let p = pods.get(name).await.map_err(|e| e.to_string())?;
            let phase = p.status.as_ref().and_then(|s| s.phase.clone());
            if phase.as_deref() == Some("Running") {
                Ok(())
            } else {
                Err(format!("{phase:?}"))
            }
        }
    };
    eventually("web Running", || running("web")).await;
    let out = kubectl(&up, &["logs", "web"], None);
    assert_eq!(
        out,
        "[capstan sim] Started container web (image nginx:1.27)\n"
    );

    // A process pool and a pod printing on it.
    kubectl(
        &up,
        &["apply", "-f", "-"],
        Some(
            &serde_json::json!({
                "apiVersion": "capstan.dev/v1alpha1", "kind": "NodePool",
                "metadata": {"name": "proc"},
                "spec": {"nodes": 1, "runtime": "process",
                         "taints": [{"key": "proc", "value": "true", "effect": "NoSchedule"}]}
            })
            .to_string(),
        ),
    );
    kubectl(
        &up,
        &["apply", "-f", "-"],
        Some(
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "hello", "namespace": "default"},
                "spec": {"nodeName": "proc-0",
                         "containers": [{"name": "hello", "image": "busybox",
                                         "command": ["sh", "-c", "echo hello from a process; exec sleep 3600"]}]}
            })
            .to_string(),
        ),
    );
    eventually("hello logged", || async {
        let out = std::process::Command::new("kubectl")
            .args(["logs", "hello", "--kubeconfig"])
            .arg(&up.kubeconfig)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text == "hello from a process\n" {
            Ok(())
        } else {
            Err(format!("{text:?} {}", String::from_utf8_lossy(&out.stderr)))
        }
    })
    .await;
    let status = up.interrupt().await;
    assert!(status.success(), "clean stop: {status:?}");
}

/// Runs the real kubectl against `up` with `stdin` fed to it; panics unless it succeeds.
fn kubectl(up: &Up, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&up.kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("kubectl output");
    assert!(out.status.success(), "kubectl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--controllers '*,-deployment-controller'`: a Deployment created with kubectl gets
/// no ReplicaSet, no pod and no observed status, while a bare ReplicaSet created after
/// it gets its pods Running and Ready (the controllers, the scheduler and the node
/// agent are live) and follows `kubectl scale`.
#[tokio::test]
async fn capstan_up_without_the_deployment_controller_leaves_deployments_alone() {
    let (mut up, client) = Up::start_with_args(
        "up-no-deployments",
        "up",
        &["--controllers", "*,-deployment-controller"],
    )
    .await;
    kubectl(
        &up,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
        ],
        None,
    );
    let rs = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "solo", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "solo"}},
            "template": {"metadata": {"labels": {"app": "solo"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}
    });
    kubectl(&up, &["apply", "-f", "-"], Some(&rs.to_string()));

    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ready_pods = async |app: &str| -> Result<usize, String> {
        Ok(pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .map_err(|e| e.to_string())?
            .items
            .iter()
            .filter(|p| {
                let status = p.status.clone().unwrap_or_default();
                status.phase.as_deref() == Some("Running")
                    && status
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .count())
    };
    let rs_ready = async |want: i32| -> Result<(), String> {
        let rs = rss.get("solo").await.map_err(|e| e.to_string())?;
        let status = rs.status.clone().unwrap_or_default();
        let ready = ready_pods("solo").await?;
        if status.ready_replicas == Some(want)
            && status.observed_generation == rs.metadata.generation
            && ready == usize::try_from(want).unwrap_or(0)
        {
            Ok(())
        } else {
            Err(format!("{ready} pods Ready, status {status:?}"))
        }
    };
    eventually("the bare ReplicaSet's 2 pods Running and Ready", || {
        rs_ready(2)
    })
    .await;

    // The Deployment was created first: had its controller run, it would have made a
    // ReplicaSet and written an observed status by now.
    let d = kubectl(
        &up,
        &["get", "deployment", "web", "-o", "jsonpath={.status}"],
        None,
    );
    assert!(
        !d.contains("observedGeneration"),
        "the Deployment's status was written: {d}"
    );
    let all: Vec<String> = rss
        .list(&ListParams::default())
        .await
        .expect("list replica sets")
        .items
        .into_iter()
        .filter_map(|rs| rs.metadata.name)
        .collect();
    assert_eq!(all, ["solo"], "only the bare ReplicaSet exists");
    let web_pods = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods");
    assert!(web_pods.items.is_empty(), "no pod of the Deployment");

    kubectl(&up, &["scale", "replicaset", "solo", "--replicas=3"], None);
    eventually("the bare ReplicaSet scaled to 3", || rs_ready(3)).await;
    assert!(
        Api::<Deployment>::namespaced(client.clone(), "default")
            .get("web")
            .await
            .expect("deployment")
            .status
            .is_none_or(|s| s.observed_generation.is_none()),
        "the Deployment is still unobserved"
    );

    let status = up.interrupt().await;
    assert!(status.success(), "clean stop: {status:?}");
}

/// An unknown controller name stops `capstan up` at once, non-zero, with
/// kube-controller-manager's message, before it serves or writes anything.
#[tokio::test]
async fn capstan_up_refuses_an_unknown_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["up", "--controllers", "*,-bogus-controller", "--bind"])
        .arg(format!("127.0.0.1:{}", support::free_port()))
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn capstan up");
    let mut proc = Proc(child);
    let status = proc.exited("capstan up exits").await;
    let mut stderr = String::new();
    std::io::Read::read_to_string(proc.0.stderr.as_mut().expect("piped stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains("\"bogus-controller\" is not in the list of known controllers"),
        "{stderr}"
    );
    assert!(!kubeconfig.exists(), "nothing was served");
}
