//! Pod creates over HTTPS with 16 concurrent kube-rs clients (each its own connection),
//! in two namespaces alternated in the same run: `default`, which has no
//! ResourceQuota (the quota admission step costs one lookup there), and `quota`, which
//! has one tracking `pods`, `requests.cpu` and `requests.memory` (every create is
//! checked and charged to it in the same commit). Same client, server, pods and
//! concurrency in both; `POD_CREATES_ROUNDS` pairs of phases (default 1), alternating
//! which phase goes first; each phase's per-round figures are printed with their
//! median and min–max spread. `POD_CREATES_QUOTA=0` runs the `default` phase alone (to
//! compare CPU time per create with a build that has no quota phase).
//!
//! While the creates run, `POD_CREATES_WATCHERS` watchers (default 10; each its own
//! kube-rs client and connection) watch pods in all namespaces from before the first
//! timed phase, as controllers and kubelets do, and read every byte of every event.
//! A phase's clock stops only when every create has been answered *and* every watcher
//! has received an ADDED event for each of them, so the server's fan-out (one
//! serialisation per event, a TLS write per watcher) is inside the timed window; the
//! figure without that wait (creates answered) and the delivery tail after the last
//! answer are printed too. The watchers count event types from the first bytes of each
//! line without decoding the object, so the client side of the fan-out costs the shared
//! process little more than TLS decryption; at the end each must have seen exactly one
//! ADDED per create and no other event.
//!
//! Before the timed phases the bench checks that the admission chain is on (it is by
//! default in `TestServer`): a created pod carries the ServiceAccount token volume, the
//! DefaultTolerationSeconds tolerations and Priority's `priority: 0`; a pod in a
//! namespace with a LimitRange gets its default limit and LimitRanger's annotation; a
//! create in a missing namespace is refused (NamespaceLifecycle); after the run the
//! quota's `status.used.pods` equals the creates charged to it (ResourceQuota).
//!
//! `cargo bench -p capstan-apiserver --bench pod_creates`

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use kube::api::{Api, PostParams};
use serde_json::json;

const CLIENTS: usize = 16;
/// Pods each client creates per phase: 2,000, or `POD_CREATES_PER_CLIENT` (a small
/// count to run the bench under an instruction counter such as callgrind).
fn per_client() -> usize {
    env_usize("POD_CREATES_PER_CLIENT", 2_000)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One pod watcher: its event counts, and whether its stream has ended.
struct Watcher {
    added: Arc<AtomicUsize>,
    other: Arc<AtomicUsize>,
    ended: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// Bytes of a line's start kept to classify it (`{"type":"ADDED"` is 15).
const HEAD: usize = 24;

/// Opens a watch on pods in all namespaces from `rv` and reads it until it ends,
/// counting ADDED and other events.
async fn watcher(client: kube::Client, rv: u64) -> Watcher {
    let req = http::Request::get(format!(
        "/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=3600"
    ))
    .body(Vec::new())
    .expect("request");
    let resp = client.send(req.map(Into::into)).await.expect("watch");
    assert_eq!(resp.status(), http::StatusCode::OK, "watch status");
    let added = Arc::new(AtomicUsize::new(0));
    let other = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicBool::new(false));
    let (a, o, e) = (added.clone(), other.clone(), ended.clone());
    let task = tokio::spawn(async move {
        let mut body = resp.into_body();
        // The current line's first bytes (lines span frames).
        let mut head: Vec<u8> = Vec::with_capacity(HEAD);
        let mut line_len = 0usize;
        let take = |seg: &[u8], head: &mut Vec<u8>, line_len: &mut usize| {
            let room = HEAD.saturating_sub(head.len()).min(seg.len());
            head.extend_from_slice(&seg[..room]);
            *line_len += seg.len();
        };
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let mut pos = 0;
            while let Some(i) = memchr::memchr(b'\n', &data[pos..]) {
                take(&data[pos..pos + i], &mut head, &mut line_len);
                if head.starts_with(b"{\"type\":\"ADDED\"") {
                    a.fetch_add(1, Ordering::Relaxed);
                } else if line_len > 0 {
                    eprintln!(
                        "watcher: unexpected event {:?}",
                        String::from_utf8_lossy(&head)
                    );
                    o.fetch_add(1, Ordering::Relaxed);
                }
                head.clear();
                line_len = 0;
                pos += i + 1;
            }
            take(&data[pos..], &mut head, &mut line_len);
        }
        e.store(true, Ordering::Relaxed);
    });
    Watcher {
        added,
        other,
        ended,
        task,
    }
}

/// One phase's figures.
struct Phase {
    /// Creates/s, the clock stopped when the last watcher had every event.
    delivered: f64,
    /// Creates/s, the clock stopped at the last create's answer.
    answered: f64,
    /// Last answer → last event at the slowest watcher, ms.
    tail_ms: f64,
}

