//! PATCH and apply as real clients send them: real kubectl (`/usr/bin/kubectl`) with
//! server-side apply from two field managers, client-side apply of an edited manifest,
//! and `kubectl patch` of every type on the main resource and on `status`/`scale`.

use std::path::{Path, PathBuf};

use capstan_apiserver::TestServer;
use serde_json::{Value, json};

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    fn new(s: &TestServer) -> Self {
        Kubectl {
            kubeconfig: s.kubeconfig_path().to_path_buf(),
            cache: s.dir().join("kubectl-cache"),
            dir: s.dir().to_path_buf(),
        }
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output()
            .await
            .expect("kubectl runs");
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

    async fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
        serde_json::from_str(&self.ok(&a).await).expect("kubectl prints JSON")
    }

    fn write(&self, name: &str, content: &str) -> String {
        let p: PathBuf = self.dir.join(name);
        std::fs::write(&p, content).expect("manifest written");
        path_str(&p)
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// The `managedFields` entry of `manager`.
fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

const SSA_A: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: 2
  selector:
    matchLabels: {app: ssa}
  template:
    metadata:
      labels: {app: ssa}
    spec:
      containers:
      - name: app
        image: nginx:1.27
"#;

const SSA_B: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: 5
"#;

#[tokio::test]
async fn server_side_apply_conflict_then_force_transfers_ownership() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let a = k.write("a.yaml", SSA_A);
    let b = k.write("b.yaml", SSA_B);
    let out = k
        .ok(&[
            "apply",
            "--server-side",
            "--field-manager",
            "team-a",
            "-f",
            &a,
        ])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let d = k.get_json(&["deployment", "ssa"]).await;
    let rv = d["metadata"]["resourceVersion"].clone();
    let mf = entry(&d, "team-a").expect("team-a manages fields");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

    // Applying the same configuration again is a no-op: no new revision.
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "team-a",
        "-f",
        &a,
    ])
    .await;
    let again = k.get_json(&["deployment", "ssa"]).await;
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    assert_eq!(again["metadata"]["generation"], 1);

    let (ok, _, err) = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "team-b",
            "-f",
            &b,
        ])
        .await;
    assert!(!ok);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"team-a\": .spec.replicas"),
        "{err}"
    );
    assert_eq!(
        k.get_json(&["deployment", "ssa"]).await["spec"]["replicas"],
        2
    );

    k.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "team-b",
        "-f",
        &b,
    ])
    .await;
    let d = k.get_json(&["deployment", "ssa"]).await;
    assert_eq!(d["spec"]["replicas"], 5);
    let b_entry = entry(&d, "team-b").expect("team-b manages fields");
    assert_eq!(b_entry["operation"], "Apply");
    assert_eq!(b_entry["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    let a_entry = entry(&d, "team-a").expect("team-a keeps its other fields");
    assert!(
        a_entry["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "ownership of .spec.replicas moved: {a_entry}"
    );
    assert_eq!(
        a_entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
            ["f:image"],
        json!({})
    );
    s.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_over_http_statuses() {
    let s = TestServer::start().await.expect("server starts");
    let client = s.client().await;
    let url = "/api/v1/namespaces/default/configmaps/cm";
    let send = |query: &'static str, body: &'static str| {
        let client = client.clone();
        async move {
            let req = http::Request::patch(format!("{url}{query}"))
                .header("Content-Type", "application/apply-patch+yaml")
                .body(body.as_bytes().to_vec())
                .expect("request builds");
            match client.request::<Value>(req).await {
                Ok(v) => Ok(v),
                Err(kube::Error::Api(e)) => Err(e),
                Err(e) => panic!("transport error: {e}"),
            }
        }
    };
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n";
    let e = send("", yaml).await.expect_err("fieldManager is required");
    assert_eq!(e.code, 422);
    let cm = send("?fieldManager=one", yaml)
        .await
        .expect("create-on-apply");
    assert_eq!(cm["data"]["a"], "1");
    let json_body =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"2"}}"#;
    let e = send("?fieldManager=two", json_body)
        .await
        .expect_err("conflict");
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"one\": .data.a"
    );
    let cm = send("?fieldManager=two&force=true", json_body)
        .await
        .expect("forced");
    assert_eq!(cm["data"]["a"], "2");
    // 201 when the apply created the object, 200 afterwards.
    for (body, want) in [(yaml, 201), (yaml, 200)] {
        let req =
            http::Request::patch("/api/v1/namespaces/default/configmaps/fresh?fieldManager=one")
                .header("Content-Type", "application/apply-patch+yaml")
                .body(body.replace("name: cm", "name: fresh").into_bytes())
                .expect("request builds");
        let resp = client.send(req.map(Into::into)).await.expect("response");
        assert_eq!(resp.status().as_u16(), want);
    }
    // "one" stops applying data.a: the field stays (now owned by "two").
    let cm = send(
        "?fieldManager=one",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    )
    .await
    .expect("apply");
    assert_eq!(cm["data"]["a"], "2");
    s.shutdown().await;
}

