//! StatefulSets in a `capstan up`-like setup — the API server, the controllers,
//! the scheduler and the node agent in one process — driven by the real
//! `/usr/bin/kubectl` (and kubectl 1.27 where a command's client side matters),
//! after upstream's `test/e2e/apps/statefulset.go`: a set of 5 with a claim
//! template comes up in order, halts on an unhealthy pod and scales down in
//! reverse; canary and phased rolling updates with partitions; `rollout
//! history|undo|status`; a deleted pod comes back with its claim; each
//! `persistentVolumeClaimRetentionPolicy`.
//!
//! Claims use a `WaitForFirstConsumer` class `standard` with a provisioner: the
//! scheduler places pods whose claims of such a class are unbound (upstream's
//! VolumeBinding filter), so the claims may stay Pending here; these tests assert
//! what the StatefulSet controller does with them, not their binding.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::*;

/// kubectl 1.27, the oldest the dispatcher serves, called directly.
const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
const REVISION_LABEL: &str = "controller-revision-hash";

/// Creates the `WaitForFirstConsumer` class `standard` unless `capstan up`
/// already made it.
async fn ensure_storage_class(cluster: &Cluster) {
    let api: kube::Api<StorageClass> = kube::Api::all(cluster.client.clone());
    let class: StorageClass = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard"},
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete"
    }))
    .expect("storage class");
    match api.create(&PostParams::default(), &class).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create storage class: {e}"),
    }
}

/// A StatefulSet manifest: `replicas` pods labelled `app=<name>` of `image`
/// behind the headless service `name`, a claim template `www` of class
/// `standard`, and `extra` merged over the spec.
fn sts_manifest(name: &str, replicas: i32, image: &str, extra: Value) -> Value {
    let mut m = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image,
                    "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                         "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    });
    if let (Some(spec), Some(extra)) = (m["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    m
}

async fn get_sts(cluster: &Cluster, name: &str) -> StatefulSet {
    cluster
        .api::<StatefulSet>()
        .get(name)
        .await
        .expect("get sts")
}

/// The live pods of set `name` by name.
async fn pods_of(cluster: &Cluster, name: &str) -> BTreeMap<String, Pod> {
    live_pods(cluster, name)
        .await
        .into_iter()
        .map(|p| (p.name_any(), p))
        .collect()
}

/// The claims labelled `app=<name>` by name.
async fn claims_of(cluster: &Cluster, name: &str) -> BTreeMap<String, PersistentVolumeClaim> {
    cluster
        .api::<PersistentVolumeClaim>()
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .expect("list claims")
        .items
        .into_iter()
        .map(|c| (c.name_any(), c))
        .collect()
}

fn names(prefix: &str, ordinals: std::ops::Range<i32>) -> Vec<String> {
    ordinals.map(|o| format!("{prefix}-{o}")).collect()
}

fn image_of(p: &Pod) -> String {
    pod_image(p)
}

fn label<'a>(p: &'a Pod, key: &str) -> &'a str {
    p.labels().get(key).map_or("", String::as_str)
}

/// `kubectl <args>` in [`NS`] with `bin`; panics unless it succeeds.
async fn run_kubectl(cluster: &Cluster, bin: &str, args: &[&str]) -> String {
    let mut all = vec!["-n", NS];
    all.extend_from_slice(args);
    let (ok, text) = kubectl_binary(bin, &cluster.server, &all).await;
    assert!(ok, "{bin} {args:?}: {text}");
    text
}

/// `kubectl rollout status statefulset/<name>` with `bin`; returns its output.
async fn rollout_status(cluster: &Cluster, bin: &str, name: &str) -> String {
    let out = run_kubectl(
        cluster,
        bin,
        &[
            "rollout",
            "status",
            &format!("statefulset/{name}"),
            "--timeout=90s",
        ],
    )
    .await;
    assert!(
        out.contains("roll out complete") || out.contains("rolling update complete"),
        "{out}"
    );
    out
}

/// Waits until the set's status reports `want` ready replicas of an observed
/// current generation.
async fn wait_ready(cluster: &Cluster, name: &str, want: i32) -> StatefulSet {
    eventually_some(&format!("{name} has {want} ready replicas"), || async {
        let s = get_sts(cluster, name).await;
        let st = s.status.clone()?;
        (st.observed_generation == s.metadata.generation
            && st.ready_replicas.unwrap_or(0) == want
            && st.replicas == want)
            .then_some(s)
    })
    .await
}

