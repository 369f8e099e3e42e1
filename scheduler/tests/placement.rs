//! Placement rules end to end on a few hundred nodes: the scheduler against a real
//! HTTP API server (capstan-apiserver's `TestServer`) with 300 nodes in three zones —
//! taints and tolerations, required pod affinity and anti-affinity, topology spread
//! evenness, and preemption honouring a PodDisruptionBudget with `nominatedNodeName`.
//! Each failure is checked against upstream's `PodScheduled` message.

use std::collections::{BTreeMap, BTreeSet};
mod support;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use support::{Scheduler, bound_to, poll};

const NODES: usize = 300;
const ZONES: usize = 3;
const ZONE_KEY: &str = "topology.kubernetes.io/zone";

fn node_name(i: usize) -> String {
    format!("n{i:03}")
}

fn zone_of(i: usize) -> String {
    format!("zone-{}", i % ZONES)
}

/// Creates `NODES` Ready nodes (4 cpu, 16Gi, 110 pods) in `ZONES` zones; `extra(i)`
/// returns more labels and the taints of node `i`.
async fn create_nodes(client: &Client, extra: impl Fn(usize) -> (Value, Value)) {
    let nodes: Api<Node> = Api::all(client.clone());
    let specs: Vec<(String, Node)> = (0..NODES)
        .map(|i| {
            let name = node_name(i);
            let (labels, taints) = extra(i);
            let mut all = json!({"kubernetes.io/hostname": name, ZONE_KEY: zone_of(i)});
            if let (Some(all), Some(more)) = (all.as_object_mut(), labels.as_object()) {
                all.extend(more.clone());
            }
            let node = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": all},
                "spec": {"taints": taints},
            }))
            .unwrap();
            (name, node)
        })
        .collect();
    futures::stream::iter(specs)
        .for_each_concurrent(16, |(name, node)| {
            let nodes = nodes.clone();
            async move {
                nodes.create(&PostParams::default(), &node).await.unwrap();
                let resources = json!({"cpu": "4", "memory": "16Gi", "pods": "110"});
                nodes
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": {
                            "capacity": resources,
                            "allocatable": resources,
                            "conditions": [{"type": "Ready", "status": "True",
                                "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                        }})),
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
}

/// Creates the pod `name` labelled `app`, requesting `cpu`, with `spec` merged into
/// its spec.
async fn create_pod(client: &Client, name: &str, app: &str, cpu: &str, spec: Value) {
    let mut pod_spec = json!({
        "schedulerName": "default-scheduler",
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}],
    });
    if let (Some(base), Some(more)) = (pod_spec.as_object_mut(), spec.as_object()) {
        base.extend(more.clone());
    }
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": pod_spec,
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

fn unschedulable_message(pod: &Pod) -> Option<String> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
    c.message.clone()
}

/// Pods labelled `app`, once each is bound or reported unschedulable.
async fn settled(client: &Client, app: &str, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels(&format!("app={app}"));
    poll(
        &format!("{count} pods of app={app} bound or reported"),
        async || pods.list(&lp).await.unwrap().items,
        |items| {
            items.len() == count
                && items
                    .iter()
                    .all(|p| bound_to(p).is_some() || unschedulable_message(p).is_some())
        },
    )
    .await
}

fn index_of(node: &str) -> usize {
    node.trim_start_matches('n').parse().unwrap()
}

/// 295 of 300 nodes carry `dedicated=infra:NoSchedule`: plain pods land on the five
/// others, tolerating pods may use the tainted ones, and a pod selecting only tainted
/// nodes without tolerating them gets upstream's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_keep_pods_off_nodes_unless_tolerated() {
    let server = support::test_server().await;
    let client = server.client().await;
    let tainted = |i: usize| i >= 5;
    create_nodes(&client, |i| {
        if tainted(i) {
            (
                json!({"dedicated": "infra"}),
                json!([{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]),
            )
        } else {
            (json!({}), json!([]))
        }
    })
    .await;
    let scheduler = Scheduler::start(&client);

    for i in 0..20 {
        create_pod(&client, &format!("plain-{i}"), "plain", "100m", json!({})).await;
    }
    let toleration = json!({"tolerations": [{"key": "dedicated", "operator": "Equal",
        "value": "infra", "effect": "NoSchedule"}], "nodeSelector": {"dedicated": "infra"}});
    for i in 0..5 {
        create_pod(
            &client,
            &format!("infra-{i}"),
            "infra",
            "100m",
            toleration.clone(),
        )
        .await;
    }
    create_pod(
        &client,
        "intruder",
        "intruder",
        "100m",
        json!({"nodeSelector": {"dedicated": "infra"}}),
    )
    .await;

    for p in settled(&client, "plain", 20).await {
        let node = bound_to(&p).expect("plain pods fit on untainted nodes");
        assert!(!tainted(index_of(&node)), "{node} is tainted");
    }
    for p in settled(&client, "infra", 5).await {
        let node = bound_to(&p).expect("tolerating pods fit");
        assert!(tainted(index_of(&node)), "{node} is not tainted");
    }
    let intruder = settled(&client, "intruder", 1).await.remove(0);
    assert_eq!(bound_to(&intruder), None);
    assert_eq!(
        unschedulable_message(&intruder).as_deref(),
        Some(
            "0/300 nodes are available: 295 node(s) had untolerated taint {dedicated: infra}, \
             5 node(s) didn't match Pod's node affinity/selector. preemption: 0/300 nodes are \
             available: 300 Preemption is not helpful for scheduling.."
        )
    );
    scheduler.stop().await;
}

/// Required pod affinity follows an anchor pod into its zone; required anti-affinity
/// puts one pod per host, and one per zone until the zones run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_affinity_and_anti_affinity_on_hundreds_of_nodes() {
    let server = support::test_server().await;
    let client = server.client().await;
    create_nodes(&client, |_| (json!({}), json!([]))).await;
    let scheduler = Scheduler::start(&client);

    create_pod(
        &client,
        "anchor",
        "anchor",
        "100m",
        json!({"nodeSelector": {"kubernetes.io/hostname": node_name(7)}}),
    )
    .await;
    settled(&client, "anchor", 1).await;
    let follow = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "anchor"}}, "topologyKey": ZONE_KEY}]}}});
    for i in 0..12 {
        create_pod(
            &client,
            &format!("follower-{i}"),
            "follower",
            "100m",
            follow.clone(),
        )
        .await;
    }
    let anti = |key: &str, app: &str| {
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}})
    };
    for i in 0..30 {
        create_pod(
            &client,
            &format!("solo-{i}"),
            "solo",
            "100m",
            anti("kubernetes.io/hostname", "solo"),
        )
        .await;
    }
    for i in 0..4 {
        create_pod(
            &client,
            &format!("zonal-{i}"),
            "zonal",
            "100m",
            anti(ZONE_KEY, "zonal"),
        )
        .await;
    }

    let anchor_zone = zone_of(7);
    for p in settled(&client, "follower", 12).await {
        let node = bound_to(&p).expect("followers fit in the anchor's zone");
        assert_eq!(zone_of(index_of(&node)), anchor_zone, "{node}");
    }
    let solo_nodes: BTreeSet<String> = settled(&client, "solo", 30)
        .await
        .iter()
        .map(|p| bound_to(p).expect("30 hosts are free for 30 solo pods"))
        .collect();
    assert_eq!(solo_nodes.len(), 30, "one solo pod per host");

    let zonal = settled(&client, "zonal", 4).await;
    let zones: BTreeSet<String> = zonal
        .iter()
        .filter_map(bound_to)
        .map(|n| zone_of(index_of(&n)))
        .collect();
    assert_eq!(zones.len(), 3, "three zonal pods, one per zone");
    let left: Vec<&Pod> = zonal.iter().filter(|p| bound_to(p).is_none()).collect();
    assert_eq!(left.len(), 1, "the fourth zonal pod has no zone left");
    assert_eq!(
        unschedulable_message(left[0]).as_deref(),
        Some(
            "0/300 nodes are available: 300 node(s) didn't match pod anti-affinity rules. \
             preemption: 0/300 nodes are available: 300 No preemption victims found for \
             incoming pod.."
        )
    );
    scheduler.stop().await;
}

