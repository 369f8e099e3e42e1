//! `capstan node-agent` as a process, as the Helm chart runs it: it takes its Lease,
//! serves `/healthz`, `/readyz` and `/metrics`, registers a NodePool's nodes, and on
//! SIGTERM (what the kubelet sends a pod) exits 0 and releases the Lease.

mod support;

use capstan_apiserver::TestServer;
use capstan_node_agent::{NodePool, NodePoolSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::PostParams;
use support::{eventually, free_port, http_get, lease_holder, spawn_capstan};

#[tokio::test]
async fn node_agent_leads_serves_health_registers_nodes_and_stops_on_sigterm() {
    let server = TestServer::start().await.expect("server");
    let client = server.client().await;
    let port = free_port();
    let log_path = server.dir().join("node-agent.log");
    let mut proc = spawn_capstan(
        &[
            "node-agent",
            "--install-crd",
            "--virtual-taint",
            &format!("--bind-address=127.0.0.1:{port}"),
        ],
        server.kubeconfig_path(),
        &log_path,
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let holder = eventually("the Lease is taken", || async {
        lease_holder(&leases, "capstan-node-agent")
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

    eventually("/readyz passes once elected", || async {
        match http_get(port, "/readyz?verbose") {
            Some((200, body)) if body.contains("[+]leader-election ok") => Ok(()),
            other => Err(format!("{other:?}\n{}", log())),
        }
    })
    .await;
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(port, "/metrics").map(|r| r.0), Some(200));

    // The leader serves pools: a NodePool of 2 becomes 2 tainted nodes.
    let pools: Api<NodePool> = Api::all(client.clone());
    pools
        .create(
            &PostParams::default(),
            &NodePool::new("p", NodePoolSpec::sim(2)),
        )
        .await
        .expect("create pool");
    let nodes: Api<Node> = Api::all(client.clone());
    eventually("2 virtual nodes registered", || async {
        let list = nodes
            .list(&kube::api::ListParams::default().labels("capstan.dev/nodepool=p"))
            .await
            .map_err(|e| e.to_string())?;
        let tainted = list
            .items
            .iter()
            .filter(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|t| t.iter().any(|t| t.key == "capstan.dev/virtual"))
            })
            .count();
        if tainted == 2 {
            Ok(())
        } else {
            Err(format!("{tainted} tainted nodes of {}", list.items.len()))
        }
    })
    .await;

    proc.signal("TERM");
    let status = proc.exited("exit after SIGTERM").await;
    assert!(
        status.success(),
        "graceful stop exits 0: {status:?}\n{}",
        log()
    );
    assert_eq!(
        lease_holder(&leases, "capstan-node-agent").await.as_deref(),
        Ok(""),
        "the Lease is released for a successor"
    );
}