/// What a pod watch saw of one set's pods, event by event.
#[derive(Debug, Default)]
struct OrderLog {
    /// Pods in the order they appeared, each with the pods Ready at that moment.
    created: Vec<(String, BTreeSet<String>)>,
    /// Pods in the order their deletion started, each with the other pods
    /// still present then.
    deleting: Vec<(String, BTreeSet<String>)>,
    ready: BTreeSet<String>,
    present: BTreeSet<String>,
    /// UIDs whose deletion was recorded (a recreated pod is deleted anew).
    deleting_uids: BTreeSet<String>,
    /// Pods in the order they were removed from the API server.
    gone: Vec<String>,
}

/// Records [`OrderLog`] for the pods labelled `app=<app>`.
async fn watch_order(
    cluster: &Cluster,
    app: &str,
) -> (
    Arc<parking_lot::Mutex<OrderLog>>,
    tokio::task::JoinHandle<()>,
) {
    use kube::runtime::watcher;
    let log = Arc::new(parking_lot::Mutex::new(OrderLog::default()));
    let api: kube::Api<Pod> = cluster.api();
    let sink = log.clone();
    let task = watch_in_background(
        api,
        watcher::Config::default().labels(&format!("app={app}")),
        move |ev| {
            let mut l = sink.lock();
            match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    let name = p.name_any();
                    if l.present.insert(name.clone()) {
                        let ready = l.ready.clone();
                        l.created.push((name.clone(), ready));
                    }
                    if is_ready(&p) {
                        l.ready.insert(name.clone());
                    } else {
                        l.ready.remove(&name);
                    }
                    if p.metadata.deletion_timestamp.is_some()
                        && l.deleting_uids.insert(p.uid().unwrap_or_default())
                    {
                        let others: BTreeSet<String> =
                            l.present.iter().filter(|n| **n != name).cloned().collect();
                        l.deleting.push((name, others));
                    }
                }
                watcher::Event::Delete(p) => {
                    let name = p.name_any();
                    l.gone.push(name.clone());
                    l.present.remove(&name);
                    l.ready.remove(&name);
                }
                _ => {}
            }
        },
    )
    .await;
    (log, task)
}

