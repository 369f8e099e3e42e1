//! Volumes in the embedded control plane, through the real kubectl: `capstan up`'s
//! default class `standard` provisions a claim on the node its pod is scheduled to,
//! an `Immediate` class binds without a pod, a pre-created volume is bound
//! statically (by the binder, or by the scheduler for a `WaitForFirstConsumer`
//! class), reclaim `Delete` removes the volume with its claim and `Retain` leaves it
//! `Released`, and a pod whose `Immediate` claim is unbound stays Pending.

mod support;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::Api;
use serde_json::json;
use support::*;

fn claim(name: &str, class: Option<&str>, size: &str) -> serde_json::Value {
    let mut spec = json!({"accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": size}}});
    if let Some(c) = class {
        spec["storageClassName"] = json!(c);
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn pod_using(name: &str, claim: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
           "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
                    "volumes": [{"name": "data",
                                 "persistentVolumeClaim": {"claimName": claim}}]}})
}

fn class(name: &str, provisioner: &str, mode: &str, reclaim: &str) -> serde_json::Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": name}, "provisioner": provisioner,
           "volumeBindingMode": mode, "reclaimPolicy": reclaim})
}

fn volume(name: &str, class: &str, size: &str, node: Option<&str>) -> serde_json::Value {
    let mut spec = json!({"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                          "capacity": {"storage": size},
                          "persistentVolumeReclaimPolicy": "Retain",
                          "hostPath": {"path": format!("/srv/{name}")}});
    if let Some(n) = node {
        spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions":
            [{"key": "kubernetes.io/hostname", "operator": "In", "values": [n]}]}]}});
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
           "spec": spec})
}

/// `kubectl get <what> -o jsonpath=<path>` (namespaced), panicking on failure.
async fn jsonpath(cluster: &Cluster, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let query = format!("-o=jsonpath={path}");
    args.push(&query);
    let (ok, out) = cluster.kubectl(&args).await;
    assert!(ok, "kubectl get {what:?}: {out}");
    out
}

