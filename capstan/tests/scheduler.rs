//! `capstan scheduler` as a process against a kubeconfig, as the Helm chart runs it
//! beside a real kube-scheduler: it takes its Lease, serves `/healthz`, `/readyz` and
//! `/metrics` (upstream metric names), binds the pods of its profile and leaves those of
//! `default-scheduler` alone, and on SIGTERM exits 0 and releases the Lease.

mod support;

use capstan_apiserver::{Admission, AdmissionConfig, TestServer};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{eventually, free_port, http_get, lease_holder, spawn_capstan};

fn pod(name: &str, scheduler: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"schedulerName": scheduler,
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": "100m"}}}]},
    }))
    .expect("pod")
}

#[tokio::test]
async fn scheduler_leads_serves_metrics_binds_its_pods_and_stops_on_sigterm() {
    // As upstream's scheduler integration tests: no node lifecycle controller runs here
    // to take the not-ready taint off the node this test registers.
    let server = TestServer::start_with_admission(
        AdmissionConfig::all().without(Admission::TaintNodesByCondition),
    )
    .await
    .expect("server");
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "worker", "labels": {"kubernetes.io/hostname": "worker"}},
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    nodes
        .patch_status(
            "worker",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"capacity": resources, "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}),
            ),
        )
        .await
        .expect("node status");

    let config = server.dir().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         percentageOfNodesToScore: 50\n\
         profiles:\n\
         - schedulerName: capstan-scheduler\n",
    )
    .expect("config file");
    let port = free_port();
    let log_path = server.dir().join("scheduler.log");
    let mut proc = spawn_capstan(
        &[
            "scheduler",
            "--config",
            config.to_str().expect("utf-8 path"),
            "--leader-elect",
            &format!("--bind-address=127.0.0.1:{port}"),
        ],
        server.kubeconfig_path(),
        &log_path,
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let holder = eventually("the Lease is taken", || async {
        lease_holder(&leases, "capstan-scheduler")
            .await
            .and_then(|h| {
                if h.is_empty() {
                    Err("no holder".into())
                } else {
                    Ok(h)
                }
            })
    })
    .await;
    assert!(holder.contains('_'), "identity is host_random: {holder}");
    eventually("/readyz passes once elected and synced", || async {
        match http_get(port, "/readyz") {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}\n{}", log())),
        }
    })
    .await;
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, scheduler) in [
        ("mine", "capstan-scheduler"),
        ("theirs", "default-scheduler"),
    ] {
        pods.create(&PostParams::default(), &pod(name, scheduler))
            .await
            .expect("create pod");
    }
    eventually("its pod bound with a Scheduled event", || async {
        let p = pods.get("mine").await.map_err(|e| e.to_string())?;
        let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
        let events: Api<Event> = Api::namespaced(client.clone(), "default");
        let scheduled = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .any(|e| {
                e.reason.as_deref() == Some("Scheduled")
                    && e.involved_object.name.as_deref() == Some("mine")
                    && e.message.as_deref() == Some("Successfully assigned default/mine to worker")
            });
        if node == "worker" && scheduled {
            Ok(())
        } else {
            Err(format!(
                "node {node:?}, Scheduled event {scheduled}\n{}",
                log()
            ))
        }
    })
    .await;
    let metrics = eventually("metrics of the attempt", || async {
        match http_get(port, "/metrics") {
            Some((200, body))
                if body.contains(
                    "scheduler_schedule_attempts_total{profile=\"capstan-scheduler\",result=\"scheduled\"} 1",
                ) =>
            {
                Ok(body)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    for name in [
        "scheduler_scheduling_attempt_duration_seconds_bucket",
        "scheduler_pending_pods{queue=\"active\"}",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    let theirs = pods.get("theirs").await.expect("get pod");
    assert_eq!(
        theirs.spec.and_then(|s| s.node_name),
        None,
        "a default-scheduler pod is kube-scheduler's"
    );
    assert!(
        theirs
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .is_empty(),
        "and is not reported on"
    );

    proc.signal("TERM");
    let status = proc.exited("exit after SIGTERM").await;
    assert!(
        status.success(),
        "graceful stop exits 0: {status:?}\n{}",
        log()
    );
    assert_eq!(
        lease_holder(&leases, "capstan-scheduler").await.as_deref(),
        Ok(""),
        "the Lease is released for a successor"
    );
}
