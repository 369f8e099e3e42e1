//! ReplicationControllers in a `capstan up`-like setup — the API server, the
//! controllers, the scheduler and the sim node agent in one process — driven by
//! the real `/usr/bin/kubectl`, after upstream's `test/e2e/apps/rc.go`: apply,
//! `kubectl get rc` columns, `kubectl scale rc` up and down, adoption of a
//! matching bare pod and its release when relabelled, and deletion with
//! `--cascade=orphan` and with the default cascade.

mod support;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::ResourceExt;
use support::*;

/// A ReplicationController manifest: `replicas` pods of `rc:1` labelled
/// `app=<name>`, its selector left for the API server to default from the
/// template's labels.
fn manifest(name: &str, replicas: i32) -> String {
    format!(
        "apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
spec:
  replicas: {replicas}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: rc:1
"
    )
}

/// `kubectl apply -f` of `yaml` written under the server's directory.
async fn apply(cluster: &Cluster, file: &str, yaml: &str) {
    let path = cluster.server.dir().join(file);
    std::fs::write(&path, yaml).expect("write manifest");
    let (ok, out) = cluster
        .kubectl(&["apply", "-f", path.to_str().expect("utf-8 path")])
        .await;
    assert!(ok, "kubectl apply -f {file}: {out}");
}

/// Waits until the RC `name` controls exactly `n` live pods, all Ready, and its
/// status says so for its current generation; returns the pods.
async fn settled(cluster: &Cluster, name: &str, n: usize) -> Vec<Pod> {
    let rcs = cluster.api::<ReplicationController>();
    eventually(&format!("{name}: {n} ready pods reported"), || async {
        let rc = rcs.get(name).await.map_err(|e| e.to_string())?;
        let uid = rc.uid().unwrap_or_default();
        let pods = live_pods(cluster, name).await;
        let owned = pods
            .iter()
            .filter(|p| controller_uid(*p).as_deref() == Some(uid.as_str()))
            .count();
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let st = rc.status.clone().unwrap_or_default();
        let want = i32::try_from(n).unwrap_or(i32::MAX);
        if pods.len() == n
            && owned == n
            && ready == n
            && st.replicas == want
            && st.ready_replicas.unwrap_or(0) == want
            && st.available_replicas.unwrap_or(0) == want
            && st.fully_labeled_replicas.unwrap_or(0) == want
            && st.observed_generation == rc.metadata.generation
        {
            Ok(pods)
        } else {
            Err(format!(
                "{} live, {owned} owned, {ready} ready, status {st:?}, generation {:?}",
                pods.len(),
                rc.metadata.generation
            ))
        }
    })
    .await
}

/// Waits until the pod `bare` satisfies `check` (`what` names it).
async fn bare_pod_until(cluster: &Cluster, what: &str, check: impl Fn(&Pod) -> bool) {
    eventually(&format!("the bare pod {what}"), || async {
        let p = cluster
            .api::<Pod>()
            .get("bare")
            .await
            .map_err(|e| e.to_string())?;
        if check(&p) {
            Ok(())
        } else {
            Err(format!(
                "{:?}, {:?}",
                p.metadata.owner_references,
                p.status.map(|s| s.phase)
            ))
        }
    })
    .await;
}

