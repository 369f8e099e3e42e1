//! The ReplicaSet controller against the embedded API server: it creates and
//! deletes pods to match `spec.replicas`, adopts orphans, releases relabelled
//! pods, and writes the status (the test plays kubelet by marking pods Ready).

use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_controllers::replicaset::controller::{
    ReplicaSetController, ReplicaSetControllerConfig,
};
use capstan_runtime::informer::SharedInformerFactory;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

const NS: &str = "default";

/// Polls `check` until it returns `Some` or 30 s pass; panics with `what` and the
/// last observation otherwise.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: last seen {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

struct Harness {
    _server: TestServer,
    client: Client,
    factory: SharedInformerFactory,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    run: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(ReplicaSetControllerConfig::default()).await
    }

    async fn start_with(config: ReplicaSetControllerConfig) -> Self {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let factory = SharedInformerFactory::new(client.clone(), None);
        let controller = ReplicaSetController::<ReplicaSet>::new(&factory, client.clone(), &config)
            .expect("controller builds");
        factory.start().expect("informers start");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(async move {
            controller
                .run(async move {
                    let _ = rx.await;
                })
                .await
                .expect("controller runs");
        });
        Self {
            _server: server,
            client,
            factory,
            stop: Some(tx),
            run: Some(run),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(run) = self.run.take() {
            run.await.expect("controller task");
        }
        self.factory.shutdown().await;
    }
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("valid replica set")
}

fn controlled_by(pod: &Pod, uid: &str) -> bool {
    pod.owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid && r.kind == "ReplicaSet")
}

/// The live (not terminating) pods controlled by `uid`, from the API server.
async fn owned_pods(pods: &Api<Pod>, uid: &str) -> Vec<Pod> {
    pods.list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && controlled_by(p, uid))
        .collect()
}

async fn wait_for_owned(pods: &Api<Pod>, uid: &str, want: usize) -> Vec<Pod> {
    eventually(&format!("{want} pods owned by {uid}"), || async {
        let owned = owned_pods(pods, uid).await;
        if owned.len() == want {
            Ok(owned)
        } else {
            Err(format!("{} pods", owned.len()))
        }
    })
    .await
}

async fn scale(rss: &Api<ReplicaSet>, name: &str, replicas: i32) {
    rss.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .expect("scale replica set");
}

/// Marks a pod Running and Ready through the status subresource, as a kubelet would.
async fn mark_ready(pods: &Api<Pod>, name: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]
        }})),
    )
    .await
    .expect("mark pod ready");
}