async fn set_pod_annotation(cluster: &Cluster, pod: &str, key: &str, value: Option<&str>) {
    cluster
        .api::<Pod>()
        .patch(
            pod,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate pod");
}

/// A StatefulSet of 5 with a claim template (upstream "should provide basic
/// identity" and "Scaling should happen in predictable order and halt if any
/// stateful pod is unhealthy"): pods come up one at a time in ordinal order, each
/// after its predecessors are Ready, with their identity and claims; an unready
/// pod halts a scale-up until it is Ready again; a scale-down goes in reverse, one
/// pod at a time, and keeps the claims (`Retain`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_start_halt_on_unhealthy_and_reverse_scale_down() {
    let cluster = Cluster::start(2).await;
    ensure_storage_class(&cluster).await;
    let (log, _task) = watch_order(&cluster, "web").await;
    kubectl_create(
        &cluster,
        "web.json",
        &sts_manifest("web", 3, "nginx:1", json!({})),
    )
    .await;
    let out = rollout_status(&cluster, "/usr/bin/kubectl", "web").await;
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );

    // Identity, labels, hostname, subdomain and claims.
    let sts = wait_ready(&cluster, "web", 3).await;
    let st = sts.status.clone().unwrap();
    let update_revision = st.update_revision.clone().unwrap();
    assert_eq!(
        st.current_revision.as_deref(),
        Some(update_revision.as_str())
    );
    assert_eq!(
        (
            st.current_replicas,
            st.updated_replicas,
            st.available_replicas
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(st.collision_count, Some(0));
    let pods = pods_of(&cluster, "web").await;
    assert_eq!(pods.keys().cloned().collect::<Vec<_>>(), names("web", 0..3));
    for (i, (name, p)) in pods.iter().enumerate() {
        assert_eq!(label(p, POD_NAME_LABEL), name);
        assert_eq!(label(p, POD_INDEX_LABEL), i.to_string());
        assert_eq!(label(p, REVISION_LABEL), update_revision);
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let claim = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "www")
            .unwrap();
        assert_eq!(
            claim.persistent_volume_claim.as_ref().unwrap().claim_name,
            format!("www-{name}")
        );
    }
    let claims = claims_of(&cluster, "web").await;
    assert_eq!(
        claims.keys().cloned().collect::<Vec<_>>(),
        names("www-web", 0..3)
    );

    // Halt: web-1 unready, scaled to 5: no web-3 while the controller has seen
    // the new spec (its status observed it) and web-1 is unready.
    set_pod_annotation(&cluster, "web-1", "capstan.dev/unready-after", Some("0s")).await;
    eventually_some("web-1 unready in the status", || async {
        let st = get_sts(&cluster, "web").await.status?;
        (st.ready_replicas == Some(2)).then_some(())
    })
    .await;
    let (ok, out) = cluster
        .kubectl(&["scale", "statefulset/web", "--replicas=5"])
        .await;
    assert!(ok, "{out}");
    eventually_some("the scale observed", || async {
        let s = get_sts(&cluster, "web").await;
        (s.status?.observed_generation == s.metadata.generation).then_some(())
    })
    .await;
    let pods = pods_of(&cluster, "web").await;
    assert!(
        !pods.contains_key("web-3"),
        "halted on web-1: {:?}",
        pods.keys()
    );
    assert_eq!(
        get_sts(&cluster, "web")
            .await
            .status
            .unwrap()
            .ready_replicas,
        Some(2)
    );
    set_pod_annotation(&cluster, "web-1", "capstan.dev/unready-after", None).await;
    rollout_status(&cluster, "/usr/bin/kubectl", "web").await;
    wait_ready(&cluster, "web", 5).await;
    {
        let l = log.lock();
        let order: Vec<&str> = l.created.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(order, names("web", 0..5), "created in ordinal order");
        for (i, (name, ready)) in l.created.iter().enumerate() {
            let before: BTreeSet<String> = names("web", 0..i as i32).into_iter().collect();
            assert!(
                before.is_subset(ready),
                "{name} created while only {ready:?} were Ready"
            );
        }
    }
    assert_eq!(
        claims_of(&cluster, "web").await.len(),
        5,
        "one claim per pod"
    );

    // Scale down to 2: web-4, then web-3, then web-2, each once the one above
    // is gone; the claims stay.
    let (ok, out) = cluster
        .kubectl(&["scale", "statefulset/web", "--replicas=2"])
        .await;
    assert!(ok, "{out}");
    wait_ready(&cluster, "web", 2).await;
    eventually_some("the condemned pods gone", || async {
        let pods = pods_of(&cluster, "web").await;
        (pods.keys().cloned().collect::<Vec<_>>() == names("web", 0..2)).then_some(())
    })
    .await;
    {
        let l = log.lock();
        let order: Vec<&str> = l.deleting.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(order, ["web-4", "web-3", "web-2"], "deleted in reverse");
        for (name, others) in &l.deleting {
            let ord: i32 = name.rsplit('-').next().unwrap().parse().unwrap();
            assert!(
                others
                    .iter()
                    .all(|o| o.rsplit('-').next().unwrap().parse::<i32>().unwrap() < ord),
                "{name} deleted while {others:?} were still there"
            );
        }
    }
    assert_eq!(
        claims_of(&cluster, "web").await.len(),
        5,
        "Retain keeps the claims"
    );
    cluster.stop().await;
}

/// The set's ControllerRevisions by name.
async fn revisions_of(cluster: &Cluster, app: &str) -> BTreeMap<String, ControllerRevision> {
    cluster
        .api::<ControllerRevision>()
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list revisions")
        .items
        .into_iter()
        .map(|r| (r.name_any(), r))
        .collect()
}

async fn set_partition(cluster: &Cluster, name: &str, partition: i32) {
    cluster
        .api::<StatefulSet>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
                "rollingUpdate": {"partition": partition}}}})),
        )
        .await
        .expect("set partition");
}

