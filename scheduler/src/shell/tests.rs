use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::*;
use crate::framework::StaticLister;
use crate::testing::*;

/// Records every write; binds fail for pods listed in `fail_binds` (once each).
#[derive(Default)]
struct FakeWriter {
    binds: Mutex<Vec<(String, String)>>,
    patches: Mutex<Vec<(String, Value)>>,
    deletes: Mutex<Vec<String>>,
    fail_binds: Mutex<Vec<String>>,
    pre_bind_writes: Mutex<Vec<crate::framework::PreBindWrite>>,
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

impl ApiWriter for Arc<FakeWriter> {
    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), WriteError> {
        let mut fail = self.fail_binds.lock();
        if let Some(i) = fail.iter().position(|n| *n == name(pod)) {
            fail.remove(i);
            return Err(WriteError::Api("conflict".into()));
        }
        self.binds.lock().push((name(pod), node.to_string()));
        Ok(())
    }
    async fn patch_pod_status(&self, pod: &Pod, patch: Value) -> Result<(), WriteError> {
        self.patches.lock().push((name(pod), patch));
        Ok(())
    }
    async fn delete_pod(&self, pod: &Pod) -> Result<(), WriteError> {
        self.deletes.lock().push(name(pod));
        Ok(())
    }
    async fn pre_bind_write(
        &self,
        write: &crate::framework::PreBindWrite,
    ) -> Result<String, WriteError> {
        self.pre_bind_writes.lock().push(write.clone());
        Ok("1".into())
    }
}

fn scheduler(writer: Arc<FakeWriter>) -> Arc<Scheduler<Arc<FakeWriter>>> {
    let cfg =
        KubeSchedulerConfiguration::from_yaml("profiles:\n- schedulerName: default-scheduler\n")
            .unwrap();
    Arc::new(
        Scheduler::new(
            &cfg,
            Arc::new(StaticLister::default()),
            writer,
            None,
            Some(7),
        )
        .unwrap(),
    )
}

/// Runs cycles while activeQ has pods, then waits for the writes.
async fn drain(s: &Arc<Scheduler<Arc<FakeWriter>>>) {
    while s.queue().pending_pods().active > 0 {
        s.schedule_one().await;
    }
    s.wait_for_writes().await;
}

fn bound_pod(pod: &Pod, node: &str) -> Pod {
    let mut p = pod.clone();
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p
}

#[tokio::test(start_paused = true)]
async fn many_pods_at_once_never_double_book_a_node() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    for i in 0..20 {
        s.on_node_add(
            NodeBuilder::new(&format!("n{i}"))
                .capacity("1", "4Gi", 110)
                .build(),
        );
    }
    // 60 pods of 300m: at most 3 per node fit; 60 fit exactly.
    for i in 0..60 {
        s.on_pod_add(
            PodBuilder::new(&format!("p{i}"))
                .container(&[("cpu", "300m")])
                .build(),
        );
    }
    drain(&s).await;
    let binds = w.binds.lock().clone();
    assert_eq!(binds.len(), 60);
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for (_, n) in &binds {
        *per_node.entry(n.clone()).or_default() += 1;
    }
    assert!(per_node.values().all(|c| *c <= 3), "{per_node:?}");
    // A 61st pod does not fit anywhere.
    s.on_pod_add(
        PodBuilder::new("extra")
            .container(&[("cpu", "300m")])
            .build(),
    );
    drain(&s).await;
    assert_eq!(w.binds.lock().len(), 60);
    let patches = w.patches.lock().clone();
    let (who, patch) = patches.last().unwrap();
    assert_eq!(who, "extra");
    assert_eq!(patch["status"]["conditions"][0]["reason"], "Unschedulable");
    assert_eq!(
        patch["status"]["conditions"][0]["message"],
        "0/20 nodes are available: 20 Insufficient cpu. preemption: 0/20 nodes are available: 20 No preemption victims found for incoming pod.."
    );
}

