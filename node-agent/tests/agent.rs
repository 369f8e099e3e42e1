//! The node agent against a real HTTP API server (capstan-apiserver's `TestServer`):
//! pools become Ready Nodes with renewed Leases, follow the scale subresource, and pods
//! bound to their nodes run and are cleaned up on deletion.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_node_agent::heartbeat::HeartbeatConfig;
use capstan_node_agent::node::is_ready;
use capstan_node_agent::{NodeAgentConfig, NodePool, NodePoolSpec, run_node_agent};
use capstan_runtime::errors::is_not_found;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::CustomResourceExt;
use kube::{Api, Client, ResourceExt};
use support::eventually;
use tokio_util::sync::CancellationToken;

struct Agent {
    client: Client,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _server: TestServer,
}

impl Agent {
    async fn start(heartbeat: HeartbeatConfig) -> Agent {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &NodePool::crd())
            .await
            .expect("CRD created");
        let pools: Api<NodePool> = Api::all(client.clone());
        eventually("the NodePool kind to be served", || {
            let pools = pools.clone();
            async move { pools.list(&ListParams::default()).await.ok().map(|_| ()) }
        })
        .await;
        let stop = CancellationToken::new();
        let config = NodeAgentConfig {
            heartbeat,
            ..NodeAgentConfig::default()
        };
        let task = tokio::spawn({
            let (client, stop) = (client.clone(), stop.clone());
            async move {
                run_node_agent(client, config, stop.cancelled_owned())
                    .await
                    .expect("agent runs");
            }
        });
        Agent {
            client,
            stop,
            task,
            _server: server,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("agent task joins");
    }
}

async fn ready_nodes(client: &Client) -> BTreeSet<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(is_ready)
                .map(|n| n.name_any())
                .collect()
        })
        .unwrap_or_default()
}

fn names(pool: &str, n: u32) -> BTreeSet<String> {
    (0..n).map(|i| format!("{pool}-{i}")).collect()
}