/// Waits until the claim is `Bound`, and returns it.
async fn bound_claim(cluster: &Cluster, name: &str) -> PersistentVolumeClaim {
    let claims: Api<PersistentVolumeClaim> = cluster.api();
    eventually_some(&format!("claim {name} Bound"), || async {
        let c = claims.get(name).await.ok()?;
        (c.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(c)
    })
    .await
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn volume_phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref()?.phase.as_deref()
}

/// Waits until the volume is gone.
async fn volume_gone(pvs: &Api<PersistentVolume>, name: &str) {
    eventually(&format!("volume {name} deleted"), || async {
        match pvs.get_opt(name).await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

fn node_affinity_hosts(pv: &PersistentVolume) -> Vec<String> {
    let v = serde_json::to_value(&pv.spec.as_ref().unwrap().node_affinity).unwrap();
    serde_json::from_value(
        v["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"].clone(),
    )
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_with_a_claim_of_the_default_class_runs_on_its_provisioned_volume() {
    let cluster = Cluster::start(2).await;
    let (ok, classes) = cluster.kubectl(&["get", "storageclass"]).await;
    assert!(ok, "{classes}");
    let line = classes
        .lines()
        .find(|l| l.starts_with("standard"))
        .unwrap_or_else(|| panic!("no standard class: {classes}"));
    for want in [
        "(default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    // The bootstrap is idempotent: a second `capstan up` start finds the class.
    capstan::up::ensure_default_storage_class(&cluster.client)
        .await
        .expect("the class exists already");

    kubectl_create(&cluster, "claim.json", &claim("data", None, "2Gi")).await;
    let waiting = jsonpath(&cluster, &["pvc", "data"], "{.status.phase}").await;
    assert_eq!(waiting, "Pending", "no consumer yet");
    kubectl_create(&cluster, "pod.json", &pod_using("app", "data")).await;
    let pods: Api<Pod> = cluster.api();
    let pod = eventually_some("the pod Running and Ready", || async {
        let p = pods.get("app").await.ok()?;
        is_ready(&p).then_some(p)
    })
    .await;
    let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();

    let c = bound_claim(&cluster, "data").await;
    let uid = c.metadata.uid.clone().unwrap();
    let pv_name = format!("pvc-{uid}");
    assert_eq!(
        c.spec.as_ref().unwrap().volume_name.as_deref(),
        Some(pv_name.as_str())
    );
    assert_eq!(
        c.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("standard")
    );
    for (key, want) in [
        ("pv.kubernetes.io/bind-completed", "yes"),
        ("pv.kubernetes.io/bound-by-controller", "yes"),
        ("volume.kubernetes.io/selected-node", node.as_str()),
        (
            "volume.kubernetes.io/storage-provisioner",
            "rancher.io/local-path",
        ),
    ] {
        assert_eq!(annotation(&c.metadata, key), Some(want), "{key}");
    }
    assert_eq!(
        c.status.as_ref().unwrap().capacity.as_ref().unwrap()["storage"].0,
        "2Gi"
    );

    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let pv = pvs.get(&pv_name).await.unwrap();
    assert_eq!(volume_phase(&pv), Some("Bound"));
    let spec = pv.spec.as_ref().unwrap();
    let claim_ref = spec.claim_ref.as_ref().unwrap();
    assert_eq!(
        (claim_ref.name.as_deref(), claim_ref.uid.as_deref()),
        (Some("data"), Some(uid.as_str()))
    );
    assert_eq!(node_affinity_hosts(&pv), [node], "on the pod's node");
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert!(
        spec.host_path
            .as_ref()
            .unwrap()
            .path
            .starts_with("/opt/local-path-provisioner/pvc-"),
        "{:?}",
        spec.host_path
    );
    assert_eq!(
        annotation(&pv.metadata, "pv.kubernetes.io/provisioned-by"),
        Some("rancher.io/local-path")
    );
    let (ok, out) = cluster.kubectl(&["get", "pv", &pv_name]).await;
    assert!(
        ok && out.contains("Bound") && out.contains("default/data"),
        "{out}"
    );

    // Delete reclaim: the volume goes with its claim.
    let (ok, out) = cluster
        .kubectl(&["delete", "pod", "app", "--wait=false"])
        .await;
    assert!(ok, "{out}");
    let (ok, out) = cluster
        .kubectl(&["delete", "pvc", "data", "--wait=false"])
        .await;
    assert!(ok, "{out}");
    volume_gone(&pvs, &pv_name).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_class_binds_without_a_pod_and_retain_keeps_the_volume_released() {
    let cluster = Cluster::start(1).await;
    let instant = class("instant", "rancher.io/local-path", "Immediate", "Retain");
    kubectl_create(&cluster, "class.json", &instant).await;
    kubectl_create(
        &cluster,
        "claim.json",
        &claim("logs", Some("instant"), "1Gi"),
    )
    .await;
    let c = bound_claim(&cluster, "logs").await;
    let pv_name = c.spec.as_ref().unwrap().volume_name.clone().unwrap();
    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let pv = pvs.get(&pv_name).await.unwrap();
    assert_eq!(volume_phase(&pv), Some("Bound"));
    assert!(
        pv.spec.as_ref().unwrap().node_affinity.is_none(),
        "no node was chosen"
    );
    assert_eq!(
        pv.spec
            .as_ref()
            .unwrap()
            .persistent_volume_reclaim_policy
            .as_deref(),
        Some("Retain")
    );

    let (ok, out) = cluster.kubectl(&["delete", "pvc", "logs"]).await;
    assert!(ok, "{out}");
    let released = eventually_some("the volume Released", || async {
        let v = pvs.get(&pv_name).await.ok()?;
        (volume_phase(&v) == Some("Released")).then_some(v)
    })
    .await;
    assert_eq!(
        released.spec.unwrap().claim_ref.unwrap().name.as_deref(),
        Some("logs"),
        "a released volume keeps its claimRef"
    );
    let phase = jsonpath(&cluster, &["pv", &pv_name], "{.status.phase}").await;
    assert_eq!(phase, "Released");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_created_volumes_are_bound_statically() {
    let cluster = Cluster::start(2).await;
    // Immediate binding by the binder: the smallest volume that fits.
    for (name, size) in [
        ("manual-big", "10Gi"),
        ("manual-small", "1Gi"),
        ("manual-mid", "3Gi"),
    ] {
        kubectl_create(
            &cluster,
            &format!("{name}.json"),
            &volume(name, "manual", size, None),
        )
        .await;
    }
    kubectl_create(&cluster, "claim.json", &claim("db", Some("manual"), "2Gi")).await;
    let c = bound_claim(&cluster, "db").await;
    assert_eq!(
        c.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("manual-mid")
    );
    assert_eq!(
        annotation(&c.metadata, "pv.kubernetes.io/bind-completed"),
        Some("yes")
    );
    let pvs: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let pv = pvs.get("manual-mid").await.unwrap();
    assert_eq!(volume_phase(&pv), Some("Bound"));
    assert_eq!(
        annotation(&pv.metadata, "pv.kubernetes.io/bound-by-controller"),
        Some("yes")
    );
    for other in ["manual-big", "manual-small"] {
        let v = pvs.get(other).await.unwrap();
        assert_eq!(volume_phase(&v), Some("Available"), "{other}");
    }
    kubectl_create(&cluster, "pod.json", &pod_using("db", "db")).await;
    let pods: Api<Pod> = cluster.api();
    eventually_some("the pod on the bound claim runs", || async {
        let p = pods.get("db").await.ok()?;
        is_ready(&p).then_some(())
    })
    .await;

    // A WaitForFirstConsumer class without a provisioner: the scheduler picks the
    // node by the volume's node affinity and binds the volume at PreBind.
    let nodes: Vec<String> = {
        let (ok, out) = cluster
            .kubectl(&["get", "nodes", "-o=jsonpath={.items[*].metadata.name}"])
            .await;
        assert!(ok, "{out}");
        out.split_whitespace().map(String::from).collect()
    };
    let target = nodes.last().unwrap().clone();
    let local = class(
        "local",
        "kubernetes.io/no-provisioner",
        "WaitForFirstConsumer",
        "Retain",
    );
    kubectl_create(&cluster, "local.json", &local).await;
    kubectl_create(
        &cluster,
        "disk.json",
        &volume("disk", "local", "5Gi", Some(&target)),
    )
    .await;
    kubectl_create(
        &cluster,
        "cache.json",
        &claim("cache", Some("local"), "1Gi"),
    )
    .await;
    kubectl_create(&cluster, "cache-pod.json", &pod_using("cache", "cache")).await;
    let pod = eventually_some("the pod on the local volume runs", || async {
        let p = pods.get("cache").await.ok()?;
        is_ready(&p).then_some(p)
    })
    .await;
    assert_eq!(
        pod.spec.unwrap().node_name.as_deref(),
        Some(target.as_str())
    );
    let c = bound_claim(&cluster, "cache").await;
    assert_eq!(
        c.spec.as_ref().unwrap().volume_name.as_deref(),
        Some("disk")
    );
    assert_eq!(
        annotation(&c.metadata, "volume.kubernetes.io/selected-node"),
        None,
        "a static volume needs no selected node"
    );
    let disk = pvs.get("disk").await.unwrap();
    assert_eq!(volume_phase(&disk), Some("Bound"));
    assert_eq!(
        annotation(&disk.metadata, "pv.kubernetes.io/bound-by-controller"),
        Some("yes")
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_immediate_claim_is_unbound_stays_pending() {
    let cluster = Cluster::start(1).await;
    let external = class("external", "example.com/absent", "Immediate", "Delete");
    kubectl_create(&cluster, "class.json", &external).await;
    kubectl_create(
        &cluster,
        "claim.json",
        &claim("orphan", Some("external"), "1Gi"),
    )
    .await;
    kubectl_create(&cluster, "pod.json", &pod_using("waiter", "orphan")).await;
    let pods: Api<Pod> = cluster.api();
    let message = eventually_some("the pod marked unschedulable", || async {
        let p = pods.get("waiter").await.ok()?;
        let cond = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
        Some(cond.message.unwrap_or_default())
    })
    .await;
    assert!(
        message.contains("pod has unbound immediate PersistentVolumeClaims"),
        "{message}"
    );
    let claims: Api<PersistentVolumeClaim> = cluster.api();
    let orphan = eventually_some("the claim annotated for its provisioner", || async {
        let c = claims.get("orphan").await.ok()?;
        annotation(&c.metadata, "volume.kubernetes.io/storage-provisioner")?;
        Some(c)
    })
    .await;
    assert_eq!(
        annotation(&orphan.metadata, "volume.kubernetes.io/storage-provisioner"),
        Some("example.com/absent")
    );
    assert_eq!(orphan.status.unwrap().phase.as_deref(), Some("Pending"));
    let (ok, events) = cluster
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=orphan",
        ])
        .await;
    assert!(ok, "{events}");
    assert!(events.contains("ExternalProvisioning"), "{events}");
    cluster.stop().await;
}
