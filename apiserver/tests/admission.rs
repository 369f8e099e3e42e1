//! The admission chain over HTTP: what each step does to objects created through the
//! API, as kube-apiserver's default plugins do it.

mod common;

use capstan_apiserver::{Admission, AdmissionConfig, ServerConfig, TestServer};
use common::{disruption_target, post_json, send};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Node, PersistentVolumeClaim, Pod, ResourceQuota, Toleration,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::Status;
use serde_json::{Value, json};

async fn client(s: &TestServer) -> kube::Client {
    kube::Client::try_from(s.config().await).unwrap()
}

fn pod(name: &str, extra_spec: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn no_execute(key: &str, seconds: i64) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: Some(seconds),
        value: None,
    }
}

fn tolerations(p: &Pod) -> Vec<Toleration> {
    p.spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn pods_tolerate_unready_and_unreachable_nodes_for_five_minutes() {
    let s = TestServer::start().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();
    let plain = pods.create(&pp, &pod("plain", json!({}))).await.unwrap();
    let defaults = vec![
        no_execute("node.kubernetes.io/not-ready", 300),
        no_execute("node.kubernetes.io/unreachable", 300),
    ];
    assert_eq!(tolerations(&plain), defaults);
    assert_eq!(tolerations(&pods.get("plain").await.unwrap()), defaults);

    let own = no_execute("node.kubernetes.io/unreachable", 30);
    let created = pods
        .create(&pp, &pod("own", json!({"tolerations": [own]})))
        .await
        .unwrap();
    assert_eq!(
        tolerations(&created),
        [own, no_execute("node.kubernetes.io/not-ready", 300)]
    );
}

#[tokio::test]
async fn pods_naming_no_class_take_the_global_default_and_system_classes_exist() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [
        ("system-cluster-critical", 2000000000),
        ("system-node-critical", 2000001000),
    ] {
        assert_eq!(classes.get(name).await.unwrap().value, value, "{name}");
    }
    let pp = PostParams::default();
    let everyone: PriorityClass = serde_json::from_value(json!({
        "metadata": {"name": "everyone"},
        "value": 42,
        "globalDefault": true,
        "preemptionPolicy": "Never",
    }))
    .unwrap();
    classes.create(&pp, &everyone).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let spec = pods
        .create(&pp, &pod("p", json!({})))
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(
        (
            spec.priority_class_name.as_deref(),
            spec.priority,
            spec.preemption_policy.as_deref()
        ),
        (Some("everyone"), Some(42), Some("Never"))
    );
}

#[tokio::test]
async fn claims_naming_no_class_take_the_default_storage_class() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pp = PostParams::default();
    let scs: Api<StorageClass> = Api::all(client.clone());
    for (name, default) in [("slow", "false"), ("standard", "true")] {
        let sc: StorageClass = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": {"storageclass.kubernetes.io/is-default-class": default},
            },
            "provisioner": "example.com/disks",
        }))
        .unwrap();
        scs.create(&pp, &sc).await.unwrap();
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    for (name, asked, want) in [
        ("unnamed", None, "standard"),
        ("none-wanted", Some(""), ""),
        ("named", Some("slow"), "slow"),
    ] {
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        });
        if let Some(c) = asked {
            spec["storageClassName"] = json!(c);
        }
        let pvc: PersistentVolumeClaim =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        pvcs.create(&pp, &pvc).await.unwrap();
        let stored = pvcs.get(name).await.unwrap().spec.unwrap();
        assert_eq!(stored.storage_class_name.as_deref(), Some(want), "{name}");
    }
}