/// The whitespace-separated cells of the line of `kubectl get` output naming
/// `name`, and the header's.
fn row(out: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = out.lines();
    let header = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let row = lines
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in {out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (header, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_get_and_scale_a_replication_controller() {
    let cluster = Cluster::start(1).await;
    apply(&cluster, "web.yaml", &manifest("web", 3)).await;
    let pods = settled(&cluster, "web", 3).await;
    for p in &pods {
        let r = &p.owner_references()[0];
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str(), r.name.as_str()),
            ("v1", "ReplicationController", "web")
        );
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(p.name_any().starts_with("web-"), "{}", p.name_any());
    }

    let (ok, out) = cluster.kubectl(&["get", "rc", "web"]).await;
    assert!(ok, "kubectl get rc: {out}");
    let (header, cells) = row(&out, "web");
    assert_eq!(header, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(cells[..4], ["web", "3", "3", "3"]);
    let (ok, out) = cluster.kubectl(&["get", "rc", "web", "-o", "wide"]).await;
    assert!(ok, "kubectl get rc -o wide: {out}");
    let (header, cells) = row(&out, "web");
    assert_eq!(
        header,
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(cells[5..], ["main", "rc:1", "app=web"]);

    let (ok, out) = cluster
        .kubectl(&["scale", "rc", "web", "--replicas=5"])
        .await;
    assert!(ok, "kubectl scale up: {out}");
    assert!(out.contains("replicationcontroller/web scaled"), "{out}");
    let grown = settled(&cluster, "web", 5).await;
    let before: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    assert!(
        before
            .iter()
            .all(|n| grown.iter().any(|p| &p.name_any() == n)),
        "scaling up keeps the first pods"
    );

    let (ok, out) = cluster
        .kubectl(&["scale", "rc", "web", "--replicas=1"])
        .await;
    assert!(ok, "kubectl scale down: {out}");
    settled(&cluster, "web", 1).await;
    let (ok, out) = cluster.kubectl(&["get", "rc", "web"]).await;
    assert!(ok, "{out}");
    assert_eq!(row(&out, "web").1[..4], ["web", "1", "1", "1"]);

    // The controller reported what it did on the RC.
    let (ok, out) = cluster
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=ReplicationController,involvedObject.name=web",
            "-o",
            "custom-columns=REASON:.reason,SOURCE:.source.component",
        ])
        .await;
    assert!(ok, "kubectl get events: {out}");
    for reason in ["SuccessfulCreate", "SuccessfulDelete"] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [reason, "replication-controller"]),
            "{reason} from replication-controller in {out}"
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_release_and_deletion_cascades() {
    let cluster = Cluster::start(1).await;
    // A bare pod matching the selector, before the RC exists: adopted, and only
    // one more pod is created.
    let (ok, out) = cluster
        .kubectl(&["run", "bare", "--image=rc:1", "--labels=app=adopt"])
        .await;
    assert!(ok, "kubectl run: {out}");
    bare_pod_until(&cluster, "Ready", is_ready).await;
    apply(&cluster, "adopt.yaml", &manifest("adopt", 2)).await;
    let pods = settled(&cluster, "adopt", 2).await;
    let rc_uid = cluster
        .api::<ReplicationController>()
        .get("adopt")
        .await
        .expect("rc")
        .uid()
        .expect("uid");
    let bare = pods
        .iter()
        .find(|p| p.name_any() == "bare")
        .expect("the bare pod is one of the two, adopted");
    let r = &bare.owner_references()[0];
    assert_eq!(
        (
            r.kind.as_str(),
            r.uid.as_str(),
            r.controller,
            r.block_owner_deletion
        ),
        (
            "ReplicationController",
            rc_uid.as_str(),
            Some(true),
            Some(true)
        )
    );

    // Relabelled out of the selector: released (no controller reference left)
    // and replaced.
    let (ok, out) = cluster
        .kubectl(&["label", "pod", "bare", "app=released", "--overwrite"])
        .await;
    assert!(ok, "kubectl label: {out}");
    bare_pod_until(&cluster, "released", |p| controller_uid(p).is_none()).await;
    let replaced = settled(&cluster, "adopt", 2).await;
    assert!(replaced.iter().all(|p| p.name_any() != "bare"));

    // --cascade=orphan: the RC goes, its pods stay without an owner.
    let (ok, out) = cluster
        .kubectl(&["delete", "rc", "adopt", "--cascade=orphan", "--timeout=90s"])
        .await;
    assert!(ok, "kubectl delete --cascade=orphan: {out}");
    let rcs = cluster.api::<ReplicationController>();
    assert!(rcs.get_opt("adopt").await.expect("get").is_none());
    let kept: Vec<String> = replaced.iter().map(|p| p.name_any()).collect();
    eventually("orphaned pods kept, owner references removed", || async {
        let live = live_pods(&cluster, "adopt").await;
        let mut names: Vec<String> = live.iter().map(|p| p.name_any()).collect();
        names.sort();
        let mut want = kept.clone();
        want.sort();
        let owned = live
            .iter()
            .filter(|p| !p.owner_references().is_empty())
            .count();
        if names == want && owned == 0 {
            Ok(())
        } else {
            Err(format!("{names:?} live, {owned} still owned"))
        }
    })
    .await;

    // The default cascade (background): the RC's pods are collected after it.
    apply(&cluster, "gone.yaml", &manifest("gone", 2)).await;
    settled(&cluster, "gone", 2).await;
    let (ok, out) = cluster
        .kubectl(&["delete", "rc", "gone", "--timeout=90s"])
        .await;
    assert!(ok, "kubectl delete rc: {out}");
    eventually("the RC's pods collected", || async {
        let pods = cluster
            .api::<Pod>()
            .list(&kube::api::ListParams::default().labels("app=gone"))
            .await
            .map_err(|e| e.to_string())?
            .items;
        if pods.is_empty() {
            Ok(())
        } else {
            Err(format!("{} pods left", pods.len()))
        }
    })
    .await;
    // The orphans were not touched by it.
    assert_eq!(live_pods(&cluster, "adopt").await.len(), 2);
    cluster.stop().await;
}