const CSA_V1: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: csa
  labels: {app: csa, tier: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: csa}
  template:
    metadata:
      labels: {app: csa}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env:
        - {name: MODE, value: prod}
        ports:
        - {containerPort: 80, name: http}
        - {containerPort: 443, name: https}
"#;

/// The edit: new image, one more env var, the https port and the `tier` label gone.
const CSA_V2: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: csa
  labels: {app: csa}
spec:
  replicas: 2
  selector:
    matchLabels: {app: csa}
  template:
    metadata:
      labels: {app: csa}
    spec:
      containers:
      - name: app
        image: nginx:1.28
        env:
        - {name: MODE, value: prod}
        - {name: DEBUG, value: "false"}
        ports:
        - {containerPort: 80, name: http}
"#;

#[tokio::test]
async fn client_side_apply_of_an_edited_manifest() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let v1 = k.write("csa-v1.yaml", CSA_V1);
    let out = k.ok(&["apply", "-f", &v1]).await;
    assert_eq!(out.trim(), "deployment.apps/csa created");
    let d = k.get_json(&["deployment", "csa"]).await;
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    assert_eq!(
        entry(&d, "kubectl-client-side-apply").expect("kubectl's entry")["operation"],
        "Update"
    );

    // Another client annotates the object and a controller writes its status;
    // client-side apply must leave both alone.
    k.ok(&["annotate", "deployment", "csa", "owner=ops"]).await;
    k.ok(&[
        "patch",
        "deployment",
        "csa",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"replicas":2,"readyReplicas":1,"observedGeneration":1}}"#,
    ])
    .await;
    // A Deployment's generation follows its annotations too (upstream's strategy).
    let annotated = k.get_json(&["deployment", "csa"]).await;
    assert_eq!(annotated["metadata"]["generation"], 2);

    let v2 = k.write("csa-v2.yaml", CSA_V2);
    let out = k.ok(&["apply", "-f", &v2]).await;
    assert_eq!(out.trim(), "deployment.apps/csa configured");
    let d = k.get_json(&["deployment", "csa"]).await;
    assert_eq!(d["metadata"]["labels"], json!({"app": "csa"}));
    assert_eq!(d["metadata"]["annotations"]["owner"], "ops");
    assert_eq!(
        d["status"],
        json!({"replicas": 2, "readyReplicas": 1, "observedGeneration": 1})
    );
    assert_eq!(d["metadata"]["generation"], 3);
    assert_eq!(d["spec"]["replicas"], 2);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["name"], "app");
    assert_eq!(c["image"], "nginx:1.28");
    assert_eq!(
        c["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "false"}])
    );
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
    );
    // Server defaults survive the patch as on a real cluster.
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");

    // Applying the same manifest again changes nothing: no generation bump.
    let rv = d["metadata"]["resourceVersion"].clone();
    let out = k.ok(&["apply", "-f", &v2]).await;
    assert_eq!(out.trim(), "deployment.apps/csa unchanged");
    let again = k.get_json(&["deployment", "csa"]).await;
    assert_eq!(again["metadata"]["generation"], 3);
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    s.shutdown().await;
}