const SA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What the `ServiceAccount` step decides about a stored pod's spec: its account, pull
/// secrets, volumes and each (init) container's mounts, the token volume's random name
/// replaced by `kube-api-access-*` once checked to have upstream's form.
fn account_view(spec: &Value) -> Value {
    let text = spec.to_string();
    let re = regex::Regex::new("kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}").unwrap();
    let names: std::collections::BTreeSet<&str> = re.find_iter(&text).map(|m| m.as_str()).collect();
    assert!(names.len() <= 1, "one token volume name: {names:?}");
    let spec: Value = serde_json::from_str(&re.replace_all(&text, "kube-api-access-*")).unwrap();
    let mounts = |field: &str| -> Value {
        spec[field]
            .as_array()
            .map(|cs| cs.iter().map(|c| c["volumeMounts"].clone()).collect())
            .unwrap_or(Value::Null)
    };
    json!({
        "serviceAccountName": spec["serviceAccountName"],
        "serviceAccount": spec["serviceAccount"],
        "imagePullSecrets": spec["imagePullSecrets"],
        "volumes": spec["volumes"],
        "initMounts": mounts("initContainers"),
        "mounts": mounts("containers"),
    })
}

fn token_volume() -> Value {
    json!({"name": "kube-api-access-*", "projected": {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
        "defaultMode": 420,
    }})
}

fn token_mount() -> Value {
    json!({"name": "kube-api-access-*", "readOnly": true, "mountPath": SA_PATH})
}

async fn create_pod(client: &kube::Client, name: &str, meta: Value, spec: Value) -> (u16, Value) {
    let mut metadata = meta;
    metadata["name"] = json!(name);
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c", "image": "nginx"}]);
    }
    post_json(
        client,
        "/api/v1/namespaces/default/pods",
        &json!({"metadata": metadata, "spec": spec}),
    )
    .await
}