/// Waits until the pods of `name` run exactly `want` images (ordinal → image),
/// all Ready.
async fn wait_images(cluster: &Cluster, name: &str, want: &[&str]) {
    eventually(&format!("{name} pods at {want:?}"), || async {
        let pods = pods_of(cluster, name).await;
        let seen: Vec<(String, bool)> = pods.values().map(|p| (image_of(p), is_ready(p))).collect();
        let wanted: Vec<(String, bool)> = want.iter().map(|i| (i.to_string(), true)).collect();
        if seen == wanted {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
}

/// Upstream "should perform canary updates and phased rolling updates of
/// template modifications", then `kubectl rollout history` and `rollout undo`
/// (kubectl 1.27) and `rollout status` (the newest kubectl): a partition equal to
/// the replicas holds the update back, a deleted pod below the partition comes
/// back at the current revision, lowering the partition updates the pods above
/// it from the highest ordinal down, and undo goes back to the first revision,
/// renumbered rather than stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_and_phased_updates_then_undo() {
    let cluster = Cluster::start(2).await;
    ensure_storage_class(&cluster).await;
    let manifest = sts_manifest(
        "ss2",
        3,
        "nginx:1",
        json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}}),
    );
    kubectl_create(&cluster, "ss2.json", &manifest).await;
    let first = wait_ready(&cluster, "ss2", 3)
        .await
        .status
        .unwrap()
        .update_revision
        .unwrap();
    let (log, _task) = watch_order(&cluster, "ss2").await;

    // The update is held back by the partition.
    let (ok, out) = cluster
        .kubectl(&["set", "image", "statefulset/ss2", "c=nginx:2"])
        .await;
    assert!(ok, "{out}");
    let second = eventually_some("a new update revision", || async {
        let st = get_sts(&cluster, "ss2").await.status?;
        st.update_revision.filter(|r| *r != first)
    })
    .await;
    let st = get_sts(&cluster, "ss2").await.status.unwrap();
    assert_eq!(st.current_revision.as_deref(), Some(first.as_str()));
    assert_eq!(st.updated_replicas.unwrap_or(0), 0);
    wait_images(&cluster, "ss2", &["nginx:1", "nginx:1", "nginx:1"]).await;

    // A pod below the partition, deleted, comes back at the current revision.
    // The test waits for the outcome itself, as for the claims scenario's delete: a
    // waiting `kubectl delete` has been seen not to return in 120 s under the full
    // suite's load.
    let deleted = pods_of(&cluster, "ss2").await["ss2-1"].uid();
    let (ok, out) = cluster
        .kubectl(&["delete", "pod", "ss2-1", "--wait=false"])
        .await;
    assert!(ok, "{out}");
    eventually_some("ss2-1 back at the current revision", || async {
        let pods = pods_of(&cluster, "ss2").await;
        let p = pods.get("ss2-1")?;
        (p.uid() != deleted
            && is_ready(p)
            && label(p, REVISION_LABEL) == first
            && image_of(p) == "nginx:1")
            .then_some(())
    })
    .await;

    // Canary: partition 2 updates ss2-2 only.
    set_partition(&cluster, "ss2", 2).await;
    wait_images(&cluster, "ss2", &["nginx:1", "nginx:1", "nginx:2"]).await;
    let (ok, out) = cluster
        .kubectl(&["rollout", "status", "statefulset/ss2", "--timeout=60s"])
        .await;
    assert!(
        ok && out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );

    // Phased: partition 0 updates ss2-1 then ss2-0.
    set_partition(&cluster, "ss2", 0).await;
    wait_images(&cluster, "ss2", &["nginx:2", "nginx:2", "nginx:2"]).await;
    let st = eventually_some("the update revision becomes current", || async {
        let st = get_sts(&cluster, "ss2").await.status?;
        (st.current_revision.as_deref() == Some(second.as_str())).then_some(st)
    })
    .await;
    assert_eq!(
        (st.current_replicas, st.updated_replicas),
        (Some(3), Some(3))
    );
    {
        let l = log.lock();
        let order: Vec<&str> = l.deleting.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            order,
            ["ss2-1", "ss2-2", "ss2-1", "ss2-0"],
            "the manual delete, then the highest ordinal first"
        );
    }

    // History and undo, with kubectl 1.27.
    let history = run_kubectl(
        &cluster,
        KUBECTL_1_27,
        &["rollout", "history", "statefulset/ss2"],
    )
    .await;
    let rows: Vec<&str> = history
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    let out = run_kubectl(
        &cluster,
        KUBECTL_1_27,
        &["rollout", "undo", "statefulset/ss2"],
    )
    .await;
    assert!(out.contains("rolled back"), "{out}");
    let out = rollout_status(&cluster, "/usr/bin/kubectl", "ss2").await;
    assert!(out.contains("3 new pods have been updated"), "{out}");
    wait_images(&cluster, "ss2", &["nginx:1", "nginx:1", "nginx:1"]).await;
    let st = eventually_some("the first revision is current again", || async {
        let st = get_sts(&cluster, "ss2").await.status?;
        (st.current_revision.as_deref() == Some(first.as_str())).then_some(st)
    })
    .await;
    assert_eq!(
        st.update_revision.as_deref(),
        Some(first.as_str()),
        "reused, not recreated"
    );
    let revisions = revisions_of(&cluster, "ss2").await;
    assert_eq!(revisions.len(), 2, "{:?}", revisions.keys());
    assert_eq!(revisions[&first].revision, 3, "renumbered as the newest");
    assert_eq!(revisions[&second].revision, 2);
    cluster.stop().await;
}

