//! DaemonSets in a `capstan up`-like setup — the API server, the controllers,
//! the scheduler and the node agent with a pool of sim nodes in one process —
//! driven by the real `/usr/bin/kubectl`, after upstream's
//! `test/e2e/apps/daemon_set.go`: one pod per eligible node that follows new
//! nodes and `kubectl taint` (which the node agent leaves in place), a failed
//! daemon pod retried, image updates rolled within `maxUnavailable` with and
//! without surge, and `kubectl rollout undo` restoring the old template without
//! restarting the pods that kept it — with kubectl 1.33 and 1.28 — and a
//! duplicate ControllerRevision removed after its pods are relabelled.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use capstan_node_agent::NodePool;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::*;

/// A DaemonSet `name` of pods `app=<name>` running `image`, RollingUpdate with
/// `max_surge` and `max_unavailable`.
fn daemonset(name: &str, image: &str, max_surge: Value, max_unavailable: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    })
}

/// The live (not terminating) pods of DaemonSet `name`, by node.
async fn pods_by_node(cluster: &Cluster, name: &str) -> BTreeMap<String, Vec<Pod>> {
    let pods = cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .expect("list pods");
    let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in pods.items {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        by_node.entry(node).or_default().push(p);
    }
    by_node
}

/// Waits until exactly one Ready pod of `image` runs on each of `nodes` and on
/// no other node; returns them by node.
async fn one_ready_pod_on(
    cluster: &Cluster,
    name: &str,
    image: &str,
    nodes: &[&str],
) -> BTreeMap<String, Pod> {
    let want: BTreeSet<String> = nodes.iter().map(|n| n.to_string()).collect();
    eventually(
        &format!("one Ready {image} pod on each of {nodes:?}"),
        || async {
            let by_node = pods_by_node(cluster, name).await;
            let summary: BTreeMap<&String, Vec<(String, bool)>> = by_node
                .iter()
                .map(|(n, ps)| (n, ps.iter().map(|p| (pod_image(p), is_ready(p))).collect()))
                .collect();
            let on: BTreeSet<String> = by_node.keys().cloned().collect();
            let ok = on == want
                && by_node
                    .values()
                    .all(|ps| ps.len() == 1 && is_ready(&ps[0]) && pod_image(&ps[0]) == image);
            if ok {
                Ok(by_node
                    .into_iter()
                    .map(|(n, mut ps)| (n, ps.remove(0)))
                    .collect())
            } else {
                Err(format!("{summary:?}"))
            }
        },
    )
    .await
}

/// kubectl 1.28 (one of 1.27–1.29, whose `rollout undo daemonset` is the
/// older client-side code) and 1.33, called directly rather than through the
/// dispatcher, which picks by the server's version.
const KUBECTL_1_28: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.28";
const KUBECTL_1_33: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// `<bin> -n default <args>`: whether it succeeded, and its output.
async fn kubectl_with(cluster: &Cluster, bin: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["-n", NS];
    all.extend_from_slice(args);
    kubectl_binary(bin, &cluster.server, &all).await
}

async fn rollout_status(cluster: &Cluster, name: &str) {
    rollout_status_with(cluster, "/usr/bin/kubectl", name).await;
}

/// `kubectl rollout status daemonset/<name>` with the kubectl at `bin`.
async fn rollout_status_with(cluster: &Cluster, bin: &str, name: &str) {
    let (ok, out) = kubectl_with(
        cluster,
        bin,
        &[
            "rollout",
            "status",
            &format!("daemonset/{name}"),
            "--timeout=90s",
        ],
    )
    .await;
    assert!(ok, "{bin} rollout status daemonset/{name}: {out}");
    assert!(
        out.contains(&format!("daemon set \"{name}\" successfully rolled out")),
        "{out}"
    );
}

