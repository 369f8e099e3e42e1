//! The Deployment controller, with the ReplicaSet controller, against the
//! embedded API server: a Deployment gets its `<name>-<hash>` ReplicaSet, the
//! pods (marked Ready by the test, playing kubelet) make it available, the
//! real `kubectl rollout status` succeeds, and an image change rolls over to a
//! second ReplicaSet with the old one scaled to zero.

mod support;

use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_controllers::manager::{ControllerManager, ControllersConfig};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use support::{eventually_within, kubectl};
use tokio::time::Instant;

const NS: &str = "default";
const REVISION: &str = "deployment.kubernetes.io/revision";

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Plays kubelet: marks every live pod Running and Ready, until aborted.
fn fake_kubelet(client: Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, NS);
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for p in list
                    .items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none() && !is_ready(p))
                {
                    let now = k8s_openapi::jiff::Timestamp::now().to_string();
                    let _ = pods
                        .patch_status(
                            &p.name_any(),
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": {
                                "phase": "Running",
                                "conditions": [{"type": "Ready", "status": "True",
                                    "lastTransitionTime": now}]
                            }})),
                        )
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .expect("valid deployment")
}

/// The ReplicaSets controlled by the Deployment with `uid`.
async fn owned_rss(rss: &Api<ReplicaSet>, uid: &str) -> Vec<ReplicaSet> {
    rss.list(&ListParams::default())
        .await
        .expect("list replica sets")
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| r.controller == Some(true) && r.uid == uid && r.kind == "Deployment")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_and_rolls_over_with_kubectl_rollout_status() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let manager =
        ControllerManager::new(client.clone(), &ControllersConfig::default()).expect("builds");
    assert_eq!(
        manager.enabled(),
        [
            "replicaset-controller",
            "replicationcontroller-controller",
            "deployment-controller",
            "daemonset-controller",
            "job-controller",
            "cronjob-controller",
            "ttl-after-finished-controller",
            "statefulset-controller",
            "garbage-collector-controller",
            "namespace-controller",
            "persistentvolumeclaim-protection-controller",
            "persistentvolume-protection-controller",
            "resourcequota-controller",
            "endpoints-controller",
            "endpointslice-controller",
            "serviceaccount-controller",
            "taint-eviction-controller",
            "node-lifecycle-controller",
            "disruption-controller"
        ]
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(manager.run(async move {
        let _ = stop_rx.await;
    }));
    let kubelet = fake_kubelet(client.clone());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let d = deployments
        .create(&PostParams::default(), &deployment("web", 3, "nginx:1.26"))
        .await
        .expect("create deployment");
    let uid = d.uid().expect("uid");

    let first = eventually_within(60, "the first ReplicaSet", || async {
        match owned_rss(&rss, &uid).await.as_slice() {
            [rs] => Ok(rs.clone()),
            other => Err(format!("{} replica sets", other.len())),
        }
    })
    .await;
    let hash = first
        .labels()
        .get("pod-template-hash")
        .cloned()
        .expect("pod-template-hash label");
    assert_eq!(first.name_any(), format!("web-{hash}"));
    assert_eq!(
        first.annotations().get(REVISION).map(String::as_str),
        Some("1")
    );
    let spec = first.spec.as_ref().expect("rs spec");
    assert_eq!(
        spec.selector
            .match_labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash")),
        Some(&hash)
    );

    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status: {out}");
    assert!(out.contains("successfully rolled out"), "{out}");
    let status = deployments
        .get("web")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    let available = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Available")
        .expect("Available condition");
    assert_eq!(available.status, "True");
    assert_eq!(
        deployments
            .get("web")
            .await
            .expect("get")
            .annotations()
            .get(REVISION)
            .map(String::as_str),
        Some("1")
    );
    let web_pods = pods
        .list(&ListParams::default().labels(&format!("pod-template-hash={hash}")))
        .await
        .expect("pods");
    assert_eq!(web_pods.items.len(), 3);

    // Change the image: a second ReplicaSet, revision 2, the rollout completes
    // and the old ReplicaSet ends at zero replicas.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "nginx:1.27"}]
            }}}})),
        )
        .await
        .expect("change image");
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status after the image change: {out}");
    let all = eventually_within(60, "old RS at 0 and new RS at 3", || async {
        let all = owned_rss(&rss, &uid).await;
        let sizes: Vec<(String, i32)> = all
            .iter()
            .map(|rs| {
                (
                    rs.name_any(),
                    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
                )
            })
            .collect();
        let old_zero = all.iter().any(|rs| {
            rs.name_any() == first.name_any()
                && rs.spec.as_ref().and_then(|s| s.replicas) == Some(0)
        });
        if all.len() == 2 && old_zero {
            Ok(all)
        } else {
            Err(format!("{sizes:?}"))
        }
    })
    .await;
    let second = all
        .iter()
        .find(|rs| rs.name_any() != first.name_any())
        .expect("second RS");
    assert_eq!(second.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        second.annotations().get(REVISION).map(String::as_str),
        Some("2")
    );
    let image = second
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("nginx:1.27".to_string())));
    let d = deployments.get("web").await.expect("get");
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("2"));
    let s = d.status.expect("status");
    assert_eq!(
        (s.replicas, s.updated_replicas, s.available_replicas),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(s.observed_generation, d.metadata.generation);

    // `kubectl rollout undo` copies revision 1's template back: the first
    // ReplicaSet becomes the new one again, as revision 3.
    let (ok, out) = kubectl(&server, &["-n", NS, "rollout", "undo", "deployment/web"]).await;
    assert!(ok, "kubectl rollout undo: {out}");
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status after undo: {out}");
    eventually_within(
        60,
        "first RS back at 3 as revision 3, second at 0",
        || async {
            let all = owned_rss(&rss, &uid).await;
            let view: Vec<(String, Option<i32>, Option<String>)> = all
                .iter()
                .map(|rs| {
                    (
                        rs.name_any(),
                        rs.spec.as_ref().and_then(|s| s.replicas),
                        rs.annotations().get(REVISION).cloned(),
                    )
                })
                .collect();
            let want = vec![
                (first.name_any(), Some(3), Some("3".to_string())),
                (second.name_any(), Some(0), Some("2".to_string())),
            ];
            let mut got = view.clone();
            got.sort();
            let mut want_sorted = want.clone();
            want_sorted.sort();
            if got == want_sorted {
                Ok(())
            } else {
                Err(format!("{view:?}"))
            }
        },
    )
    .await;
    let (ok, out) = kubectl(&server, &["-n", NS, "rollout", "history", "deployment/web"]).await;
    assert!(ok, "kubectl rollout history: {out}");
    let revisions: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(revisions, ["2", "3"], "{out}");

    // `kubectl scale` goes through the scale subresource to the current RS.
    let (ok, out) = kubectl(
        &server,
        &["-n", NS, "scale", "deployment/web", "--replicas=5"],
    )
    .await;
    assert!(ok, "kubectl scale: {out}");
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status after scale: {out}");
    eventually_within(60, "5 available replicas", || async {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        let s = d.status.unwrap_or_default();
        let live = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        if s.available_replicas == Some(5) && live == 5 {
            Ok(())
        } else {
            Err(format!("{s:?}, {live} live pods"))
        }
    })
    .await;

    kubelet.abort();
    stop_tx.send(()).expect("stop");
    run.await.expect("join").expect("controllers stop cleanly");
}