/// Creates [`per_client`] pods through each client in `ns`, then waits until every
/// watcher has `expected` ADDED events in all.
async fn phase(
    clients: &[kube::Client],
    ns: &str,
    round: usize,
    watchers: &[Watcher],
    expected: usize,
) -> Phase {
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(c, client)| {
            let api = Api::<Pod>::namespaced(client.clone(), ns);
            tokio::spawn(async move {
                for i in 0..per_client() {
                    let p: Pod =
                        serde_json::from_value(common::pod(&format!("p-{round}-{c}-{i}"), i))
                            .expect("pod");
                    api.create(&PostParams::default(), &p)
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let answered = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    for w in watchers {
        while w.added.load(Ordering::Relaxed) < expected {
            assert!(
                !w.ended.load(Ordering::Relaxed),
                "a watcher's stream ended at {} of {expected} ADDED events",
                w.added.load(Ordering::Relaxed)
            );
            assert!(
                Instant::now() < deadline,
                "a watcher is stuck at {} of {expected} ADDED events",
                w.added.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let delivered = start.elapsed();
    let n = (CLIENTS * per_client()) as f64;
    Phase {
        delivered: n / delivered.as_secs_f64(),
        answered: n / answered.as_secs_f64(),
        tail_ms: (delivered - answered).as_secs_f64() * 1000.0,
    }
}

/// Median and min–max of `v`, as `median X (min–max A–B, ±P % of the median)`.
fn summary(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    let (min, max) = (s[0], s[n - 1]);
    format!(
        "median {median:.0} (min–max {min:.0}–{max:.0}, {:.0} % of the median)",
        (max - min) / median * 100.0
    )
}

/// Checks the admission steps act on pod creates: the token volume, tolerations and
/// priority on a pod in `default`, a LimitRange's default in namespace `limits`, and a
/// refused create in a namespace that does not exist.
async fn check_admission(client: &kube::Client) {
    let pp = PostParams::default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p = pods.get("warm-0").await.expect("warm pod");
    let spec = p.spec.expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with("kube-api-access-"))
        .expect("ServiceAccount admission: no token volume")
        .name
        .clone();
    let tolerations: Vec<_> = spec
        .tolerations
        .iter()
        .flatten()
        .filter_map(|t| Some((t.key.clone()?, t.toleration_seconds?)))
        .collect();
    assert!(
        tolerations.contains(&("node.kubernetes.io/not-ready".into(), 300))
            && tolerations.contains(&("node.kubernetes.io/unreachable".into(), 300)),
        "DefaultTolerationSeconds admission: {tolerations:?}"
    );
    assert_eq!(spec.priority, Some(0), "Priority admission");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "limits"}})).expect("ns");
    namespaces.create(&pp, &ns).await.expect("namespace");
    let lr: LimitRange = serde_json::from_value(json!({
        "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}
    }))
    .expect("limit range");
    Api::<LimitRange>::namespaced(client.clone(), "limits")
        .create(&pp, &lr)
        .await
        .expect("limit range");
    let limited: Api<Pod> = Api::namespaced(client.clone(), "limits");
    let p: Pod = serde_json::from_value(common::pod("limited", 0)).expect("pod");
    let p = limited.create(&pp, &p).await.expect("create");
    let cpu = p.spec.as_ref().and_then(|s| {
        s.containers[0]
            .resources
            .as_ref()?
            .limits
            .as_ref()?
            .get("cpu")
            .cloned()
    });
    let annotated = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/limit-ranger"));
    assert!(
        cpu.as_ref().is_some_and(|q| q.0 == "500m") && annotated,
        "LimitRanger admission: cpu limit {cpu:?}, annotated {annotated}"
    );

    let missing: Api<Pod> = Api::namespaced(client.clone(), "no-such-namespace");
    let p: Pod = serde_json::from_value(common::pod("nowhere", 0)).expect("pod");
    let refused = match missing.create(&pp, &p).await {
        Ok(_) => panic!("NamespaceLifecycle admission: a create in a missing namespace passed"),
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("create in a missing namespace: {e}"),
    };
    println!(
        "admission on: ServiceAccount (volume {volume}), DefaultTolerationSeconds, Priority, \
         LimitRanger (default cpu limit 500m set in namespace limits), NamespaceLifecycle \
         (create in a missing namespace refused with {refused}); ResourceQuota checked after the run"
    );
}

/// The `quota` namespace with its quota, its status filled in as the resource quota
/// controller leaves it (hard mirrored, nothing used).
async fn quota_namespace(client: &kube::Client) {
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "quota"}})).expect("ns");
    namespaces.create(&pp, &ns).await.expect("namespace");
    let hard = json!({"pods": "1000000", "requests.cpu": "100000", "requests.memory": "1000Ti"});
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "quota");
    let q: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": "compute"}, "spec": {"hard": hard}}))
            .expect("quota");
    let mut q = quotas.create(&pp, &q).await.expect("quota");
    q.status = Some(
        serde_json::from_value(json!({"hard": hard, "used": {"pods": "0", "requests.cpu": "0", "requests.memory": "0"}}))
            .expect("status"),
    );
    quotas
        .replace_status("compute", &pp, &q)
        .await
        .expect("quota status");
}

