//! ResourceQuotas on the embedded control plane (`capstan up`'s, in process): quota
//! admission in the API server charges what it admits, the resource quota
//! controller keeps `status` current, so deletions give quota back; and upstream's
//! conformance cases — a ReplicaSet and a ReplicationController of 3 replicas under
//! a `pods: 2` quota surface `ReplicaFailure` until scaled to 2 — plus the quota
//! walkthrough with the real kubectl.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, ReplicationController, ResourceQuota};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::*;

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

/// Creates quota `name` in `ns` with `hard` and waits until the controller has
/// filled its status in (admission refuses what a quota tracks before that).
async fn quota(cluster: &Cluster, ns: &str, name: &str, hard: Value) -> Api<ResourceQuota> {
    let api: Api<ResourceQuota> = Api::namespaced(cluster.client.clone(), ns);
    api.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": name}, "spec": {"hard": hard}})),
    )
    .await
    .expect("quota created");
    let want: Vec<String> = hard
        .as_object()
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    eventually("the quota's usage is computed", || async {
        let q = api.get(name).await.map_err(|e| e.to_string())?;
        let used = q.status.and_then(|s| s.used).unwrap_or_default();
        if want.iter().all(|k| used.contains_key(k)) {
            Ok(())
        } else {
            Err(format!("used: {used:?}"))
        }
    })
    .await;
    api
}

/// `status.used[resource]` of a quota.
async fn used(api: &Api<ResourceQuota>, name: &str, resource: &str) -> Result<String, String> {
    let q = api.get(name).await.map_err(|e| e.to_string())?;
    Ok(q.status
        .and_then(|s| s.used)
        .and_then(|u| u.get(resource).map(|v| v.0.clone()))
        .unwrap_or_default())
}

async fn used_becomes(api: &Api<ResourceQuota>, name: &str, resource: &str, want: &str) {
    eventually(&format!("{name} uses {want} {resource}"), || async {
        let got = used(api, name, resource).await?;
        if got == want { Ok(()) } else { Err(got) }
    })
    .await;
}

async fn namespace(cluster: &Cluster, name: &str) {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    api.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": name}})),
    )
    .await
    .expect("namespace created");
}

fn pod_template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
}

/// The `ReplicaFailure` condition of an owner's status, as JSON.
fn replica_failure(status: &Value) -> Option<Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ReplicaFailure")
        .cloned()
}