/// Recreate: every old pod is gone before the new ReplicaSet gets any (the
/// controller learns it from pod deletions), and the rollout completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_rollout_and_orphan_replica_set_adoption() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let manager =
        ControllerManager::new(client.clone(), &ControllersConfig::default()).expect("builds");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(manager.run(async move {
        let _ = stop_rx.await;
    }));
    let kubelet = fake_kubelet(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);

    // An orphan ReplicaSet matching the selector is adopted by the Deployment.
    let orphan: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "legacy", "namespace": NS, "labels": {"app": "db"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "db", "v": "0"}},
            "template": {"metadata": {"labels": {"app": "db", "v": "0"}},
                "spec": {"containers": [{"name": "c", "image": "db:0"}]}}}
    }))
    .expect("rs");
    rss.create(&PostParams::default(), &orphan)
        .await
        .expect("create orphan RS");
    let mut d = deployment("db", 2, "db:1");
    let spec = d.spec.as_mut().expect("spec");
    spec.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });
    let d = deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let uid = d.uid().expect("uid");
    eventually_within(60, "the orphan RS is adopted", || async {
        let rs = rss.get("legacy").await.map_err(|e| e.to_string())?;
        if rs
            .owner_references()
            .iter()
            .any(|r| r.uid == uid && r.controller == Some(true))
        {
            Ok(())
        } else {
            Err(format!("{:?}", rs.metadata.owner_references))
        }
    })
    .await;
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/db",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status: {out}");

    // Watch pods from here on: under Recreate no new pod may be created while
    // an old one is still alive.
    let old_hash = |p: &Pod| p.labels().get("pod-template-hash").cloned();
    let before: Vec<Pod> = pods
        .list(&ListParams::default().labels("app=db"))
        .await
        .expect("pods")
        .items;
    assert_eq!(before.len(), 2);
    let first_hash = old_hash(&before[0]).expect("hash label");
    deployments
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "db:2"}]
            }}}})),
        )
        .await
        .expect("change image");
    let mut overlap = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live: Vec<Pod> = pods
            .list(&ListParams::default().labels("app=db"))
            .await
            .expect("pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let old = live
            .iter()
            .filter(|p| old_hash(p).as_ref() == Some(&first_hash))
            .count();
        let new = live.len() - old;
        if old > 0 && new > 0 {
            overlap.push((old, new));
        }
        if old == 0 && new == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollout stuck: {old} old, {new} new"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        overlap.is_empty(),
        "old and new pods overlapped: {overlap:?}"
    );
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/db",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "kubectl rollout status after recreate: {out}");
    let owned = owned_rss(&rss, &uid).await;
    assert_eq!(owned.len(), 3, "legacy + two revisions");
    let d = deployments.get("db").await.expect("get");
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("2"));

    kubelet.abort();
    stop_tx.send(()).expect("stop");
    run.await.expect("join").expect("controllers stop cleanly");
}

