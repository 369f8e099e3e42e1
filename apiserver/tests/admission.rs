//! The admission chain over HTTP: what each step does to objects created through the
//! API, as kube-apiserver's default plugins do it.

use capstan_apiserver::TestServer;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, PersistentVolumeClaim, Pod, ResourceQuota, Toleration,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
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