const PATCHABLE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: p
  labels: {app: p}
spec:
  replicas: 1
  selector:
    matchLabels: {app: p}
  template:
    metadata:
      labels: {app: p}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - {containerPort: 80}
      - name: side
        image: busybox
"#;

#[tokio::test]
async fn kubectl_patch_every_type_on_spec_status_and_scale() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let f = k.write("p.yaml", PATCHABLE);
    k.ok(&["create", "-f", &f]).await;

    // Strategic: containers merge by name, the other container and its ports stay.
    k.ok(&[
        "patch",
        "deployment",
        "p",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28"}]}}}}"#,
    ])
    .await;
    let d = k.get_json(&["deployment", "p"]).await;
    let cs = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs.as_array().map(Vec::len), Some(2));
    assert_eq!(cs[0]["image"], "nginx:1.28");
    assert_eq!(cs[0]["ports"][0]["containerPort"], 80);
    assert_eq!(cs[1]["name"], "side");
    assert_eq!(
        entry(&d, "kubectl-patch").expect("kubectl-patch entry")["fieldsV1"]["f:spec"]["f:template"]
            ["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"],
        json!({})
    );

    // Merge: a list is replaced as a whole (RFC 7386), labels merge.
    k.ok(&[
        "patch",
        "deployment",
        "p",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"extra":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox"}]}}}}"#,
    ])
    .await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert_eq!(d["metadata"]["labels"], json!({"app": "p", "extra": "1"}));
    let cs = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["name"], "only");

    // JSON patch, and a failing test op answers 422 and changes nothing.
    k.ok(&[
        "patch",
        "deployment",
        "p",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3},{"op":"remove","path":"/metadata/labels/extra"}]"#,
    ])
    .await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["labels"], json!({"app": "p"}));
    let (ok, _, err) = k
        .run(&[
            "patch",
            "deployment",
            "p",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":7}]"#,
        ])
        .await;
    assert!(!ok);
    assert!(err.contains("is invalid") || err.contains("test"), "{err}");
    assert_eq!(
        k.get_json(&["deployment", "p"]).await["spec"]["replicas"],
        3
    );

    // Status subresource: only status changes, whatever else the patch names.
    k.ok(&[
        "patch",
        "deployment",
        "p",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":8},"status":{"observedGeneration":4,"replicas":3}}"#,
    ])
    .await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert_eq!(d["status"]["replicas"], 3);
    assert_eq!(d["status"]["observedGeneration"], 4);
    assert_eq!(d["spec"]["replicas"], 3);
    let st = d["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["subresource"] == "status"))
        .expect("a status entry");
    assert_eq!(st["fieldsV1"]["f:status"]["f:replicas"], json!({}));
    k.ok(&[
        "patch",
        "deployment",
        "p",
        "--subresource",
        "status",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/status/replicas","value":2}]"#,
    ])
    .await;
    assert_eq!(
        k.get_json(&["deployment", "p"]).await["status"]["replicas"],
        2
    );

    // Scale subresource, with each patch type.
    for (ty, body, want) in [
        ("merge", r#"{"spec":{"replicas":5}}"#, 5),
        ("strategic", r#"{"spec":{"replicas":6}}"#, 6),
        (
            "json",
            r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
            4,
        ),
    ] {
        let out = k
            .ok(&[
                "patch",
                "deployment",
                "p",
                "--subresource",
                "scale",
                "--type",
                ty,
                "-p",
                body,
                "-o",
                "json",
            ])
            .await;
        let scale: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(scale["kind"], "Scale", "{ty}");
        assert_eq!(scale["spec"]["replicas"], want, "{ty}");
        assert_eq!(
            k.get_json(&["deployment", "p"]).await["spec"]["replicas"],
            want,
            "{ty}"
        );
    }
    let d = k.get_json(&["deployment", "p"]).await;
    let sc = d["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["subresource"] == "scale"))
        .expect("a scale entry");
    assert_eq!(sc["manager"], "kubectl-patch");
    assert_eq!(sc["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    s.shutdown().await;
}

/// A CRD whose `spec.ports` is a map-list keyed by `name`.
fn gadget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"}, "port": {"type": "integer"}
                            }}
                        }
                    }},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
                }}}
            }]
        }
    })
}

