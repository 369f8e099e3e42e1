//! kube-rs against the server: CRUD, conflicts, status subresource, finalizers,
//! graceful deletion, binding, namespaces.

mod common;

use capstan_apiserver::TestServer;
use common::{deployment, pod};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn pod_crud_and_conflicts() {
    let s = TestServer::start().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(s.client().await, "default");
    let created = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert_eq!(uid.len(), 36);
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let err = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409 && e.reason == "AlreadyExists"),
        "{err:?}"
    );

    let got = pods.get("a").await.unwrap();
    assert_eq!(got.metadata.uid.as_deref(), Some(uid.as_str()));
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    // Update with the current resourceVersion works; with a stale one conflicts.
    let mut upd = got.clone();
    upd.metadata
        .labels
        .get_or_insert_default()
        .insert("v".into(), "2".into());
    let updated = pods
        .replace("a", &PostParams::default(), &upd)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        got.metadata.resource_version
    );
    let err = pods
        .replace("a", &PostParams::default(), &upd)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 409);
            assert_eq!(
                e.message,
                "Operation cannot be fulfilled on pods \"a\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        other => panic!("{other:?}"),
    }
    // Empty resourceVersion: unconditional for built-ins.
    let mut unconditional = updated.clone();
    unconditional.metadata.resource_version = None;
    unconditional
        .metadata
        .labels
        .get_or_insert_default()
        .insert("v".into(), "3".into());
    pods.replace("a", &PostParams::default(), &unconditional)
        .await
        .unwrap();

    // Unbound pods go at once.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    let err = pods.get("a").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404 && e.message == "pods \"a\" not found")
    );
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let s = TestServer::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let d = deps
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    // Status written through the main resource is ignored.
    let mut with_status = d.clone();
    with_status.status = Some(serde_json::from_value(json!({"replicas": 7})).unwrap());
    let after = deps
        .replace("web", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(after.status.and_then(|s| s.replicas), None);
    assert_eq!(after.metadata.generation, Some(1));
    // Status subresource writes only status and does not bump generation.
    let st = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 2}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().replicas, Some(2));
    assert_eq!(st.spec.unwrap().replicas, Some(2));
    assert_eq!(st.metadata.generation, Some(1));
    // Spec change bumps generation.
    let p = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    assert_eq!(p.status.unwrap().replicas, Some(2));
    // Scale subresource.
    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    assert_eq!(
        deps.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_and_propagation_adds_them() {
    let s = TestServer::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let mut d = deployment("held", 2);
    d.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    deps.create(&PostParams::default(), &d).await.unwrap();
    let res = deps
        .delete("held", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = res
        .left()
        .expect("object returned while finalizers hold it");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.generation, Some(2));
    let f = pending.metadata.finalizers.unwrap();
    assert!(
        f.contains(&"foregroundDeletion".to_string())
            && f.contains(&"example.com/hold".to_string())
    );
    // Removing the finalizers lets it go.
    deps.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(deps.get_opt("held").await.unwrap().is_none());

    deps.create(&PostParams::default(), &deployment("orph", 2))
        .await
        .unwrap();
    let res = deps.delete("orph", &DeleteParams::orphan()).await.unwrap();
    let pending = res.left().unwrap();
    assert_eq!(
        pending.metadata.finalizers,
        Some(vec!["orphan".to_string()])
    );
}

#[tokio::test]
async fn graceful_pod_deletion_and_binding() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("b"))
        .await
        .unwrap();
    // Bind it.
    let req = http::Request::post("/api/v1/namespaces/default/pods/b/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "n1"}})).unwrap())
        .unwrap();
    let st: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(st["status"], "Success");
    let bound = pods.get("b").await.unwrap();
    assert_eq!(
        bound.spec.as_ref().unwrap().node_name.as_deref(),
        Some("n1")
    );
    let cond = &bound.status.unwrap().conditions.unwrap()[0];
    assert_eq!(
        (cond.type_.as_str(), cond.status.as_str()),
        ("PodScheduled", "True")
    );
    let req = http::Request::post("/api/v1/namespaces/default/pods/b/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"target": {"name": "n2"}})).unwrap())
        .unwrap();
    let err = client.request::<serde_json::Value>(req).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409),
        "{err:?}"
    );
    // Bound pods delete gracefully; grace 0 removes.
    let res = pods.delete("b", &DeleteParams::default()).await.unwrap();
    let p = res.left().unwrap();
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));
    assert!(pods.get_opt("b").await.unwrap().is_some());
    pods.delete("b", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(pods.get_opt("b").await.unwrap().is_none());
    // The request's grace period wins over the pod's terminationGracePeriodSeconds.
    let mut bound = pod("c");
    bound.spec.as_mut().unwrap().node_name = Some("n1".into());
    pods.create(&PostParams::default(), &bound).await.unwrap();
    let res = pods
        .delete("c", &DeleteParams::default().grace_period(5))
        .await
        .unwrap();
    let p = res.left().expect("still there for its grace period");
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(5));
}

