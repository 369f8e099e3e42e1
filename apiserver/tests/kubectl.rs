//! Real kubectl (`/usr/bin/kubectl`, which dispatches on the server's minor version to
//! kubectl 1.33; older binaries directly) against the server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use capstan_apiserver::TestServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
"#;

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(s: &TestServer, bin: &str) -> Self {
        let cache = s.dir().join(format!("cache-{}", bin.replace('/', "_")));
        Kubectl {
            bin: PathBuf::from(bin),
            kubeconfig: s.kubeconfig_path().to_path_buf(),
            cache,
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        c
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().await.expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}\n{out}");
        out
    }
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test]
async fn kubectl_create_get_label_annotate_delete() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "/usr/bin/kubectl");
    let (_, version, _) = k.run(&["version", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["minor"], "33");

    let file = write(s.dir(), "deploy.yaml", DEPLOYMENT);
    let out = k.ok(&["create", "-f", &file]).await;
    assert_eq!(out.trim(), "deployment.apps/web created");

    // Table output with the columns of a real cluster.
    let out = k.ok(&["get", "deployments"]).await;
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "0/2", "0", "0"]);
    let wide = k.ok(&["get", "deploy", "web", "-o", "wide"]).await;
    assert!(wide.lines().next().unwrap().contains("SELECTOR"), "{wide}");
    assert!(wide.contains("app=web"), "{wide}");

    // JSON output carries server-set fields and defaults.
    let out = k.ok(&["get", "deploy", "web", "-o", "json"]).await;
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);

    k.ok(&["label", "deploy", "web", "tier=frontend"]).await;
    k.ok(&["annotate", "deploy", "web", "note=hello"]).await;
    k.ok(&["scale", "deploy", "web", "--replicas=4"]).await;
    let api: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let d = api.get("web").await.unwrap();
    assert_eq!(d.metadata.labels.unwrap()["tier"], "frontend");
    assert_eq!(d.metadata.annotations.unwrap()["note"], "hello");
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    // Spec change (scale) and annotation change both bumped a Deployment's generation.
    assert_eq!(d.metadata.generation, Some(3));

    // Deletion with each propagation policy.
    for (name, cascade, finalizer) in [
        ("fg", "foreground", Some("foregroundDeletion")),
        ("or", "orphan", Some("orphan")),
        ("bg", "background", None),
    ] {
        let file = write(
            s.dir(),
            &format!("{name}.yaml"),
            &DEPLOYMENT.replace("name: web", &format!("name: {name}")),
        );
        k.ok(&["create", "-f", &file]).await;
        let flag = format!("--cascade={cascade}");
        let out = k
            .ok(&["delete", "deploy", name, &flag, "--wait=false"])
            .await;
        assert!(
            out.contains(&format!("deployment.apps \"{name}\" deleted")),
            "{out}"
        );
        let left = api.get_opt(name).await.unwrap();
        match finalizer {
            Some(f) => {
                let left = left.expect("held by the GC finalizer");
                assert!(left.metadata.deletion_timestamp.is_some());
                assert_eq!(left.metadata.finalizers, Some(vec![f.to_string()]));
            }
            None => assert!(left.is_none()),
        }
    }

    // A Secret's write-only stringData lands in data (base64), as on a real cluster.
    let file = write(
        s.dir(),
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {user: YWRtaW4=}\nstringData: {password: s3cret}\n",
    );
    k.ok(&["create", "-f", &file]).await;
    let out = k.ok(&["get", "secret", "creds", "-o", "json"]).await;
    let secret: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        secret["data"],
        json!({"user": "YWRtaW4=", "password": "czNjcmV0"})
    );
    assert!(secret.get("stringData").is_none(), "{secret}");
    let row = k.ok(&["get", "secret", "creds", "--no-headers"]).await;
    assert_eq!(row.split_whitespace().nth(2), Some("2"), "{row}");
}

