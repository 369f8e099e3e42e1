//! The scheduler against a real HTTP API server (capstan-apiserver's `TestServer`):
//! informers feed it, pods are bound through `pods/binding`, failures set
//! `PodScheduled=False` and record `FailedScheduling`, and a new node wakes the
//! parked pod.

mod support;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use support::{Scheduler, bound_to, poll};

/// Creates a Ready node through the API, then writes its allocatable and
/// conditions through the status subresource (as a kubelet does).
async fn create_node(client: &Client, name: &str, cpu: &str, memory: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let resources = json!({"cpu": cpu, "memory": memory, "pods": "110"});
    nodes
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
            }})),
        )
        .await
        .unwrap();
}

async fn create_pod(client: &Client, name: &str, cpu: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": "default-scheduler",
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
}

fn pod_scheduled(pod: &Pod) -> Option<(String, Option<String>, Option<String>)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn events_for(client: &Client, pod: &str, reason: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some(reason)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_unschedulable_pods_are_reported_and_a_new_node_wakes_them() {
    let server = support::test_server().await;
    let client = server.client().await;
    for i in 0..3 {
        create_node(&client, &format!("node-{i}"), "4", "8Gi").await;
    }

    let scheduler = Scheduler::start(&client);

    for i in 0..6 {
        create_pod(&client, &format!("web-{i}"), "500m").await;
    }
    // Served by another scheduler: left alone.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut other: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other"},
        "spec": {"schedulerName": "someone-else",
                 "containers": [{"name": "app", "image": "pause"}]},
    }))
    .unwrap();
    other = pods.create(&PostParams::default(), &other).await.unwrap();

    let all = poll(
        "all six pods bound",
        async || pods.list(&ListParams::default()).await.unwrap().items,
        |items| {
            items
                .iter()
                .filter(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("web-"))
                })
                .filter(|p| bound_to(p).is_some())
                .count()
                == 6
        },
    )
    .await;
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for p in all
        .iter()
        .filter(|p| p.metadata.name.as_deref() != Some("other"))
    {
        let node = bound_to(p).unwrap();
        assert!(node.starts_with("node-"), "bound to a real node: {node}");
        *per_node.entry(node).or_default() += 1;
        let name = p.metadata.name.clone().unwrap();
        let cond = poll(
            "PodScheduled=True",
            async || pod_scheduled(&pods.get(&name).await.unwrap()),
            |c| c.as_ref().is_some_and(|c| c.0 == "True"),
        )
        .await;
        assert_eq!(cond.unwrap().0, "True");
        let scheduled = poll(
            "Scheduled event",
            async || events_for(&client, &name, "Scheduled").await,
            |e| !e.is_empty(),
        )
        .await;
        assert_eq!(
            scheduled[0].message.as_deref(),
            Some(
                format!(
                    "Successfully assigned default/{name} to {}",
                    bound_to(p).unwrap()
                )
                .as_str()
            )
        );
    }
    // LeastAllocated + balanced allocation spread six equal pods over three equal nodes.
    assert_eq!(
        per_node.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2]
    );

    // More cpu than any node has.
    create_pod(&client, "big", "6").await;
    let (status, reason, message) = poll(
        "big pod reported unschedulable",
        async || pod_scheduled(&pods.get("big").await.unwrap()),
        |c| c.as_ref().is_some_and(|c| c.0 == "False"),
    )
    .await
    .unwrap();
    assert_eq!(status, "False");
    assert_eq!(reason.as_deref(), Some("Unschedulable"));
    let message = message.unwrap();
    assert!(
        message.starts_with("0/3 nodes are available: 3 Insufficient cpu."),
        "message: {message}"
    );
    let failed = poll(
        "FailedScheduling event",
        async || events_for(&client, "big", "FailedScheduling").await,
        |e| !e.is_empty(),
    )
    .await;
    assert_eq!(failed[0].type_.as_deref(), Some("Warning"));
    // Reported under the profile's scheduler name, as upstream's per-profile recorders.
    assert_eq!(
        failed[0].reporting_component.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(
        failed[0]
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("default-scheduler")
    );
    assert!(
        failed[0]
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("0/3 nodes are available: 3 Insufficient cpu.")
    );
    assert!(bound_to(&pods.get("big").await.unwrap()).is_none());

    // A node big enough appears: the parked pod is moved back and bound to it.
    create_node(&client, "big-node", "16", "32Gi").await;
    let big = poll(
        "big pod bound after the node arrived",
        async || pods.get("big").await.unwrap(),
        |p| bound_to(p).is_some(),
    )
    .await;
    assert_eq!(bound_to(&big).as_deref(), Some("big-node"));
    let cond = poll(
        "PodScheduled=True for the big pod",
        async || pod_scheduled(&pods.get("big").await.unwrap()),
        |c| c.as_ref().is_some_and(|c| c.0 == "True"),
    )
    .await;
    assert_eq!(cond.unwrap().0, "True");

    // The other scheduler's pod was never touched.
    let other_now = pods.get("other").await.unwrap();
    assert!(bound_to(&other_now).is_none());
    assert_eq!(
        other_now.metadata.resource_version,
        other.metadata.resource_version
    );

    scheduler.stop().await;
}

