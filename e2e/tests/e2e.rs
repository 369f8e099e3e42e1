//! The end-to-end suite: what a user does with kubectl, asserted through the API. Runs
//! against `CAPSTAN_E2E_KUBECONFIG`'s cluster when set, else against the embedded control
//! plane (see the `capstan_e2e` crate docs). Every test works in a namespace and on
//! NodePools of its own, so tests run in parallel, also on one shared cluster.

use capstan_e2e::{E2E_LABEL, E2e, eventually, merged, on_pool};
use capstan_node_agent::{NodePool, NodePoolSpec};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;

const REVISION: &str = "deployment.kubernetes.io/revision";

/// Whether the pod's condition `type_` has `status`.
fn condition(p: &Pod, type_: &str) -> Option<(String, String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

fn is_ready(p: &Pod) -> bool {
    condition(p, "Ready").is_some_and(|c| c.0 == "True")
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn node(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

/// The pods labelled `app=<app>` that are not being deleted.
async fn live_pods(e: &E2e, app: &str) -> Result<Vec<Pod>, String> {
    Ok(e.api::<Pod>()
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Waits until exactly `n` live `app=<app>` pods run `image`, all Running, Ready and on
/// nodes of `pool`.
async fn wait_pods(e: &E2e, app: &str, n: usize, want_image: &str, pool: &str) {
    eventually(
        &format!("{n} Ready {app} pods of {want_image} on {pool}"),
        || async {
            let pods = live_pods(e, app).await?;
            let nodes = e.pool_nodes(pool).await?;
            let good = pods
                .iter()
                .filter(|p| {
                    image(p) == want_image
                        && is_ready(p)
                        && nodes.contains_key(&node(p))
                        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                })
                .count();
            if pods.len() == n && good == n {
                Ok(())
            } else {
                Err(format!(
                    "{:?}",
                    pods.iter()
                        .map(|p| (p.name_any(), image(p), is_ready(p), node(p)))
                        .collect::<Vec<_>>()
                ))
            }
        },
    )
    .await;
}

/// apply → rollout status → set image → rollout status → rollout undo (the first
/// template back, as revision 3) → scale → delete --cascade=foreground, with real kubectl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rolls_out_rolls_back_scales_and_deletes_in_the_foreground() {
    let mut e = E2e::start("rollout").await;
    let pool = e.create_pool("rollout", 3).await;
    let manifest = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": merged(on_pool(&pool), &json!({
                    "containers": [{"name": "web", "image": "nginx:1.14.2"}],
                })),
            },
        },
    });
    let out = e.apply(&manifest).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    e.rollout_status("web").await;
    wait_pods(&e, "web", 3, "nginx:1.14.2", &pool).await;

    e.kubectl(&["set", "image", "deployment/web", "web=nginx:1.16.1"])
        .await;
    e.rollout_status("web").await;
    wait_pods(&e, "web", 3, "nginx:1.16.1", &pool).await;

    let out = e.kubectl(&["rollout", "undo", "deployment/web"]).await;
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    e.rollout_status("web").await;
    wait_pods(&e, "web", 3, "nginx:1.14.2", &pool).await;
    let deployments: Api<Deployment> = e.api();
    let d = deployments.get("web").await.expect("the Deployment");
    assert_eq!(
        d.annotations().get(REVISION).map(String::as_str),
        Some("3"),
        "the first template comes back as revision 3"
    );
    // Two ReplicaSets: the first template's, now revision 3 with every replica, and the
    // second's, revision 2, scaled to 0.
    let uid = d.uid().expect("uid");
    let mut rss: Vec<(String, String, i32)> = e
        .api::<ReplicaSet>()
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list ReplicaSets")
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .map(|rs| {
            let spec = rs.spec.clone().unwrap_or_default();
            let image = spec
                .template
                .and_then(|t| t.spec)
                .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
                .unwrap_or_default();
            let revision = rs.annotations().get(REVISION).cloned().unwrap_or_default();
            (revision, image, spec.replicas.unwrap_or(0))
        })
        .collect();
    rss.sort();
    assert_eq!(
        rss,
        [
            ("2".to_string(), "nginx:1.16.1".to_string(), 0),
            ("3".to_string(), "nginx:1.14.2".to_string(), 3),
        ]
    );

    e.kubectl(&["scale", "deployment/web", "--replicas=5"])
        .await;
    e.rollout_status("web").await;
    wait_pods(&e, "web", 5, "nginx:1.14.2", &pool).await;
    let status = deployments
        .get("web")
        .await
        .expect("the Deployment")
        .status
        .unwrap_or_default();
    assert_eq!(
        (status.replicas, status.available_replicas),
        (Some(5), Some(5))
    );

    // Foreground: kubectl waits until the Deployment is gone, which is only once its
    // ReplicaSets and their pods are.
    let out = e
        .kubectl(&[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--timeout=120s",
        ])
        .await;
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    assert!(
        deployments
            .get_opt("web")
            .await
            .expect("get Deployment")
            .is_none()
    );
    let left_rs = e
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .expect("list ReplicaSets");
    let left_pods = e
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .expect("list pods");
    assert!(
        left_rs.items.is_empty() && left_pods.items.is_empty(),
        "dependents left after a foreground delete: {:?} {:?}",
        left_rs.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
        left_pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    e.finish().await;
}