fn main() {
    let rounds = env_usize("POD_CREATES_ROUNDS", 1);
    let watcher_count = env_usize("POD_CREATES_WATCHERS", 10);
    let quota_phase = !std::env::var("POD_CREATES_QUOTA").is_ok_and(|q| q == "0");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = TestServer::start().await.expect("server");
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(s.client().await);
        }
        quota_namespace(&clients[0]).await;
        // Warm up connections.
        for (c, client) in clients.iter().enumerate() {
            let api = Api::<Pod>::namespaced(client.clone(), "default");
            let p: Pod = serde_json::from_value(common::pod(&format!("warm-{c}"), c)).expect("pod");
            api.create(&PostParams::default(), &p).await.expect("create");
        }
        check_admission(&clients[0]).await;
        let rv = s.server().cluster().store.current_rv();
        let mut watchers = Vec::new();
        for _ in 0..watcher_count {
            watchers.push(watcher(s.client().await, rv).await);
        }
        // Each watch answered its headers, so it is registered; it starts at `rv`, so
        // no create can be missed whenever its events start flowing.
        let total = CLIENTS * per_client();
        // ADDED events each watcher has when a phase ends.
        let mut expected = 0;
        let run = |expected: &mut usize| {
            *expected += total;
            *expected
        };
        let (mut plain, mut quota) = (Vec::new(), Vec::new());
        let show = |p: &Phase| {
            format!(
                "{:.0} creates/s ({:.0}/s answered, last event {:.0} ms after the last answer)",
                p.delivered, p.answered, p.tail_ms
            )
        };
        for round in 0..rounds {
            if !quota_phase {
                let p = phase(&clients, "default", round, &watchers, run(&mut expected)).await;
                println!(
                    "pod_creates round {round}: {total} pods by {CLIENTS} kube-rs clients over HTTPS, \
                     {watcher_count} pod watchers: {}",
                    show(&p)
                );
                plain.push(p);
                continue;
            }
            // Phases alternate which goes first, so neither always meets the larger store.
            let (p, q) = if round % 2 == 0 {
                let p = phase(&clients, "default", round, &watchers, run(&mut expected)).await;
                (p, phase(&clients, "quota", round, &watchers, run(&mut expected)).await)
            } else {
                let q = phase(&clients, "quota", round, &watchers, run(&mut expected)).await;
                (phase(&clients, "default", round, &watchers, run(&mut expected)).await, q)
            };
            println!(
                "pod_creates round {round}: {total} pods by {CLIENTS} kube-rs clients over HTTPS, \
                 {watcher_count} pod watchers: no quota in the namespace {}; one quota charged {} ({:+.1} %)",
                show(&p),
                show(&q),
                (q.delivered / p.delivered - 1.0) * 100.0
            );
            plain.push(p);
            quota.push(q);
        }
        for w in &watchers {
            let (added, other) = (w.added.load(Ordering::Relaxed), w.other.load(Ordering::Relaxed));
            assert!(
                added == expected && other == 0,
                "a watcher saw {added} ADDED events of {expected} creates and {other} others"
            );
            w.task.abort();
        }
        if watcher_count > 0 {
            println!("every one of the {watcher_count} watchers saw {expected} ADDED events, one per create, and no other");
        }
        let figures = |v: &[Phase], f: fn(&Phase) -> f64| v.iter().map(f).collect::<Vec<_>>();
        for (name, v) in [("no quota", &plain), ("one quota", &quota)] {
            if v.is_empty() {
                continue;
            }
            println!(
                "pod_creates {name}, {} rounds, {watcher_count} watchers: creates/s delivered {}; answered {}",
                v.len(),
                summary(&figures(v, |p| p.delivered)),
                summary(&figures(v, |p| p.answered)),
            );
        }
        if quota_phase {
            let quotas: Api<ResourceQuota> = Api::namespaced(clients[0].clone(), "quota");
            let used = quotas.get("compute").await.expect("quota").status.and_then(|s| s.used);
            println!("quota used after the run: {used:?}");
            let pods = used
                .as_ref()
                .and_then(|u| u.get("pods"))
                .map(|q| capstan_quota::Quantity::parse(&q.0).expect("quantity").value());
            assert_eq!(
                pods,
                Some((rounds * total) as i64),
                "ResourceQuota admission: used pods"
            );
        }
    });
}