#[tokio::test]
async fn namespaces_and_bootstrap_objects() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    let svc: Api<Service> = Api::namespaced(client.clone(), "default");
    let k = svc.get("kubernetes").await.unwrap();
    assert_eq!(k.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));

    // Missing namespace → 404; terminating → 403.
    let err = Api::<Pod>::namespaced(client.clone(), "nope")
        .create(&PostParams::default(), &pod("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404 && e.message == "namespaces \"nope\" not found"),
        "{err:?}"
    );
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap();
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(
        created.spec.unwrap().finalizers,
        Some(vec!["kubernetes".to_string()])
    );
    let in_t: Api<Pod> = Api::namespaced(client.clone(), "t");
    in_t.create(&PostParams::default(), &pod("x"))
        .await
        .unwrap();
    nss.delete("t", &DeleteParams::default()).await.unwrap();
    let t = nss.get("t").await.unwrap();
    assert_eq!(t.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = in_t
        .create(&PostParams::default(), &pod("y"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 403),
        "{err:?}"
    );

    // Services get cluster IPs and node ports.
    let svc_obj: Service = serde_json::from_value(
        json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let created = svc.create(&PostParams::default(), &svc_obj).await.unwrap();
    let spec = created.spec.unwrap();
    assert!(spec.cluster_ip.unwrap().starts_with("10."));
    let np = spec.ports.unwrap()[0].node_port.unwrap();
    assert!((30000..=32767).contains(&np));
}

#[tokio::test]
async fn generate_name_and_unauthorized() {
    let s = TestServer::start().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(s.client().await, "default");
    let mut p = pod("");
    p.metadata.name = None;
    p.metadata.generate_name = Some("gen-".into());
    let a = pods.create(&PostParams::default(), &p).await.unwrap();
    let b = pods.create(&PostParams::default(), &p).await.unwrap();
    let (a, b) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(a.starts_with("gen-") && a.len() == 9);
    assert_ne!(a, b);

    // No token → 401 Status.
    let mut cfg = kube::Config::new(s.url().parse().unwrap());
    cfg.accept_invalid_certs = true;
    let anon = kube::Client::try_from(cfg).unwrap();
    let err = Api::<Pod>::namespaced(anon, "default")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 401),
        "{err:?}"
    );
}

#[tokio::test]
async fn replication_controllers_are_served_with_defaults_status_and_scale() {
    use k8s_openapi::api::core::v1::ReplicationController;
    let s = TestServer::start().await.unwrap();
    let rcs: Api<ReplicationController> = Api::namespaced(s.client().await, "default");
    // No selector, no replicas, no labels: all three come from the template.
    let rc: ReplicationController = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    let created = rcs.create(&PostParams::default(), &rc).await.unwrap();
    let spec = created.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(1));
    let expected: std::collections::BTreeMap<String, String> = [("app", "web"), ("tier", "fe")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(spec.selector.as_ref(), Some(&expected));
    assert_eq!(created.metadata.labels.as_ref(), Some(&expected));
    assert_eq!(created.metadata.generation, Some(1));

    // The status subresource writes status only.
    let st = rcs
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"replicas": 1, "readyReplicas": 1}, "spec": {"replicas": 9}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().map(|s| s.replicas), Some(1));
    assert_eq!(st.spec.unwrap().replicas, Some(1));

    // The scale subresource: the selector in its string form.
    let scale = rcs.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    let status = scale.status.unwrap();
    assert_eq!(status.replicas, 1);
    assert_eq!(status.selector.as_deref(), Some("app=web,tier=fe"));
    rcs.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    let scaled = rcs.get("web").await.unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    assert_eq!(scaled.metadata.generation, Some(2));

    // A selector that does not match the template is refused with upstream's message.
    let mut bad = rc.clone();
    bad.metadata.name = Some("bad".into());
    bad.spec.as_mut().unwrap().selector = Some([("app".to_string(), "db".to_string())].into());
    let err = rcs.create(&PostParams::default(), &bad).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\", \"tier\":\"fe\"}: `selector` does not match template `labels`"),
        "{}",
        status.message
    );
}