/// A deleted pod comes back under its name with the claim it had (upstream
/// "should recreate a pod with the same persistent volume claim"), and each
/// `persistentVolumeClaimRetentionPolicy` (upstream "Non-retain
/// StatefulSetPersistentVolumeClaimPolicy"): claims of scaled-down pods go
/// under `whenScaled: Delete`, the set's claims go with it under `whenDeleted:
/// Delete`, and `Retain` keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_pods_keep_their_claims_and_retention_policies_hold() {
    let cluster = Cluster::start(2).await;
    ensure_storage_class(&cluster).await;
    // (name, whenDeleted, whenScaled)
    let sets = [
        ("keep", "Retain", "Retain"),
        ("scaled", "Retain", "Delete"),
        ("deleted", "Delete", "Retain"),
        ("both", "Delete", "Delete"),
    ];
    for (name, when_deleted, when_scaled) in sets {
        let m = sts_manifest(
            name,
            2,
            "nginx:1",
            json!({"podManagementPolicy": "Parallel",
                   "persistentVolumeClaimRetentionPolicy":
                       {"whenDeleted": when_deleted, "whenScaled": when_scaled}}),
        );
        kubectl_create(&cluster, &format!("{name}.json"), &m).await;
    }
    for (name, _, _) in sets {
        wait_ready(&cluster, name, 2).await;
    }

    // A deleted pod is recreated with the same claim.
    let before = pods_of(&cluster, "keep").await["keep-0"].clone();
    let claim_uid = claims_of(&cluster, "keep").await["www-keep-0"].uid();
    // The test waits for the outcome itself (the pod comes back at once).
    let (ok, out) = cluster
        .kubectl(&["delete", "pod", "keep-0", "--wait=false"])
        .await;
    assert!(ok, "{out}");
    let after = eventually_some("keep-0 recreated", || async {
        let p = pods_of(&cluster, "keep").await.remove("keep-0")?;
        (p.uid() != before.uid() && is_ready(&p)).then_some(p)
    })
    .await;
    let vol = after
        .spec
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "www")
        .unwrap();
    assert_eq!(
        vol.persistent_volume_claim.unwrap().claim_name,
        "www-keep-0"
    );
    assert_eq!(
        claims_of(&cluster, "keep").await["www-keep-0"].uid(),
        claim_uid,
        "the same claim"
    );

    // The claims' owners follow the policies.
    for (name, when_deleted, _) in sets {
        for claim in claims_of(&cluster, name).await.values() {
            let owners: Vec<&str> = claim
                .owner_references()
                .iter()
                .map(|r| r.kind.as_str())
                .collect();
            let want: &[&str] = if when_deleted == "Delete" {
                &["StatefulSet"]
            } else {
                &[]
            };
            assert_eq!(owners, want, "{}", claim.name_any());
        }
    }

    // Scale each to 1: whenScaled decides whether www-<name>-1 goes.
    for (name, _, _) in sets {
        let (ok, out) = cluster
            .kubectl(&["scale", &format!("statefulset/{name}"), "--replicas=1"])
            .await;
        assert!(ok, "{out}");
    }
    for (name, _, when_scaled) in sets {
        wait_ready(&cluster, name, 1).await;
        let want = if when_scaled == "Delete" { 1 } else { 2 };
        eventually(
            &format!("{name}: {want} claims after the scale-down"),
            || async {
                let claims = claims_of(&cluster, name).await;
                if claims.len() == want && claims.contains_key(&format!("www-{name}-0")) {
                    Ok(())
                } else {
                    Err(format!("{:?}", claims.keys()))
                }
            },
        )
        .await;
    }

    // Delete each set: whenDeleted decides whether the rest go.
    for (name, _, _) in sets {
        let (ok, out) = cluster
            .kubectl(&["delete", "statefulset", name, "--wait=false"])
            .await;
        assert!(ok, "{out}");
    }
    for (name, when_deleted, when_scaled) in sets {
        eventually(&format!("{name}'s pods gone"), || async {
            let pods = pods_of(&cluster, name).await;
            if pods.is_empty() {
                Ok(())
            } else {
                Err(format!("{:?}", pods.keys()))
            }
        })
        .await;
        let left = if when_deleted == "Delete" {
            0
        } else if when_scaled == "Delete" {
            1
        } else {
            2
        };
        eventually(
            &format!("{name}: {left} claims after the delete"),
            || async {
                let claims = claims_of(&cluster, name).await;
                if claims.len() == left {
                    Ok(())
                } else {
                    Err(format!("{:?}", claims.keys()))
                }
            },
        )
        .await;
    }
    cluster.stop().await;
}

