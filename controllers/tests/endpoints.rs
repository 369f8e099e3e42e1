//! Services finding their pods, and namespaces getting their `default`
//! ServiceAccount, in a `capstan up`-like setup — the API server, the controllers,
//! the scheduler and the node agent in one process — driven by the real
//! `/usr/bin/kubectl`: a Deployment exposed with `kubectl expose` is listed in its
//! Endpoints and EndpointSlices exactly by its ready pods, through readiness changes
//! (the sim runtime's `capstan.dev/unready-after` annotation) and scaling, and both go
//! with the Service; a named `targetPort` resolving to different container ports; a
//! headless Service publishing hostnames; `kubectl get sa default` in a new namespace
//! and after deleting it.

mod support;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Endpoints, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use support::*;

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
const UNREADY_AFTER: &str = "capstan.dev/unready-after";

/// What a Service's endpoints say: the pod names listed ready and not ready.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Listed {
    ready: BTreeSet<String>,
    not_ready: BTreeSet<String>,
}

fn target(r: Option<&k8s_openapi::api::core::v1::ObjectReference>) -> String {
    r.and_then(|r| r.name.clone()).unwrap_or_default()
}

/// The pods an Endpoints object lists.
fn listed_by_endpoints(ep: &Endpoints) -> Listed {
    let mut l = Listed::default();
    for s in ep.subsets.iter().flatten() {
        l.ready.extend(
            s.addresses
                .iter()
                .flatten()
                .map(|a| target(a.target_ref.as_ref())),
        );
        l.not_ready.extend(
            s.not_ready_addresses
                .iter()
                .flatten()
                .map(|a| target(a.target_ref.as_ref())),
        );
    }
    l
}

/// The pods a Service's slices list, by their `ready` condition.
fn listed_by_slices(slices: &[EndpointSlice]) -> Listed {
    let mut l = Listed::default();
    for e in slices.iter().flat_map(|s| &s.endpoints) {
        let ready = e.conditions.as_ref().and_then(|c| c.ready) == Some(true);
        let name = target(e.target_ref.as_ref());
        if ready {
            l.ready.insert(name);
        } else {
            l.not_ready.insert(name);
        }
    }
    l
}

