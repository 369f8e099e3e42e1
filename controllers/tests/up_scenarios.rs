//! Deployments in a `capstan up`-like setup — the API server, the controllers,
//! the scheduler and the sim node agent in one process — driven by the real
//! `/usr/bin/kubectl`, after upstream's `test/e2e/apps/deployment.go`: rollout
//! status, rolling-update bounds on every observed state, undo and history,
//! proportional scaling mid-rollout, pause/resume, the progress deadline,
//! adoption and release by relabelling, and deletion in each cascade mode.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use support::*;

/// The sim annotation that keeps a pod unready (for an hour: for ever here).
const NEVER_READY: &str = "capstan.dev/ready-after";

/// Sets the image of container `c`, as a user would.
async fn set_image(cluster: &Cluster, name: &str, image: &str) {
    let (ok, out) = cluster
        .kubectl(&[
            "set",
            "image",
            &format!("deployment/{name}"),
            &format!("c={image}"),
        ])
        .await;
    assert!(ok, "kubectl set image: {out}");
}

/// `kubectl patch deployment/<name>` with a strategic-merge patch.
async fn patch(cluster: &Cluster, name: &str, patch: serde_json::Value) {
    let (ok, out) = cluster
        .kubectl(&[
            "patch",
            &format!("deployment/{name}"),
            "--type=strategic",
            "-p",
            &patch.to_string(),
        ])
        .await;
    assert!(ok, "kubectl patch: {out}");
}