/// `DoNotSchedule` over zones keeps 60 pods exactly even (20 per zone) and
/// `ScheduleAnyway` over hosts spreads them one per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_keeps_zones_even_on_hundreds_of_nodes() {
    let server = support::test_server().await;
    let client = server.client().await;
    create_nodes(&client, |_| (json!({}), json!([]))).await;
    let scheduler = Scheduler::start(&client);

    let spread = json!({"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "spread"}}},
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": {"app": "spread"}}},
    ]});
    for i in 0..60 {
        create_pod(
            &client,
            &format!("spread-{i}"),
            "spread",
            "100m",
            spread.clone(),
        )
        .await;
    }
    let mut per_zone = BTreeMap::<String, usize>::new();
    let mut per_node = BTreeMap::<String, usize>::new();
    for p in settled(&client, "spread", 60).await {
        let node = bound_to(&p).expect("every spread pod fits");
        *per_zone.entry(zone_of(index_of(&node))).or_default() += 1;
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(
        per_zone.values().copied().collect::<Vec<_>>(),
        [20, 20, 20],
        "{per_zone:?}"
    );
    assert!(
        per_node.values().all(|&n| n == 1),
        "one pod per host: {per_node:?}"
    );
    scheduler.stop().await;
}

/// A high-priority pod that fits nowhere preempts: of the two nodes it may use, the
/// one whose single victim is protected by a PodDisruptionBudget is avoided even though
/// the other needs two victims; the pod is nominated there, the victims get
/// `DisruptionTarget` and a `Preempted` event, and once they are gone it is bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_avoids_pdb_violations_and_nominates_the_node() {
    let server = support::test_server().await;
    let client = server.client().await;
    create_nodes(&client, |i| {
        if i < 2 {
            (json!({"pool": "tiny"}), json!([]))
        } else {
            (json!({}), json!([]))
        }
    })
    .await;
    let pc: PriorityClass = serde_json::from_value(json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000,
    }))
    .unwrap();
    Api::<PriorityClass>::all(client.clone())
        .create(&PostParams::default(), &pc)
        .await
        .unwrap();
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "protected"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "protected"}}},
    }))
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    // What the disruption controller would report for one healthy pod of minAvailable 1.
    pdbs.patch_status(
        "protected",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"currentHealthy": 1, "desiredHealthy": 1,
            "expectedPods": 1, "disruptionsAllowed": 0, "observedGeneration": 1}})),
    )
    .await
    .unwrap();

    let scheduler = Scheduler::start(&client);
    let on = |i: usize| json!({"nodeSelector": {"kubernetes.io/hostname": node_name(i)}});
    create_pod(&client, "protected", "protected", "3500m", on(0)).await;
    create_pod(&client, "plain-a", "plain", "1750m", on(1)).await;
    create_pod(&client, "plain-b", "plain", "1750m", on(1)).await;
    settled(&client, "protected", 1).await;
    settled(&client, "plain", 2).await;

    create_pod(
        &client,
        "vip",
        "vip",
        "3",
        json!({"priorityClassName": "high", "nodeSelector": {"pool": "tiny"}}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let vip = poll(
        "vip nominated",
        async || pods.get("vip").await.unwrap(),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.nominated_node_name.as_deref())
                .is_some()
        },
    )
    .await;
    assert_eq!(
        vip.status.and_then(|s| s.nominated_node_name).as_deref(),
        Some(node_name(1).as_str()),
        "the node without PDB violations"
    );

    // The victims are marked and deleted; as the kubelet would, finish their deletion.
    for victim in ["plain-a", "plain-b"] {
        let p = poll(
            &format!("{victim} marked and being deleted"),
            async || pods.get_opt(victim).await.unwrap(),
            |p| {
                p.as_ref().is_none_or(|p| {
                    p.metadata.deletion_timestamp.is_some()
                        && p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| {
                                cs.iter().any(|c| {
                                    c.type_ == "DisruptionTarget"
                                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                                })
                            })
                })
            },
        )
        .await;
        if p.is_some() {
            let _ = pods
                .delete(victim, &DeleteParams::default().grace_period(0))
                .await;
        }
    }
    let vip = poll(
        "vip bound",
        async || pods.get("vip").await.unwrap(),
        |p| bound_to(p).is_some(),
    )
    .await;
    assert_eq!(bound_to(&vip), Some(node_name(1)));
    let protected = pods.get("protected").await.unwrap();
    assert!(
        protected.metadata.deletion_timestamp.is_none(),
        "the PDB-protected pod is spared"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let preempted: BTreeSet<String> = poll(
        "Preempted events",
        async || {
            events
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("Preempted"))
                .filter_map(|e| e.involved_object.name)
                .collect::<BTreeSet<_>>()
        },
        |names| names.len() == 2,
    )
    .await;
    assert_eq!(
        preempted,
        BTreeSet::from(["plain-a".to_string(), "plain-b".to_string()])
    );
    scheduler.stop().await;
}