/// A pod of an `OrderedReady` set that reaches phase `Failed` is deleted and
/// recreated under its name with the claim it had, and no other pod is touched
/// (upstream `processReplica`: "Delete and recreate pods which finished
/// running"; e2e "Should recreate evicted statefulset"). A StatefulSet's
/// template must have `restartPolicy: Always` (the API server refuses any
/// other), so its containers' exits restart them and never fail the pod: as in
/// upstream's e2e, the pod fails as a kubelet fails a pod it evicts or rejects,
/// by its status — written here with the real kubectl's `--subresource=status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pod_is_deleted_and_recreated_with_its_claim() {
    let cluster = Cluster::start(2).await;
    ensure_storage_class(&cluster).await;
    let (log, _task) = watch_order(&cluster, "fail").await;
    kubectl_create(
        &cluster,
        "fail.json",
        &sts_manifest("fail", 3, "nginx:1", json!({})),
    )
    .await;
    wait_ready(&cluster, "fail", 3).await;
    let before = pods_of(&cluster, "fail").await;
    let claims_before = claims_of(&cluster, "fail").await;

    let failed = json!({"status": {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }});
    run_kubectl(
        &cluster,
        "/usr/bin/kubectl",
        &[
            "patch",
            "pod",
            "fail-1",
            "--subresource=status",
            "--type=merge",
            "-p",
            &failed.to_string(),
        ],
    )
    .await;

    let after = eventually_some("fail-1 recreated and Ready", || async {
        let p = pods_of(&cluster, "fail").await.remove("fail-1")?;
        (p.uid() != before["fail-1"].uid() && is_ready(&p)).then_some(p)
    })
    .await;
    assert_eq!(label(&after, POD_NAME_LABEL), "fail-1");
    assert_eq!(
        label(&after, REVISION_LABEL),
        label(&before["fail-1"], REVISION_LABEL),
        "recreated at the same revision"
    );
    let claim = after
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .and_then(|vs| vs.iter().find(|v| v.name == "www"))
        .and_then(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone());
    assert_eq!(claim.as_deref(), Some("www-fail-1"));
    let claims_after = claims_of(&cluster, "fail").await;
    assert_eq!(
        claims_after["www-fail-1"].uid(),
        claims_before["www-fail-1"].uid(),
        "the same claim, not a new one"
    );
    assert_eq!(claims_after.len(), 3);
    let pods = pods_of(&cluster, "fail").await;
    for name in ["fail-0", "fail-2"] {
        assert_eq!(pods[name].uid(), before[name].uid(), "{name} untouched");
    }
    wait_ready(&cluster, "fail", 3).await;
    {
        let l = log.lock();
        // A terminal pod is removed at once (no grace period), as upstream's.
        assert_eq!(l.gone, ["fail-1"], "only the failed pod was deleted");
        let created: Vec<&str> = l.created.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            created,
            ["fail-0", "fail-1", "fail-2", "fail-1"],
            "fail-1 recreated once it was gone"
        );
    }
    cluster.stop().await;
}
