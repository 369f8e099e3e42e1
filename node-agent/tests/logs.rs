//! `kubectl logs` end to end: the real kubectl (every installed version for the tail
//! and follow of a process pod, 1.33 and 1.28 elsewhere) and kube-rs against
//! `TestServer`, whose `pods/log` proxies to the node agent's kubelet API over HTTPS
//! (its CA and bearer token given to the server, as `capstan up` does): process pods'
//! real output with `--tail`, `--since`/`--since-time`, `--timestamps`, `-f`,
//! `--previous` after a crash, `-c`; sim pods' lifecycle lines; upstream's errors; the
//! trust between the two; `nodes/proxy` to `/healthz` and `/pods`.

mod support;

use std::time::Duration;

use capstan_apiserver::KubeletClientConfig;
use capstan_node_agent::NodePoolSpec;
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use kube::api::{LogParams, ObjectMeta};
use support::{Agent, KUBECTL_1_28, KUBECTL_1_33, eventually};
use tokio::io::AsyncBufReadExt as _;

const KUBECTLS: [&str; 2] = [KUBECTL_1_33, KUBECTL_1_28];

fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.to_string(),
        image: Some("busybox:1.36".to_string()),
        command: Some(vec!["sh".into(), "-c".into(), script.to_string()]),
        ..Default::default()
    }
}

fn pod(name: &str, node: &str, policy: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_string()),
            restart_policy: Some(policy.to_string()),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn running(s: &PodStatus) -> bool {
    s.container_statuses
        .iter()
        .flatten()
        .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
        && s.container_statuses.as_ref().is_some_and(|v| !v.is_empty())
}

/// The numbers of the `line N` lines of `out`, checked consecutive.
fn numbers(out: &str) -> Vec<u64> {
    let ns: Vec<u64> = out
        .lines()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?} in {out:?}"))
        })
        .collect();
    for w in ns.windows(2) {
        assert_eq!(w[1], w[0] + 1, "consecutive lines: {out:?}");
    }
    ns
}

/// A process pod printing `line 1`, `line 2`, … every 50 ms.
async fn counter(agent: &Agent, name: &str) {
    agent
        .create(pod(
            name,
            "proc-0",
            "Always",
            vec![sh(
                "count",
                "seq 1 1000000 | while read i; do echo line $i; sleep 0.05; done",
            )],
        ))
        .await;
    agent
        .status_where(name, "the counter running", running)
        .await;
}

#[tokio::test]
async fn kubectl_logs_tail_and_follow_of_a_process_pod() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    counter(&agent, "counter").await;
    for kubectl in support::ALL_KUBECTLS {
        // Whole log: consecutive lines from the first.
        let all = eventually("ten lines logged", || async {
            let out = agent.kubectl_out(kubectl, &["logs", "counter"]).await;
            (out.lines().count() >= 10).then_some(out)
        })
        .await;
        assert_eq!(numbers(&all)[0], 1, "{kubectl}: from the first line");

        let tail = agent
            .kubectl_out(kubectl, &["logs", "counter", "--tail=3"])
            .await;
        let tail = numbers(&tail);
        assert_eq!(tail.len(), 3, "{kubectl} --tail=3: {tail:?}");
        assert!(tail[0] > 1);

        // `-f`: lines keep coming after those already written.
        let seen = *numbers(&agent.kubectl_out(kubectl, &["logs", "counter"]).await)
            .last()
            .expect("lines");
        let mut child = tokio::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(agent.server.kubeconfig_path())
            .args(["logs", "-f", "counter"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl logs -f runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut last = 0;
        let mut count = 0;
        let read = async {
            while let Some(l) = lines.next_line().await.expect("read") {
                let n: u64 = l
                    .strip_prefix("line ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected line {l:?}"));
                if last > 0 {
                    assert_eq!(n, last + 1, "{kubectl} -f: consecutive lines");
                }
                last = n;
                count += 1;
                if n > seen + 10 {
                    return;
                }
            }
            panic!("{kubectl} logs -f ended after {count} lines");
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .unwrap_or_else(|_| panic!("{kubectl} logs -f: no new lines in 60 s"));
        child.kill().await.expect("kill kubectl");
    }
    agent.stop().await;
}

#[tokio::test]
async fn kubectl_logs_since_and_timestamps() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    agent
        .create(pod(
            "stamps",
            "proc-0",
            "Always",
            vec![sh(
                "app",
                "echo before; sleep 2; echo after; exec sleep 3600",
            )],
        ))
        .await;
    for kubectl in KUBECTLS {
        let stamped = eventually("both lines logged", || async {
            let out = agent
                .kubectl_out(kubectl, &["logs", "stamps", "--timestamps"])
                .await;
            out.contains(" after").then_some(out)
        })
        .await;
        let lines: Vec<(&str, &str)> = stamped
            .lines()
            .map(|l| l.split_once(' ').expect("a timestamp"))
            .collect();
        assert_eq!(
            lines.iter().map(|l| l.1).collect::<Vec<_>>(),
            ["before", "after"]
        );
        let after: k8s_openapi::jiff::Timestamp = lines[1].0.parse().expect("RFC 3339 time");
        // Whole seconds, as the API server passes `sinceTime` on.
        let since = k8s_openapi::jiff::Timestamp::from_second(after.as_second()).unwrap();
        let out = agent
            .kubectl_out(
                kubectl,
                &["logs", "stamps", &format!("--since-time={since}")],
            )
            .await;
        assert_eq!(out, "after\n", "{kubectl} --since-time");
        let out = agent
            .kubectl_out(kubectl, &["logs", "stamps", "--since=1h"])
            .await;
        assert_eq!(out, "before\nafter\n", "{kubectl} --since=1h");
        let out = agent
            .kubectl_out(kubectl, &["logs", "stamps", "--limit-bytes=4"])
            .await;
        assert_eq!(out, "befo", "{kubectl} --limit-bytes");
    }
    agent.stop().await;
}