#[tokio::test(start_paused = true)]
async fn unschedulable_pod_is_retried_when_a_node_arrives() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    let runner = tokio::spawn(s.queue().clone().run());
    s.on_node_add(NodeBuilder::new("small").capacity("1", "1Gi", 110).build());
    s.on_pod_add(PodBuilder::new("big").container(&[("cpu", "2")]).build());
    drain(&s).await;
    assert!(w.binds.lock().is_empty());
    assert_eq!(s.queue().pending_pods().unschedulable, 1);
    // An unrelated node label change does not move it; a new node does.
    let old = NodeBuilder::new("small").capacity("1", "1Gi", 110).build();
    s.on_node_update(
        &old,
        NodeBuilder::new("small")
            .capacity("1", "1Gi", 110)
            .label("x", "y")
            .build(),
    );
    assert_eq!(s.queue().pending_pods().unschedulable, 1);
    s.on_node_add(NodeBuilder::new("large").capacity("8", "16Gi", 110).build());
    // It is still backing off (1 s); the queue's flush brings it back.
    let s2 = s.clone();
    tokio::time::timeout(Duration::from_secs(5), async move {
        while s2.queue().pending_pods().active == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    drain(&s).await;
    assert_eq!(
        w.binds.lock().as_slice(),
        [("big".to_string(), "large".to_string())]
    );
    s.queue().close();
    runner.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn preemption_deletes_victims_nominates_and_then_binds() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    let runner = tokio::spawn(s.queue().clone().run());
    s.on_node_add(NodeBuilder::new("n1").capacity("2", "4Gi", 110).build());
    let victim = bound_pod(
        &PodBuilder::new("low")
            .priority(1)
            .container(&[("cpu", "2")])
            .build(),
        "n1",
    );
    s.on_pod_add(victim.clone());
    s.on_pod_add(
        PodBuilder::new("high")
            .priority(1000)
            .container(&[("cpu", "2")])
            .build(),
    );
    drain(&s).await;
    assert_eq!(w.deletes.lock().as_slice(), ["low"]);
    let patches = w.patches.lock().clone();
    let victim_patch = patches.iter().find(|(n, _)| n == "low").unwrap();
    assert_eq!(
        victim_patch.1["status"]["conditions"][0]["type"],
        "DisruptionTarget"
    );
    let high_patch = patches.iter().find(|(n, _)| n == "high").unwrap();
    assert_eq!(high_patch.1["status"]["nominatedNodeName"], "n1");
    assert!(w.binds.lock().is_empty());
    // The victim's deletion arrives through the informer: the preemptor fits now.
    s.on_pod_delete(&victim);
    let s2 = s.clone();
    tokio::time::timeout(Duration::from_secs(5), async move {
        while s2.queue().pending_pods().active == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    drain(&s).await;
    assert_eq!(
        w.binds.lock().as_slice(),
        [("high".to_string(), "n1".to_string())]
    );
    s.queue().close();
    runner.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failed_binding_forgets_the_assumption_and_retries() {
    let w = Arc::new(FakeWriter::default());
    w.fail_binds.lock().push("p".into());
    let s = scheduler(w.clone());
    let runner = tokio::spawn(s.queue().clone().run());
    s.on_node_add(NodeBuilder::new("n1").capacity("1", "1Gi", 110).build());
    s.on_pod_add(PodBuilder::new("p").container(&[("cpu", "1")]).build());
    drain(&s).await;
    assert!(w.binds.lock().is_empty());
    assert_eq!(
        s.with_cache(|c| c.pod_count()),
        0,
        "the assumed pod was forgotten"
    );
    let s2 = s.clone();
    tokio::time::timeout(Duration::from_secs(5), async move {
        while s2.queue().pending_pods().active == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    drain(&s).await;
    assert_eq!(
        w.binds.lock().as_slice(),
        [("p".to_string(), "n1".to_string())]
    );
    assert!(s.with_cache(|c| c.is_assumed("p")));
    // The informer's update confirms the binding.
    let confirmed = bound_pod(
        &PodBuilder::new("p").container(&[("cpu", "1")]).build(),
        "n1",
    );
    s.on_pod_update(
        &PodBuilder::new("p").container(&[("cpu", "1")]).build(),
        confirmed,
    );
    assert!(!s.with_cache(|c| c.is_assumed("p")));
    s.queue().close();
    runner.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn pods_for_other_schedulers_and_terminal_pods_are_ignored() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    s.on_node_add(NodeBuilder::new("n1").build());
    let mut other = PodBuilder::new("other").build();
    other.spec.as_mut().unwrap().scheduler_name = Some("someone-else".into());
    s.on_pod_add(other);
    let mut done = bound_pod(
        &PodBuilder::new("done").container(&[("cpu", "4")]).build(),
        "n1",
    );
    done.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Succeeded".into()),
        ..Default::default()
    });
    s.on_pod_add(done);
    assert_eq!(s.queue().pending_pods(), Default::default());
    assert_eq!(s.with_cache(|c| c.pod_count()), 0);
}

/// A recorded request: method, path, content type, JSON body.
type Recorded = (String, String, String, Value);

/// KubeWriter's requests against a fake API server.
#[tokio::test]
async fn kube_writer_uses_the_binding_subresource_status_patch_and_delete() {
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let seen = log.clone();
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let seen = seen.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let ctype = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = req.into_body().collect_bytes().await.unwrap_or_default();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock()
                .push((method.clone(), path.clone(), ctype, json));
            let (status, body) = if path.ends_with("/binding") {
                (
                    StatusCode::CREATED,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}),
                )
            } else if path.contains("/pods/gone") {
                (
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "pods \"gone\" not found"}),
                )
            } else {
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}}),
                )
            };
            let resp = Response::builder()
                .status(status)
                .header("Content-Type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap_or_default();
            Ok::<_, Infallible>(resp)
        }
    });
    let w = KubeWriter::new(kube::Client::new(svc, "default"));
    let pod = PodBuilder::new("p").build();
    w.bind(&pod, "n1").await.unwrap();
    w.patch_pod_status(&pod, json!({"status": {"nominatedNodeName": "n1"}}))
        .await
        .unwrap();
    w.delete_pod(&pod).await.unwrap();
    let gone = PodBuilder::new("gone").build();
    assert!(matches!(
        w.delete_pod(&gone).await,
        Err(WriteError::NotFound(_))
    ));
    let log = log.lock().clone();
    assert_eq!(log[0].0, "POST");
    assert_eq!(log[0].1, "/api/v1/namespaces/default/pods/p/binding");
    assert_eq!(log[0].3["target"], json!({"kind": "Node", "name": "n1"}));
    assert_eq!(log[0].3["metadata"]["uid"], "p");
    assert_eq!(
        (log[1].0.as_str(), log[1].1.as_str()),
        ("PATCH", "/api/v1/namespaces/default/pods/p/status")
    );
    assert_eq!(log[1].2, "application/merge-patch+json");
    assert_eq!(
        (log[2].0.as_str(), log[2].1.as_str()),
        ("DELETE", "/api/v1/namespaces/default/pods/p")
    );
}