/// The live pods labelled `app=<app>`, split by their Ready condition.
async fn pods_by_readiness(cluster: &Cluster, app: &str) -> Listed {
    let mut l = Listed::default();
    for p in live_pods(cluster, app).await {
        if p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_none() {
            continue;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        if is_ready(&p) {
            l.ready.insert(name);
        } else {
            l.not_ready.insert(name);
        }
    }
    l
}

async fn slices_of(cluster: &Cluster, service: &str) -> Vec<EndpointSlice> {
    cluster
        .api::<EndpointSlice>()
        .list(&ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={service}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Waits until the Service's Endpoints and EndpointSlices both list exactly the
/// pods of `app` by readiness, and that split has `ready` ready pods and
/// `not_ready` others; returns it.
async fn until_listed(
    cluster: &Cluster,
    service: &str,
    app: &str,
    ready: usize,
    not_ready: usize,
) -> Listed {
    eventually(
        &format!("{service}: {ready} ready and {not_ready} not ready pods listed"),
        || async {
            let pods = pods_by_readiness(cluster, app).await;
            let ep = cluster
                .api::<Endpoints>()
                .get(service)
                .await
                .map_err(|e| e.to_string())?;
            let by_endpoints = listed_by_endpoints(&ep);
            let by_slices = listed_by_slices(&slices_of(cluster, service).await);
            let counts = (pods.ready.len(), pods.not_ready.len());
            if counts == (ready, not_ready) && by_endpoints == pods && by_slices == pods {
                Ok(pods)
            } else {
                Err(format!(
                    "pods {pods:?}, endpoints {by_endpoints:?}, slices {by_slices:?}"
                ))
            }
        },
    )
    .await
}

async fn kubectl_ok(cluster: &Cluster, args: &[&str]) -> String {
    let (ok, out) = cluster.kubectl(args).await;
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exposed_deployment_is_listed_by_its_ready_pods() {
    let cluster = Cluster::start(2).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=3",
            "--port=8080",
        ],
    )
    .await;
    kubectl_ok(
        &cluster,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ],
    )
    .await;
    let listed = until_listed(&cluster, "web", "web", 3, 0).await;

    // The Endpoints object: the Service's name and labels, port 8080 resolved,
    // the pods' nodes, kubectl's view.
    let ep = cluster
        .api::<Endpoints>()
        .get("web")
        .await
        .expect("endpoints");
    let subset = &ep.subsets.as_ref().expect("subsets")[0];
    assert_eq!(subset.ports.as_ref().expect("ports")[0].port, 8080);
    let address = &subset.addresses.as_ref().expect("addresses")[0];
    assert!(
        address
            .node_name
            .as_deref()
            .is_some_and(|n| n.starts_with("sim-"))
    );
    assert_eq!(
        ep.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str),
        Some("web")
    );
    let out = kubectl_ok(&cluster, &["get", "endpoints", "web"]).await;
    assert!(out.contains(":8080"), "{out}");

    // The slices: labelled, owned by the Service, one IPv4 slice of three.
    let slices = slices_of(&cluster, "web").await;
    assert_eq!(slices.len(), 1, "{slices:?}");
    let slice = &slices[0];
    let labels = slice.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels[MANAGED_BY_LABEL], "endpointslice-controller.k8s.io");
    assert_eq!(slice.address_type, "IPv4");
    assert!(
        slice
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("web-"))
    );
    let owner = &slice.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Service", "web", Some(true))
    );
    let out = kubectl_ok(
        &cluster,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ],
    )
    .await;
    assert!(out.contains("IPv4") && out.contains("8080"), "{out}");

    // One pod turns unready: it moves to notReadyAddresses and ready=false.
    let flaky = listed.ready.iter().next().expect("a pod").clone();
    kubectl_ok(
        &cluster,
        &["annotate", "pod", &flaky, &format!("{UNREADY_AFTER}=1s")],
    )
    .await;
    let listed = until_listed(&cluster, "web", "web", 2, 1).await;
    assert!(listed.not_ready.contains(&flaky), "{listed:?}");
    let slice = &slices_of(&cluster, "web").await[0];
    let flaky_ep = slice
        .endpoints
        .iter()
        .find(|e| target(e.target_ref.as_ref()) == flaky)
        .expect("still listed");
    let c = flaky_ep.conditions.as_ref().expect("conditions");
    assert_eq!(
        (c.ready, c.serving, c.terminating),
        (Some(false), Some(false), Some(false))
    );

    // And back.
    kubectl_ok(
        &cluster,
        &["annotate", "pod", &flaky, &format!("{UNREADY_AFTER}-")],
    )
    .await;
    until_listed(&cluster, "web", "web", 3, 0).await;

    // Scaling is followed both ways.
    kubectl_ok(&cluster, &["scale", "deployment", "web", "--replicas=5"]).await;
    until_listed(&cluster, "web", "web", 5, 0).await;
    kubectl_ok(&cluster, &["scale", "deployment", "web", "--replicas=1"]).await;
    until_listed(&cluster, "web", "web", 1, 0).await;

    // The Service goes: its Endpoints and slices go too.
    kubectl_ok(&cluster, &["delete", "service", "web"]).await;
    eventually(
        "the Endpoints and slices of a deleted Service are gone",
        || async {
            let ep = cluster
                .api::<Endpoints>()
                .get_opt("web")
                .await
                .map_err(|e| e.to_string())?;
            let slices = slices_of(&cluster, "web").await;
            match (ep, slices.len()) {
                (None, 0) => Ok(()),
                (ep, n) => Err(format!("endpoints {ep:?}, {n} slices")),
            }
        },
    )
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn named_ports_headless_services_and_default_service_accounts() {
    let cluster = Cluster::start(2).await;

    // Two Deployments behind one Service whose targetPort is a name their
    // containers give different numbers.
    for (name, port) in [("blue", 8080), ("green", 9090)] {
        kubectl_create(
            &cluster,
            &format!("{name}.json"),
            &json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "multi", "color": name}},
                    "template": {
                        "metadata": {"labels": {"app": "multi", "color": name}},
                        "spec": {"containers": [{"name": "c", "image": "nginx",
                            "ports": [{"name": "http", "containerPort": port}]}]}
                    }
                }
            }),
        )
        .await;
    }
    kubectl_create(
        &cluster,
        "multi.json",
        &json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "multi"},
            "spec": {"selector": {"app": "multi"},
                "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}
        }),
    )
    .await;
    until_listed(&cluster, "multi", "multi", 4, 0).await;
    let ep = cluster
        .api::<Endpoints>()
        .get("multi")
        .await
        .expect("endpoints");
    let mut subsets: Vec<(i32, usize)> = ep
        .subsets
        .iter()
        .flatten()
        .map(|s| {
            (
                s.ports.as_ref().expect("ports")[0].port,
                s.addresses.as_ref().map_or(0, Vec::len),
            )
        })
        .collect();
    subsets.sort_unstable();
    assert_eq!(subsets, [(8080, 2), (9090, 2)], "{ep:?}");
    let mut slice_ports: Vec<(i32, usize)> = slices_of(&cluster, "multi")
        .await
        .iter()
        .map(|s| {
            (
                s.ports.as_ref().expect("ports")[0].port.expect("port"),
                s.endpoints.len(),
            )
        })
        .collect();
    slice_ports.sort_unstable();
    assert_eq!(slice_ports, [(8080, 2), (9090, 2)]);

    // A headless Service over pods naming it as their subdomain.
    kubectl_create(
        &cluster,
        "db.json",
        &json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"},
                "ports": [{"port": 5432}]}
        }),
    )
    .await;
    for i in 0..2 {
        kubectl_create(
            &cluster,
            &format!("db-{i}.json"),
            &json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": format!("db-{i}"), "labels": {"app": "db"}},
                "spec": {"hostname": format!("db-{i}"), "subdomain": "db",
                    "containers": [{"name": "c", "image": "postgres"}]}
            }),
        )
        .await;
    }
    until_listed(&cluster, "db", "db", 2, 0).await;
    let ep = cluster
        .api::<Endpoints>()
        .get("db")
        .await
        .expect("endpoints");
    assert_eq!(
        ep.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HEADLESS_LABEL))
            .map(String::as_str),
        Some("")
    );
    let hostnames: BTreeSet<String> = ep
        .subsets
        .iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter_map(|a| a.hostname.clone())
        .collect();
    assert_eq!(
        hostnames,
        BTreeSet::from(["db-0".to_string(), "db-1".to_string()])
    );
    let slices = slices_of(&cluster, "db").await;
    assert!(slices.iter().all(|s| {
        s.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(HEADLESS_LABEL))
    }));
    let slice_hostnames: BTreeSet<String> = slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter_map(|e| e.hostname.clone())
        .collect();
    assert_eq!(slice_hostnames, hostnames);

    // A Service without a selector: its Endpoints are the user's, left alone.
    kubectl_create(
        &cluster,
        "external.json",
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "external"},
            "spec": {"ports": [{"port": 443}]}}),
    )
    .await;
    kubectl_create(
        &cluster,
        "external-ep.json",
        &json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external"},
            "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 443}]}]}),
    )
    .await;

    // The default ServiceAccount of a new namespace, and again after deleting it.
    let (ok, out) = kubectl(&cluster.server, &["create", "namespace", "team-x"]).await;
    assert!(ok, "{out}");
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), "team-x");
    let first = eventually("kubectl get sa default -n team-x", || async {
        let (ok, out) = kubectl(&cluster.server, &["get", "sa", "default", "-n", "team-x"]).await;
        if !ok {
            return Err(out);
        }
        accounts.get("default").await.map_err(|e| e.to_string())
    })
    .await;
    let (ok, out) = kubectl(
        &cluster.server,
        &["delete", "sa", "default", "-n", "team-x"],
    )
    .await;
    assert!(ok, "{out}");
    eventually("the default ServiceAccount is recreated", || async {
        let sa = accounts.get("default").await.map_err(|e| e.to_string())?;
        if sa.metadata.uid == first.metadata.uid {
            return Err("still the deleted one".into());
        }
        let (ok, out) = kubectl(&cluster.server, &["get", "sa", "default", "-n", "team-x"]).await;
        if ok { Ok(()) } else { Err(out) }
    })
    .await;

    // By now the controllers have long synced the selector-less Service: untouched.
    let ep = cluster
        .api::<Endpoints>()
        .get("external")
        .await
        .expect("endpoints");
    let ips: Vec<&str> = ep
        .subsets
        .iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| a.ip.as_str())
        .collect();
    assert_eq!(ips, ["192.0.2.10"]);
    assert!(slices_of(&cluster, "external").await.is_empty());
    cluster.stop().await;
}