#[tokio::test]
async fn custom_resources_apply_with_their_schema_list_types() {
    use kube::api::{
        Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    };
    let s = TestServer::start().await.expect("server starts");
    let client = s.client().await;
    let crds_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crds_ar);
    let crd: DynamicObject = serde_json::from_value(gadget_crd()).expect("CRD object");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("CRD created");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let gadget = |ports: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Gadget",
            "metadata": {"name": "g"}, "spec": {"ports": ports}})
    };
    // The kind is served once the CRD is established: poll the first apply.
    let first = loop {
        match api
            .patch(
                "g",
                &PatchParams::apply("one"),
                &Patch::Apply(gadget(json!([{"name": "http", "port": 80}]))),
            )
            .await
        {
            Ok(o) => break o,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "never served: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(first.data["spec"]["ports"][0]["port"], 80);

    // A second manager applying another key of the map-list adds to it.
    let both = api
        .patch(
            "g",
            &PatchParams::apply("two"),
            &Patch::Apply(gadget(json!([{"name": "https", "port": 443}]))),
        )
        .await
        .expect("no conflict on a different key");
    let names: Vec<&str> = both.data["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec!["http", "https"]);

    // The same key with another value conflicts, naming the element by its key.
    let err = api
        .patch(
            "g",
            &PatchParams::apply("two"),
            &Patch::Apply(gadget(json!([{"name": "http", "port": 8080}]))),
        )
        .await
        .expect_err("conflict");
    let kube::Error::Api(status) = err else {
        panic!("expected a Status, got {err}")
    };
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"one\": .spec.ports[name=\"http\"].port"
    );

    // Strategic merge patch is not served for custom resources.
    let err = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 1}})),
        )
        .await
        .expect_err("415");
    let kube::Error::Api(status) = err else {
        panic!("expected a Status, got {err}")
    };
    assert_eq!(status.code, 415);

    // Apply to the status subresource changes status only.
    let st = api
        .patch_status(
            "g",
            &PatchParams::apply("ctrl"),
            &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                "metadata": {"name": "g"}, "status": {"ready": true}})),
        )
        .await
        .expect("status apply");
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(st.data["spec"]["ports"].as_array().map(Vec::len), Some(2));
    let mf = st.metadata.managed_fields.clone().unwrap_or_default();
    let ctrl = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("ctrl"))
        .expect("ctrl entry");
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
    assert_eq!(ctrl.operation.as_deref(), Some("Apply"));
    s.shutdown().await;
}

