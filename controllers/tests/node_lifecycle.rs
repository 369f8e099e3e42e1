//! The node lifecycle controller in the embedded control plane, driven with the real
//! kubectl: a node whose heartbeats are stopped (`kubectl annotate node …
//! capstan.dev/heartbeat=stopped`) turns `Unknown` on every kubelet condition, is
//! tainted `unreachable` NoSchedule and NoExecute and its pods turn `Ready=False`;
//! resumed, it reports Ready again and loses those taints. The taint and cordon a
//! user added survive both. With the taint eviction controller, a silent node's pods
//! go once their `unreachable` toleration runs out and their ReplicaSet replaces them
//! on the healthy nodes. Grace periods are shrunk to seconds.

mod support;

use std::sync::Arc;
use std::time::Duration;

use capstan::up::ControlPlaneConfig;
use capstan_controllers::nodelifecycle::NodeLifecycleConfig;
use capstan_node_agent::heartbeat::HeartbeatConfig;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::PostParams;
use parking_lot::Mutex;
use serde_json::json;
use support::{Cluster, eventually, is_ready, kubectl_create, watch_in_background};
use tokio::time::Instant;

/// The node whose heartbeats stop.
const NODE: &str = "sim-1";
/// The agent re-posts node status this often (the kubelet's 5 minutes shrunk), so
/// an agent that ignored the stop would undo the `Unknown` within the window.
const STATUS_REPORT: Duration = Duration::from_secs(1);

fn shrunk(config: &mut ControlPlaneConfig) {
    config.controllers.node_lifecycle = NodeLifecycleConfig {
        node_monitor_period: Duration::from_millis(250),
        node_monitor_grace_period: Duration::from_secs(5),
        node_startup_grace_period: Duration::from_secs(10),
        ..NodeLifecycleConfig::default()
    };
    config.node_agent.heartbeat = HeartbeatConfig {
        lease_renew_interval: Duration::from_millis(500),
        lease_duration_seconds: 5,
        status_report_interval: STATUS_REPORT,
        ..HeartbeatConfig::default()
    };
}

fn pinned_pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "pinned"}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "nginx"}],
        },
    }))
    .expect("pod")
}

fn conditions(node: &Node) -> Vec<(String, String, String, String)> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            (
                c.type_,
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default(),
            )
        })
        .collect()
}

/// The node's taints as `key=value:Effect` (`key:Effect` without a value).
fn taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| match t.value {
            Some(v) => format!("{}={v}:{}", t.key, t.effect),
            None => format!("{}:{}", t.key, t.effect),
        })
        .collect()
}