/// The image of a ReplicaSet's template.
fn rs_image(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The Deployment's ReplicaSets per image: (spec.replicas, status.replicas,
/// status.availableReplicas).
async fn sizes_by_image(cluster: &Cluster, uid: &str) -> BTreeMap<String, (i32, i32, i32)> {
    owned_rss(&cluster.api::<ReplicaSet>(), uid)
        .await
        .values()
        .map(|rs| {
            let st = rs.status.clone().unwrap_or_default();
            (
                rs_image(rs),
                (
                    rs_replicas(rs),
                    st.replicas,
                    st.available_replicas.unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// Waits until the Deployment's ReplicaSets are exactly `want` (per image:
/// spec.replicas, status.replicas, status.availableReplicas).
async fn wait_sizes(cluster: &Cluster, uid: &str, want: &[(&str, (i32, i32, i32))]) {
    let want: BTreeMap<String, (i32, i32, i32)> =
        want.iter().map(|(i, s)| (i.to_string(), *s)).collect();
    eventually(&format!("replica sets {want:?}"), || async {
        let got = sizes_by_image(cluster, uid).await;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

/// The whole life of a rollout through kubectl: create → `rollout status`;
/// a RollingUpdate (maxSurge 3 / maxUnavailable 2 on 10 replicas) where every
/// ReplicaSet state seen on a watch asks for at most 13 pods in all and every
/// pod state seen on a watch has at least 8 Ready; each new pod is created once,
/// and the rollout ends with every pod on the new image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailable_bounds() {
    let cluster = Cluster::start(2).await;
    cluster
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &deployment("api", 10, "api:1", json!(3), json!(2)),
        )
        .await
        .expect("create deployment");
    cluster.rollout_status("api").await;

    let pods = PodWatch::start(&cluster.client, "api", 8).await;
    let rss = RsWatch::start(&cluster.client, "api", 13).await;
    pods.arm();
    assert_eq!(pods.census().available(), 10);
    set_image(&cluster, "api", "api:2").await;
    cluster.rollout_status("api").await;
    eventually("10 Ready pods of api:2 and nothing else", || async {
        let c = pods.census();
        let by = c.live_by_image();
        if c.pods.len() == 10 && by.get("api:2") == Some(&(10, 10)) {
            Ok(())
        } else {
            Err(format!("{by:?}, {} pods", c.pods.len()))
        }
    })
    .await;
    let c = pods.census();
    let r = rss.census();
    let history = format!(
        "{}\nreplica sets:\n{}",
        c.history_before_failure(usize::MAX),
        r.history.join("\n")
    );
    assert_eq!(r.first_over, None, "surge bound broken");
    assert_eq!(r.max_total, 13, "the rollout used its surge");
    assert_eq!(c.first_under, None, "availability bound broken:\n{history}");
    assert_eq!(
        c.ever.get("api:2").map(|s| s.len()),
        Some(10),
        "each new pod created once:\n{history}"
    );
    assert_eq!(c.ever.get("api:1").map(|s| s.len()), Some(10));
    drop((pods, rss));
    cluster.stop().await;
}

/// `kubectl rollout history` lists each revision with its change cause,
/// `rollout undo` brings back the previous template as a new revision (the
/// old ReplicaSet is reused and records its earlier revision),
/// `undo --to-revision` picks one, and `rollout restart` replaces every pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_history_undo_and_restart_with_kubectl() {
    let cluster = Cluster::start(1).await;
    let mut manifest =
        serde_json::to_value(deployment("web", 3, "web:1", json!(1), json!(0))).expect("json");
    manifest["metadata"]["annotations"] = json!({"kubernetes.io/change-cause": "web:1"});
    kubectl_create(&cluster, "web.json", &manifest).await;
    cluster.rollout_status("web").await;
    patch(
        &cluster,
        "web",
        json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "web:2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}),
    )
    .await;
    cluster.rollout_status("web").await;

    let history = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let rev = w.next()?;
                rev.chars()
                    .all(|c| c.is_ascii_digit())
                    .then(|| (rev.to_string(), w.collect::<Vec<_>>().join(" ")))
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let (ok, out) = cluster
        .kubectl(&["rollout", "history", "deployment/web"])
        .await;
    assert!(ok, "rollout history: {out}");
    assert_eq!(
        history(&out),
        pairs(&[("1", "web:1"), ("2", "web:2")]),
        "{out}"
    );
    let (ok, out) = cluster
        .kubectl(&["rollout", "history", "deployment/web", "--revision=1"])
        .await;
    assert!(ok, "rollout history --revision=1: {out}");
    assert!(
        out.contains("revision #1") && out.contains("web:1") && !out.contains("Image:\tweb:2"),
        "{out}"
    );

    let d = cluster.api::<Deployment>().get("web").await.expect("get");
    let uid = d.uid().expect("uid");
    let rss = owned_rss(&cluster.api::<ReplicaSet>(), &uid).await;
    let first = rss
        .values()
        .find(|rs| rs_image(rs) == "web:1")
        .expect("revision 1's ReplicaSet")
        .name_any();

    // Undo: revision 1's template comes back as revision 3 on the same RS.
    let (ok, out) = cluster
        .kubectl(&["rollout", "undo", "deployment/web"])
        .await;
    assert!(ok, "rollout undo: {out}");
    assert!(out.contains("rolled back"), "{out}");
    cluster.rollout_status("web").await;
    let d = cluster.api::<Deployment>().get("web").await.expect("get");
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("3"));
    let template_image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers[0].image.clone());
    assert_eq!(template_image.as_deref(), Some("web:1"));
    let rs = cluster
        .api::<ReplicaSet>()
        .get(&first)
        .await
        .expect("first RS");
    assert_eq!(
        rs.annotations().get(REVISION).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        rs.annotations()
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("1")
    );
    wait_sizes(
        &cluster,
        &uid,
        &[("web:1", (3, 3, 3)), ("web:2", (0, 0, 0))],
    )
    .await;
    let pods = live_pods(&cluster, "web").await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| pod_image(p) == "web:1" && is_ready(p)));
    let (ok, out) = cluster
        .kubectl(&["rollout", "history", "deployment/web"])
        .await;
    assert!(ok, "{out}");
    assert_eq!(
        history(&out),
        pairs(&[("2", "web:2"), ("3", "web:1")]),
        "{out}"
    );

    // Undo to a chosen revision.
    let (ok, out) = cluster
        .kubectl(&["rollout", "undo", "deployment/web", "--to-revision=2"])
        .await;
    assert!(ok, "rollout undo --to-revision=2: {out}");
    cluster.rollout_status("web").await;
    wait_sizes(
        &cluster,
        &uid,
        &[("web:1", (0, 0, 0)), ("web:2", (3, 3, 3))],
    )
    .await;
    let (ok, out) = cluster
        .kubectl(&["rollout", "history", "deployment/web"])
        .await;
    assert!(ok, "{out}");
    assert_eq!(
        history(&out),
        pairs(&[("3", "web:1"), ("4", "web:2")]),
        "{out}"
    );

    // Restart: a new template (restartedAt), revision 5, every pod replaced.
    let before: Vec<String> = live_pods(&cluster, "web")
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    let (ok, out) = cluster
        .kubectl(&["rollout", "restart", "deployment/web"])
        .await;
    assert!(ok, "rollout restart: {out}");
    cluster.rollout_status("web").await;
    eventually("3 new Ready pods", || async {
        let now = live_pods(&cluster, "web").await;
        let fresh = now
            .iter()
            .filter(|p| is_ready(p) && !before.contains(&p.name_any()))
            .count();
        if now.len() == 3 && fresh == 3 {
            Ok(())
        } else {
            Err(format!("{} live, {fresh} new and Ready", now.len()))
        }
    })
    .await;
    let d = cluster.api::<Deployment>().get("web").await.expect("get");
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("5"));
    assert_eq!(owned_rss(&cluster.api::<ReplicaSet>(), &uid).await.len(), 3);
    cluster.stop().await;
}

/// Upstream's proportional-scaling acceptance case through `kubectl scale`:
/// 10 replicas, maxSurge 3, maxUnavailable 2 and a new image whose pods never
/// become Ready stop at old 8 / new 5; scaling to 30 gives old 20 / new 13,
/// back to 10 gives old 8 / new 5 again; a good image then completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_mid_rollout_scales_proportionally() {
    let cluster = Cluster::start(1).await;
    let d = cluster
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &deployment("prop", 10, "prop:1", json!(3), json!(2)),
        )
        .await
        .expect("create deployment");
    let uid = d.uid().expect("uid");
    cluster.rollout_status("prop").await;
    patch(
        &cluster,
        "prop",
        json!({"spec": {"template": {
            "metadata": {"annotations": {NEVER_READY: "1h"}},
            "spec": {"containers": [{"name": "c", "image": "prop:broken"}]}}}}),
    )
    .await;
    wait_sizes(
        &cluster,
        &uid,
        &[("prop:1", (8, 8, 8)), ("prop:broken", (5, 5, 0))],
    )
    .await;

    let (ok, out) = cluster
        .kubectl(&["scale", "deployment/prop", "--replicas=30"])
        .await;
    assert!(ok, "kubectl scale: {out}");
    wait_sizes(
        &cluster,
        &uid,
        &[("prop:1", (20, 20, 20)), ("prop:broken", (13, 13, 0))],
    )
    .await;
    let pods = live_pods(&cluster, "prop").await;
    assert_eq!(pods.len(), 33);
    assert_eq!(
        pods.iter().filter(|p| is_ready(p)).count(),
        20,
        "only the old pods are Ready"
    );

    let (ok, out) = cluster
        .kubectl(&["scale", "deployment/prop", "--replicas=10"])
        .await;
    assert!(ok, "kubectl scale: {out}");
    wait_sizes(
        &cluster,
        &uid,
        &[("prop:1", (8, 8, 8)), ("prop:broken", (5, 5, 0))],
    )
    .await;

    // A working image rolls over both.
    patch(
        &cluster,
        "prop",
        json!({"spec": {"template": {
            "metadata": {"annotations": {NEVER_READY: null}},
            "spec": {"containers": [{"name": "c", "image": "prop:2"}]}}}}),
    )
    .await;
    cluster.rollout_status("prop").await;
    wait_sizes(
        &cluster,
        &uid,
        &[
            ("prop:1", (0, 0, 0)),
            ("prop:broken", (0, 0, 0)),
            ("prop:2", (10, 10, 10)),
        ],
    )
    .await;
    cluster.stop().await;
}

