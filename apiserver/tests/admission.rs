//! The admission chain over HTTP: what each step does to objects created through the
//! API, as kube-apiserver's default plugins do it.

use capstan_apiserver::TestServer;
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