/// Pods bound by someone else count on their node; deleting one is a cluster event
/// that moves the parked pod back, and it lands in the freed slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_bound_elsewhere_count_and_their_deletion_wakes_parked_pods() {
    let server = support::test_server().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    create_node(&client, "small", "8", "16Gi").await;
    nodes
        .patch_status(
            "small",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"allocatable": {"pods": "2"}, "capacity": {"pods": "2"}}}),
            ),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let manual: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "manual"},
        "spec": {"nodeName": "small", "containers": [{"name": "app", "image": "pause"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &manual).await.unwrap();

    let scheduler = Scheduler::start(&client);

    create_pod(&client, "first", "100m").await;
    poll(
        "first pod bound",
        async || pods.get("first").await.unwrap(),
        |p| bound_to(p).is_some(),
    )
    .await;
    create_pod(&client, "second", "100m").await;
    let (_, reason, message) = poll(
        "second pod reported unschedulable",
        async || pod_scheduled(&pods.get("second").await.unwrap()),
        |c| c.as_ref().is_some_and(|c| c.0 == "False"),
    )
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("Unschedulable"));
    // Upstream's shape, including DefaultPreemption's part and its double period.
    assert_eq!(
        message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: \
             1 No preemption victims found for incoming pod.."
        )
    );

    // A bound pod is deleted gracefully: it keeps its room until the final delete
    // (the kubelet's, with grace 0) removes it.
    pods.delete("manual", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = pods.get("manual").await;
    if let Ok(p) = &terminating {
        assert!(p.metadata.deletion_timestamp.is_some());
        assert_eq!(
            pod_scheduled(&pods.get("second").await.unwrap()).map(|c| c.0),
            Some("False".to_string()),
            "a terminating pod still holds its slot"
        );
        pods.delete("manual", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }
    let second = poll(
        "second pod bound after the manual pod left",
        async || pods.get("second").await.unwrap(),
        |p| bound_to(p).is_some(),
    )
    .await;
    assert_eq!(bound_to(&second).as_deref(), Some("small"));

    scheduler.stop().await;
}

/// Many pods arriving at once on a few hundred nodes: every node ends up exactly
/// full, never over-committed (assumed pods count from the moment they are
/// assumed), and the one pod too many is reported unschedulable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pods_fills_nodes_exactly_without_double_booking() {
    const NODES: usize = 200;
    let server = support::test_server().await;
    let client = server.client().await;
    for i in 0..NODES {
        // Room for exactly two 500m pods each.
        create_node(&client, &format!("n{i:03}"), "1", "8Gi").await;
    }
    let scheduler = Scheduler::start(&client);
    for i in 0..2 * NODES + 1 {
        create_pod(&client, &format!("p{i:03}"), "500m").await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let items = poll(
        "every pod bound or reported",
        async || pods.list(&ListParams::default()).await.unwrap().items,
        |items| {
            items
                .iter()
                .filter(|p| {
                    bound_to(p).is_some() || pod_scheduled(p).is_some_and(|c| c.0 == "False")
                })
                .count()
                == 2 * NODES + 1
        },
    )
    .await;
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    let mut unschedulable = Vec::new();
    for p in &items {
        match bound_to(p) {
            Some(n) => *per_node.entry(n).or_default() += 1,
            None => unschedulable.push(p.metadata.name.clone().unwrap()),
        }
    }
    assert_eq!(per_node.len(), NODES, "every node used");
    let reported: Vec<_> = items
        .iter()
        .filter(|p| bound_to(p).is_none())
        .map(|p| (p.metadata.name.clone(), pod_scheduled(p)))
        .collect();
    assert!(
        per_node.values().all(|&n| n == 2),
        "no node over- or under-filled: {:?}; not bound: {reported:?}",
        per_node
            .iter()
            .filter(|(_, n)| **n != 2)
            .collect::<Vec<_>>()
    );
    assert_eq!(unschedulable.len(), 1, "exactly one pod left over");
    let left = pods.get(&unschedulable[0]).await.unwrap();
    let message = pod_scheduled(&left).and_then(|c| c.2).unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "0/{NODES} nodes are available: {NODES} Insufficient cpu."
        )),
        "message: {message}"
    );

    scheduler.stop().await;
}

/// A pod waiting on a missing claim is parked; the claim's creation (bound to a
/// volume pinned to one node) is a cluster event that requeues it, and it lands on
/// the volume's node — read through the informer-backed lister.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_created_later_wakes_the_pod_and_its_volume_picks_the_node() {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

    let server = support::test_server().await;
    let client = server.client().await;
    create_node(&client, "n1", "4", "8Gi").await;
    create_node(&client, "n2", "4", "8Gi").await;
    let scheduler = Scheduler::start(&client);

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"},
        "spec": {"schedulerName": "default-scheduler",
                 "containers": [{"name": "app", "image": "pause",
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let (_, reason, message) = poll(
        "db reported unschedulable",
        async || pod_scheduled(&pods.get("db").await.unwrap()),
        |c| c.as_ref().is_some_and(|c| c.0 == "False"),
    )
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("Unschedulable"));
    assert!(
        message
            .as_deref()
            .unwrap_or("")
            .starts_with("0/2 nodes are available: persistentvolumeclaim \"data\" not found."),
        "message: {message:?}"
    );

    let pv: PersistentVolume = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "hostPath": {"path": "/tmp/pv1"}, "storageClassName": "",
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}},
    }))
    .unwrap();
    Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &pv)
        .await
        .unwrap();
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": "pv1",
                 "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .unwrap();
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pvc)
        .await
        .unwrap();

    let db = poll(
        "db bound once its claim exists",
        async || pods.get("db").await.unwrap(),
        |p| bound_to(p).is_some(),
    )
    .await;
    assert_eq!(bound_to(&db).as_deref(), Some("n2"), "the volume's node");

    scheduler.stop().await;
}