#[tokio::test]
async fn pool_becomes_ready_nodes_with_renewed_leases_and_follows_scale() {
    let agent = Agent::start(HeartbeatConfig {
        lease_renew_interval: Duration::from_millis(200),
        ..HeartbeatConfig::default()
    })
    .await;
    let client = agent.client.clone();
    let pools: Api<NodePool> = Api::all(client.clone());
    pools
        .create(
            &PostParams::default(),
            &NodePool::new("pool", NodePoolSpec::sim(3)),
        )
        .await
        .unwrap();

    eventually("3 Ready nodes", || {
        let client = client.clone();
        async move { (ready_nodes(&client).await == names("pool", 3)).then_some(()) }
    })
    .await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get("pool-1").await.unwrap();
    assert_eq!(node.labels()["kubernetes.io/hostname"], "pool-1");
    let status = node.status.unwrap();
    assert_eq!(status.addresses.unwrap()[0].address, "10.244.1.1");
    assert_eq!(status.node_info.unwrap().kubelet_version, "v1.33.0");
    assert_eq!(
        node.spec.unwrap().pod_cidr.as_deref(),
        Some("10.244.1.0/24")
    );

    // Leases exist for every node and are renewed.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renew_time = |l: &Lease| {
        l.spec
            .as_ref()
            .and_then(|s| s.renew_time.clone())
            .map(|t| t.0)
    };
    let first = eventually("3 leases", || {
        let leases = leases.clone();
        async move {
            let list = leases.list(&ListParams::default()).await.ok()?;
            let got: BTreeSet<String> = list.items.iter().map(|l| l.name_any()).collect();
            (got == names("pool", 3)).then(|| {
                list.items
                    .iter()
                    .map(|l| (l.name_any(), renew_time(l)))
                    .collect::<Vec<_>>()
            })
        }
    })
    .await;
    eventually("every lease renewed", || {
        let (leases, first) = (leases.clone(), first.clone());
        async move {
            for (name, before) in &first {
                let now = renew_time(&leases.get(name).await.ok()?);
                if now <= *before {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    let lease = leases.get("pool-0").await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("pool-0")
    );
    assert_eq!(lease.metadata.owner_references.unwrap()[0].kind, "Node");

    // Scale through the scale subresource: up to 5, then down to 2.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (replicas, want) in [(5, 5), (2, 2)] {
        if want == 2 {
            pods.create(&PostParams::default(), &pod("on-4", "pool-4"))
                .await
                .unwrap();
            eventually("pod on pool-4 running", || {
                let pods = pods.clone();
                async move {
                    let s = pods.get("on-4").await.ok()?.status?;
                    (s.phase.as_deref() == Some("Running")).then_some(())
                }
            })
            .await;
        }
        pools
            .patch_scale(
                "pool",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await
            .unwrap();
        eventually(&format!("{want} nodes"), || {
            let client = client.clone();
            async move {
                let nodes: Api<Node> = Api::all(client.clone());
                let all: BTreeSet<String> = nodes
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items
                    .iter()
                    .map(|n| n.name_any())
                    .collect();
                (all == names("pool", want) && ready_nodes(&client).await == all).then_some(())
            }
        })
        .await;
    }
    eventually("leases of removed nodes deleted and status.nodes 2", || {
        let (leases, pools) = (leases.clone(), pools.clone());
        async move {
            let got: BTreeSet<String> = leases
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .map(|l| l.name_any())
                .collect();
            let scale = pools.get_scale("pool").await.ok()?;
            (got == names("pool", 2) && scale.status?.replicas == 2).then_some(())
        }
    })
    .await;

    eventually("the pod of the removed node deleted", || {
        let pods = pods.clone();
        async move {
            match pods.get("on-4").await {
                Err(e) if is_not_found(&e) => Some(()),
                _ => None,
            }
        }
    })
    .await;

    // Deleting the pool deletes its nodes.
    pools
        .delete("pool", &DeleteParams::default())
        .await
        .unwrap();
    eventually("no nodes", || {
        let nodes = nodes.clone();
        async move {
            nodes
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        }
    })
    .await;
    agent.stop().await;
}

fn pod(name: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_string()),
            containers: vec![Container {
                name: "app".to_string(),
                image: Some("nginx:1.27".to_string()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn bound_pod_runs_ready_with_an_ip_and_is_removed_on_delete() {
    let agent = Agent::start(HeartbeatConfig::default()).await;
    let client = agent.client.clone();
    let pools: Api<NodePool> = Api::all(client.clone());
    pools
        .create(
            &PostParams::default(),
            &NodePool::new("sim", NodePoolSpec::sim(1)),
        )
        .await
        .unwrap();
    eventually("node ready", || {
        let client = client.clone();
        async move { (ready_nodes(&client).await == names("sim", 1)).then_some(()) }
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("web", "sim-0"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("web2", "sim-0"))
        .await
        .unwrap();
    let running = |name: &'static str| {
        let pods = pods.clone();
        async move {
            eventually(&format!("{name} running and ready"), || {
                let pods = pods.clone();
                async move {
                    let p = pods.get(name).await.ok()?;
                    let s = p.status.clone()?;
                    let ready = s
                        .conditions
                        .as_ref()?
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    (s.phase.as_deref() == Some("Running") && ready).then_some(s)
                }
            })
            .await
        }
    };
    let web = running("web").await;
    let web2 = running("web2").await;
    assert_eq!(web.host_ip.as_deref(), Some("10.244.0.1"));
    let ips: BTreeSet<_> = [web.pod_ip.clone().unwrap(), web2.pod_ip.clone().unwrap()].into();
    assert_eq!(
        ips,
        BTreeSet::from(["10.244.0.2".to_string(), "10.244.0.3".to_string()]),
        "distinct addresses from the node's range"
    );
    let cs = &web.container_statuses.unwrap()[0];
    assert!(cs.ready && cs.started == Some(true));
    assert_eq!(cs.restart_count, 0);
    assert!(cs.state.as_ref().unwrap().running.is_some());
    assert!(cs.container_id.as_deref().unwrap().starts_with("sim://"));
    assert!(web.start_time.is_some());

    pods.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("web removed", || {
        let pods = pods.clone();
        async move {
            match pods.get("web").await {
                Err(e) if is_not_found(&e) => Some(()),
                _ => None,
            }
        }
    })
    .await;
    agent.stop().await;
}

async fn pod_status_where(
    pods: &Api<Pod>,
    name: &str,
    what: &str,
    pred: impl Fn(&k8s_openapi::api::core::v1::PodStatus) -> bool,
) -> k8s_openapi::api::core::v1::PodStatus {
    eventually(what, || {
        let pods = pods.clone();
        let pred = &pred;
        let name = name.to_string();
        async move {
            let s = pods.get(&name).await.ok()?.status?;
            pred(&s).then_some(s)
        }
    })
    .await
}

fn condition(s: &k8s_openapi::api::core::v1::PodStatus, type_: &str) -> Option<String> {
    s.conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

async fn one_node_pool(client: &Client, pool: &str) {
    let pools: Api<NodePool> = Api::all(client.clone());
    pools
        .create(
            &PostParams::default(),
            &NodePool::new(pool, NodePoolSpec::sim(1)),
        )
        .await
        .unwrap();
    eventually("node ready", || {
        let client = client.clone();
        let want = names(pool, 1);
        async move { (ready_nodes(&client).await == want).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn readiness_delay_and_run_to_completion_pods() {
    let agent = Agent::start(HeartbeatConfig::default()).await;
    let client = agent.client.clone();
    one_node_pool(&client, "sim").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // A readiness probe with initialDelaySeconds: Running at once, Ready only later.
    let mut slow = pod("slow", "sim-0");
    slow.spec.as_mut().unwrap().containers[0].readiness_probe =
        Some(k8s_openapi::api::core::v1::Probe {
            initial_delay_seconds: Some(2),
            ..Default::default()
        });
    pods.create(&PostParams::default(), &slow).await.unwrap();
    let first = pod_status_where(&pods, "slow", "slow running", |s| {
        s.phase.as_deref() == Some("Running")
    })
    .await;
    assert_eq!(condition(&first, "Ready").as_deref(), Some("False"));
    assert_eq!(
        condition(&first, "ContainersReady").as_deref(),
        Some("False")
    );
    let ready = pod_status_where(&pods, "slow", "slow ready", |s| {
        condition(s, "Ready").as_deref() == Some("True")
    })
    .await;
    let started = ready.start_time.unwrap().0;
    let ready_at = ready
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .unwrap()
        .0;
    assert!(
        ready_at.duration_since(started).as_secs_f64() >= 2.0,
        "ready {ready_at} before the 2 s delay after start {started}"
    );

    // Run-to-completion pods: `command: ["true"]` succeeds; the exit-code annotation
    // with restartPolicy Never fails with that code.
    let mut ok = pod("job-ok", "sim-0");
    ok.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    ok.spec.as_mut().unwrap().containers[0].command = Some(vec!["true".into()]);
    pods.create(&PostParams::default(), &ok).await.unwrap();
    let mut bad = pod("job-bad", "sim-0");
    bad.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    bad.metadata.annotations =
        Some([("capstan.dev/exit-code".to_string(), "3".to_string())].into());
    pods.create(&PostParams::default(), &bad).await.unwrap();
    let done = pod_status_where(&pods, "job-ok", "job-ok succeeded", |s| {
        s.phase.as_deref() == Some("Succeeded")
    })
    .await;
    let term = done.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    // `capstan.dev/run-for`: Running first, Succeeded after the duration.
    let mut timed = pod("job-timed", "sim-0");
    timed.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
    timed.metadata.annotations =
        Some([("capstan.dev/run-for".to_string(), "1s".to_string())].into());
    pods.create(&PostParams::default(), &timed).await.unwrap();
    pod_status_where(&pods, "job-timed", "job-timed running", |s| {
        s.phase.as_deref() == Some("Running")
    })
    .await;
    let timed_done = pod_status_where(&pods, "job-timed", "job-timed succeeded", |s| {
        s.phase.as_deref() == Some("Succeeded")
    })
    .await;
    let term = timed_done.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    let ran = term
        .finished_at
        .unwrap()
        .0
        .duration_since(term.started_at.unwrap().0);
    assert!(ran.as_secs_f64() >= 1.0, "ran only {ran:?}");

    let failed = pod_status_where(&pods, "job-bad", "job-bad failed", |s| {
        s.phase.as_deref() == Some("Failed")
    })
    .await;
    let term = failed.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.exit_code, 3);
    agent.stop().await;
}

#[tokio::test]
async fn virtual_taint_and_periodic_status_reposts() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &NodePool::crd())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let config = NodeAgentConfig {
        nodes: capstan_node_agent::node::NodeOptions {
            virtual_taint: true,
            ..Default::default()
        },
        heartbeat: HeartbeatConfig {
            lease_renew_interval: Duration::from_millis(100),
            status_report_interval: Duration::from_millis(300),
            ..HeartbeatConfig::default()
        },
        ..NodeAgentConfig::default()
    };
    let task = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { run_node_agent(client, config, stop.cancelled_owned()).await }
    });
    one_node_pool(&client, "virt").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get("virt-0").await.unwrap();
    let taints = node.spec.clone().unwrap().taints.unwrap();
    assert!(
        taints.iter().any(|t| t.key == "capstan.dev/virtual"
            && t.value.as_deref() == Some("true")
            && t.effect == "NoSchedule"),
        "taints: {taints:?}"
    );
    let heartbeat = |n: &Node| {
        n.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .last_heartbeat_time
            .clone()
            .map(|t| t.0)
    };
    let first = heartbeat(&node);
    eventually("node status re-posted with a newer heartbeat", || {
        let nodes = nodes.clone();
        async move { (heartbeat(&nodes.get("virt-0").await.ok()?) > first).then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn restarted_agent_adopts_nodes_and_keeps_pod_addresses() {
    let agent = Agent::start(HeartbeatConfig::default()).await;
    let client = agent.client.clone();
    one_node_pool(&client, "keep").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("a", "keep-0"))
        .await
        .unwrap();
    let a = pod_status_where(&pods, "a", "a running", |s| s.pod_ip.is_some()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let uid_before = nodes.get("keep-0").await.unwrap().uid();

    // Stop the agent and start another one on the same cluster.
    let Agent {
        client: _,
        stop,
        task,
        _server,
    } = agent;
    stop.cancel();
    task.await.unwrap();
    // A pod bound while no agent runs: at restart it must not get `a`'s address.
    pods.create(&PostParams::default(), &pod("b", "keep-0"))
        .await
        .unwrap();
    // The new agent serves the kubelet API: the adopted node says where.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let config = NodeAgentConfig {
        kubelet: Some(
            capstan_node_agent::KubeletServerConfig::self_signed(
                std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                None,
                "token".into(),
            )
            .unwrap(),
        ),
        ..NodeAgentConfig::default()
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { run_node_agent(client, config, stop.cancelled_owned()).await }
    });
    let b = pod_status_where(&pods, "b", "b running", |s| s.pod_ip.is_some()).await;
    assert_ne!(
        a.pod_ip, b.pod_ip,
        "the new pod must not reuse a live pod's address"
    );
    assert_eq!(
        nodes.get("keep-0").await.unwrap().uid(),
        uid_before,
        "the node is adopted, not recreated"
    );
    eventually("the node publishes the kubelet API", || {
        let nodes = nodes.clone();
        async move {
            let status = nodes.get("keep-0").await.ok()?.status?;
            let ip = status.addresses?.first()?.address.clone();
            let p = status.daemon_endpoints?.kubelet_endpoint?.port;
            (ip == "127.0.0.1" && p == i32::from(port)).then_some(())
        }
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn pool_changes_reach_existing_nodes() {
    let agent = Agent::start(HeartbeatConfig::default()).await;
    let client = agent.client.clone();
    one_node_pool(&client, "edit").await;
    let pools: Api<NodePool> = Api::all(client.clone());
    pools
        .patch(
            "edit",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "labels": {"tier": "gold"},
                "taints": [{"key": "dedicated", "value": "gold", "effect": "NoSchedule"}],
            }})),
        )
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    eventually(
        "node follows the pool's capacity, labels and taints",
        || {
            let nodes = nodes.clone();
            async move {
                let n = nodes.get("edit-0").await.ok()?;
                let cpu = n.status.as_ref()?.capacity.as_ref()?.get("cpu")?.0.clone();
                let alloc = n
                    .status
                    .as_ref()?
                    .allocatable
                    .as_ref()?
                    .get("memory")?
                    .0
                    .clone();
                let tier = n.labels().get("tier").cloned();
                let taint = n.spec.as_ref()?.taints.as_ref()?.first()?.key.clone();
                (cpu == "8"
                    && alloc == "32Gi"
                    && tier.as_deref() == Some("gold")
                    && taint == "dedicated"
                    && is_ready(&n))
                .then_some(())
            }
        },
    )
    .await;
    agent.stop().await;
}

/// The taint keys on node `name`, with their effects, once it is readable.
async fn taints_of(nodes: &Api<Node>, name: &str) -> Option<BTreeSet<String>> {
    let n = nodes.get(name).await.ok()?;
    Some(
        n.spec?
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect(),
    )
}

#[tokio::test]
async fn taints_the_pool_does_not_declare_are_left_alone() {
    let agent = Agent::start(HeartbeatConfig::default()).await;
    let client = agent.client.clone();
    one_node_pool(&client, "own").await;
    let pools: Api<NodePool> = Api::all(client.clone());
    let set_pool_taint = |key: &'static str| {
        let pools = pools.clone();
        async move {
            pools
                .patch(
                    "own",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"spec": {
                        "taints": [{"key": key, "value": "x", "effect": "NoSchedule"}],
                    }})),
                )
                .await
                .unwrap();
        }
    };
    set_pool_taint("pool-a").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let want = |keys: &[&str]| -> BTreeSet<String> { keys.iter().map(|k| k.to_string()).collect() };
    eventually(
        "the pool's taint, and no not-ready taint on a Ready node",
        || {
            let nodes = nodes.clone();
            let want = want(&["pool-a:NoSchedule"]);
            async move { (taints_of(&nodes, "own-0").await? == want).then_some(()) }
        },
    )
    .await;
    // What `kubectl taint` and `kubectl cordon` write.
    let node = nodes.get("own-0").await.unwrap();
    let mut taints = node.spec.clone().unwrap().taints.unwrap();
    taints.push(k8s_openapi::api::core::v1::Taint {
        key: "dedicated".into(),
        value: Some("db".into()),
        effect: "NoExecute".into(),
        time_added: None,
    });
    nodes
        .patch(
            "own-0",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"taints": taints, "unschedulable": true}})),
        )
        .await
        .unwrap();
    // The pool's taint changes: the agent swaps its own and keeps the user's.
    set_pool_taint("pool-b").await;
    eventually("the pool's new taint beside the user's", || {
        let nodes = nodes.clone();
        let want = want(&["dedicated:NoExecute", "pool-b:NoSchedule"]);
        async move { (taints_of(&nodes, "own-0").await? == want).then_some(()) }
    })
    .await;
    let node = nodes.get("own-0").await.unwrap();
    assert_eq!(
        node.spec.unwrap().unschedulable,
        Some(true),
        "still cordoned"
    );
    agent.stop().await;
}