/// `kubectl rollout pause`: a template change makes no new ReplicaSet while
/// scaling still applies (`Progressing` Unknown/`DeploymentPaused`);
/// `kubectl rollout resume` rolls out (`DeploymentResumed`, then
/// `NewReplicaSetAvailable`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_pause_holds_the_template_and_resume_rolls_out() {
    let cluster = Cluster::start(1).await;
    let d = cluster
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &deployment("pz", 4, "pz:1", json!(1), json!(0)),
        )
        .await
        .expect("create deployment");
    let uid = d.uid().expect("uid");
    cluster.rollout_status("pz").await;
    let log = ProgressingLog::start(&cluster.client, "pz").await;

    let (ok, out) = cluster
        .kubectl(&["rollout", "pause", "deployment/pz"])
        .await;
    assert!(ok, "rollout pause: {out}");
    eventually("Progressing Unknown/DeploymentPaused", || async {
        let d = cluster
            .api::<Deployment>()
            .get("pz")
            .await
            .map_err(|e| e.to_string())?;
        match condition(&d, "Progressing") {
            Some(c) if c.status == "Unknown" && c.reason.as_deref() == Some("DeploymentPaused") => {
                assert_eq!(c.message.as_deref(), Some("Deployment is paused"));
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    set_image(&cluster, "pz", "pz:2").await;
    let (ok, out) = cluster
        .kubectl(&["scale", "deployment/pz", "--replicas=6"])
        .await;
    assert!(ok, "kubectl scale: {out}");
    // Once the controller has observed the latest generation (template change
    // and scale), the one ReplicaSet has grown and none was created.
    eventually("the scale observed, the template held", || async {
        let d = cluster
            .api::<Deployment>()
            .get("pz")
            .await
            .map_err(|e| e.to_string())?;
        let observed = d.status.as_ref().and_then(|s| s.observed_generation);
        let sizes = sizes_by_image(&cluster, &uid).await;
        let want: BTreeMap<String, (i32, i32, i32)> = [("pz:1".to_string(), (6, 6, 6))].into();
        if observed == d.metadata.generation && sizes == want {
            Ok(())
        } else {
            Err(format!(
                "observed {observed:?} of {:?}, {sizes:?}",
                d.metadata.generation
            ))
        }
    })
    .await;
    let (ok, out) = cluster
        .kubectl(&["rollout", "status", "deployment/pz", "--watch=false"])
        .await;
    assert!(ok, "rollout status --watch=false: {out}");
    assert!(
        out.contains("0 out of 6 new replicas have been updated"),
        "{out}"
    );

    let (ok, out) = cluster
        .kubectl(&["rollout", "resume", "deployment/pz"])
        .await;
    assert!(ok, "rollout resume: {out}");
    cluster.rollout_status("pz").await;
    wait_sizes(&cluster, &uid, &[("pz:1", (0, 0, 0)), ("pz:2", (6, 6, 6))]).await;
    eventually("NewReplicaSetAvailable seen after the resume", || async {
        let reasons = log.reasons();
        let paused = reasons.iter().position(|r| r == "DeploymentPaused");
        let resumed = reasons.iter().position(|r| r == "DeploymentResumed");
        let done = reasons.iter().rposition(|r| r == "NewReplicaSetAvailable");
        match (paused, resumed, done) {
            (Some(p), Some(r), Some(d)) if p < r && r < d => Ok(()),
            _ => Err(format!("{reasons:?}")),
        }
    })
    .await;
    assert!(
        log.seen()
            .contains(&("Unknown".to_string(), "DeploymentResumed".to_string())),
        "{:?}",
        log.seen()
    );
    drop(log);
    cluster.stop().await;
}

/// A rollout whose pods never become Ready, with `progressDeadlineSeconds: 3`:
/// `Progressing` turns False/`ProgressDeadlineExceeded` and `kubectl rollout
/// status` fails with upstream's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let cluster = Cluster::start(1).await;
    let mut d = deployment("stuck", 2, "stuck:1", json!(1), json!(0));
    let spec = d.spec.as_mut().expect("spec");
    spec.progress_deadline_seconds = Some(3);
    spec.template
        .metadata
        .get_or_insert_default()
        .annotations
        .get_or_insert_default()
        .insert(NEVER_READY.into(), "1h".into());
    cluster
        .api::<Deployment>()
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let (ok, out) = cluster
        .kubectl(&["rollout", "status", "deployment/stuck", "--timeout=90s"])
        .await;
    assert!(!ok, "rollout status must fail: {out}");
    assert!(
        out.contains("error: deployment \"stuck\" exceeded its progress deadline"),
        "{out}"
    );
    let d = cluster.api::<Deployment>().get("stuck").await.expect("get");
    let c = condition(&d, "Progressing").expect("Progressing");
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    let rs = owned_rss(&cluster.api::<ReplicaSet>(), &d.uid().expect("uid")).await;
    let rs_name = rs.keys().next().expect("a replica set");
    assert_eq!(
        c.message,
        Some(format!(
            "ReplicaSet \"{rs_name}\" has timed out progressing."
        ))
    );
    let a = condition(&d, "Available").expect("Available");
    assert_eq!(
        (a.status.as_str(), a.reason.as_deref()),
        ("False", Some("MinimumReplicasUnavailable"))
    );
    let pods = live_pods(&cluster, "stuck").await;
    assert_eq!(pods.len(), 2, "the pods stay");
    assert!(pods.iter().all(|p| !is_ready(p)));
    cluster.stop().await;
}

/// Relabelling a pod with kubectl releases it from its ReplicaSet (which
/// replaces it); relabelling it back makes it adoptable again: the ReplicaSet
/// claims it and removes the surplus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabelled_pods_are_released_and_adopted_back() {
    let cluster = Cluster::start(1).await;
    cluster
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &deployment("rl", 3, "rl:1", json!(1), json!(0)),
        )
        .await
        .expect("create deployment");
    cluster.rollout_status("rl").await;
    let rs = cluster
        .api::<ReplicaSet>()
        .list(&ListParams::default().labels("app=rl"))
        .await
        .expect("rs")
        .items;
    assert_eq!(rs.len(), 1);
    let rs_uid = rs[0].uid().expect("uid");
    let pods = live_pods(&cluster, "rl").await;
    let target = pods[0].name_any();

    let (ok, out) = cluster
        .kubectl(&["label", "pod", &target, "app=released", "--overwrite"])
        .await;
    assert!(ok, "kubectl label: {out}");
    eventually("the pod released and replaced", || async {
        let p = cluster
            .api::<Pod>()
            .get(&target)
            .await
            .map_err(|e| e.to_string())?;
        let live = live_pods(&cluster, "rl").await;
        let owned = live
            .iter()
            .filter(|p| controller_uid(*p).as_deref() == Some(rs_uid.as_str()))
            .count();
        if controller_uid(&p).is_none() && live.len() == 3 && owned == 3 {
            Ok(())
        } else {
            Err(format!(
                "released pod owner {:?}, {} live, {owned} owned",
                controller_uid(&p),
                live.len()
            ))
        }
    })
    .await;

    // Back under the selector: the ReplicaSet adopts it and, with 4 pods,
    // deletes one. Only the ReplicaSet deletes pods here, and only pods it
    // controls, so the relabelled pod is either kept with the ReplicaSet as
    // its controller or gone after being adopted — never left an orphan.
    let (ok, out) = cluster
        .kubectl(&["label", "pod", &target, "app=rl", "--overwrite"])
        .await;
    assert!(ok, "kubectl label: {out}");
    eventually(
        "3 live pods, all the ReplicaSet's, the relabelled one adopted",
        || async {
            let live = live_pods(&cluster, "rl").await;
            let owned = live
                .iter()
                .filter(|p| controller_uid(*p).as_deref() == Some(rs_uid.as_str()))
                .count();
            let target_pod = cluster
                .api::<Pod>()
                .get_opt(&target)
                .await
                .map_err(|e| e.to_string())?;
            let target_ok = match &target_pod {
                Some(p) => controller_uid(p).as_deref() == Some(rs_uid.as_str()),
                None => true,
            };
            if live.len() == 3 && owned == 3 && target_ok {
                Ok(())
            } else {
                Err(format!(
                    "{} live, {owned} owned, relabelled pod owner {:?}",
                    live.len(),
                    target_pod.as_ref().map(controller_uid)
                ))
            }
        },
    )
    .await;
    if let Some(p) = cluster.api::<Pod>().get_opt(&target).await.expect("get") {
        let r = &p.owner_references()[0];
        assert_eq!(
            (r.kind.as_str(), r.controller, r.block_owner_deletion),
            ("ReplicaSet", Some(true), Some(true))
        );
    }
    cluster.stop().await;
}