#[tokio::test]
async fn kubectl_logs_previous_after_a_crash() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    // Each instance counts its run in a file of its working directory (kept across
    // restarts), prints it, and crashes a second later.
    agent
        .create(pod(
            "crasher",
            "proc-0",
            "OnFailure",
            vec![sh(
                "app",
                "n=$(cat runs 2>/dev/null || echo 0); n=$(expr $n + 1); echo $n > runs; \
                 echo run $n; sleep 1; echo crashing run $n; exit 3",
            )],
        ))
        .await;
    for kubectl in KUBECTLS {
        let (previous, current) = eventually("a restarted instance", || async {
            let (ok, previous) = agent
                .kubectl(kubectl, &["logs", "crasher", "--previous"])
                .await;
            let current = agent.kubectl_out(kubectl, &["logs", "crasher"]).await;
            let run =
                |s: &str| -> Option<u32> { s.lines().next()?.strip_prefix("run ")?.parse().ok() };
            let (p, c) = (run(&previous)?, run(&current)?);
            (ok && c == p + 1).then_some((previous, current))
        })
        .await;
        let p: u32 = previous
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("run "))
            .and_then(|n| n.parse().ok())
            .expect("a run number");
        assert_eq!(
            previous,
            format!("run {p}\ncrashing run {p}\n"),
            "{kubectl} --previous: the whole previous instance"
        );
        assert!(
            current.starts_with(&format!("run {}\n", p + 1)),
            "{current}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn kubectl_logs_of_one_container_of_two() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    agent
        .create(pod(
            "pair",
            "proc-0",
            "Always",
            vec![
                sh("one", "echo from one; exec sleep 3600"),
                sh("two", "echo from two; exec sleep 3600"),
            ],
        ))
        .await;
    agent.status_where("pair", "both running", running).await;
    for kubectl in KUBECTLS {
        let two = eventually("container two logged", || async {
            let out = agent
                .kubectl_out(kubectl, &["logs", "pair", "-c", "two"])
                .await;
            (!out.is_empty()).then_some(out)
        })
        .await;
        assert_eq!(two, "from two\n", "{kubectl} -c two");
        let (ok, out) = agent
            .kubectl(kubectl, &["logs", "pair", "-c", "three"])
            .await;
        assert!(!ok);
        assert!(
            out.contains("container three is not valid for pod pair"),
            "{kubectl}: {out}"
        );
        // Without -c kubectl picks the first container and says so.
        let (ok, out) = agent.kubectl(kubectl, &["logs", "pair"]).await;
        assert!(ok, "{out}");
        assert!(out.contains("from one"), "{kubectl}: {out}");
        assert!(
            out.contains(r#"Defaulted container "one" out of: one, two"#),
            "{kubectl}: {out}"
        );
    }
    // The API itself wants the container when there are several (upstream's message).
    let err = agent
        .pods
        .logs("pair", &LogParams::default())
        .await
        .expect_err("no container named");
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "a container name must be specified for pod pair, choose one of: [one two]"
    );
    agent.stop().await;
}

