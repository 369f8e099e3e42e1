//! Helm 3.17 against the server: `helm install`, `helm upgrade` with a changed value and
//! `helm uninstall` of a small chart (`tests/fixtures/helm/webapp`: Deployment, Service,
//! ConfigMap, Role). Helm writes the chart's objects as JSON and its release Secrets
//! (`sh.helm.release.v1.<name>.v<n>`) through client-go's typed client, as protobuf.
//!
//! Needs `helm` on PATH or in `~/.local/bin`: `bash ../shared/tools/get-helm.sh` (from
//! the repository root) installs it; CI runs that first.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use capstan_apiserver::TestServer;
use common::{get_json, send};
use serde_json::{Value, json};

/// Helm from PATH or `~/.local/bin`; panics with how to install it otherwise.
fn helm_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let local = std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/bin"));
    on_path
        .into_iter()
        .chain(local)
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "helm is not on PATH nor in ~/.local/bin: install Helm 3.17 with \
                 `bash ../shared/tools/get-helm.sh` from the repository root"
            )
        })
}

struct Helm {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Helm {
    fn new(s: &TestServer) -> Self {
        Helm {
            bin: helm_binary(),
            kubeconfig: s.kubeconfig_path().to_path_buf(),
            home: s.dir().join("helm-home"),
        }
    }

    /// Runs helm and asserts success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let run = tokio::process::Command::new(&self.bin)
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--namespace")
            .arg("default")
            .env_remove("KUBECONFIG")
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .unwrap_or_else(|_| panic!("helm {args:?} did not finish in 120 s"))
            .expect("helm runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "helm {args:?} failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("helm {args:?}: {e}: {out}"))
    }
}

fn chart() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/helm/webapp")
        .to_string_lossy()
        .into_owned()
}

const CM: &str = "/api/v1/namespaces/default/configmaps/demo-config";
const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/demo-web";
const SVC: &str = "/api/v1/namespaces/default/services/demo-web";
const ROLE: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/demo-reader";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

async fn release_secret(client: &kube::Client, revision: u32) -> Value {
    get_json(
        client,
        &format!("{SECRETS}/sh.helm.release.v1.demo.v{revision}"),
    )
    .await
}

async fn code_of(client: &kube::Client, path: &str) -> u16 {
    send(client, "GET", path, &[], Vec::new()).await.0
}

#[tokio::test]
async fn helm_install_upgrade_uninstall() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let helm = Helm::new(&s);
    let chart = chart();

    // Install.
    let out = helm.ok(&["install", "demo", &chart]).await;
    assert!(out.contains("STATUS: deployed"), "{out}");
    // Helm labels and annotates what it owns, so a later upgrade can adopt it.
    let labels = json!({"app.kubernetes.io/name": "webapp", "app.kubernetes.io/instance": "demo",
                        "app.kubernetes.io/managed-by": "Helm"});
    let annotations =
        json!({"meta.helm.sh/release-name": "demo", "meta.helm.sh/release-namespace": "default"});

    let cm = get_json(&client, CM).await;
    assert_eq!(cm["data"], json!({"greeting": "hello"}));
    assert_eq!(cm["metadata"]["labels"], labels);
    assert_eq!(cm["metadata"]["annotations"], annotations);

    let d = get_json(&client, DEPLOY).await;
    assert_eq!(d["metadata"]["labels"], labels);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app.kubernetes.io/instance": "demo"}})
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.27");
    assert_eq!(
        c["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}})
    );
    assert_eq!(
        c["envFrom"],
        json!([{"configMapRef": {"name": "demo-config"}}])
    );
    let checksum = d["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone();
    assert_eq!(checksum.as_str().map(str::len), Some(64), "{d}");

    let svc = get_json(&client, SVC).await;
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}])
    );
    assert_eq!(
        svc["spec"]["selector"],
        json!({"app.kubernetes.io/instance": "demo"})
    );

    let role = get_json(&client, ROLE).await;
    assert_eq!(role["metadata"]["annotations"], annotations);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["demo-config"], "verbs": ["get", "watch"]}])
    );

    // The release Secret, written as protobuf by Helm's typed client.
    let v1 = release_secret(&client, 1).await;
    assert_eq!(v1["type"], "helm.sh/release.v1");
    let l = &v1["metadata"]["labels"];
    assert_eq!(
        (&l["name"], &l["owner"], &l["status"], &l["version"]),
        (
            &json!("demo"),
            &json!("helm"),
            &json!("deployed"),
            &json!("1")
        )
    );
    assert!(
        l["modifiedAt"]
            .as_str()
            .is_some_and(|m| m.parse::<u64>().is_ok()),
        "{v1}"
    );
    assert!(
        v1["data"]["release"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    // Helm reads it back (a typed list by label selector) and understands it.
    let status = helm.json(&["status", "demo", "-o", "json"]).await;
    assert_eq!(status["info"]["status"], "deployed");
    assert_eq!(status["version"], 1);

    // Upgrade with changed values.
    helm.ok(&[
        "upgrade",
        "demo",
        &chart,
        "--set",
        "replicas=3",
        "--set",
        "greeting=bonjour",
    ])
    .await;
    assert_eq!(
        get_json(&client, CM).await["data"],
        json!({"greeting": "bonjour"})
    );
    let d = get_json(&client, DEPLOY).await;
    assert_eq!(d["spec"]["replicas"], 3);
    let new_checksum = &d["spec"]["template"]["metadata"]["annotations"]["checksum/config"];
    assert_ne!(
        *new_checksum, checksum,
        "the config checksum rolled the template"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(
        get_json(&client, SVC).await["spec"]["ports"][0]["targetPort"],
        "http"
    );
    let v1 = release_secret(&client, 1).await;
    assert_eq!(v1["metadata"]["labels"]["status"], "superseded");
    let v2 = release_secret(&client, 2).await;
    assert_eq!(v2["metadata"]["labels"]["status"], "deployed");
    assert_eq!(v2["metadata"]["labels"]["version"], "2");
    let history = helm.json(&["history", "demo", "-o", "json"]).await;
    let states: Vec<(&Value, &Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["revision"], &r["status"]))
        .collect();
    assert_eq!(
        states,
        [
            (&json!(1), &json!("superseded")),
            (&json!(2), &json!("deployed"))
        ]
    );
    let values = helm.json(&["get", "values", "demo", "-o", "json"]).await;
    assert_eq!(values, json!({"greeting": "bonjour", "replicas": 3}));

    // Uninstall: the chart's objects and the release Secrets are gone.
    let out = helm.ok(&["uninstall", "demo"]).await;
    assert!(out.contains("release \"demo\" uninstalled"), "{out}");
    for path in [CM, DEPLOY, SVC, ROLE] {
        assert_eq!(
            code_of(&client, path).await,
            404,
            "{path} survived uninstall"
        );
    }
    let (code, _, secrets) = send(
        &client,
        "GET",
        &format!("{SECRETS}?labelSelector=owner%3Dhelm"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        secrets["items"],
        json!([]),
        "release Secrets survived uninstall"
    );
    assert_eq!(helm.json(&["list", "-o", "json"]).await, json!([]));
}
