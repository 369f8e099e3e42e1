//! PodDisruptionBudgets in a `capstan up`-like setup — the API server, the
//! controllers, the scheduler and the node agent in one process — driven by the
//! real kubectl: a budget over a Deployment gets upstream's status (healthy,
//! desired and expected pods, disruptions allowed, the `DisruptionAllowed`
//! condition), percentages resolve against the Deployment's scale and follow it,
//! and `kubectl drain` (kubectl 1.27 and 1.33) evicts within budget: with every pod
//! of a Deployment of 3 on the drained node and `minAvailable: 2`, one is evicted,
//! the next eviction is refused (429) while its replacement cannot become Ready,
//! and the drain completes once replacements can run elsewhere.

mod support;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::EvictParams;
use kube::{Api, Client};
use serde_json::json;
use support::*;

const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
const KUBECTL_1_33: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// `(currentHealthy, desiredHealthy, disruptionsAllowed, expectedPods)`.
type Counts = (i32, i32, i32, i32);

fn counts(pdb: &PodDisruptionBudget) -> Option<Counts> {
    let s = pdb.status.as_ref()?;
    Some((
        s.current_healthy,
        s.desired_healthy,
        s.disruptions_allowed,
        s.expected_pods,
    ))
}

/// Waits until the budget `name` has observed its generation with `want` counts
/// and the condition that goes with them; answers it.
async fn wait_status(cluster: &Cluster, name: &str, want: Counts) -> PodDisruptionBudget {
    let pdbs: Api<PodDisruptionBudget> = cluster.api();
    eventually(&format!("PDB {name} status {want:?}"), || async {
        let pdb = pdbs.get(name).await.map_err(|e| e.to_string())?;
        let observed = pdb.status.as_ref().and_then(|s| s.observed_generation);
        if counts(&pdb) != Some(want) || observed != pdb.metadata.generation {
            return Err(format!("{:?}", pdb.status));
        }
        let cond = pdb
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"))
            .ok_or("no DisruptionAllowed condition")?;
        let expected = if want.2 > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        if (cond.status.as_str(), cond.reason.as_str()) != expected {
            return Err(format!("condition {cond:?}"));
        }
        Ok(pdb)
    })
    .await
}