/// RollingUpdate with maxSurge 3 / maxUnavailable 2 on 10 replicas: across every
/// ReplicaSet state seen on a watch, the replicas asked for never exceed 13, and
/// the rollout completes.
///
/// Availability is asserted on pods, in `up_scenarios.rs`: the sum of the
/// ReplicaSets' `availableReplicas` lags the pods both ways (a ReplicaSet's
/// status after a scale-down still counts the pods that sync deleted; a new
/// one's counts its pods a sync late), so it is no measure of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailable_bounds() {
    use futures::StreamExt;
    use kube::runtime::watcher;
    use std::collections::BTreeMap;

    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let manager =
        ControllerManager::new(client.clone(), &ControllersConfig::default()).expect("builds");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(manager.run(async move {
        let _ = stop_rx.await;
    }));
    let kubelet = fake_kubelet(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);

    let mut d = deployment("api", 10, "api:1");
    d.spec.as_mut().expect("spec").strategy = Some(
        serde_json::from_value(json!({
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}
        }))
        .expect("strategy"),
    );
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/api",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "initial rollout: {out}");

    // Watch ReplicaSets from now on, then change the image.
    let mut stream = watcher(rss.clone(), watcher::Config::default()).boxed();
    let mut state: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    let view = |rs: &ReplicaSet, state: &mut BTreeMap<String, (i32, i32)>| {
        let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let avail = rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        state.insert(rs.name_any(), (spec, avail));
    };
    // Drain the initial listing.
    loop {
        match stream.next().await.expect("watch").expect("watch event") {
            watcher::Event::InitApply(rs) => view(&rs, &mut state),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(state.values().map(|s| s.1).sum::<i32>(), 10);
    deployments
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "api:2"}]
            }}}})),
        )
        .await
        .expect("change image");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut max_spec = 0;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("rollout finishes before the deadline")
            .expect("watch")
            .expect("watch event");
        if let watcher::Event::Apply(rs) = next {
            view(&rs, &mut state);
        }
        let spec: i32 = state.values().map(|s| s.0).sum();
        max_spec = max_spec.max(spec);
        assert!(spec <= 13, "surge bound broken: {state:?}");
        let done = state.len() == 2
            && state.values().any(|s| *s == (10, 10))
            && state.values().any(|s| *s == (0, 0));
        if done {
            break;
        }
    }
    assert_eq!(max_spec, 13, "the rollout used its surge");
    let (ok, out) = kubectl(
        &server,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/api",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(ok, "rollout after the image change: {out}");

    kubelet.abort();
    stop_tx.send(()).expect("stop");
    run.await.expect("join").expect("controllers stop cleanly");
}