fn zone_nodes(s: &Arc<Scheduler<Arc<FakeWriter>>>, zones: usize, per_zone: usize) {
    for z in 0..zones {
        for i in 0..per_zone {
            let name = format!("z{z}-n{i}");
            s.on_node_add(
                NodeBuilder::new(&name)
                    .label("topology.kubernetes.io/zone", &format!("zone-{z}"))
                    .label("kubernetes.io/hostname", &name)
                    .build(),
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn topology_spread_keeps_zones_even() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    zone_nodes(&s, 3, 4);
    for i in 0..30 {
        s.on_pod_add(
            PodBuilder::new(&format!("web-{i}"))
                .label("app", "web")
                .container(&[("cpu", "10m")])
                .spread(
                    "topology.kubernetes.io/zone",
                    1,
                    "DoNotSchedule",
                    &[("app", "web")],
                )
                .build(),
        );
    }
    drain(&s).await;
    let binds = w.binds.lock().clone();
    assert_eq!(binds.len(), 30);
    let mut per_zone: HashMap<String, usize> = HashMap::new();
    for (_, n) in &binds {
        *per_zone
            .entry(n.split('-').next().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        per_zone.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([10])
    );
}

#[tokio::test(start_paused = true)]
async fn anti_affinity_places_one_per_host_and_explains_the_rest() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    zone_nodes(&s, 1, 5);
    for i in 0..6 {
        s.on_pod_add(
            PodBuilder::new(&format!("db-{i}"))
                .label("app", "db")
                .anti_affinity_required(&[("app", "db")], "kubernetes.io/hostname")
                .build(),
        );
    }
    drain(&s).await;
    let binds = w.binds.lock().clone();
    assert_eq!(binds.len(), 5);
    let hosts: BTreeSet<String> = binds.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(hosts.len(), 5);
    let patches = w.patches.lock().clone();
    let (_, patch) = patches.iter().find(|(n, _)| n == "db-5").unwrap();
    assert_eq!(
        patch["status"]["conditions"][0]["message"],
        "0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.."
    );
}

#[tokio::test(start_paused = true)]
async fn required_affinity_follows_the_first_pod() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    zone_nodes(&s, 3, 2);
    s.on_pod_add(PodBuilder::new("cache").label("app", "cache").build());
    drain(&s).await;
    let cache_node = w.binds.lock()[0].1.clone();
    let zone = cache_node.split('-').next().unwrap().to_string();
    for i in 0..6 {
        s.on_pod_add(
            PodBuilder::new(&format!("app-{i}"))
                .affinity_required(&[("app", "cache")], "topology.kubernetes.io/zone")
                .build(),
        );
    }
    drain(&s).await;
    let binds = w.binds.lock().clone();
    assert_eq!(binds.len(), 7);
    assert!(binds.iter().all(|(_, n)| n.starts_with(&zone)), "{binds:?}");
}

#[tokio::test(start_paused = true)]
async fn a_bound_claim_releases_the_pod_waiting_for_it() {
    let w = Arc::new(FakeWriter::default());
    let s = scheduler(w.clone());
    s.on_node_add(NodeBuilder::new("n1").build());
    s.on_pod_add(PodBuilder::new("p").pvc("data").build());
    drain(&s).await;
    assert_eq!(s.queue().pending_pods().unschedulable, 1);
    let patches = w.patches.lock().clone();
    assert_eq!(
        patches[0].1["status"]["conditions"][0]["message"],
        "0/1 nodes are available: persistentvolumeclaim \"data\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
    );
    // A pod being bound elsewhere does not concern VolumeBinding; a new claim does.
    s.queue().assigned_pod_added();
    assert_eq!(s.queue().pending_pods().unschedulable, 1);
    s.on_storage_event(EventResource::PersistentVolumeClaim, ActionType::ADD);
    assert_eq!(s.queue().pending_pods().unschedulable, 0);
}