fn pdb_manifest(name: &str, app: &str, bound: serde_json::Value) -> serde_json::Value {
    let mut spec = bound;
    spec["selector"] = json!({"matchLabels": {"app": app}});
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

async fn create_deployment(cluster: &Cluster, name: &str, replicas: i32) {
    let d = deployment(name, replicas, "nginx:1", json!(1), json!(0));
    kubectl_create(
        cluster,
        &format!("{name}.json"),
        &serde_json::to_value(d).expect("json"),
    )
    .await;
    cluster.rollout_status(name).await;
}

async fn scale(cluster: &Cluster, name: &str, replicas: i32) {
    let (ok, out) = cluster
        .kubectl(&[
            "scale",
            &format!("deployment/{name}"),
            &format!("--replicas={replicas}"),
        ])
        .await;
    assert!(ok, "kubectl scale: {out}");
    cluster.rollout_status(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_get_upstreams_status_and_follow_the_deployments_scale() {
    let cluster = Cluster::start(2).await;
    create_deployment(&cluster, "web", 3).await;
    kubectl_create(
        &cluster,
        "web-pdb.json",
        &pdb_manifest("web-pdb", "web", json!({"minAvailable": 2})),
    )
    .await;
    let pdb = wait_status(&cluster, "web-pdb", (3, 2, 1, 3)).await;
    assert_eq!(
        pdb.status.unwrap().disrupted_pods.unwrap_or_default().len(),
        0
    );
    let (ok, table) = cluster.kubectl(&["get", "pdb", "web-pdb"]).await;
    assert!(ok, "{table}");
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["web-pdb", "2", "N/A", "1"], "{table}");

    // An integer minAvailable expects the pods there are.
    scale(&cluster, "web", 5).await;
    wait_status(&cluster, "web-pdb", (5, 2, 3, 5)).await;

    // Percentages resolve against the Deployment's scale, rounding up:
    // maxUnavailable 30% of 4 is 2 (1.2 up), of 6 is 2 (1.8 up).
    create_deployment(&cluster, "api", 4).await;
    kubectl_create(
        &cluster,
        "api-pdb.json",
        &pdb_manifest("api-pdb", "api", json!({"maxUnavailable": "30%"})),
    )
    .await;
    wait_status(&cluster, "api-pdb", (4, 2, 2, 4)).await;
    scale(&cluster, "api", 6).await;
    wait_status(&cluster, "api-pdb", (6, 4, 2, 6)).await;
    scale(&cluster, "api", 1).await;
    // 30% of 1 rounds up to 1: the one pod may go.
    wait_status(&cluster, "api-pdb", (1, 0, 1, 1)).await;

    // A percentage minAvailable: 50% of 3 rounds up to 2.
    let (ok, out) = cluster
        .kubectl(&[
            "patch",
            "pdb",
            "web-pdb",
            "--type=merge",
            "-p",
            r#"{"spec":{"minAvailable":"50%"}}"#,
        ])
        .await;
    assert!(ok, "{out}");
    scale(&cluster, "web", 3).await;
    let pdb = wait_status(&cluster, "web-pdb", (3, 2, 1, 3)).await;
    assert_eq!(pdb.metadata.generation, Some(2), "the patch is observed");
    cluster.stop().await;
}

/// The live pods of `app`, by name.
async fn pod_names(cluster: &Cluster, app: &str) -> BTreeSet<String> {
    live_pods(cluster, app)
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

fn node_of(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Drains `sim-0`, where all three pods of a Deployment run under a budget of
/// `minAvailable: 2`, with the kubectl at `kubectl`.
async fn drain_within_budget(kubectl: &str) {
    let cluster = Cluster::start(2).await;
    // Everything starts on sim-0; sim-1 takes replacements once uncordoned.
    let (ok, out) = cluster.kubectl(&["cordon", "sim-1"]).await;
    assert!(ok, "{out}");
    create_deployment(&cluster, "web", 3).await;
    let originals = live_pods(&cluster, "web").await;
    assert!(originals.iter().all(|p| node_of(p) == "sim-0"));
    let originals: BTreeSet<String> = originals
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    kubectl_create(
        &cluster,
        "web-pdb.json",
        &pdb_manifest("web-pdb", "web", json!({"minAvailable": 2})),
    )
    .await;
    wait_status(&cluster, "web-pdb", (3, 2, 1, 3)).await;

    // An eviction client that sees 429s instead of retrying them.
    let mut config = cluster.server.config().await;
    config.default_retry = false;
    let evictor: Api<Pod> = Api::namespaced(Client::try_from(config).expect("client"), NS);

    let drain = kubectl_binary(
        kubectl,
        &cluster.server,
        &[
            "drain",
            "sim-0",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=110s",
        ],
    );
    let meanwhile = async {
        // One pod is evicted; its replacement cannot run (sim-0 is cordoned by the
        // drain, sim-1 by the test), so the budget allows nothing more.
        wait_status(&cluster, "web-pdb", (2, 2, 0, 3)).await;
        let remaining = eventually_some("a pending replacement", || async {
            let pods = live_pods(&cluster, "web").await;
            let names: BTreeSet<String> = pods
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            let pending = pods
                .iter()
                .filter(|p| !originals.contains(p.metadata.name.as_deref().unwrap_or_default()))
                .any(|p| node_of(p).is_empty());
            let remaining: Vec<String> = originals.intersection(&names).cloned().collect();
            (pending && remaining.len() == 2).then_some(remaining)
        })
        .await;
        // A second eviction is refused while the replacement is not Ready.
        let refused = evictor
            .evict(&remaining[0], &EvictParams::default())
            .await
            .expect_err("the budget refuses a second eviction");
        let kube::Error::Api(status) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(status.code, 429, "{status:?}");
        assert_eq!(
            status.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(
            pod_names(&cluster, "web")
                .await
                .intersection(&originals)
                .count(),
            2,
            "both remaining pods still run"
        );
        let (ok, out) = cluster.kubectl(&["uncordon", "sim-1"]).await;
        assert!(ok, "{out}");
    };
    let ((ok, out), ()) = tokio::join!(drain, meanwhile);
    assert!(ok, "kubectl drain: {out}");
    assert!(out.contains("node/sim-0 cordoned"), "{out}");
    assert!(
        out.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "drain met the budget: {out}"
    );
    assert!(out.contains("node/sim-0 drained"), "{out}");

    // Three Ready replacements on sim-1, none of the originals, the budget whole.
    eventually("three Ready pods on sim-1", || async {
        let pods = live_pods(&cluster, "web").await;
        let ok = pods.len() == 3
            && pods.iter().all(|p| node_of(p) == "sim-1" && is_ready(p))
            && pods
                .iter()
                .all(|p| !originals.contains(p.metadata.name.as_deref().unwrap_or_default()));
        ok.then_some(())
            .ok_or_else(|| format!("{} pods", pods.len()))
    })
    .await;
    wait_status(&cluster, "web-pdb", (3, 2, 1, 3)).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_27_drain_evicts_within_budget() {
    drain_within_budget(KUBECTL_1_27).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_drain_evicts_within_budget() {
    drain_within_budget(KUBECTL_1_33).await;
}

/// The `DisruptionTarget` condition of a pod, as `(status, reason)`.
async fn disruption_target(pods: &Api<Pod>, name: &str) -> Option<(String, Option<String>)> {
    let pod = pods.get(name).await.ok()?;
    pod.status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .map(|c| (c.status, c.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_disruption_targets_are_reset_after_two_minutes() {
    let cluster = Cluster::start(1).await;
    create_deployment(&cluster, "web", 2).await;
    let names: Vec<String> = pod_names(&cluster, "web").await.into_iter().collect();
    let pods: Api<Pod> = cluster.api();
    let now = k8s_openapi::jiff::Timestamp::now();
    let three_minutes_ago = now - k8s_openapi::jiff::SignedDuration::from_secs(180);
    // Marked for disruption three minutes ago and never deleted: stale. Marked just
    // now: in progress, kept.
    for (name, since) in [(&names[0], three_minutes_ago), (&names[1], now)] {
        let patch = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting", "lastTransitionTime": since.to_string(),
        }]}});
        pods.patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Strategic(patch),
        )
        .await
        .expect("status patch");
    }
    eventually("the stale condition reset to False", || async {
        match disruption_target(&pods, &names[0]).await {
            Some((status, reason)) if status == "False" && reason.is_none() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        disruption_target(&pods, &names[1]).await,
        Some((
            "True".to_string(),
            Some("EvictionByEvictionAPI".to_string())
        )),
        "a fresh condition stays"
    );
    let stale = pods.get(&names[0]).await.expect("pod");
    assert!(is_ready(&stale), "the kubelet's conditions are kept");
    cluster.stop().await;
}

/// A bare pod labelled `app=<app>` whose controller is `owner` (`apiVersion`,
/// `kind`, name, uid).
fn owned_pod(name: &str, app: &str, owner: (&str, &str, &str, &str)) -> serde_json::Value {
    let (api_version, kind, owner_name, uid) = owner;
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app},
            "ownerReferences": [{"apiVersion": api_version, "kind": kind, "name": owner_name,
                "uid": uid, "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resources_scale_subresource_is_its_scale() {
    let cluster = Cluster::start(1).await;
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}});
    kubectl_create(
        &cluster,
        "crd.json",
        &json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}, "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas"}}}]}
        }),
    )
    .await;
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": NS}, "spec": {"replicas": 2}});
    let path = cluster.server.dir().join("widget.json");
    std::fs::write(&path, widget.to_string()).expect("write");
    let uid = eventually("the Widget is created", || async {
        let (ok, out) = cluster
            .kubectl(&["create", "-f", path.to_str().expect("utf-8")])
            .await;
        if !ok && !out.contains("AlreadyExists") {
            return Err(out);
        }
        let (ok, uid) = cluster
            .kubectl(&["get", "widget", "w", "-o", "jsonpath={.metadata.uid}"])
            .await;
        if ok { Ok(uid) } else { Err(uid) }
    })
    .await;
    let (ok, cm) = cluster
        .kubectl(&[
            "create",
            "configmap",
            "cm",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    assert!(ok, "{cm}");
    for (name, app, owner) in [
        (
            "w-0",
            "widget",
            ("example.com/v1", "Widget", "w", uid.as_str()),
        ),
        (
            "w-1",
            "widget",
            ("example.com/v1", "Widget", "w", uid.as_str()),
        ),
        ("odd", "odd", ("v1", "ConfigMap", "cm", cm.as_str())),
    ] {
        kubectl_create(
            &cluster,
            &format!("{name}.json"),
            &owned_pod(name, app, owner),
        )
        .await;
    }
    kubectl_create(
        &cluster,
        "widget-pdb.json",
        &pdb_manifest("widget-pdb", "widget", json!({"maxUnavailable": 1})),
    )
    .await;
    wait_status(&cluster, "widget-pdb", (2, 1, 1, 2)).await;

    // Scaled through its scale subresource: the next sync expects 4 pods.
    let (ok, out) = cluster
        .kubectl(&["scale", "widget", "w", "--replicas=4"])
        .await;
    assert!(ok, "{out}");
    let (ok, out) = cluster
        .kubectl(&["annotate", "pdb", "widget-pdb", "touched=1"])
        .await;
    assert!(ok, "{out}");
    wait_status(&cluster, "widget-pdb", (2, 3, 0, 4)).await;

    // A kind without a scale subresource fails the sync safe.
    kubectl_create(
        &cluster,
        "odd-pdb.json",
        &pdb_manifest("odd-pdb", "odd", json!({"maxUnavailable": 1})),
    )
    .await;
    let pdbs: Api<PodDisruptionBudget> = cluster.api();
    eventually("odd-pdb failed safe", || async {
        let pdb = pdbs.get("odd-pdb").await.map_err(|e| e.to_string())?;
        let s = pdb.status.clone().unwrap_or_default();
        let cond = s
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "DisruptionAllowed")
            .ok_or("no condition")?;
        if s.disruptions_allowed == 0
            && cond.status == "False"
            && cond.reason == "SyncFailed"
            && cond.message == "configmaps does not implement the scale subresource"
        {
            Ok(())
        } else {
            Err(format!("{cond:?}"))
        }
    })
    .await;
    cluster.stop().await;
}