fn ready_status(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

async fn kubectl_ok(cluster: &Cluster, args: &[&str]) -> String {
    let (ok, out) = cluster.kubectl(args).await;
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

async fn pods_ready(pods: &Api<Pod>, names: &[&str], want: bool) -> Result<(), String> {
    for name in names {
        let pod = pods.get(name).await.map_err(|e| e.to_string())?;
        if is_ready(&pod) != want {
            return Err(format!("{name} Ready={}", is_ready(&pod)));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_node_turns_unknown_and_tainted_and_recovers_with_user_taints_kept() {
    let cluster = Cluster::start_configured(3, shrunk).await;
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-node-lease");
    let pods: Api<Pod> = cluster.api();
    for (name, node) in [("on-1-a", NODE), ("on-1-b", NODE), ("on-0", "sim-0")] {
        pods.create(&PostParams::default(), &pinned_pod(name, node))
            .await
            .expect("create pod");
    }
    eventually("the pinned pods Ready", || {
        pods_ready(&pods, &["on-1-a", "on-1-b", "on-0"], true)
    })
    .await;

    // The user's taint and cordon: the controller adds the unschedulable taint.
    kubectl_ok(
        &cluster,
        &["taint", "node", NODE, "dedicated=gpu:NoSchedule"],
    )
    .await;
    kubectl_ok(&cluster, &["cordon", NODE]).await;
    let user_taints = [
        "dedicated=gpu:NoSchedule".to_string(),
        "node.kubernetes.io/unschedulable:NoSchedule".to_string(),
    ];
    eventually("the cordon's taint", || async {
        let node = nodes.get(NODE).await.map_err(|e| e.to_string())?;
        let have = taints(&node);
        if user_taints.iter().all(|t| have.contains(t)) {
            Ok(())
        } else {
            Err(format!("{have:?}"))
        }
    })
    .await;

    // Every Ready status sim-1 goes through, from now on.
    let history: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let watch = {
        let history = history.clone();
        watch_in_background(
            nodes.clone(),
            kube::runtime::watcher::Config::default(),
            move |ev| {
                if let kube::runtime::watcher::Event::Apply(n) = ev
                    && n.metadata.name.as_deref() == Some(NODE)
                {
                    let mut h = history.lock();
                    let ready = ready_status(&n);
                    if h.last() != Some(&ready) {
                        h.push(ready);
                    }
                }
            },
        )
        .await
    };

    kubectl_ok(
        &cluster,
        &["annotate", "node", NODE, "capstan.dev/heartbeat=stopped"],
    )
    .await;
    let unknown = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
    let silent = eventually(
        "the silent node Unknown and tainted unreachable",
        || async {
            let node = nodes.get(NODE).await.map_err(|e| e.to_string())?;
            let conds = conditions(&node);
            for t in unknown {
                let ok = conds.iter().any(|(ty, status, reason, message)| {
                    ty == t
                        && status == "Unknown"
                        && reason == "NodeStatusUnknown"
                        && message == "Kubelet stopped posting node status."
                });
                if !ok {
                    return Err(format!("{t}: {conds:?}"));
                }
            }
            let have = taints(&node);
            for t in [
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(user_taints.iter().cloned())
            {
                if !have.contains(&t) {
                    return Err(format!("no {t}: {have:?}"));
                }
            }
            if have
                .iter()
                .any(|t| t.starts_with("node.kubernetes.io/not-ready"))
            {
                return Err(format!("not-ready and unreachable both: {have:?}"));
            }
            Ok(node)
        },
    )
    .await;
    let stamped = silent
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.key == "node.kubernetes.io/unreachable")
        .all(|t| t.time_added.is_some());
    assert!(
        stamped,
        "the controller's taints carry timeAdded: {silent:?}"
    );
    eventually(
        "its pods Ready=False, the other node's still Ready",
        || async {
            pods_ready(&pods, &["on-1-a", "on-1-b"], false).await?;
            pods_ready(&pods, &["on-0"], true).await
        },
    )
    .await;
    let out = kubectl_ok(&cluster, &["get", "node", NODE, "--no-headers"]).await;
    assert!(out.contains("NotReady,SchedulingDisabled"), "{out}");

    // The agent stays silent for several of its status-report intervals: no Lease
    // renewal, no status re-post undoing the Unknown.
    let renew = |l: &Lease| l.spec.as_ref().and_then(|s| s.renew_time.clone());
    let renewed_at = renew(&leases.get(NODE).await.expect("lease"));
    let window = Instant::now() + 3 * STATUS_REPORT;
    eventually("the node stays silent", || async {
        let node = nodes.get(NODE).await.map_err(|e| e.to_string())?;
        let lease = leases.get(NODE).await.map_err(|e| e.to_string())?;
        assert_eq!(
            renew(&lease),
            renewed_at,
            "a stopped node's Lease is not renewed"
        );
        assert_eq!(
            ready_status(&node).as_deref(),
            Some("Unknown"),
            "stays Unknown"
        );
        if Instant::now() < window {
            return Err("watching".into());
        }
        Ok(())
    })
    .await;
    for other in ["sim-0", "sim-2"] {
        let node = nodes.get(other).await.expect("node");
        assert_eq!(ready_status(&node).as_deref(), Some("True"), "{other}");
        assert!(
            !taints(&node).iter().any(|t| t.contains("unreachable")),
            "{other}: {:?}",
            taints(&node)
        );
    }

    // Resumed: the agent reports Ready again, the controller's taints go.
    kubectl_ok(
        &cluster,
        &["annotate", "node", NODE, "capstan.dev/heartbeat-"],
    )
    .await;
    eventually("the node Ready again and untainted", || async {
        let node = nodes.get(NODE).await.map_err(|e| e.to_string())?;
        let conds = conditions(&node);
        for (t, status) in [
            ("Ready", "True"),
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
        ] {
            if !conds.iter().any(|(ty, s, _, _)| ty == t && s == status) {
                return Err(format!("{t}: {conds:?}"));
            }
        }
        let have = taints(&node);
        if have
            .iter()
            .any(|t| t.contains("unreachable") || t.contains("not-ready"))
        {
            return Err(format!("still tainted: {have:?}"));
        }
        if !user_taints.iter().all(|t| have.contains(t)) {
            return Err(format!("user taints lost: {have:?}"));
        }
        Ok(())
    })
    .await;
    eventually("its pods Ready again", || {
        pods_ready(&pods, &["on-1-a", "on-1-b", "on-0"], true)
    })
    .await;
    let seen = history.lock().clone();
    let first_unknown = seen
        .iter()
        .position(|s| s.as_deref() == Some("Unknown"))
        .expect("Unknown seen");
    assert_eq!(
        seen[first_unknown..]
            .iter()
            .map(|s| s.as_deref().unwrap_or("-"))
            .collect::<Vec<_>>(),
        ["Unknown", "True"],
        "no flapping while stopped: {seen:?}"
    );
    watch.abort();

    // Uncordoned: only the cordon's taint goes.
    kubectl_ok(&cluster, &["uncordon", NODE]).await;
    eventually("the cordon's taint gone, the user's kept", || async {
        let node = nodes.get(NODE).await.map_err(|e| e.to_string())?;
        let have = taints(&node);
        if have == ["dedicated=gpu:NoSchedule"] {
            Ok(())
        } else {
            Err(format!("{have:?}"))
        }
    })
    .await;
    cluster.stop().await;
}

/// Seconds the Deployment's pods tolerate an unreachable or not-ready node (instead
/// of the 300 s `DefaultTolerationSeconds` gives pods that say nothing).
const TOLERATION_SECONDS: i64 = 3;

fn pod_condition(pod: &Pod, type_: &str) -> Option<(String, String)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_nodes_pods_are_evicted_after_their_toleration_and_replaced_elsewhere() {
    let cluster = Cluster::start_configured(3, shrunk).await;
    let pods: Api<Pod> = cluster.api();
    let tolerate = |key: &str| {
        json!({"key": key, "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": TOLERATION_SECONDS})
    };
    kubectl_create(
        &cluster,
        "web.json",
        &json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 6,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx"}],
                        "tolerations": [
                            tolerate("node.kubernetes.io/unreachable"),
                            tolerate("node.kubernetes.io/not-ready"),
                        ],
                    },
                },
            },
        }),
    )
    .await;
    let live_ready = || async {
        let list = pods
            .list(&kube::api::ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(
            list.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
                .collect::<Vec<_>>(),
        )
    };
    let node_of = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let running = eventually("six Ready pods", || async {
        let ready = live_ready().await?;
        if ready.len() == 6 {
            Ok(ready)
        } else {
            Err(format!("{} Ready", ready.len()))
        }
    })
    .await;
    // The node to silence: one that holds some of them.
    let victim_node = node_of(&running[0]);
    let victims: Vec<String> = running
        .iter()
        .filter(|p| node_of(p) == victim_node)
        .filter_map(|p| p.metadata.name.clone())
        .collect();

    kubectl_ok(
        &cluster,
        &[
            "annotate",
            "node",
            &victim_node,
            "capstan.dev/heartbeat=stopped",
        ],
    )
    .await;
    let silenced = Instant::now();

    // Each of its pods: marked by the taint manager, then deleted. The node's agent is
    // silent, so they stay Terminating, as on a real cluster until the node returns.
    for name in &victims {
        let pod = eventually("the silent node's pod evicted", || async {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            if pod.metadata.deletion_timestamp.is_some() {
                Ok(pod)
            } else {
                Err(format!("{name} not deleted yet"))
            }
        })
        .await;
        assert_eq!(
            pod_condition(&pod, "DisruptionTarget"),
            Some(("True".to_string(), "DeletionByTaintManager".to_string())),
            "{name}: {:?}",
            pod.status
        );
    }
    // Not before the grace period (5 s from the last renewal, which may have come up to
    // a renew interval before the annotation) and the toleration have both run out.
    assert!(
        silenced.elapsed() >= Duration::from_millis(4_500 + 1_000 * TOLERATION_SECONDS as u64),
        "evicted {:?} after the node went silent",
        silenced.elapsed()
    );

    // Replaced: six Ready pods again, none on the silent node.
    eventually("six Ready pods on the healthy nodes", || async {
        let ready = live_ready().await?;
        let elsewhere = ready.iter().filter(|p| node_of(p) != victim_node).count();
        if ready.len() == 6 && elsewhere == 6 {
            Ok(())
        } else {
            Err(format!("{} Ready, {elsewhere} elsewhere", ready.len()))
        }
    })
    .await;
    cluster.stop().await;
}