#[tokio::test]
async fn kubectl_get_watch_sees_changes_from_another_client() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "/usr/bin/kubectl");
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let cm = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    cms.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();
    let mut child = k
        .command(&["get", "configmaps", "-w", "--request-timeout=0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut created = false;
    while !seen.iter().any(|l: &String| l.starts_with("after ")) {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("kubectl printed the change")
            .unwrap()
            .unwrap();
        if line.starts_with("before ") && !created {
            cms.create(&PostParams::default(), &cm("after"))
                .await
                .unwrap();
            created = true;
        }
        seen.push(line);
    }
    assert!(seen[0].starts_with("NAME"), "{seen:?}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn kubectl_api_resources_and_older_clients() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "/usr/bin/kubectl");
    let out = k.ok(&["api-resources"]).await;
    let deploy: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("deployments "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        deploy,
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    let rc: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("replicationcontrollers "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        rc,
        [
            "replicationcontrollers",
            "rc",
            "v1",
            "true",
            "ReplicationController"
        ]
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("customresourcedefinitions "))
    );
    let explain = k.ok(&["explain", "deployment.spec"]).await;
    assert!(
        explain.contains("KIND:") && explain.contains("Deployment"),
        "{explain}"
    );
    assert!(explain.contains("replicas"), "{explain}");
    // kubectl's default --validate=strict rejects unknown fields via the server.
    let bad = write(
        s.dir(),
        "bad.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  replicaz: 3"),
    );
    let (ok, _, err) = k.run(&["create", "-f", &bad]).await;
    assert!(!ok);
    assert!(err.contains("replicaz"), "{err}");
    let all = k.ok(&["get", "all", "-A"]).await;
    assert!(all.contains("service/kubernetes"), "{all}");

    // Older kubectl binaries (version skew) work too.
    for v in ["1.27", "1.30", "1.32"] {
        let bin = format!("/usr/lib/google-cloud-sdk/bin/kubectl.{v}");
        if !Path::new(&bin).exists() {
            continue;
        }
        let old = Kubectl::new(&s, &bin);
        let file = write(
            s.dir(),
            &format!("old-{v}.yaml"),
            &DEPLOYMENT.replace("name: web", &format!("name: web-{}", v.replace('.', "-"))),
        );
        old.ok(&["create", "-f", &file]).await;
        let out = old.ok(&["get", "deploy"]).await;
        assert!(
            out.contains(&format!("web-{}", v.replace('.', "-"))),
            "{out}"
        );
        old.ok(&["get", "ns", "kube-system", "-o", "json"]).await;
    }
}

#[tokio::test]
async fn kubectl_apply_and_diff_keep_unnamed_fields() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "/usr/bin/kubectl");
    let v1 = DEPLOYMENT.replace(
        "image: nginx:1.27",
        "image: nginx:1.27\n        ports: [{containerPort: 80, name: http}]\n        env: [{name: A, value: \"1\"}]",
    );
    let file = write(s.dir(), "apply.yaml", &v1);
    assert_eq!(
        k.ok(&["apply", "-f", &file]).await.trim(),
        "deployment.apps/web created"
    );
    let v2 = v1
        .replace("nginx:1.27", "nginx:1.28")
        .replace("value: \"1\"}]", "value: \"1\"}, {name: B, value: \"2\"}]");
    let file2 = write(s.dir(), "apply2.yaml", &v2);
    // kubectl diff runs a server-side dry-run patch: it shows the change, commits nothing.
    let (_, diff, _) = k.run(&["diff", "-f", &file2]).await;
    assert!(diff.contains("nginx:1.28"), "{diff}");
    let api: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let c = &api
        .get("web")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0];
    assert_eq!(c.image.as_deref(), Some("nginx:1.27"));
    assert_eq!(
        k.ok(&["apply", "-f", &file2]).await.trim(),
        "deployment.apps/web configured"
    );
    let d = api.get("web").await.unwrap();
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("nginx:1.28"));
    let env: Vec<String> = c.env.clone().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(env, ["A", "B"]);
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 80);
    assert_eq!(d.metadata.generation, Some(2));
}

/// The kubectl binaries the token and debug tests run: the dispatcher (1.33 against this
/// server) and the oldest and a middle versioned binary, which must be installed.
fn kubectl_binaries() -> Vec<String> {
    let mut bins = vec!["/usr/bin/kubectl".to_string()];
    for v in ["1.27", "1.30"] {
        let bin = format!("/usr/lib/google-cloud-sdk/bin/kubectl.{v}");
        assert!(Path::new(&bin).exists(), "{bin} is not installed");
        bins.push(bin);
    }
    bins
}

