//! `capstan controller-manager` as a process against the embedded API server:
//! it takes the Lease, serves health endpoints, runs the ReplicaSet controller,
//! and stops cleanly on SIGTERM.

mod support;

use std::process::{Command, Stdio};

use capstan_apiserver::TestServer;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use support::{Proc, eventually, free_port, http_get, spawn_capstan};

#[tokio::test]
async fn controller_manager_leads_serves_health_runs_replicasets_and_stops_on_sigterm() {
    let server = TestServer::start().await.expect("server");
    let client = server.client().await;
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args([
            "controller-manager",
            "--bind-address",
            &format!("127.0.0.1:{port}"),
            "--controllers",
            "*",
            // Underscores, as some kube-controller-manager manifests write it.
            "--concurrent_replicaset_syncs",
            "2",
        ])
        .env("KUBECONFIG", server.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn capstan controller-manager");
    let mut proc = Proc(child);

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let holder = eventually("the Lease is taken", || async {
        match leases.get_opt("capstan-controller-manager").await {
            Ok(Some(l)) => l
                .spec
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "no holder".to_string()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        holder.contains('_'),
        "identity is hostname_random: {holder}"
    );

    eventually("/readyz passes once caches synced", || async {
        match http_get(port, "/readyz?verbose") {
            Some((200, body))
                if body.contains("[+]informer-sync ok")
                    && body.contains("[+]leader-election ok") =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    let (code, metrics) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("workqueue_adds_total"), "{metrics}");

    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("rs");
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await
        .expect("create rs");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("2 pods created by the controller-manager", || async {
        let n = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if n == 2 {
            Ok(())
        } else {
            Err(format!("{n} pods"))
        }
    })
    .await;

    proc.signal("TERM");
    let status = proc.exited("exit after SIGTERM").await;
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

/// Starts a leader-elected manager whose log goes to `log` (read back when a
/// check fails). The lease timings are short enough for a quick takeover yet
/// leave a loaded CI machine seconds to renew: a manager that misses its renew
/// deadline exits, as kube-controller-manager does.
fn spawn_manager(server: &TestServer, port: u16, log: &std::path::Path) -> Proc {
    spawn_capstan(
        &[
            "controller-manager",
            "--bind-address",
            &format!("127.0.0.1:{port}"),
            "--leader-elect-lease-duration",
            "4s",
            "--leader-elect-renew-deadline",
            "3s",
            "--leader-elect-retry-period",
            "250ms",
        ],
        server.kubeconfig_path(),
        log,
    )
}

/// Err with the manager's log if it has exited (it should run until killed).
fn still_running(proc: &mut Proc, log: &std::path::Path) -> Result<(), String> {
    match proc.0.try_wait() {
        Ok(None) => Ok(()),
        other => Err(format!(
            "manager exited ({other:?}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )),
    }
}

async fn lease_holder(leases: &Api<Lease>) -> Result<String, String> {
    support::lease_holder(leases, "capstan-controller-manager")
        .await
        .and_then(|h| {
            if h.is_empty() {
                Err("no holder".into())
            } else {
                Ok(h)
            }
        })
}

/// Two managers: one leads, the other waits; when the leader is killed the
/// follower takes over the Lease and runs the controllers.
#[tokio::test]
async fn a_follower_takes_over_when_the_leader_dies() {
    let server = TestServer::start().await.expect("server");
    let client = server.client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let (pa, pb) = (free_port(), free_port());
    let logs = tempfile::tempdir().expect("tempdir");
    let (log_a, log_b) = (logs.path().join("a.log"), logs.path().join("b.log"));
    let mut a = spawn_manager(&server, pa, &log_a);
    let first = eventually("a leader", || lease_holder(&leases)).await;
    let mut b = spawn_manager(&server, pb, &log_b);
    eventually("the follower is up", || async {
        http_get(pb, "/healthz")
            .map(|_| ())
            .ok_or_else(|| "down".to_string())
    })
    .await;
    // A follower is ready once it knows the leader, as kube-controller-manager's:
    // its controller checks are registered only once it leads.
    let body = eventually("the follower is ready", || async {
        match http_get(pb, "/readyz?verbose") {
            Some((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(!body.contains("informer-sync"), "{body}");
    assert!(body.contains("[+]leader-election ok"), "{body}");
    assert_eq!(lease_holder(&leases).await, Ok(first.clone()));

    // Kill the leader hard (no release): the follower takes over after the
    // lease duration.
    a.0.kill().expect("kill leader");
    let _ = a.0.wait();
    let second = eventually("the follower leads", || {
        let alive = still_running(&mut b, &log_b);
        let (leases, first) = (&leases, &first);
        async move {
            alive?;
            let h = lease_holder(leases).await?;
            if &h != first { Ok(h) } else { Err(h) }
        }
    })
    .await;
    assert_ne!(second, first);

    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "after", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "after"}},
            "template": {"metadata": {"labels": {"app": "after"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("rs");
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await
        .expect("create rs");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("the new leader creates the pod", || {
        let alive = still_running(&mut b, &log_b);
        let pods = &pods;
        async move {
            alive?;
            let n = pods
                .list(&ListParams::default().labels("app=after"))
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} pods"))
            }
        }
    })
    .await;
    b.0.kill().expect("kill follower");
}

/// A leader whose Lease is taken behind its back cannot renew it: after the
/// renew deadline it stops its controllers and exits non-zero, as
/// kube-controller-manager does, so its Deployment restarts it as a candidate.
#[tokio::test]
async fn a_leader_that_loses_its_lease_exits_non_zero() {
    let server = TestServer::start().await.expect("server");
    let client = server.client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let port = free_port();
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("manager.log");
    let mut proc = spawn_manager(&server, port, &log);
    eventually("a leader", || lease_holder(&leases)).await;
    eventually("the leader runs its controllers", || async {
        match http_get(port, "/readyz?verbose") {
            Some((200, body)) if body.contains("[+]informer-sync ok") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Another candidate takes the Lease for an hour.
    leases
        .patch(
            "capstan-controller-manager",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 3600}
            })),
        )
        .await
        .expect("take the lease");
    let status = proc.exited("exit after losing the lease").await;
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !status.success() && status.code().is_some(),
        "lost leadership exits non-zero: {status:?}; log:\n{output}"
    );
    assert!(output.contains("leader election lost"), "{output}");
    assert_eq!(lease_holder(&leases).await, Ok("intruder".to_string()));
}

#[tokio::test]
async fn unknown_controller_names_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args([
            "controller-manager",
            "--controllers",
            "*,-no-such-controller",
        ])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"no-such-controller\" is not in the list of known controllers"),
        "{err}"
    );
}