/// `kubectl delete deployment` with each `--cascade`: background collects the
/// ReplicaSet and pods after the Deployment, foreground before it returns,
/// orphan leaves them running — and a new Deployment with the same template
/// adopts the orphaned ReplicaSet with its pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_with_each_cascade_mode() {
    let cluster = Cluster::start(1).await;
    let rss = cluster.api::<ReplicaSet>();
    for mode in ["background", "foreground", "orphan"] {
        let name = format!("del-{mode}");
        cluster
            .api::<Deployment>()
            .create(
                &PostParams::default(),
                &deployment(&name, 2, "del:1", json!(1), json!(0)),
            )
            .await
            .expect("create deployment");
        cluster.rollout_status(&name).await;
        let rs_name = rss
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .expect("rs")
            .items[0]
            .name_any();
        let pods_before: Vec<String> = live_pods(&cluster, &name)
            .await
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(pods_before.len(), 2);

        let (ok, out) = cluster
            .kubectl(&[
                "delete",
                "deployment",
                &name,
                &format!("--cascade={mode}"),
                "--timeout=90s",
            ])
            .await;
        assert!(ok, "kubectl delete --cascade={mode}: {out}");
        assert!(
            cluster
                .api::<Deployment>()
                .get_opt(&name)
                .await
                .expect("get")
                .is_none(),
            "{mode}: kubectl waited for the Deployment to go"
        );
        let all_pods = |name: String| {
            let pods = cluster.api::<Pod>();
            async move {
                pods.list(&ListParams::default().labels(&format!("app={name}")))
                    .await
                    .expect("pods")
                    .items
            }
        };
        match mode {
            "foreground" => {
                assert!(rss.get_opt(&rs_name).await.expect("get").is_none());
                assert!(all_pods(name.clone()).await.is_empty());
            }
            "background" => {
                eventually("ReplicaSet and pods collected", || async {
                    let rs = rss.get_opt(&rs_name).await.map_err(|e| e.to_string())?;
                    let pods = all_pods(name.clone()).await.len();
                    if rs.is_none() && pods == 0 {
                        Ok(())
                    } else {
                        Err(format!("rs {:?}, {pods} pods", rs.map(|r| r.name_any())))
                    }
                })
                .await
            }
            _ => {
                let rs = rss.get(&rs_name).await.expect("orphaned RS stays");
                assert!(rs.owner_references().is_empty());
                let rs_uid = rs.uid().expect("uid");
                let pods = live_pods(&cluster, &name).await;
                assert_eq!(pods.len(), 2, "its pods stay");
                assert!(
                    pods.iter()
                        .all(|p| controller_uid(p).as_deref() == Some(rs_uid.as_str()))
                );
                // The same Deployment again: it adopts the RS, no new pods.
                let d = cluster
                    .api::<Deployment>()
                    .create(
                        &PostParams::default(),
                        &deployment(&name, 2, "del:1", json!(1), json!(0)),
                    )
                    .await
                    .expect("create deployment again");
                let d_uid = d.uid().expect("uid");
                eventually("the orphaned RS adopted", || async {
                    let rs = rss.get(&rs_name).await.map_err(|e| e.to_string())?;
                    if controller_uid(&rs).as_deref() == Some(d_uid.as_str()) {
                        Ok(())
                    } else {
                        Err(format!("{:?}", rs.metadata.owner_references))
                    }
                })
                .await;
                cluster.rollout_status(&name).await;
                let mut now: Vec<String> = live_pods(&cluster, &name)
                    .await
                    .iter()
                    .map(|p| p.name_any())
                    .collect();
                now.sort();
                let mut before = pods_before.clone();
                before.sort();
                assert_eq!(now, before, "the same pods, adopted with their RS");
                assert_eq!(owned_rss(&rss, &d_uid).await.len(), 1);
            }
        }
    }
    cluster.stop().await;
}