/// A node's `Ready` condition: status and reason.
fn node_ready(n: &Node) -> Option<(String, String)> {
    let c = n
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test]
async fn stopped_heartbeats_leave_node_and_pods_to_the_lifecycle_controller_until_resumed() {
    let report = Duration::from_millis(300);
    let renew = Duration::from_millis(100);
    let agent = Agent::start(HeartbeatConfig {
        lease_renew_interval: renew,
        status_report_interval: report,
        ..HeartbeatConfig::default()
    })
    .await;
    let client = agent.client.clone();
    one_node_pool(&client, "quiet").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("web", "quiet-0"))
        .await
        .unwrap();
    pod_status_where(&pods, "web", "pod Ready", |s| {
        condition(s, "Ready").as_deref() == Some("True")
    })
    .await;

    let annotate = |value: Option<&str>| {
        let nodes = nodes.clone();
        let patch =
            serde_json::json!({"metadata": {"annotations": {"capstan.dev/heartbeat": value}}});
        async move {
            nodes
                .patch("quiet-0", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .unwrap();
        }
    };
    annotate(Some("stopped")).await;
    let renewed_ago = || {
        let leases = leases.clone();
        async move {
            let lease = leases.get("quiet-0").await.ok()?;
            let at = lease.spec?.renew_time?.0;
            Some(k8s_openapi::jiff::Timestamp::now().duration_since(at))
        }
    };
    eventually("the Lease no longer renewed", || {
        let renewed_ago = renewed_ago();
        async move {
            let ago = renewed_ago.await?;
            (ago > k8s_openapi::jiff::SignedDuration::try_from(renew * 10).unwrap()).then_some(())
        }
    })
    .await;

    // What the node lifecycle controller writes for a silent node.
    let node = nodes.get("quiet-0").await.unwrap();
    let mut conditions = node.status.clone().unwrap().conditions.unwrap();
    for c in &mut conditions {
        c.status = "Unknown".into();
        c.reason = Some("NodeStatusUnknown".into());
        c.message = Some("Kubelet stopped posting node status.".into());
    }
    nodes
        .patch_status(
            "quiet-0",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"conditions": conditions}})),
        )
        .await
        .unwrap();
    let unreachable = serde_json::json!([
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
    ]);
    nodes
        .patch(
            "quiet-0",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"taints": unreachable}})),
        )
        .await
        .unwrap();
    let mut status = pods.get("web").await.unwrap().status.unwrap();
    for c in status.conditions.as_mut().unwrap() {
        if c.type_ == "Ready" {
            c.status = "False".into();
        }
    }
    pods.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": status})),
    )
    .await
    .unwrap();
    let want_taints = || {
        BTreeSet::from([
            "node.kubernetes.io/unreachable:NoSchedule".to_string(),
            "node.kubernetes.io/unreachable:NoExecute".to_string(),
        ])
    };
    // Over several status-report intervals nothing of it is undone.
    let window = tokio::time::Instant::now() + report * 5;
    eventually("the silent node left as the controller set it", || {
        let (nodes, pods) = (nodes.clone(), pods.clone());
        async move {
            let node = nodes.get("quiet-0").await.ok()?;
            assert_eq!(
                node_ready(&node),
                Some(("Unknown".into(), "NodeStatusUnknown".into()))
            );
            assert_eq!(taints_of(&nodes, "quiet-0").await?, want_taints());
            let pod = pods.get("web").await.ok()?;
            assert_eq!(
                condition(pod.status.as_ref()?, "Ready").as_deref(),
                Some("False")
            );
            (tokio::time::Instant::now() >= window).then_some(())
        }
    })
    .await;

    annotate(None).await;
    eventually("Ready reported again, the pod Ready again", || {
        let (nodes, pods) = (nodes.clone(), pods.clone());
        async move {
            let node = nodes.get("quiet-0").await.ok()?;
            let ready = node_ready(&node)? == ("True".into(), "KubeletReady".into());
            let pod = pods.get("web").await.ok()?;
            let pod_ready = condition(pod.status.as_ref()?, "Ready").as_deref() == Some("True");
            (ready && pod_ready).then_some(())
        }
    })
    .await;
    eventually("the Lease renewed again", || {
        let renewed_ago = renewed_ago();
        async move {
            let ago = renewed_ago.await?;
            (ago < k8s_openapi::jiff::SignedDuration::try_from(renew * 5).unwrap()).then_some(())
        }
    })
    .await;
    // The unreachable taints are the lifecycle controller's to remove, not the agent's.
    assert_eq!(taints_of(&nodes, "quiet-0").await, Some(want_taints()));
    agent.stop().await;
}