#[tokio::test]
async fn kube_rs_logs_and_log_stream_and_upstream_errors() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    counter(&agent, "counter").await;
    let logs = eventually("five lines", || async {
        let out = agent
            .pods
            .logs("counter", &LogParams::default())
            .await
            .ok()?;
        (out.lines().count() >= 5).then_some(out)
    })
    .await;
    assert_eq!(numbers(&logs)[0], 1);
    let tail = agent
        .pods
        .logs(
            "counter",
            &LogParams {
                tail_lines: Some(2),
                container: Some("count".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(numbers(&tail).len(), 2);

    // `log_stream` with follow: new lines arrive on the open stream.
    let stream = agent
        .pods
        .log_stream(
            "counter",
            &LogParams {
                follow: true,
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("log stream");
    let mut lines = stream.lines();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while got.len() < 20 {
            got.push(lines.try_next().await.expect("read").expect("a line"));
        }
    })
    .await
    .expect("20 lines followed within 60 s");
    numbers(&(got.join("\n") + "\n"));

    // Upstream's validation: 422 naming the field.
    let err = agent
        .pods
        .logs(
            "counter",
            &LogParams {
                tail_lines: Some(-1),
                ..LogParams::default()
            },
        )
        .await
        .expect_err("negative tailLines");
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "PodLogOptions \"counter\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
    );
    let api_err = |e: kube::Error| match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("an API error: {other:?}"),
    };
    // A container that never started: the kubelet's 400.
    agent
        .create(pod(
            "nocommand",
            "proc-0",
            "Always",
            vec![Container {
                name: "app".into(),
                image: Some("busybox".into()),
                ..Default::default()
            }],
        ))
        .await;
    agent
        .status_where("nocommand", "CreateContainerConfigError", |s| {
            s.container_statuses.iter().flatten().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|st| st.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CreateContainerConfigError")
            })
        })
        .await;
    let (code, message) = api_err(
        agent
            .pods
            .logs("nocommand", &LogParams::default())
            .await
            .expect_err("no log yet"),
    );
    assert_eq!(code, 400);
    assert_eq!(
        message,
        r#"container "app" in pod "nocommand" is waiting to start: CreateContainerConfigError"#
    );
    let (code, message) = api_err(
        agent
            .pods
            .logs(
                "counter",
                &LogParams {
                    previous: true,
                    ..LogParams::default()
                },
            )
            .await
            .expect_err("no previous instance"),
    );
    assert_eq!(code, 400);
    assert_eq!(
        message,
        r#"previous terminated container "count" in pod "counter" not found"#
    );
    // A pod not bound to a node has no log location: an empty log, as upstream.
    let mut unbound = pod("unbound", "", "Always", vec![sh("app", "true")]);
    unbound.spec.as_mut().unwrap().node_name = None;
    agent.create(unbound).await;
    assert_eq!(
        agent
            .pods
            .logs("unbound", &LogParams::default())
            .await
            .expect("empty log"),
        ""
    );
    let (code, _) = api_err(
        agent
            .pods
            .logs("missing", &LogParams::default())
            .await
            .expect_err("no such pod"),
    );
    assert_eq!(code, 404);
    agent.stop().await;
}