/// Restart safety: the controllers are killed (their runtime dropped with
/// syncs in flight, as SIGKILL would) and restarted three times during the
/// image rollout of a 200-replica Deployment (maxSurge 20, maxUnavailable 10).
/// Every ReplicaSet state seen on a watch asks for at most 220 pods in all,
/// every pod state seen on a watch has at least 190 Ready; no pod is created
/// twice (200 new pod names in all, no old pod created during the rollout);
/// the rollout completes with one ReplicaSet of 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_controllers_mid_rollout_of_200_replicas_is_safe() {
    let mut cluster = Cluster::start(3).await;
    let d = cluster
        .api::<Deployment>()
        .create(
            &PostParams::default(),
            &deployment("big", 200, "big:1", json!(20), json!(10)),
        )
        .await
        .expect("create deployment");
    let uid = d.uid().expect("uid");
    cluster.rollout_status("big").await;

    let watch = PodWatch::start(&cluster.client, "big", 190).await;
    let rss = RsWatch::start(&cluster.client, "big", 220).await;
    watch.arm();
    let initial = watch.census();
    assert_eq!(initial.available(), 200);
    assert_eq!(initial.pods.len(), 200);
    set_image(&cluster, "big", "big:2").await;
    let mut killed_at = Vec::new();
    for threshold in [1, 60, 120] {
        let ready_new = eventually(&format!("{threshold} Ready pods of big:2"), || async {
            let n = watch
                .census()
                .live_by_image()
                .get("big:2")
                .map_or(0, |s| s.1);
            if n >= threshold {
                Ok(n)
            } else {
                Err(format!("{n}"))
            }
        })
        .await;
        cluster.kill_controllers().await;
        watch.note("controllers killed");
        killed_at.push(ready_new);
        cluster.start_controllers().await;
        watch.note("controllers started");
    }
    assert!(
        killed_at.iter().all(|n| *n < 200),
        "every kill happened mid-rollout: {killed_at:?}"
    );
    cluster.rollout_status("big").await;
    eventually("200 Ready pods of big:2 and nothing else", || async {
        let c = watch.census();
        let by = c.live_by_image();
        if c.pods.len() == 200 && by.get("big:2") == Some(&(200, 200)) {
            Ok(())
        } else {
            Err(format!("{by:?}, {} pods", c.pods.len()))
        }
    })
    .await;
    let c = watch.census();
    let r = rss.census();
    let tail = || {
        format!(
            "{}\nreplica sets:\n{}",
            c.history_before_failure(80),
            r.history[r.history.len().saturating_sub(60)..].join("\n")
        )
    };
    assert_eq!(r.first_over, None, "surge bound broken");
    assert_eq!(r.max_total, 220, "the rollout used its surge");
    assert_eq!(
        c.first_under,
        None,
        "availability bound broken; last states:\n{}",
        tail()
    );
    assert_eq!(
        c.ever.get("big:2").map(|s| s.len()),
        Some(200),
        "each new pod created once"
    );
    let old_pods = c.ever.get("big:1").cloned().unwrap_or_default();
    let first_listed: std::collections::BTreeSet<String> = initial.pods.keys().cloned().collect();
    let created: Vec<String> = c
        .history
        .iter()
        .filter(|l| {
            l.starts_with("---")
                || old_pods
                    .iter()
                    .any(|p| !first_listed.contains(p) && l.contains(p.as_str()))
        })
        .cloned()
        .collect();
    assert_eq!(
        old_pods.len(),
        200,
        "no old pod created during the rollout:\n{}\nreplica sets:\n{}",
        created.join("\n"),
        r.history.join("\n")
    );
    eprintln!(
        "restart test: killed with {killed_at:?} new pods Ready; at most {} live pods, \
         at least {:?} Ready",
        c.max_live, c.min_available
    );
    let d = cluster.api::<Deployment>().get("big").await.expect("get");
    let s = d.status.clone().expect("status");
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (Some(200), Some(200), Some(200), Some(200))
    );
    assert_eq!(s.observed_generation, d.metadata.generation);
    wait_sizes(
        &cluster,
        &uid,
        &[("big:1", (0, 0, 0)), ("big:2", (200, 200, 200))],
    )
    .await;
    drop((watch, rss));
    cluster.stop().await;
}

