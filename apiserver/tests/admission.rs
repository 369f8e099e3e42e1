//! The admission chain over HTTP: what each step does to objects created through the
//! API, as kube-apiserver's default plugins do it.

mod common;

use capstan_apiserver::{ServerConfig, TestServer};
use common::post_json;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Toleration};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
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