#[tokio::test]
async fn the_agent_refuses_callers_it_does_not_trust() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    counter(&agent, "counter").await;
    let api = agent.server.server();
    // A wrong token: the agent's 401, passed on.
    api.set_kubelet_client(KubeletClientConfig {
        bearer_token: Some("not-the-token".into()),
        ..agent.kubelet_client.clone()
    })
    .expect("config");
    let err = agent
        .pods
        .logs("counter", &LogParams::default())
        .await
        .expect_err("refused");
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(
        (status.code, status.message.as_str()),
        (401, "Unauthorized")
    );
    // A CA that did not sign the agent's certificate: no TLS session.
    let other = capstan_node_agent::ServingTls::self_signed(&[]).expect("other CA");
    api.set_kubelet_client(KubeletClientConfig {
        ca_pem: other.ca_pem,
        ..agent.kubelet_client.clone()
    })
    .expect("config");
    let err = agent
        .pods
        .logs("counter", &LogParams::default())
        .await
        .expect_err("untrusted");
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(status.code, 500, "{}", status.message);
    assert!(
        status.message.contains("containerLogs"),
        "{}",
        status.message
    );
    // Trusted again.
    api.set_kubelet_client(agent.kubelet_client.clone())
        .expect("config");
    eventually("logs again", || async {
        agent
            .pods
            .logs("counter", &LogParams::default())
            .await
            .ok()
            .filter(|l| !l.is_empty())
    })
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn nodes_proxy_reaches_healthz_and_pods() {
    let agent = Agent::start("proc", NodePoolSpec::process(1)).await;
    counter(&agent, "counter").await;
    for kubectl in KUBECTLS {
        let health = agent
            .kubectl_out(
                kubectl,
                &["get", "--raw", "/api/v1/nodes/proc-0/proxy/healthz"],
            )
            .await;
        assert_eq!(health, "ok");
        let pods = agent
            .kubectl_out(
                kubectl,
                &["get", "--raw", "/api/v1/nodes/proc-0/proxy/pods"],
            )
            .await;
        let list: serde_json::Value = serde_json::from_str(&pods).expect("a PodList");
        assert_eq!(list["kind"], "PodList");
        let names: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["counter"]);
        let (ok, out) = agent
            .kubectl(
                kubectl,
                &["get", "--raw", "/api/v1/nodes/nope/proxy/healthz"],
            )
            .await;
        assert!(!ok && out.contains("not found"), "{out}");
        // Discovery lists the two subresources.
        let v1 = agent
            .kubectl_out(kubectl, &["get", "--raw", "/api/v1"])
            .await;
        let v1: serde_json::Value = serde_json::from_str(&v1).expect("APIResourceList");
        let find = |name: &str| {
            v1["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .find(|r| r["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} in discovery"))
        };
        assert_eq!(find("pods/log")["verbs"], serde_json::json!(["get"]));
        assert_eq!(find("nodes/proxy")["kind"], "NodeProxyOptions");
    }
    agent.stop().await;
}

#[tokio::test]
async fn kubectl_logs_of_sim_pods() {
    let agent = Agent::start("sim", NodePoolSpec::sim(1)).await;
    let mut steady = pod("steady", "sim-0", "Always", vec![]);
    steady.spec.as_mut().unwrap().containers = vec![Container {
        name: "app".into(),
        image: Some("nginx".into()),
        ..Default::default()
    }];
    agent.create(steady).await;
    agent.status_where("steady", "running", running).await;
    let mut crashing = pod("crashing", "sim-0", "Always", vec![]);
    crashing.metadata.annotations =
        Some([("capstan.dev/crash-every".to_string(), "10s".to_string())].into());
    crashing.spec.as_mut().unwrap().containers = vec![Container {
        name: "app".into(),
        image: Some("busybox".into()),
        ..Default::default()
    }];
    agent.create(crashing).await;
    agent
        .status_where("crashing", "a restart", |s| {
            s.container_statuses
                .iter()
                .flatten()
                .any(|c| c.restart_count >= 1)
        })
        .await;
    for kubectl in KUBECTLS {
        let out = agent.kubectl_out(kubectl, &["logs", "steady"]).await;
        assert_eq!(
            out, "[capstan sim] Started container app (image nginx)\n",
            "{kubectl}"
        );
        let out = agent
            .kubectl_out(kubectl, &["logs", "steady", "--timestamps"])
            .await;
        assert!(
            out.ends_with("Z [capstan sim] Started container app (image nginx)\n"),
            "{out}"
        );
        let (ok, out) = agent
            .kubectl(kubectl, &["logs", "steady", "--previous"])
            .await;
        assert!(!ok);
        assert!(
            out.contains(r#"previous terminated container "app" in pod "steady" not found"#),
            "{kubectl}: {out}"
        );
        let previous = agent
            .kubectl_out(kubectl, &["logs", "crashing", "--previous"])
            .await;
        let lines: Vec<&str> = previous.lines().collect();
        assert_eq!(lines.len(), 2, "{previous}");
        assert!(
            lines[0].starts_with("[capstan sim] Started container app")
                || lines[0].starts_with("[capstan sim] Restarted container app (restart "),
            "{previous}"
        );
        assert_eq!(
            lines[1],
            "[capstan sim] Container app exited with code 1 (Error)"
        );
        let current = agent.kubectl_out(kubectl, &["logs", "crashing"]).await;
        assert!(
            current.starts_with("[capstan sim] Restarted container app (restart "),
            "{kubectl}: {current}"
        );
    }
    agent.stop().await;
}