/// The claims of a JWT, decoded.
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.trim().split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn kubectl_create_token_gives_a_bearer_token_the_server_takes() {
    let s = TestServer::start().await.unwrap();
    // capstan has no serviceaccount controller yet (issue 14): create the account a
    // real cluster's controller would.
    let admin = Kubectl::new(&s, "/usr/bin/kubectl");
    admin.ok(&["create", "serviceaccount", "default"]).await;
    for (i, bin) in kubectl_binaries().iter().enumerate() {
        let k = Kubectl::new(&s, bin);
        let token = k.ok(&["create", "token", "default"]).await;
        let token = token.trim();
        assert_eq!(token.split('.').count(), 3, "{bin}: {token}");
        let claims = jwt_claims(token);
        assert_eq!(
            claims["sub"], "system:serviceaccount:default:default",
            "{bin}"
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        let as_sa = format!("--token={token}");
        k.ok(&[&as_sa, "get", "pods"]).await;
        let bad = {
            let (head, sig) = token.rsplit_once('.').unwrap();
            let flipped = if sig.starts_with('A') { "B" } else { "A" };
            format!("--token={head}.{flipped}{}", &sig[1..])
        };
        let (ok, _, err) = k.run(&[&bad, "get", "pods"]).await;
        assert!(!ok, "{bin}: a tampered token was taken");
        assert!(err.contains("Unauthorized"), "{bin}: {err}");

        // Bound to a pod for ten minutes: it works until the pod is deleted.
        let pod = format!("p{i}");
        k.ok(&["run", &pod, "--image=nginx", "--restart=Never"])
            .await;
        let bound = k
            .ok(&[
                "create",
                "token",
                "default",
                "--duration=10m",
                "--bound-object-kind",
                "Pod",
                "--bound-object-name",
                &pod,
            ])
            .await;
        let claims = jwt_claims(&bound);
        assert_eq!(
            claims["kubernetes.io"]["pod"]["name"],
            pod.as_str(),
            "{bin}"
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        let as_pod = format!("--token={}", bound.trim());
        let out = k.ok(&[&as_pod, "get", "pods", "-o", "name"]).await;
        assert!(out.contains(&format!("pod/{pod}")), "{bin}: {out}");
        k.ok(&["delete", "pod", &pod]).await;
        let (ok, _, err) = k.run(&[&as_pod, "get", "pods"]).await;
        assert!(!ok && err.contains("Unauthorized"), "{bin}: {err}");
        // The account's unbound token is unaffected.
        k.ok(&[&as_sa, "get", "pods"]).await;
    }
}

#[tokio::test]
async fn kubectl_debug_adds_an_ephemeral_container() {
    let s = TestServer::start().await.unwrap();
    for (i, bin) in kubectl_binaries().iter().enumerate() {
        let k = Kubectl::new(&s, bin);
        let pod = format!("mypod{i}");
        let file = write(
            s.dir(),
            &format!("{pod}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  containers:\n  - {{name: c, image: nginx}}\n"
            ),
        );
        k.ok(&["create", "-f", &file]).await;
        let (ok, out, err) = k
            .run(&["debug", &pod, "--image=busybox", "--target=c"])
            .await;
        assert!(ok, "{bin}: {err}");
        let jsonpath = |field: &str| format!("jsonpath={{.spec.ephemeralContainers[*].{field}}}");
        let names = k.ok(&["get", "pod", &pod, "-o", &jsonpath("name")]).await;
        assert!(
            names.starts_with("debugger-") && names.split_whitespace().count() == 1,
            "{bin}: {names:?}"
        );
        assert!(
            out.contains(&format!("Defaulting debug container name to {names}.")),
            "{bin}: kubectl said {out:?}"
        );
        let target = k
            .ok(&["get", "pod", &pod, "-o", &jsonpath("targetContainerName")])
            .await;
        assert_eq!(target, "c", "{bin}");
        let image = k.ok(&["get", "pod", &pod, "-o", &jsonpath("image")]).await;
        assert_eq!(image, "busybox", "{bin}");
        // A second debug container joins the first.
        k.ok(&["debug", &pod, "--image=busybox", "--container=second"])
            .await;
        let names = k.ok(&["get", "pod", &pod, "-o", &jsonpath("name")]).await;
        assert_eq!(names.split_whitespace().count(), 2, "{bin}: {names}");
        assert!(names.ends_with(" second"), "{bin}: {names}");
    }
}

/// Upstream's admission as kubectl shows it: the namespaces a cluster needs cannot be
/// deleted, and `kubectl drain` evicts through `pods/eviction`, which marks the pod
/// (held here by a finalizer, as no kubelet runs) with the `DisruptionTarget` condition.
#[tokio::test]
async fn kubectl_meets_namespace_lifecycle_and_the_disruption_condition() {
    let s = TestServer::start().await.unwrap();
    let k = Kubectl::new(&s, "/usr/bin/kubectl");
    for ns in ["kube-system", "default"] {
        let (ok, _, err) = k.run(&["delete", "namespace", ns]).await;
        assert!(!ok, "deleting {ns} succeeded");
        assert_eq!(
            err.trim(),
            format!(
                "Error from server (Forbidden): namespaces \"{ns}\" is forbidden: this namespace may not be deleted"
            )
        );
    }

    let client = s.client().await;
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    // The pod never goes (its finalizer stays): drain evicts it, then gives up waiting.
    let (_, out, err) = k.run(&["drain", "n1", "--force", "--timeout=3s"]).await;
    let said = format!("{out}{err}");
    assert!(said.contains("node/n1 cordoned"), "{said}");
    assert!(said.contains("evicting pod default/held"), "{said}");
    let held = pods.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(
        common::disruption_target(&held).is_some(),
        "{:?}",
        held.status
    );
    let shown = k
        .ok(&[
            "get",
            "pod",
            "held",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
        ])
        .await;
    assert_eq!(shown, "EvictionByEvictionAPI");
}