#[tokio::test]
async fn pods_run_as_their_account_with_its_token_mounted() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    for sa in [
        json!({"metadata": {"name": "robot"}, "imagePullSecrets": [{"name": "registry"}]}),
        json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false}),
        json!({"metadata": {"name": "strict", "annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}},
            "secrets": [{"name": "allowed"}]}),
    ] {
        let (code, v) = post_json(&client, "/api/v1/namespaces/default/serviceaccounts", &sa).await;
        assert_eq!(code, 201, "{v}");
    }
    let mirror = json!({"annotations": {"kubernetes.io/config.mirror": "hash"}});
    let secret_volume =
        |name: &str| json!({"name": "s", "secret": {"secretName": name, "defaultMode": 420}});
    let view = |sa: &str, pull: Value, volumes: Value, init: Value, mounts: Value| {
        json!({"serviceAccountName": sa, "serviceAccount": sa, "imagePullSecrets": pull,
            "volumes": volumes, "initMounts": init, "mounts": mounts})
    };
    // One container, the token mounted into it.
    let mounted = |sa: &str, pull: Value| {
        view(
            sa,
            pull,
            json!([token_volume()]),
            Value::Null,
            json!([[token_mount()]]),
        )
    };
    // One container, no token.
    let unmounted = |sa: &str| view(sa, Value::Null, Value::Null, Value::Null, json!([null]));
    let table: Vec<(&str, Value, Value, Result<Value, &str>)> = vec![
        (
            "no account named: `default`, missing but not required yet, its token mounted",
            json!({}),
            json!({}),
            Ok(mounted("default", Value::Null)),
        ),
        (
            "init containers mount it too; a container mounting the path itself keeps its own",
            json!({}),
            json!({"initContainers": [{"name": "i", "image": "busybox"}],
                "containers": [{"name": "c", "image": "nginx"},
                    {"name": "own", "image": "nginx", "volumeMounts": [{"name": "mine", "mountPath": SA_PATH}]}],
                "volumes": [{"name": "mine", "emptyDir": {}}]}),
            Ok(view(
                "default",
                Value::Null,
                json!([{"name": "mine", "emptyDir": {}}, token_volume()]),
                json!([[token_mount()]]),
                json!([[token_mount()], [{"name": "mine", "mountPath": SA_PATH}]]),
            )),
        ),
        (
            "the pod opts out",
            json!({}),
            json!({"automountServiceAccountToken": false}),
            Ok(unmounted("default")),
        ),
        (
            "a named account: its pull secrets too",
            json!({}),
            json!({"serviceAccountName": "robot"}),
            Ok(mounted("robot", json!([{"name": "registry"}]))),
        ),
        (
            "the deprecated serviceAccount field names it as well",
            json!({}),
            json!({"serviceAccount": "robot", "imagePullSecrets": [{"name": "mine"}]}),
            Ok(mounted("robot", json!([{"name": "mine"}]))),
        ),
        (
            "the account opts out",
            json!({}),
            json!({"serviceAccountName": "quiet"}),
            Ok(unmounted("quiet")),
        ),
        (
            "the pod's preference wins over its account's",
            json!({}),
            json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true}),
            Ok(mounted("quiet", Value::Null)),
        ),
        (
            "an account that enforces mountable secrets allows those it lists",
            json!({}),
            json!({"serviceAccountName": "strict", "volumes": [secret_volume("allowed")]}),
            Ok(view(
                "strict",
                Value::Null,
                json!([secret_volume("allowed"), token_volume()]),
                Value::Null,
                json!([[token_mount()]]),
            )),
        ),
        (
            "and refuses others",
            json!({}),
            json!({"serviceAccountName": "strict", "volumes": [secret_volume("other")]}),
            Err(
                "pods \"p8\" is forbidden: volume with secret.secretName=\"other\" is not allowed because service account strict does not reference that secret",
            ),
        ),
        (
            "a named account that does not exist",
            json!({}),
            json!({"serviceAccountName": "ghost"}),
            Err(
                "pods \"p9\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found",
            ),
        ),
        (
            "a mirror pod is left alone",
            mirror.clone(),
            json!({}),
            Ok(
                json!({"serviceAccountName": null, "serviceAccount": null, "imagePullSecrets": null,
                "volumes": null, "initMounts": null, "mounts": [null]}),
            ),
        ),
        (
            "a mirror pod may not name an account",
            mirror.clone(),
            json!({"serviceAccountName": "robot"}),
            Err("pods \"p11\" is forbidden: a mirror pod may not reference service accounts"),
        ),
        (
            "nor use secrets",
            mirror,
            json!({"volumes": [secret_volume("allowed")]}),
            Err("pods \"p12\" is forbidden: a mirror pod may not reference secrets"),
        ),
    ];
    for (i, (case, meta, spec, want)) in table.into_iter().enumerate() {
        let (code, got) = create_pod(&client, &format!("p{i}"), meta, spec).await;
        match want {
            Ok(view) => {
                assert_eq!(code, 201, "{case}: {got}");
                assert_eq!(account_view(&got["spec"]), view, "{case}");
            }
            Err(message) => {
                assert_eq!(
                    (code, got["message"].as_str().unwrap_or("")),
                    (403, message),
                    "{case}"
                );
                assert_eq!(got["reason"], "Forbidden", "{case}");
            }
        }
    }
}