fn sim_nodes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sim-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_pod_per_eligible_node_following_new_nodes_and_taints() {
    let cluster = Cluster::start(3).await;
    kubectl_create(
        &cluster,
        "agent.json",
        &daemonset("agent", "agent:1", json!(0), json!(1)),
    )
    .await;
    let nodes = sim_nodes(4);
    let first: Vec<&str> = nodes[..3].iter().map(String::as_str).collect();
    let pods = one_ready_pod_on(&cluster, "agent", "agent:1", &first).await;
    rollout_status(&cluster, "agent").await;
    // The pod names its node in a required affinity term and carries the revision.
    let p = &pods["sim-0"];
    let affinity =
        serde_json::to_value(p.spec.as_ref().unwrap().affinity.as_ref().unwrap()).unwrap();
    assert_eq!(
        affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchFields"][0],
        json!({"key": "metadata.name", "operator": "In", "values": ["sim-0"]})
    );
    assert_eq!(
        p.labels()
            .get("pod-template-generation")
            .map(String::as_str),
        Some("1")
    );
    assert!(p.labels().contains_key("controller-revision-hash"));
    let ds = cluster.api::<DaemonSet>().get("agent").await.unwrap();
    let status = ds.status.unwrap();
    assert_eq!(
        (
            status.desired_number_scheduled,
            status.current_number_scheduled,
            status.number_ready
        ),
        (3, 3, 3)
    );
    assert_eq!(status.observed_generation, Some(1));

    // A NoExecute taint the pod does not tolerate evicts it; the node agent
    // leaves the taint alone; a cordon (which daemon pods tolerate) changes nothing.
    let (ok, out) = cluster
        .kubectl(&["taint", "node", "sim-0", "dedicated=db:NoExecute"])
        .await;
    assert!(ok, "kubectl taint: {out}");
    let (ok, out) = cluster.kubectl(&["cordon", "sim-1"]).await;
    assert!(ok, "kubectl cordon: {out}");
    let rest: Vec<&str> = nodes[1..3].iter().map(String::as_str).collect();
    let after_taint = one_ready_pod_on(&cluster, "agent", "agent:1", &rest).await;
    assert_eq!(
        after_taint["sim-1"].uid(),
        pods["sim-1"].uid(),
        "the cordoned node keeps its pod"
    );

    // A new node gets a pod at once.
    let pools: Api<NodePool> = Api::all(cluster.client.clone());
    pools
        .patch(
            "sim",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodes": 4}})),
        )
        .await
        .expect("grow the pool");
    let grown: Vec<&str> = nodes[1..].iter().map(String::as_str).collect();
    one_ready_pod_on(&cluster, "agent", "agent:1", &grown).await;
    let node_api: Api<Node> = Api::all(cluster.client.clone());
    let sim0 = node_api.get("sim-0").await.unwrap();
    let taints = sim0.spec.unwrap().taints.unwrap_or_default();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "dedicated" && t.effect == "NoExecute"),
        "the node agent kept the user's taint: {taints:?}"
    );
    let sim1 = node_api.get("sim-1").await.unwrap();
    assert_eq!(
        sim1.spec.unwrap().unschedulable,
        Some(true),
        "still cordoned"
    );
    eventually("status follows the nodes", || async {
        let s = cluster
            .api::<DaemonSet>()
            .get("agent")
            .await
            .unwrap()
            .status
            .unwrap();
        let got = (
            s.desired_number_scheduled,
            s.number_ready,
            s.number_misscheduled,
        );
        if got == (3, 3, 0) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;

    // Untainting brings the pod back.
    let (ok, out) = cluster
        .kubectl(&["taint", "node", "sim-0", "dedicated-"])
        .await;
    assert!(ok, "kubectl taint -: {out}");
    let all: Vec<&str> = nodes.iter().map(String::as_str).collect();
    one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_daemon_pod_is_deleted_and_recreated() {
    let cluster = Cluster::start(2).await;
    kubectl_create(
        &cluster,
        "agent.json",
        &daemonset("agent", "agent:1", json!(0), json!(1)),
    )
    .await;
    let pods = one_ready_pod_on(&cluster, "agent", "agent:1", &["sim-0", "sim-1"]).await;
    let victim = &pods["sim-0"];
    // What a kubelet rejecting the pod reports (upstream's e2e does the same).
    let mut failed = victim.clone();
    let status = failed.status.as_mut().unwrap();
    status.phase = Some("Failed".into());
    for c in status.conditions.iter_mut().flatten() {
        c.status = "False".into();
    }
    cluster
        .api::<Pod>()
        .replace_status(&victim.name_any(), &PostParams::default(), &failed)
        .await
        .expect("mark the pod Failed");
    eventually("the failed pod is deleted", || async {
        match cluster.api::<Pod>().get_opt(&victim.name_any()).await {
            Ok(None) => Ok(()),
            Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => Ok(()),
            Ok(Some(p)) => Err(format!("{:?}", p.status.and_then(|s| s.phase))),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let replaced = one_ready_pod_on(&cluster, "agent", "agent:1", &["sim-0", "sim-1"]).await;
    assert_ne!(
        replaced["sim-0"].uid(),
        victim.uid(),
        "a new pod on the node"
    );
    assert_eq!(
        replaced["sim-1"].uid(),
        pods["sim-1"].uid(),
        "the other stays"
    );
    eventually_some("a FailedDaemonPod event", || async {
        let events = cluster
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .ok()?;
        events.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedDaemonPod")
                && e.type_.as_deref() == Some("Warning")
                && e.involved_object.name.as_deref() == Some("agent")
        })
    })
    .await;
    cluster.stop().await;
}

/// Rolls `agent:1` → `agent:2` on 4 nodes with the given bounds, checking after
/// every pod event that at least `min_ready` pods are Ready.
async fn rolls_within_bounds(max_surge: Value, max_unavailable: Value, min_ready: usize) {
    let cluster = Cluster::start(4).await;
    kubectl_create(
        &cluster,
        "agent.json",
        &daemonset("agent", "agent:1", max_surge, max_unavailable),
    )
    .await;
    let nodes = sim_nodes(4);
    let all: Vec<&str> = nodes.iter().map(String::as_str).collect();
    one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    let watch = PodWatch::start(&cluster.client, "agent", min_ready).await;
    watch.arm();
    let (ok, out) = cluster
        .kubectl(&["set", "image", "daemonset/agent", "c=agent:2"])
        .await;
    assert!(ok, "kubectl set image: {out}");
    rollout_status(&cluster, "agent").await;
    one_ready_pod_on(&cluster, "agent", "agent:2", &all).await;
    let census = watch.census();
    assert!(
        census.first_under.is_none(),
        "fewer than {min_ready} Ready pods: {:?}\n{}",
        census.first_under,
        census.history_before_failure(20)
    );
    let ds = cluster.api::<DaemonSet>().get("agent").await.unwrap();
    let s = ds.status.unwrap();
    assert_eq!(s.updated_number_scheduled, Some(4));
    assert_eq!(s.number_available, Some(4));
    assert_eq!(
        ds.metadata
            .annotations
            .unwrap_or_default()
            .get("deprecated.daemonset.template.generation")
            .map(String::as_str),
        Some("2")
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_update_rolls_within_max_unavailable() {
    rolls_within_bounds(json!(0), json!(1), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_update_with_surge_keeps_every_node_served() {
    rolls_within_bounds(json!(1), json!(0), 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollout_undo_restores_the_template_without_restarting_unchanged_pods() {
    rollout_undo_with(KUBECTL_1_33).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollout_status_history_and_undo_with_kubectl_1_28() {
    rollout_undo_with(KUBECTL_1_28).await;
}

/// A stalled rollout undone with the kubectl at `bin` (`rollout history`,
/// `rollout undo`, `rollout status`): the old template comes back and the pods
/// that kept it are not restarted.
async fn rollout_undo_with(bin: &str) {
    let cluster = Cluster::start(3).await;
    kubectl_create(
        &cluster,
        "agent.json",
        &daemonset("agent", "agent:1", json!(0), json!(1)),
    )
    .await;
    let nodes = sim_nodes(3);
    let all: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let before = one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    rollout_status_with(&cluster, bin, "agent").await;
    // A template whose pods never become Ready: the rollout stalls after one node.
    cluster
        .api::<DaemonSet>()
        .patch(
            "agent",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {
                "metadata": {"annotations": {"capstan.dev/ready-after": "1h"}},
                "spec": {"containers": [{"name": "c", "image": "agent:broken"}]}
            }}})),
        )
        .await
        .expect("update the template");
    let stalled = eventually("one broken pod, two old ones", || async {
        let by_node = pods_by_node(&cluster, "agent").await;
        let images: Vec<String> = by_node.values().flatten().map(pod_image).collect();
        let broken = images.iter().filter(|i| *i == "agent:broken").count();
        let old = images.iter().filter(|i| *i == "agent:1").count();
        if broken == 1 && old == 2 {
            Ok(by_node)
        } else {
            Err(format!("{images:?}"))
        }
    })
    .await;
    let (ok, out) = kubectl_with(&cluster, bin, &["rollout", "history", "daemonset/agent"]).await;
    assert!(ok, "{bin} rollout history: {out}");
    let revisions: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{bin} rollout history: {out}");
    let (ok, out) = kubectl_with(
        &cluster,
        bin,
        &["rollout", "history", "daemonset/agent", "--revision=1"],
    )
    .await;
    assert!(
        ok && out.contains("agent:1") && !out.contains("agent:broken"),
        "{bin} rollout history --revision=1: {out}"
    );
    let untouched: BTreeMap<String, String> = stalled
        .iter()
        .filter(|(_, ps)| pod_image(&ps[0]) == "agent:1")
        .map(|(n, ps)| (n.clone(), ps[0].uid().unwrap()))
        .collect();
    let (ok, out) = kubectl_with(&cluster, bin, &["rollout", "undo", "daemonset/agent"]).await;
    assert!(
        ok && out.contains("daemonset.apps/agent rolled back"),
        "{bin} rollout undo: {out}"
    );
    rollout_status_with(&cluster, bin, "agent").await;
    let after = one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    // The undone template's revision was renumbered, not stored twice.
    let (ok, out) = kubectl_with(&cluster, bin, &["rollout", "history", "daemonset/agent"]).await;
    let revisions: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        ok && revisions == ["2", "3"],
        "{bin} rollout history: {out}"
    );
    for (node, uid) in &untouched {
        assert_eq!(
            after[node].uid().as_ref(),
            Some(uid),
            "the pod on {node} was not restarted"
        );
        assert_eq!(before[node].uid().as_ref(), Some(uid));
    }
    cluster.stop().await;
}

/// The DaemonSet's ControllerRevisions by name.
async fn revisions_of(cluster: &Cluster) -> BTreeMap<String, ControllerRevision> {
    cluster
        .api::<ControllerRevision>()
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("list revisions")
        .items
        .into_iter()
        .map(|r| (r.name_any(), r))
        .collect()
}

/// Upstream `dedupCurHistories`: a second ControllerRevision storing the
/// current template (as a racing controller instance would leave) is a
/// duplicate; the controller keeps the higher-numbered one, relabels the pods
/// of the other with its hash — without restarting them — and deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_revision_is_removed_after_its_pods_are_relabelled() {
    let cluster = Cluster::start(3).await;
    kubectl_create(
        &cluster,
        "agent.json",
        &daemonset("agent", "agent:1", json!(0), json!(1)),
    )
    .await;
    let nodes = sim_nodes(3);
    let all: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let before = one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    let revisions = revisions_of(&cluster).await;
    assert_eq!(revisions.len(), 1, "{:?}", revisions.keys());
    let original = revisions.into_values().next().unwrap();
    let original_hash = original.labels()["controller-revision-hash"].clone();
    assert!(
        before
            .values()
            .all(|p| p.labels()["controller-revision-hash"] == original_hash)
    );

    let mut duplicate = original.clone();
    duplicate.metadata = ObjectMeta {
        name: Some("agent-duplicate".into()),
        namespace: Some(NS.into()),
        labels: original.metadata.labels.clone().map(|mut l| {
            l.insert("controller-revision-hash".into(), "duplicate".into());
            l
        }),
        owner_references: original.metadata.owner_references.clone(),
        ..Default::default()
    };
    duplicate.revision = original.revision + 1;
    cluster
        .api::<ControllerRevision>()
        .create(&PostParams::default(), &duplicate)
        .await
        .expect("create the duplicate revision");

    eventually("only the higher-numbered revision is left", || async {
        let names: Vec<String> = revisions_of(&cluster).await.into_keys().collect();
        if names == ["agent-duplicate"] {
            Ok(())
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    let after = one_ready_pod_on(&cluster, "agent", "agent:1", &all).await;
    for (node, pod) in &after {
        assert_eq!(
            pod.labels()["controller-revision-hash"],
            "duplicate",
            "relabelled on {node}"
        );
        assert_eq!(pod.uid(), before[node].uid(), "not restarted on {node}");
    }
    eventually("every pod counted as updated", || async {
        let s = cluster
            .api::<DaemonSet>()
            .get("agent")
            .await
            .unwrap()
            .status
            .unwrap();
        let got = (s.updated_number_scheduled, s.number_available);
        if got == (Some(3), Some(3)) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    rollout_status(&cluster, "agent").await;
    cluster.stop().await;
}
