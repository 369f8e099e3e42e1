//! The taint eviction controller in a `capstan up`-like setup — the API server, the
//! controllers, the scheduler and the node agent in one process — driven by the real
//! `/usr/bin/kubectl`: `kubectl taint node … :NoExecute` deletes a Deployment's pods
//! from the node, each given the `DisruptionTarget` condition first, and their
//! ReplicaSet replaces them on the untainted nodes; a pod tolerating the taint for
//! `tolerationSeconds: 3` goes once they have run out, one tolerating it forever
//! stays, and removing a taint before a pod's deadline cancels its deletion. Every
//! pod carries `DefaultTolerationSeconds`' 300 s tolerations of the not-ready and
//! unreachable taints.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use serde_json::json;
use support::*;
use tokio::time::Instant;

/// What a watch saw of one pod.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The node it was bound to.
    node: String,
    /// It carried `DisruptionTarget=True` by the taint manager.
    disrupted: bool,
    /// When its deletion (a deletionTimestamp, or its removal) was first seen.
    deleted_at: Option<Instant>,
    /// Whether it carried the condition by then.
    disrupted_before_deletion: bool,
}

type Pods = Arc<Mutex<BTreeMap<String, Seen>>>;

fn disrupted_by_taint_manager(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "DisruptionTarget"
                && c.status == "True"
                && c.reason.as_deref() == Some("DeletionByTaintManager")
                && c.message.as_deref() == Some("Taint manager: deleting due to NoExecute taint")
        })
}

fn note(pods: &Pods, p: &Pod, removed: bool) {
    let name = p.metadata.name.clone().unwrap_or_default();
    let mut all = pods.lock().expect("lock");
    let seen = all.entry(name).or_default();
    if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
        seen.node = node;
    }
    seen.disrupted |= disrupted_by_taint_manager(p);
    if (removed || p.metadata.deletion_timestamp.is_some()) && seen.deleted_at.is_none() {
        seen.deleted_at = Some(Instant::now());
        seen.disrupted_before_deletion = seen.disrupted;
    }
}

/// Watches the pods of [`NS`], recording what [`Seen`] says of each.
async fn watch_pods(cluster: &Cluster) -> (Pods, tokio::task::JoinHandle<()>) {
    let pods: Pods = Arc::default();
    let seen = pods.clone();
    let task = watch_in_background(
        cluster.api::<Pod>(),
        watcher::Config::default(),
        move |ev| match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => note(&seen, &p, false),
            watcher::Event::Delete(p) => note(&seen, &p, true),
            watcher::Event::Init | watcher::Event::InitDone => {}
        },
    )
    .await;
    (pods, task)
}

fn seen(pods: &Pods, name: &str) -> Seen {
    pods.lock()
        .expect("lock")
        .get(name)
        .cloned()
        .unwrap_or_default()
}

/// The messages of the `TaintManagerEviction` Events about pods in [`NS`], as
/// `kubectl get events` lists them.
async fn eviction_events(cluster: &Cluster) -> Vec<String> {
    let (ok, out) = cluster
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "reason=TaintManagerEviction",
            "-o",
            "json",
        ])
        .await;
    assert!(ok, "kubectl get events: {out}");
    // kubectl prints a `List` of the Events.
    let list: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("events json: {e}: {out}"));
    let items: Vec<Event> = serde_json::from_value(list["items"].clone())
        .unwrap_or_else(|e| panic!("events: {e}: {out}"));
    items
        .into_iter()
        .inspect(|e| {
            assert_eq!(
                e.source.as_ref().and_then(|s| s.component.as_deref()),
                Some("taint-eviction-controller"),
                "{e:?}"
            );
            assert_eq!(e.type_.as_deref(), Some("Normal"));
        })
        .filter_map(|e| e.message)
        .collect()
}