#[tokio::test]
async fn kubectl_scale_label_annotate_and_rollout_change_what_they_change() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let f = k.write("p.yaml", PATCHABLE);
    k.ok(&["create", "-f", &f]).await;
    let before = k.get_json(&["deployment", "p"]).await;

    k.ok(&["scale", "deployment", "p", "--replicas", "3"]).await;
    // With a precondition kubectl PUTs the Scale (without a Content-Type).
    k.ok(&[
        "scale",
        "deployment",
        "p",
        "--current-replicas",
        "3",
        "--replicas",
        "4",
    ])
    .await;
    let (ok, _, err) = k
        .run(&[
            "scale",
            "deployment",
            "p",
            "--current-replicas",
            "3",
            "--replicas",
            "5",
        ])
        .await;
    assert!(!ok, "a stale precondition fails");
    assert!(err.contains("Expected replicas to be 3"), "{err}");
    k.ok(&["label", "deployment", "p", "team=x"]).await;
    k.ok(&["annotate", "deployment", "p", "note=y"]).await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["labels"], json!({"app": "p", "team": "x"}));
    assert_eq!(d["metadata"]["annotations"]["note"], "y");
    assert_eq!(d["spec"]["template"], before["spec"]["template"]);

    k.ok(&["rollout", "pause", "deployment", "p"]).await;
    assert_eq!(
        k.get_json(&["deployment", "p"]).await["spec"]["paused"],
        true
    );
    k.ok(&["rollout", "resume", "deployment", "p"]).await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert!(d["spec"].get("paused").is_none() || d["spec"]["paused"] == false);
    k.ok(&["rollout", "restart", "deployment", "p"]).await;
    let d = k.get_json(&["deployment", "p"]).await;
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(
        d["spec"]["template"]["spec"],
        before["spec"]["template"]["spec"]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn client_side_apply_migrates_to_server_side_apply() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let v1 = k.write("csa-v1.yaml", CSA_V1);
    k.ok(&["apply", "-f", &v1]).await;
    // The same manifest applied server-side takes over kubectl's client-side fields.
    let out = k.ok(&["apply", "--server-side", "-f", &v1]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    let d = k.get_json(&["deployment", "csa"]).await;
    let ssa = entry(&d, "kubectl").expect("kubectl's Apply entry");
    assert_eq!(ssa["operation"], "Apply");
    assert_eq!(
        ssa["fieldsV1"]["f:metadata"]["f:labels"]["f:tier"],
        json!({})
    );
    // Dropping a label from the manifest now removes it server-side.
    let v2 = k.write("csa-v2.yaml", CSA_V2);
    k.ok(&["apply", "--server-side", "-f", &v2]).await;
    let d = k.get_json(&["deployment", "csa"]).await;
    assert_eq!(d["metadata"]["labels"], json!({"app": "csa"}));
    let ports = &d["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "{ports}");
    s.shutdown().await;
}

#[tokio::test]
async fn kubectl_apply_of_a_custom_resource_falls_back_to_a_merge_patch() {
    let s = TestServer::start().await.expect("server starts");
    let k = Kubectl::new(&s);
    let crd = k.write(
        "gadget-crd.json",
        &serde_json::to_string(&gadget_crd()).expect("CRD JSON"),
    );
    k.ok(&["apply", "-f", &crd]).await;
    let v1 = k.write(
        "gadget-v1.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  labels: {tier: web, team: a}\nspec:\n  size: 3\n  ports:\n  - {name: http, port: 80}\n",
    );
    // kubectl learns the new kind from discovery; poll until the CRD is served.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (ok, _, err) = k.run(&["apply", "-f", &v1]).await;
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never applied: {err}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Another client writes status; apply must leave it alone.
    k.ok(&[
        "patch",
        "gadget",
        "g",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"ready":true}}"#,
    ])
    .await;
    // The edit drops spec.size and the team label, changes the port: kubectl computes a
    // JSON merge patch from last-applied-configuration (no strategic merge for CRs).
    let v2 = k.write(
        "gadget-v2.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  labels: {tier: web}\nspec:\n  ports:\n  - {name: http, port: 8080}\n",
    );
    let out = k.ok(&["apply", "-f", &v2]).await;
    assert_eq!(out.trim(), "gadget.example.com/g configured");
    let g = k.get_json(&["gadget", "g"]).await;
    assert_eq!(g["metadata"]["labels"], json!({"tier": "web"}));
    assert_eq!(
        g["spec"],
        json!({"ports": [{"name": "http", "port": 8080}]})
    );
    assert_eq!(g["status"], json!({"ready": true}));
    assert_eq!(g["metadata"]["generation"], 2);
    let rv = g["metadata"]["resourceVersion"].clone();
    let out = k.ok(&["apply", "-f", &v2]).await;
    assert_eq!(out.trim(), "gadget.example.com/g unchanged");
    let again = k.get_json(&["gadget", "g"]).await;
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    assert_eq!(again["metadata"]["generation"], 2);
    s.shutdown().await;
}