/// Upstream's "should surface a failure condition on a common issue like exceeded
/// quota", for an owner whose status is read as JSON: the condition appears while
/// the third pod is refused and goes once the owner is scaled to 2.
async fn surfaces_quota_failure<K>(api: Api<K>, name: &str)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let status = |o: &K| {
        serde_json::to_value(o)
            .map(|v| v["status"].clone())
            .unwrap_or_default()
    };
    let failure = eventually(&format!("{name} reports ReplicaFailure"), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        replica_failure(&status(&o)).ok_or_else(|| format!("{}", status(&o)))
    })
    .await;
    assert_eq!(failure["status"], "True", "{failure}");
    assert_eq!(failure["reason"], "FailedCreate", "{failure}");
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("exceeded quota: quota, requested: pods=1, used: pods=2, limited: pods=2"),
        "{message}"
    );

    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("scaled to 2");
    eventually(&format!("{name}'s ReplicaFailure goes"), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        match replica_failure(&status(&o)) {
            None => Ok(()),
            Some(c) => Err(c.to_string()),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_over_a_pod_quota_surface_replica_failure_until_scaled_within_it() {
    let cluster = Cluster::start(1).await;
    let pp = PostParams::default();

    namespace(&cluster, "quota-rs").await;
    quota(&cluster, "quota-rs", "quota", json!({"pods": "2"})).await;
    let rss: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "quota-rs");
    rss.create(
        &pp,
        &from_json(json!({"metadata": {"name": "rs"}, "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "rs"}}, "template": pod_template("rs")}})),
    )
    .await
    .expect("replica set created");
    surfaces_quota_failure(rss, "rs").await;

    namespace(&cluster, "quota-rc").await;
    quota(&cluster, "quota-rc", "quota", json!({"pods": "2"})).await;
    let rcs: Api<ReplicationController> = Api::namespaced(cluster.client.clone(), "quota-rc");
    rcs.create(
        &pp,
        &from_json(json!({"metadata": {"name": "rc"}, "spec": {
            "replicas": 3, "selector": {"app": "rc"}, "template": pod_template("rc")}})),
    )
    .await
    .expect("replication controller created");
    surfaces_quota_failure(rcs, "rc").await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_give_their_quota_back() {
    let cluster = Cluster::start(1).await;
    let pp = PostParams::default();
    let quotas = quota(
        &cluster,
        NS,
        "counts",
        json!({"pods": "2", "count/deployments.apps": "1", "requests.cpu": "1"}),
    )
    .await;
    let pods: Api<Pod> = cluster.api();
    let pod = |name: &str| -> Pod {
        from_json(json!({"metadata": {"name": name}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "300m"}}}]}}))
    };
    pods.create(&pp, &pod("a")).await.expect("a admitted");
    pods.create(&pp, &pod("b")).await.expect("b admitted");
    assert_eq!(
        used(&quotas, "counts", "requests.cpu").await,
        Ok("600m".into())
    );
    let refused = pods.create(&pp, &pod("c")).await.expect_err("c refused");
    assert!(
        refused.to_string().contains("exceeded quota: counts"),
        "{refused}"
    );

    pods.delete("a", &DeleteParams::default())
        .await
        .expect("a deleted");
    used_becomes(&quotas, "counts", "pods", "1").await;
    used_becomes(&quotas, "counts", "requests.cpu", "300m").await;
    pods.create(&pp, &pod("c"))
        .await
        .expect("c admitted once a is gone");

    // A resource only counted, through the controller's metadata monitors.
    let deployments: Api<Deployment> = cluster.api();
    let deployment = |name: &str| -> Deployment {
        from_json(json!({"metadata": {"name": name}, "spec": {
            "replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name)}}))
    };
    deployments
        .create(&pp, &deployment("one"))
        .await
        .expect("one admitted");
    assert_eq!(
        used(&quotas, "counts", "count/deployments.apps").await,
        Ok("1".into())
    );
    let refused = deployments
        .create(&pp, &deployment("two"))
        .await
        .expect_err("two refused");
    assert!(
        refused.to_string().contains("count/deployments.apps=1"),
        "{refused}"
    );
    deployments
        .delete("one", &DeleteParams::default())
        .await
        .expect("one deleted");
    used_becomes(&quotas, "counts", "count/deployments.apps", "0").await;
    deployments
        .create(&pp, &deployment("two"))
        .await
        .expect("two admitted");
    cluster.stop().await;
}

/// `kubectl create quota`, two `kubectl run`s, a third refused with upstream's
/// message, and `kubectl describe quota` showing what is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_quota_walkthrough() {
    let cluster = Cluster::start(1).await;
    let (ok, out) = cluster
        .kubectl(&["create", "quota", "q", "--hard=pods=2"])
        .await;
    assert!(ok, "kubectl create quota: {out}");
    eventually("the quota's usage is computed", || async {
        let (ok, out) = cluster
            .kubectl(&["get", "quota", "q", "-o", "jsonpath={.status.used.pods}"])
            .await;
        if ok && out.trim() == "0" {
            Ok(())
        } else {
            Err(out)
        }
    })
    .await;
    for name in ["one", "two"] {
        let (ok, out) = cluster.kubectl(&["run", name, "--image=nginx"]).await;
        assert!(ok, "kubectl run {name}: {out}");
    }
    let (ok, out) = cluster.kubectl(&["run", "three", "--image=nginx"]).await;
    assert!(!ok, "the third pod is refused: {out}");
    assert!(
        out.contains(
            "pods \"three\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        ),
        "{out}"
    );
    let (ok, out) = cluster.kubectl(&["describe", "quota", "q"]).await;
    assert!(ok, "kubectl describe quota: {out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.contains(&vec!["Resource", "Used", "Hard"]), "{out}");
    assert!(rows.contains(&vec!["pods", "2", "2"]), "{out}");
    let (ok, out) = cluster.kubectl(&["get", "quota", "q"]).await;
    assert!(ok && out.contains("pods: 2/2"), "kubectl get quota: {out}");
    cluster.stop().await;
}