/// The JSON document kubectl printed, before the deprecation warning it writes
/// after it.
fn leading_json(out: &str) -> Result<serde_json::Value, String> {
    serde_json::Deserializer::from_str(out)
        .into_iter::<serde_json::Value>()
        .next()
        .ok_or_else(|| format!("no JSON in {out}"))?
        .map_err(|e| format!("{e}: {out}"))
}

/// The health `kubectl get componentstatuses` shows for the embedded control plane
/// (`name` → the `Healthy` condition's status).
async fn component_health(cluster: &Cluster) -> Result<BTreeMap<String, String>, String> {
    let (ok, out) = kubectl(&cluster.server, &["get", "componentstatuses", "-o", "json"]).await;
    if !ok {
        return Err(out);
    }
    let list = leading_json(&out)?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["metadata"]["name"].as_str().unwrap_or("").to_string();
            let healthy = c["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|cond| cond["type"] == "Healthy")
                .and_then(|cond| cond["status"].as_str())
                .unwrap_or("")
                .to_string();
            (name, healthy)
        })
        .collect())
}

/// The embedded scheduler and controllers hold kube-scheduler's and
/// kube-controller-manager's Leases while they run, as kind's do, so
/// `kubectl get componentstatuses` reports them healthy (upstream reads the
/// same Leases); once they stop, the released Leases make them unhealthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn componentstatuses_report_the_running_scheduler_and_controllers() {
    let cluster = Cluster::start(1).await;
    let healthy =
        |h: &BTreeMap<String, String>, name: &str| h.get(name).map(String::as_str) == Some("True");
    let health = eventually("scheduler and controller-manager healthy", || async {
        let h = component_health(&cluster).await?;
        (healthy(&h, "scheduler") && healthy(&h, "controller-manager"))
            .then_some(h.clone())
            .ok_or_else(|| format!("{h:?}"))
    })
    .await;
    assert!(healthy(&health, "etcd-0"), "{health:?}");
    let server = cluster.stop_control_plane().await;
    let (ok, out) = kubectl(&server, &["get", "componentstatuses", "-o", "json"]).await;
    assert!(ok, "{out}");
    let list = leading_json(&out).expect("json");
    for name in ["scheduler", "controller-manager"] {
        let item = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|c| c["metadata"]["name"] == name))
            .unwrap_or_else(|| panic!("{name} listed: {out}"));
        assert_eq!(
            item["conditions"][0]["status"], "False",
            "{name} after stop: {out}"
        );
    }
}