#[tokio::test]
async fn a_server_told_accounts_are_managed_refuses_pods_until_their_account_exists() {
    let s = TestServer::start_with(ServerConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        service_accounts_managed: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = client(&s).await;
    let (code, v) = create_pod(&client, "early", json!({}), json!({})).await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(
        v["message"],
        "pods \"early\" is forbidden: error looking up service account default/default: serviceaccount \"default\" not found"
    );
    let (code, v) = post_json(
        &client,
        "/api/v1/namespaces/default/serviceaccounts",
        &json!({"metadata": {"name": "default"}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let (code, v) = create_pod(&client, "late", json!({}), json!({})).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["spec"]["serviceAccountName"], "default");
}

/// One raw JSON request; (status code, body).
async fn request(client: &kube::Client, method: &str, path: &str, body: Value) -> (u16, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let ct = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let (code, _, v) = send(client, method, path, &[("Content-Type", ct)], bytes).await;
    (code, v)
}

/// A namespace left `Terminating`: deleted while a ConfigMap is still in it (no
/// namespace controller runs here to empty it).
async fn terminating_namespace(client: &kube::Client, name: &str) {
    let (code, v) = request(
        client,
        "POST",
        "/api/v1/namespaces",
        json!({"metadata": {"name": name}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let cm = json!({"metadata": {"name": "content"}});
    let (code, v) = request(
        client,
        "POST",
        &format!("/api/v1/namespaces/{name}/configmaps"),
        cm,
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let (code, v) = request(
        client,
        "DELETE",
        &format!("/api/v1/namespaces/{name}"),
        Value::Null,
    )
    .await;
    assert!(code == 200 || code == 202, "{code} {v}");
    assert_eq!(v["status"]["phase"], "Terminating", "{v}");
}

#[tokio::test]
async fn namespace_lifecycle_refuses_as_upstream_refuses() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    terminating_namespace(&client, "closing").await;
    let (code, v) = request(
        &client,
        "POST",
        "/api/v1/namespaces",
        json!({"metadata": {"name": "team"}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    // A namespace whose content outlived it: finalized while a ConfigMap remained.
    terminating_namespace(&client, "gone").await;
    let (code, v) = request(
        &client,
        "PUT",
        "/api/v1/namespaces/gone/finalize",
        json!({"metadata": {"name": "gone"}, "spec": {"finalizers": []}}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (code, _) = request(&client, "GET", "/api/v1/namespaces/gone", Value::Null).await;
    assert_eq!(code, 404);
    let pod =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (code, v) = request(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods",
        pod.clone(),
    )
    .await;
    assert_eq!(code, 201, "{v}");

    let forbidden_delete = |ns: &str| {
        (
            format!("deleting {ns}"),
            "DELETE",
            format!("/api/v1/namespaces/{ns}"),
            Value::Null,
            403,
            format!("namespaces \"{ns}\" is forbidden: this namespace may not be deleted"),
        )
    };
    let table: Vec<(String, &str, String, Value, u16, String)> = vec![
        (
            "a create in a missing namespace".into(),
            "POST",
            "/api/v1/namespaces/nope/configmaps".into(),
            json!({"metadata": {"name": "x"}}),
            404,
            "namespaces \"nope\" not found".into(),
        ),
        (
            "a create in a terminating namespace".into(),
            "POST",
            "/api/v1/namespaces/closing/configmaps".into(),
            json!({"metadata": {"name": "late"}}),
            403,
            "configmaps \"late\" is forbidden: unable to create new content in namespace closing because it is being terminated".into(),
        ),
        (
            "a generated name is refused by its prefix".into(),
            "POST",
            "/api/v1/namespaces/closing/configmaps".into(),
            json!({"metadata": {"generateName": "late-"}}),
            403,
            "configmaps \"late-\" is forbidden: unable to create new content in namespace closing because it is being terminated".into(),
        ),
        (
            "a change in a namespace that is gone".into(),
            "PATCH",
            "/api/v1/namespaces/gone/configmaps/content".into(),
            json!({"data": {"k": "v"}}),
            404,
            "namespaces \"gone\" not found".into(),
        ),
        forbidden_delete("default"),
        forbidden_delete("kube-system"),
        forbidden_delete("kube-public"),
        (
            "a binding in a terminating namespace".into(),
            "POST",
            "/api/v1/namespaces/closing/pods/p/binding".into(),
            json!({"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}),
            403,
            "pods \"p\" is forbidden: unable to create new content in namespace closing because it is being terminated".into(),
        ),
        (
            "a change in a terminating namespace is allowed".into(),
            "PATCH",
            "/api/v1/namespaces/closing/configmaps/content".into(),
            json!({"data": {"k": "v"}}),
            200,
            String::new(),
        ),
        (
            "a delete in a terminating namespace is allowed".into(),
            "DELETE",
            "/api/v1/namespaces/closing/configmaps/content".into(),
            Value::Null,
            200,
            String::new(),
        ),
        (
            "another namespace may be deleted".into(),
            "DELETE",
            "/api/v1/namespaces/team".into(),
            Value::Null,
            200,
            String::new(),
        ),
    ];
    for (case, method, path, body, want_code, want_message) in table {
        let (code, v) = request(&client, method, &path, body).await;
        assert_eq!(code, want_code, "{case}: {v}");
        if !want_message.is_empty() {
            assert_eq!(v["message"], want_message.as_str(), "{case}");
        }
        if want_message.contains("being terminated") {
            assert_eq!(
                v["details"]["causes"][0]["reason"], "NamespaceTerminating",
                "{case}"
            );
        }
    }
    for ns in ["default", "kube-system", "kube-public"] {
        let (code, v) = request(
            &client,
            "GET",
            &format!("/api/v1/namespaces/{ns}"),
            Value::Null,
        )
        .await;
        assert_eq!(
            (code, v.pointer("/metadata/deletionTimestamp")),
            (200, None),
            "{ns}"
        );
    }
}

fn node(name: &str, taints: Value) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"taints": taints}})).unwrap()
}

fn taints(n: &Node) -> Value {
    serde_json::to_value(n.spec.as_ref().and_then(|s| s.taints.clone())).unwrap()
}

#[tokio::test]
async fn new_nodes_are_not_ready_until_the_lifecycle_controller_says_otherwise() {
    let s = TestServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(client(&s).await);
    let pp = PostParams::default();
    let not_ready = json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"});
    let gpu = json!({"key": "example.com/gpu", "value": "a100", "effect": "NoSchedule"});
    let table = [
        ("bare", json!([]), json!([not_ready])),
        ("own-taint", json!([gpu]), json!([gpu, not_ready])),
        ("already-not-ready", json!([not_ready]), json!([not_ready])),
    ];
    for (name, given, want) in table {
        let created = nodes.create(&pp, &node(name, given)).await.unwrap();
        assert_eq!(taints(&created), want, "{name}");
        assert_eq!(taints(&nodes.get(name).await.unwrap()), want, "{name}");
    }
    // Updates are not admitted by the step: a taint removed stays removed.
    let patched = nodes
        .patch(
            "bare",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"taints": null}})),
        )
        .await
        .unwrap();
    assert_eq!(taints(&patched), Value::Null);

    // Turned off, as upstream's integration test servers turn it off.
    let off = TestServer::start_with_admission(
        AdmissionConfig::all().without(Admission::TaintNodesByCondition),
    )
    .await
    .unwrap();
    let nodes: Api<Node> = Api::all(client(&off).await);
    let created = nodes.create(&pp, &node("n", json!([]))).await.unwrap();
    assert_eq!(taints(&created), Value::Null, "no taint added");
}

#[tokio::test]
async fn claims_and_volumes_are_protected_while_in_use() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pvc = json!({"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let pv = json!({"metadata": {"name": "disk", "finalizers": ["example.com/keep"]}, "spec": {
        "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
        "hostPath": {"path": "/tmp/disk"}}});
    let table = [
        (
            "/api/v1/namespaces/default/persistentvolumeclaims",
            pvc,
            json!(["kubernetes.io/pvc-protection"]),
        ),
        (
            "/api/v1/persistentvolumes",
            pv,
            json!(["example.com/keep", "kubernetes.io/pv-protection"]),
        ),
    ];
    for (path, body, want) in table {
        let (code, v) = request(&client, "POST", path, body).await;
        assert_eq!(code, 201, "{path}: {v}");
        assert_eq!(v["metadata"]["finalizers"], want, "{path}");
    }
    // Deleted, a claim stays Terminating until its protection controller lets it go.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    pvcs.delete("data", &DeleteParams::default()).await.unwrap();
    let held = pvcs.get("data").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        held.metadata.finalizers,
        Some(vec!["kubernetes.io/pvc-protection".to_string()])
    );
}

#[tokio::test]
async fn a_clients_own_priority_must_be_its_classes() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    let high: PriorityClass = serde_json::from_value(json!({
        "metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never",
    }))
    .unwrap();
    classes.create(&PostParams::default(), &high).await.unwrap();
    // (case, pod spec, the priority and policy stored or the refusal's message)
    type Outcome = Result<(i64, &'static str), &'static str>;
    let table: Vec<(&str, Value, Outcome)> = vec![
        (
            "the class's own values",
            json!({"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "Never"}),
            Ok((1000, "Never")),
        ),
        (
            "another priority",
            json!({"priorityClassName": "high", "priority": 1}),
            Err(
                "pods \"another-priority\" is forbidden: the integer value of priority (1) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name",
            ),
        ),
        (
            "another policy",
            json!({"priorityClassName": "high", "preemptionPolicy": "PreemptLowerPriority"}),
            Err(
                "pods \"another-policy\" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name",
            ),
        ),
        (
            "no class, priority 0",
            json!({"priority": 0}),
            Ok((0, "PreemptLowerPriority")),
        ),
        (
            "no class, a priority",
            json!({"priority": 5}),
            Err(
                "pods \"no-class-a-priority\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name",
            ),
        ),
    ];
    for (case, spec, want) in table {
        let name = case
            .replace([' ', ','], "-")
            .replace("--", "-")
            .replace("'", "");
        let mut body = serde_json::to_value(pod(&name, spec)).unwrap();
        body["metadata"]["name"] = json!(name);
        let (code, v) = request(&client, "POST", "/api/v1/namespaces/default/pods", body).await;
        match want {
            Ok((priority, policy)) => {
                assert_eq!(code, 201, "{case}: {v}");
                assert_eq!(v["spec"]["priority"], priority, "{case}");
                assert_eq!(v["spec"]["preemptionPolicy"], policy, "{case}");
            }
            Err(message) => {
                assert_eq!(code, 403, "{case}: {v}");
                assert_eq!(v["message"], message, "{case}");
            }
        }
    }
}

/// POSTs an Eviction of pod `name` in `default` (`query` appended to the path).
async fn evict(client: &kube::Client, name: &str, query: &str) -> (u16, Value) {
    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}});
    let path = format!("/api/v1/namespaces/default/pods/{name}/eviction{query}");
    request(client, "POST", &path, eviction).await
}