async fn wait_event(cluster: &Cluster, message: &str) {
    eventually(&format!("Event {message:?}"), || async {
        let all = eviction_events(cluster).await;
        if all.iter().any(|m| m == message) {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
}

async fn taint(cluster: &Cluster, node: &str, taint: &str) {
    let (ok, out) = cluster.kubectl(&["taint", "node", node, taint]).await;
    assert!(ok, "kubectl taint node {node} {taint}: {out}");
}

async fn node_names(cluster: &Cluster) -> Vec<String> {
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let mut names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    names
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_execute_taint_evicts_a_deployments_pods_and_they_come_back_elsewhere() {
    let cluster = Cluster::start(3).await;
    let replicas = 6;
    let d = deployment("web", replicas, "nginx:1.27", json!(1), json!(0));
    kubectl_create(
        &cluster,
        "web.json",
        &serde_json::to_value(&d).expect("json"),
    )
    .await;
    let want = usize::try_from(replicas).expect("replicas");
    let before = eventually("6 web pods Ready", || async {
        let pods = live_pods(&cluster, "web").await;
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        if ready == want && pods.len() == want {
            Ok(pods)
        } else {
            Err(format!("{ready} Ready of {}", pods.len()))
        }
    })
    .await;
    // The node with the most of them.
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &before {
        by_node
            .entry(node_of(p))
            .or_default()
            .push(p.metadata.name.clone().unwrap_or_default());
    }
    let (tainted, victims) = by_node
        .into_iter()
        .max_by_key(|(_, pods)| pods.len())
        .expect("a node with pods");
    assert!(!victims.is_empty());
    let (pods, watch) = watch_pods(&cluster).await;

    taint(&cluster, &tainted, "dedicated=x:NoExecute").await;

    let after = eventually("6 web pods Ready, none on the tainted node", || async {
        let pods = live_pods(&cluster, "web").await;
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let names: Vec<String> = pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let on_tainted = pods.iter().filter(|p| node_of(p) == tainted).count();
        let victims_left = victims.iter().filter(|v| names.contains(v)).count();
        if ready == want && pods.len() == want && on_tainted == 0 && victims_left == 0 {
            Ok(pods)
        } else {
            Err(format!(
                "{ready} Ready of {}, {on_tainted} on {tainted}, {victims_left} victims left",
                pods.len()
            ))
        }
    })
    .await;
    assert!(
        after
            .iter()
            .all(|p| node_of(p) != tainted && !node_of(p).is_empty())
    );
    for v in &victims {
        let s = seen(&pods, v);
        assert!(s.deleted_at.is_some(), "{v} deleted: {s:?}");
        assert!(
            s.disrupted_before_deletion,
            "{v} had DisruptionTarget before its deletion: {s:?}"
        );
        wait_event(&cluster, &format!("Marking for deletion Pod {NS}/{v}")).await;
    }
    // The survivors on the other nodes were left alone.
    for p in &before {
        let name = p.metadata.name.clone().unwrap_or_default();
        if !victims.contains(&name) {
            let s = seen(&pods, &name);
            assert!(s.deleted_at.is_none() && !s.disrupted, "{name}: {s:?}");
        }
    }
    watch.abort();
    cluster.stop().await;
}

/// A bare pod named `name` bound to `node` with `tolerations`.
fn pinned(name: &str, node: &str, tolerations: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "pinned"}},
        "spec": {
            "nodeName": node,
            "tolerations": tolerations,
            "containers": [{"name": "c", "image": "nginx:1.27"}]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toleration_seconds_delay_the_eviction_forever_never_comes_and_untainting_cancels() {
    let cluster = Cluster::start(2).await;
    let nodes = node_names(&cluster).await;
    let (a, b) = (nodes[0].clone(), nodes[1].clone());
    let dedicated = |seconds: Option<i64>| {
        let mut t = json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"});
        if let Some(s) = seconds {
            t["tolerationSeconds"] = json!(s);
        }
        json!([t])
    };
    let spared_seconds: u64 = 6;
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            pinned("bare", &a, json!([])),
            pinned("timed", &a, dedicated(Some(3))),
            pinned("forever", &a, dedicated(None)),
            pinned("victim", &b, json!([])),
            pinned("spared", &b, json!([{"key": "maintenance", "operator": "Exists",
                "effect": "NoExecute", "tolerationSeconds": spared_seconds}])),
        ]
    });
    kubectl_create(&cluster, "pinned.json", &list).await;
    eventually("5 pinned pods Ready", || async {
        let pods = live_pods(&cluster, "pinned").await;
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        if ready == 5 {
            Ok(())
        } else {
            Err(format!("{ready} Ready of {}", pods.len()))
        }
    })
    .await;
    // `DefaultTolerationSeconds` gave every pod 300 s on not-ready and unreachable
    // nodes (what the node lifecycle controller's taints are counted against).
    for p in live_pods(&cluster, "pinned").await {
        let tolerations = p.spec.and_then(|s| s.tolerations).unwrap_or_default();
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            assert!(
                tolerations.iter().any(|t| t.key.as_deref() == Some(key)
                    && t.operator.as_deref() == Some("Exists")
                    && t.effect.as_deref() == Some("NoExecute")
                    && t.toleration_seconds == Some(300)),
                "{key} tolerated for 300 s: {tolerations:?}"
            );
        }
    }
    let (pods, watch) = watch_pods(&cluster).await;

    let tainted_at = Instant::now();
    taint(&cluster, &a, "dedicated=x:NoExecute").await;
    taint(&cluster, &b, "maintenance=y:NoExecute").await;

    // The untolerating pod of node b goes at once: the controller has decided for
    // every pod of b, `spared`'s deletion is scheduled at the latest 6 s from now.
    let victim_gone = eventually_some("victim deleted", || async {
        seen(&pods, "victim").deleted_at
    })
    .await;
    taint(&cluster, &b, "maintenance=y:NoExecute-").await;
    wait_event(&cluster, &format!("Cancelling deletion of Pod {NS}/spared")).await;
    // Cancelled when the taint went, not found moot at the deadline.
    assert!(
        Instant::now() < victim_gone + Duration::from_secs(spared_seconds),
        "the cancellation came {:?} after the victim's deletion, past spared's {spared_seconds} s",
        Instant::now() - victim_gone
    );

    for name in ["bare", "victim", "timed"] {
        let s = eventually_some(&format!("{name} deleted"), || async {
            let s = seen(&pods, name);
            s.deleted_at.map(|_| s)
        })
        .await;
        assert!(
            s.disrupted_before_deletion,
            "{name} had DisruptionTarget before its deletion: {s:?}"
        );
        wait_event(&cluster, &format!("Marking for deletion Pod {NS}/{name}")).await;
    }
    let timed = seen(&pods, "timed").deleted_at.expect("timed deleted");
    assert!(
        timed >= tainted_at + Duration::from_secs(3),
        "timed was deleted {:?} after the taint, before its 3 s ran out",
        timed - tainted_at
    );

    // `spared`'s deadline passes (with a margin for a late deletion to show) and
    // neither it nor `forever` is touched.
    let hold_until = victim_gone + Duration::from_secs(spared_seconds + 3);
    while Instant::now() < hold_until {
        for name in ["spared", "forever"] {
            let s = seen(&pods, name);
            assert!(
                s.deleted_at.is_none() && !s.disrupted,
                "{name} was left alone: {s:?}"
            );
        }
        let live: Vec<String> = live_pods(&cluster, "pinned")
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        assert!(
            live.contains(&"spared".to_string()) && live.contains(&"forever".to_string()),
            "{live:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let messages = eviction_events(&cluster).await;
    for name in ["spared", "forever"] {
        assert!(
            !messages
                .iter()
                .any(|m| m == &format!("Marking for deletion Pod {NS}/{name}")),
            "{name} never marked: {messages:?}"
        );
    }
    watch.abort();
    cluster.stop().await;
}