/// Bare pods for capstan's scheduler run Ready on the pool's virtual nodes; a pod no
/// node fits stays Pending with PodScheduled=False/Unschedulable and upstream's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_pods_run_on_virtual_nodes_and_an_unschedulable_one_says_why() {
    let mut e = E2e::start("pods").await;
    let pool = e.create_pool("pods", 2).await;
    let pod = |name: &str, app: &str, cpu: &str| {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": merged(on_pool(&pool), &json!({
                "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu}}}],
            })),
        })
    };
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": (0..3).map(|i| pod(&format!("bare-{i}"), "bare", "100m")).collect::<Vec<_>>(),
    });
    let out = e.apply(&list).await;
    assert_eq!(out.matches("created").count(), 3, "{out}");
    e.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=bare",
        "--timeout=120s",
    ])
    .await;
    let nodes = e.pool_nodes(&pool).await.expect("the pool's nodes");
    let pods = live_pods(&e, "bare").await.expect("list pods");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let status = p.status.clone().unwrap_or_default();
        assert!(
            nodes.contains_key(&node(p)),
            "{} on {:?}, not on {pool}",
            p.name_any(),
            node(p)
        );
        assert_eq!(status.phase.as_deref(), Some("Running"), "{}", p.name_any());
        assert_eq!(
            condition(p, "PodScheduled").map(|c| c.0).as_deref(),
            Some("True")
        );
        assert!(status.pod_ip.is_some_and(|ip| !ip.is_empty()), "a pod IP");
    }

    // 64 cpu: more than any node of the pool (4 each) has.
    e.apply(&pod("too-big", "big", "64")).await;
    let pods: Api<Pod> = e.api();
    let message = eventually("too-big: PodScheduled=False, Unschedulable", || async {
        let p = pods.get("too-big").await.map_err(|e| e.to_string())?;
        match condition(&p, "PodScheduled") {
            Some((status, reason, message)) if status == "False" && reason == "Unschedulable" => {
                Ok(message)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // "0/N nodes are available: 2 Insufficient cpu, <N-2 elsewhere>. preemption: 0/N …"
    let (all, rest) = message
        .strip_prefix("0/")
        .and_then(|m| m.split_once(" nodes are available: "))
        .unwrap_or_else(|| panic!("not upstream's shape: {message:?}"));
    let all: usize = all
        .parse()
        .unwrap_or_else(|_| panic!("node count in {message:?}"));
    assert!(all >= 2, "{message:?}");
    assert!(rest.contains("2 Insufficient cpu"), "{message:?}");
    // A request larger than a node's allocatable is unresolvable (upstream's
    // NodeResourcesFit), and every other node is filtered out by selector or taint, so
    // preemption cannot help anywhere (upstream's format leaves the double period).
    assert!(
        rest.ends_with(&format!(
            ". preemption: 0/{all} nodes are available: {all} Preemption is not helpful for scheduling.."
        )),
        "{message:?}"
    );
    let p = pods.get("too-big").await.expect("too-big");
    assert_eq!(node(&p), "");
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    // The scheduler says so in an Event too, as kube-scheduler does.
    let events: Api<Event> = e.api();
    eventually("a FailedScheduling event for too-big", || async {
        let found = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .any(|ev| {
                ev.involved_object.name.as_deref() == Some("too-big")
                    && ev.reason.as_deref() == Some("FailedScheduling")
                    && ev.type_.as_deref() == Some("Warning")
            });
        if found { Ok(()) } else { Err("none".into()) }
    })
    .await;

    e.kubectl(&["delete", "pods", "--all", "--wait=true", "--timeout=120s"])
        .await;
    let left = pods.list(&ListParams::default()).await.expect("list pods");
    assert!(left.items.is_empty(), "{:?}", left.items.len());
    e.finish().await;
}

/// A NodePool applied with kubectl and scaled with `kubectl scale nodepool/<name>`: the
/// node agent keeps that many Ready nodes, adding and removing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodepool_scales_up_and_down_with_kubectl_scale() {
    let mut e = E2e::start("nodepool").await;
    let name = e.unique("scale");
    e.track_pool(&name);
    let out = e
        .apply(&json!({
            "apiVersion": "capstan.dev/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": name, "labels": {E2E_LABEL: "true"}},
            "spec": {"nodes": 1},
        }))
        .await;
    assert!(out.contains("created"), "{out}");
    e.wait_pool_nodes(&name, 1).await;

    let pools: Api<NodePool> = Api::all(e.client.clone());
    let status_is = |nodes: i32| {
        let pools = pools.clone();
        let name = name.clone();
        async move {
            eventually(
                &format!("NodePool {name} status: {nodes} Ready"),
                || async {
                    let st = pools
                        .get_status(&name)
                        .await
                        .map_err(|e| e.to_string())?
                        .status
                        .unwrap_or_default();
                    if (st.nodes, st.ready_nodes) == (nodes, nodes) {
                        Ok(())
                    } else {
                        Err(format!("{st:?}"))
                    }
                },
            )
            .await;
        }
    };
    for (replicas, names) in [(4, 0..4), (2, 0..2)] {
        let out = e
            .kubectl(&[
                "scale",
                &format!("nodepool/{name}"),
                &format!("--replicas={replicas}"),
            ])
            .await;
        assert!(out.contains("scaled"), "{out}");
        e.wait_pool_nodes(&name, replicas).await;
        let nodes = e.pool_nodes(&name).await.expect("the pool's nodes");
        let want: Vec<String> = names.map(|i| format!("{name}-{i}")).collect();
        assert_eq!(nodes.keys().cloned().collect::<Vec<_>>(), want);
        status_is(replicas).await;
    }
    // finish() deletes the pool and checks that its nodes go.
    e.finish().await;
}

#[tokio::test]
async fn a_process_pod_answers_kubectl_logs_and_exec() {
    let mut e = E2e::start("streams").await;
    let pool = e.create_pool_of("proc", NodePoolSpec::process(1)).await;
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "shell"},
        "spec": merged(on_pool(&pool), &json!({
            "containers": [{"name": "app", "image": "busybox:1.36",
                "env": [{"name": "GREETING", "value": "hello"}],
                "command": ["sh", "-c", "echo started as $HOSTNAME; exec sleep 3600"]}],
        })),
    });
    e.apply(&pod).await;
    e.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/shell",
        "--timeout=120s",
    ])
    .await;
    let logs = eventually("the pod's first line in its log", || async {
        let out = e.try_kubectl(&["logs", "shell"], None).await?;
        if out.contains("started as shell") {
            Ok(out)
        } else {
            Err(out)
        }
    })
    .await;
    assert_eq!(logs, "started as shell\n");
    // The command's output, and its exit code as kubectl's.
    let err = e
        .try_kubectl(
            &[
                "exec",
                "shell",
                "--",
                "sh",
                "-c",
                "echo $GREETING from $HOSTNAME; exit 3",
            ],
            None,
        )
        .await
        .expect_err("exit code 3");
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("hello from shell"), "{err}");
    // stdin reaches the command.
    let out = e
        .try_kubectl(&["exec", "-i", "shell", "--", "cat"], Some("typed\n"))
        .await
        .expect("cat echoes stdin");
    assert_eq!(out, "typed\n");
    e.finish().await;
}