#[tokio::test]
async fn an_evicted_pod_is_marked_as_a_disruption_target() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut held = pod("held", json!({"nodeName": "n1"}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &held).await.unwrap();
    let (code, v) = evict(&client, "held", "").await;
    assert_eq!(code, 201, "{v}");
    let after = pods.get("held").await.unwrap();
    assert!(after.metadata.deletion_timestamp.is_some());
    let target = disruption_target(&after).expect("a DisruptionTarget condition");
    assert!(target.last_transition_time.is_some());

    // A dry run evicts nothing and marks nothing.
    let dry = pod("dry", json!({"nodeName": "n1"}));
    pods.create(&PostParams::default(), &dry).await.unwrap();
    let (code, v) = evict(&client, "dry", "?dryRun=All").await;
    assert_eq!(code, 201, "{v}");
    let dry = pods.get("dry").await.unwrap();
    assert!(dry.metadata.deletion_timestamp.is_none());
    assert!(disruption_target(&dry).is_none(), "{:?}", dry.status);
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// The API error a refused create answers.
fn refusal<T: std::fmt::Debug>(res: kube::Result<T>) -> Status {
    match res {
        Err(kube::Error::Api(e)) => *e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn container_resources(p: &Pod, i: usize) -> Value {
    serde_json::to_value(&p.spec.as_ref().unwrap().containers[i].resources).unwrap()
}

#[tokio::test]
async fn limit_ranges_default_container_resources_and_refuse_pods_outside_their_bounds() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pp = PostParams::default();
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), "default");
    ranges
        .create(
            &pp,
            &from_json(json!({
                "metadata": {"name": "limits"},
                "spec": {"limits": [
                    {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"},
                     "default": {"cpu": "500m", "memory": "256Mi"},
                     "defaultRequest": {"cpu": "200m", "memory": "128Mi"}},
                    {"type": "Pod", "max": {"cpu": "2"}},
                    {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}}
                ]}
            })),
        )
        .await
        .unwrap();
    // Defaults are stored with the range: its Container item's max became a default
    // memory limit only where `default` had none (it had one here).
    let stored = ranges.get("limits").await.unwrap();
    let item = &stored.spec.unwrap().limits[0];
    assert_eq!(item.default.as_ref().unwrap()["memory"].0, "256Mi");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let plain = pods.create(&pp, &pod("plain", json!({}))).await.unwrap();
    assert_eq!(
        container_resources(&plain, 0),
        json!({"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})
    );
    assert_eq!(
        plain.metadata.annotations.unwrap()["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );
    assert_eq!(
        plain.status.unwrap().qos_class.as_deref(),
        Some("Burstable")
    );

    let small = pod(
        "small",
        json!({"containers": [{"name": "c", "image": "nginx",
            "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}}]}),
    );
    let e = refusal(pods.create(&pp, &small).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "pods \"small\" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, \
         maximum memory usage per Container is 1Gi, but limit is 2Gi]"
    );
    let big = pod(
        "big",
        json!({"containers": [
            {"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1500m"}}},
            {"name": "b", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}
        ]}),
    );
    let e = refusal(pods.create(&pp, &big).await);
    assert_eq!(
        e.message,
        "pods \"big\" is forbidden: maximum cpu usage per Pod is 2, but limit is 2500m"
    );
    assert!(pods.get_opt("small").await.unwrap().is_none());

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    let claim = |name: &str, size: &str| -> PersistentVolumeClaim {
        from_json(json!({"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}))
    };
    let e = refusal(claims.create(&pp, &claim("huge", "10Gi")).await);
    assert_eq!(
        e.message,
        "persistentvolumeclaims \"huge\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"
    );
    claims.create(&pp, &claim("fits", "2Gi")).await.unwrap();
}

/// A quota as the resource quota controller leaves it: `status.hard` mirrored from
/// the spec and every limited resource's usage known.
async fn quota_with_status(api: &Api<ResourceQuota>, name: &str, spec: Value, used: Value) {
    let pp = PostParams::default();
    let mut q: ResourceQuota = api
        .create(
            &pp,
            &from_json(json!({"metadata": {"name": name}, "spec": spec})),
        )
        .await
        .unwrap();
    q.status = Some(from_json(json!({"hard": spec["hard"], "used": used})));
    api.replace_status(name, &pp, &q).await.unwrap();
}

fn used(q: &ResourceQuota) -> Value {
    serde_json::to_value(&q.status.as_ref().unwrap().used).unwrap()
}

#[tokio::test]
async fn quotas_charge_admitted_writes_and_refuse_what_exceeds_them() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pp = PostParams::default();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
    quota_with_status(
        &quotas,
        "compute",
        json!({"hard": {"pods": "2", "requests.cpu": "1", "count/configmaps": "1"}}),
        json!({"pods": "0", "requests.cpu": "0", "count/configmaps": "0"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let with_cpu = |name: &str, cpu: &str| {
        pod(
            name,
            json!({"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}),
        )
    };
    // A dry run is checked but charges nothing.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    pods.create(&dry, &with_cpu("dry", "250m")).await.unwrap();
    assert_eq!(used(&quotas.get("compute").await.unwrap())["pods"], "0");

    pods.create(&pp, &with_cpu("a", "250m")).await.unwrap();
    pods.create(&pp, &with_cpu("b", "500m")).await.unwrap();
    let q = quotas.get("compute").await.unwrap();
    assert_eq!(
        used(&q),
        json!({"count/configmaps": "0", "pods": "2", "requests.cpu": "750m"})
    );

    let e = refusal(pods.create(&pp, &with_cpu("c", "100m")).await);
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "pods \"c\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"
    );
    let e = refusal(pods.create(&pp, &pod("no-request", json!({}))).await);
    assert_eq!(
        e.message,
        "pods \"no-request\" is forbidden: failed quota: compute: must specify requests.cpu for: c"
    );
    assert!(pods.get_opt("c").await.unwrap().is_none());
    assert_eq!(used(&quotas.get("compute").await.unwrap())["pods"], "2");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |name: &str| -> ConfigMap { from_json(json!({"metadata": {"name": name}})) };
    cms.create(&pp, &cm("one")).await.unwrap();
    let e = refusal(cms.create(&pp, &cm("two")).await);
    assert_eq!(
        e.message,
        "configmaps \"two\" is forbidden: exceeded quota: compute, requested: count/configmaps=1, \
         used: count/configmaps=1, limited: count/configmaps=1"
    );
    // Other namespaces are not charged.
    let other: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    other.create(&pp, &cm("two")).await.unwrap();
}

#[tokio::test]
async fn a_quota_whose_usage_is_not_known_yet_refuses_what_it_tracks() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let pp = PostParams::default();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
    quota_with_status(&quotas, "pods", json!({"hard": {"pods": "5"}}), json!({})).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let e = refusal(pods.create(&pp, &pod("p", json!({}))).await);
    assert_eq!(
        e.message,
        "pods \"p\" is forbidden: status unknown for quota: pods, resources: pods"
    );
}

/// The `fieldsV1` of the creator's managed-fields entry.
fn creator_fields(pod: &Value) -> Value {
    let entries = pod["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    assert_eq!(entries.len(), 1, "one writer: {entries:?}");
    assert_eq!(entries[0]["operation"], "Update");
    entries[0]["fieldsV1"].clone()
}

/// As upstream's create handler, the writer's managed fields are taken from the decoded,
/// defaulted body before mutating admission runs: what admission adds (the token volume
/// and its mounts, the account, default tolerations, the priority) belongs to no
/// manager; `generateName` is the writer's, the name chosen from it is not.
#[tokio::test]
async fn what_admission_adds_belongs_to_no_manager() {
    let s = TestServer::start().await.unwrap();
    let client = client(&s).await;
    let (code, named) = create_pod(&client, "named", json!({}), json!({})).await;
    assert_eq!(code, 201, "{named}");
    // Admission did its work on the object…
    assert!(
        named["spec"]["volumes"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(
        named["spec"]["tolerations"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(named["spec"]["priority"], 0);
    // …and none of it is the creator's, while what it sent and the defaults are.
    let fields = creator_fields(&named);
    let spec = &fields["f:spec"];
    for added in [
        "f:volumes",
        "f:tolerations",
        "f:serviceAccountName",
        "f:serviceAccount",
        "f:priority",
        "f:preemptionPolicy",
    ] {
        assert!(
            spec.get(added).is_none(),
            "{added} is not the creator's: {fields}"
        );
    }
    let container = &spec["f:containers"]["k:{\"name\":\"c\"}"];
    assert_eq!(container["f:image"], json!({}), "{fields}");
    assert!(container.get("f:volumeMounts").is_none(), "{fields}");
    assert_eq!(
        container["f:imagePullPolicy"],
        json!({}),
        "defaults are tracked: {fields}"
    );
    assert_eq!(
        spec["f:restartPolicy"],
        json!({}),
        "defaults are tracked: {fields}"
    );
    // Names are stripped as upstream strips them (`metadata.name` is no one's).
    assert!(fields.get("f:metadata").is_none(), "{fields}");

    let body = json!({"metadata": {"generateName": "gen-"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let (code, generated) = post_json(&client, "/api/v1/namespaces/default/pods", &body).await;
    assert_eq!(code, 201, "{generated}");
    assert!(
        generated["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("gen-")
    );
    let meta = &creator_fields(&generated)["f:metadata"];
    assert_eq!(meta["f:generateName"], json!({}), "{meta}");
    assert!(
        meta.get("f:name").is_none(),
        "the generated name is the server's: {meta}"
    );
}