#[tokio::test]
async fn replica_set_creates_scales_and_reports_status() {
    let h = Harness::start().await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), NS);

    let rs = rss
        .create(&PostParams::default(), &replica_set("web", 3))
        .await
        .expect("create replica set");
    let uid = rs.uid().expect("stored RS has a uid");
    let created = wait_for_owned(&pods, &uid, 3).await;
    for p in &created {
        let r = p
            .owner_references()
            .iter()
            .find(|r| r.uid == uid)
            .expect("owner reference");
        assert_eq!(r.block_owner_deletion, Some(true));
        assert_eq!(p.labels().get("app").map(String::as_str), Some("web"));
        assert!(
            p.name_any().starts_with("web-"),
            "generated name {}",
            p.name_any()
        );
    }

    // Upstream's events: one SuccessfulCreate per pod, reported by replicaset-controller.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(h.client.clone(), NS);
    eventually("SuccessfulCreate events", || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let created: Vec<_> = list
            .items
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("SuccessfulCreate")
                    && e.involved_object.name.as_deref() == Some("web")
                    && e.reporting_component.as_deref() == Some("replicaset-controller")
            })
            .collect();
        if created.len() == 3 {
            Ok(())
        } else {
            Err(format!("{} matching of {:?}", created.len(), list.items))
        }
    })
    .await;

    let status = eventually("status.replicas 3 at the current generation", || async {
        let rs = rss.get("web").await.map_err(|e| e.to_string())?;
        let s = rs.status.clone().unwrap_or_default();
        if s.replicas == 3 && s.observed_generation == rs.metadata.generation {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert_eq!(status.ready_replicas.unwrap_or(0), 0);
    assert_eq!(status.fully_labeled_replicas, Some(3));

    scale(&rss, "web", 5).await;
    wait_for_owned(&pods, &uid, 5).await;
    // Still exactly 5 once the controller has caught up (no double creation).
    eventually("status.replicas 5", || async {
        let s = rss.get("web").await.map_err(|e| e.to_string())?.status;
        match s {
            Some(s) if s.replicas == 5 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(owned_pods(&pods, &uid).await.len(), 5);

    // Two pods Ready: readyReplicas/availableReplicas follow (minReadySeconds 0).
    let names: Vec<String> = owned_pods(&pods, &uid)
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    mark_ready(&pods, &names[0]).await;
    mark_ready(&pods, &names[1]).await;
    eventually("two ready and available replicas", || async {
        let s = rss
            .get("web")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        if s.ready_replicas == Some(2) && s.available_replicas == Some(2) {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;

    scale(&rss, "web", 1).await;
    let left = wait_for_owned(&pods, &uid, 1).await;
    // Not-ready pods are deleted before ready ones (upstream's ranking).
    assert!(
        names[..2].contains(&left[0].name_any()),
        "a ready pod survives, got {}",
        left[0].name_any()
    );
    let status = eventually("status after scaling to 1", || async {
        let rs = rss.get("web").await.map_err(|e| e.to_string())?;
        let s = rs.status.clone().unwrap_or_default();
        if s.replicas == 1 && s.observed_generation == rs.metadata.generation {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert_eq!(status.ready_replicas, Some(1));
    assert_eq!(status.available_replicas, Some(1));
    h.stop().await;
}

#[tokio::test]
async fn replica_set_adopts_orphans_and_releases_relabelled_pods() {
    let h = Harness::start().await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), NS);

    // An orphan matching the selector exists before the RS: it is adopted and
    // counts towards the replicas, so only one more pod is created.
    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "orphan", "namespace": NS, "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    }))
    .expect("valid pod");
    pods.create(&PostParams::default(), &orphan)
        .await
        .expect("create orphan");
    let rs = rss
        .create(&PostParams::default(), &replica_set("api", 2))
        .await
        .expect("create replica set");
    let uid = rs.uid().expect("uid");
    let owned = wait_for_owned(&pods, &uid, 2).await;
    assert!(
        owned.iter().any(|p| p.name_any() == "orphan"),
        "the orphan was adopted: {:?}",
        owned.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );

    // Relabelling an owned pod out of the selector releases it, and a
    // replacement is created.
    pods.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "debug"}}})),
    )
    .await
    .expect("relabel");
    eventually("the relabelled pod is released", || async {
        let p = pods.get("orphan").await.map_err(|e| e.to_string())?;
        if controlled_by(&p, &uid) {
            Err("still controlled".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    let owned = wait_for_owned(&pods, &uid, 2).await;
    assert!(owned.iter().all(|p| p.name_any() != "orphan"));
    let released = pods.get("orphan").await.expect("released pod still exists");
    assert!(released.metadata.deletion_timestamp.is_none());

    // A pod controlled by someone else is never adopted, even when it matches.
    let foreign: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "foreign", "namespace": NS, "labels": {"app": "api"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "other", "uid": "00000000-0000-0000-0000-000000000001",
                "controller": true}]
        },
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    }))
    .expect("valid pod");
    pods.create(&PostParams::default(), &foreign)
        .await
        .expect("create foreign pod");
    scale(&rss, "api", 3).await;
    wait_for_owned(&pods, &uid, 3).await;
    let foreign = pods.get("foreign").await.expect("foreign pod");
    assert!(!controlled_by(&foreign, &uid));
    h.stop().await;
}

#[tokio::test]
async fn deleted_replica_set_is_forgotten_and_a_namesake_starts_fresh() {
    let h = Harness::start().await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), NS);
    let first = rss
        .create(&PostParams::default(), &replica_set("tmp", 2))
        .await
        .expect("create");
    let first_uid = first.uid().expect("uid");
    wait_for_owned(&pods, &first_uid, 2).await;
    rss.delete("tmp", &Default::default())
        .await
        .expect("delete RS");
    eventually("the RS is gone", || async {
        match rss.get_opt("tmp").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    // Without a garbage collector the pods remain, owned by a gone UID; a new
    // RS with the same name does not adopt them (they have a controller).
    let second = rss
        .create(&PostParams::default(), &replica_set("tmp", 1))
        .await
        .expect("recreate");
    let second_uid = second.uid().expect("uid");
    wait_for_owned(&pods, &second_uid, 1).await;
    assert_eq!(owned_pods(&pods, &first_uid).await.len(), 2);
    h.stop().await;
}

/// The controller judges availability (`minReadySeconds`) by the clock of its
/// configuration: with a clock two hours ahead, pods Ready since the real now are
/// available at once although `minReadySeconds` is an hour.
#[tokio::test]
async fn availability_is_judged_by_the_configured_clock() {
    use capstan_runtime::clock::FakeClock;
    let clock = FakeClock::new(
        k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_hours(2),
    );
    let h = Harness::start_with(ReplicaSetControllerConfig {
        clock: clock.shared(),
        ..ReplicaSetControllerConfig::default()
    })
    .await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), NS);
    let mut rs = replica_set("slow", 2);
    rs.spec.as_mut().expect("spec").min_ready_seconds = Some(3600);
    let uid = rss
        .create(&PostParams::default(), &rs)
        .await
        .expect("create replica set")
        .uid()
        .expect("uid");
    for p in wait_for_owned(&pods, &uid, 2).await {
        mark_ready(&pods, &p.name_any()).await;
    }
    eventually("both pods available by the fake clock", || async {
        let st = rss
            .get("slow")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        if st.ready_replicas == Some(2) && st.available_replicas == Some(2) {
            Ok(())
        } else {
            Err(format!("{st:?}"))
        }
    })
    .await;
    h.stop().await;
}
