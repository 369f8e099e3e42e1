//! The garbage collector against capstan's API server: cascading deletion in
//! each propagation mode, through kube-rs and through the real kubectl.

mod support;

use std::time::Duration;

use support::eventually_some;

use capstan_apiserver::TestServer;
use capstan_controllers::gc::shell::{GcConfig, run_garbage_collector_with};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PostParams, PropagationPolicy,
};
use kube::{Client, ResourceExt};
use tokio::sync::oneshot;

struct Harness {
    server: TestServer,
    client: Client,
    stop: Option<oneshot::Sender<()>>,
    gc: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(GcConfig {
            workers: 4,
            ..GcConfig::default()
        })
        .await
    }

    async fn start_with(config: GcConfig) -> Harness {
        let server = TestServer::start().await.expect("test server starts");
        let client = server.client().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let gc_client = client.clone();
        let gc = tokio::spawn(async move {
            run_garbage_collector_with(gc_client, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("garbage collector runs");
        });
        Harness {
            server,
            client,
            stop: Some(stop),
            gc,
        }
    }

    fn cms(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.gc)
            .await
            .expect("collector stops on shutdown")
            .expect("collector task ends cleanly");
    }
}

fn owner_ref(owner: &ConfigMap, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any(),
        uid: owner.uid().expect("created object has a uid"),
        block_owner_deletion: Some(block),
        controller: None,
    }
}

fn cm(name: &str, owners: Vec<OwnerReference>, finalizers: Vec<String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: (!owners.is_empty()).then_some(owners),
            finalizers: (!finalizers.is_empty()).then_some(finalizers),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn create(api: &Api<ConfigMap>, obj: ConfigMap) -> ConfigMap {
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create configmap")
}

async fn gone(api: &Api<ConfigMap>, name: &str) -> bool {
    api.get_opt(name).await.expect("get").is_none()
}

fn delete_with(policy: PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    }
}

#[tokio::test]
async fn background_deletion_removes_dependents_of_every_kind() {
    let h = Harness::start().await;
    let cms = h.cms();
    let secrets: Api<Secret> = Api::namespaced(h.client.clone(), "default");
    let owner = create(&cms, cm("owner", vec![], vec![])).await;
    create(&cms, cm("child-a", vec![owner_ref(&owner, true)], vec![])).await;
    create(&cms, cm("child-b", vec![owner_ref(&owner, false)], vec![])).await;
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("child-secret".into()),
                    owner_references: Some(vec![owner_ref(&owner, true)]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create secret");
    let bystander = create(&cms, cm("bystander", vec![], vec![])).await;

    cms.delete("owner", &delete_with(PropagationPolicy::Background))
        .await
        .expect("delete owner");
    eventually_some("dependents deleted", || async {
        let all_gone = gone(&cms, "child-a").await
            && gone(&cms, "child-b").await
            && secrets
                .get_opt("child-secret")
                .await
                .expect("get")
                .is_none();
        all_gone.then_some(())
    })
    .await;
    let still = cms.get("bystander").await.expect("bystander survives");
    assert_eq!(still.uid(), bystander.uid());
    h.stop().await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let h = Harness::start().await;
    let cms = h.cms();
    let owner = create(&cms, cm("owner", vec![], vec![])).await;
    // The child holds its own finalizer so the foreground wait is observable.
    create(
        &cms,
        cm(
            "child",
            vec![owner_ref(&owner, true)],
            vec!["test.capstan.dev/hold".into()],
        ),
    )
    .await;
    create(
        &cms,
        cm("free-child", vec![owner_ref(&owner, false)], vec![]),
    )
    .await;

    cms.delete("owner", &delete_with(PropagationPolicy::Foreground))
        .await
        .expect("delete owner");
    // The collector deletes the blocking child (it now waits on its finalizer).
    let child = eventually_some("child being deleted", || async {
        let c = cms.get("child").await.expect("child exists while held");
        c.metadata.deletion_timestamp.is_some().then_some(c)
    })
    .await;
    assert!(
        child
            .finalizers()
            .iter()
            .any(|f| f == "test.capstan.dev/hold")
    );
    eventually_some("non-blocking child deleted", || async {
        gone(&cms, "free-child").await.then_some(())
    })
    .await;
    // While the blocking child exists, the owner stays, marked for foreground deletion.
    let held = cms
        .get("owner")
        .await
        .expect("owner waits for its blocking child");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(held.finalizers().iter().any(|f| f == "foregroundDeletion"));

    cms.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release child");
    eventually_some("owner deleted after its child", || async {
        let owner_gone = gone(&cms, "owner").await;
        if owner_gone {
            assert!(
                gone(&cms, "child").await,
                "owner went before its blocking child"
            );
        }
        owner_gone.then_some(())
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_and_strips_references() {
    let h = Harness::start().await;
    let cms = h.cms();
    let owner = create(&cms, cm("owner", vec![], vec![])).await;
    let other = create(&cms, cm("other-owner", vec![], vec![])).await;
    create(&cms, cm("child", vec![owner_ref(&owner, true)], vec![])).await;
    create(
        &cms,
        cm(
            "shared-child",
            vec![owner_ref(&owner, true), owner_ref(&other, false)],
            vec![],
        ),
    )
    .await;

    cms.delete("owner", &delete_with(PropagationPolicy::Orphan))
        .await
        .expect("delete owner");
    eventually_some("owner deleted", || async {
        gone(&cms, "owner").await.then_some(())
    })
    .await;
    let child = cms.get("child").await.expect("orphaned child remains");
    assert!(
        child.owner_references().is_empty(),
        "{:?}",
        child.owner_references()
    );
    assert!(child.metadata.deletion_timestamp.is_none());
    let shared = cms.get("shared-child").await.expect("shared child remains");
    let uids: Vec<&str> = shared
        .owner_references()
        .iter()
        .map(|r| r.uid.as_str())
        .collect();
    assert_eq!(uids, vec![other.uid().expect("uid").as_str()]);
    h.stop().await;
}

#[tokio::test]
async fn dependent_with_two_owners_loses_only_the_deleted_owners_reference() {
    let h = Harness::start().await;
    let cms = h.cms();
    let a = create(&cms, cm("owner-a", vec![], vec![])).await;
    let b = create(&cms, cm("owner-b", vec![], vec![])).await;
    create(
        &cms,
        cm(
            "child",
            vec![owner_ref(&a, true), owner_ref(&b, true)],
            vec![],
        ),
    )
    .await;

    cms.delete("owner-a", &delete_with(PropagationPolicy::Background))
        .await
        .expect("delete owner-a");
    let refs = eventually_some("dangling reference removed", || async {
        let c = cms
            .get("child")
            .await
            .expect("child keeps living with owner-b");
        (c.owner_references().len() == 1).then(|| c.owner_references().to_vec())
    })
    .await;
    assert_eq!(refs[0].uid, b.uid().expect("uid"));
    assert_eq!(refs[0].name, "owner-b");
    h.stop().await;
}

#[tokio::test]
async fn reference_to_missing_uid_gets_dependent_deleted() {
    let h = Harness::start().await;
    let cms = h.cms();
    // The name exists, but under another UID: the reference dangles.
    create(&cms, cm("impostor", vec![], vec![])).await;
    let ghost = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "impostor".into(),
        uid: "00000000-0000-0000-0000-00000000dead".into(),
        block_owner_deletion: None,
        controller: None,
    };
    let never = OwnerReference {
        name: "never-existed".into(),
        uid: "00000000-0000-0000-0000-00000000beef".into(),
        ..ghost.clone()
    };
    create(&cms, cm("orphan-by-uid", vec![ghost], vec![])).await;
    create(&cms, cm("orphan-by-name", vec![never], vec![])).await;
    eventually_some("dangling dependents deleted", || async {
        (gone(&cms, "orphan-by-uid").await && gone(&cms, "orphan-by-name").await).then_some(())
    })
    .await;
    assert!(
        !gone(&cms, "impostor").await,
        "the unrelated same-name object stays"
    );
    h.stop().await;
}

async fn kubectl(h: &Harness, args: &[&str]) -> std::process::Output {
    let cache = h.server.dir().join("kubectl-cache");
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(h.server.kubeconfig_path())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .output(),
    )
    .await
    .expect("kubectl finishes in time")
    .expect("kubectl runs")
}

#[tokio::test]
async fn kubectl_delete_with_each_cascade_mode() {
    let h = Harness::start().await;
    let cms = h.cms();
    for mode in ["background", "foreground", "orphan"] {
        let owner = create(&cms, cm(&format!("owner-{mode}"), vec![], vec![])).await;
        create(
            &cms,
            cm(
                &format!("child-{mode}"),
                vec![owner_ref(&owner, true)],
                vec![],
            ),
        )
        .await;
        let out = kubectl(
            &h,
            &[
                "delete",
                "configmap",
                &format!("owner-{mode}"),
                &format!("--cascade={mode}"),
            ],
        )
        .await;
        assert!(
            out.status.success(),
            "kubectl delete --cascade={mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // kubectl waits for the owner to be gone (--wait defaults to true).
        assert!(
            gone(&cms, &format!("owner-{mode}")).await,
            "{mode}: owner gone when kubectl returns"
        );
        let child = format!("child-{mode}");
        match mode {
            "foreground" => assert!(
                gone(&cms, &child).await,
                "foreground: child deleted before owner"
            ),
            "background" => {
                eventually_some("background child deleted", || async {
                    gone(&cms, &child).await.then_some(())
                })
                .await
            }
            _ => {
                let c = cms.get(&child).await.expect("orphan: child remains");
                assert!(c.owner_references().is_empty());
            }
        }
    }
    h.stop().await;
}

fn widget_crd() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}

fn widget(name: &str, owners: Vec<OwnerReference>) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name, "ownerReferences": owners},
    }))
    .expect("widget object")
}

#[tokio::test]
async fn kinds_from_a_crd_created_after_start_are_collected() {
    let h = Harness::start_with(GcConfig {
        workers: 4,
        rediscovery_period: Duration::from_millis(300),
        ..GcConfig::default()
    })
    .await;
    let cms = h.cms();
    // The collector is running (first discovery done) before the CRD exists.
    let warmup = create(&cms, cm("warmup-owner", vec![], vec![])).await;
    create(
        &cms,
        cm("warmup-child", vec![owner_ref(&warmup, true)], vec![]),
    )
    .await;
    cms.delete("warmup-owner", &DeleteParams::default())
        .await
        .expect("delete warmup owner");
    eventually_some("collector running", || async {
        gone(&cms, "warmup-child").await.then_some(())
    })
    .await;
    let crds: Api<DynamicObject> = Api::all_with(
        h.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(widget_crd()).expect("crd object"),
    )
    .await
    .expect("create crd");
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Widget"),
            "widgets",
        ),
    );
    let parent = eventually_some("widgets served", || async {
        widgets
            .create(&PostParams::default(), &widget("parent", vec![]))
            .await
            .ok()
    })
    .await;
    // A ConfigMap owned by a Widget, and a Widget owned by a ConfigMap.
    let widget_ref = OwnerReference {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        name: "parent".into(),
        uid: parent.uid().expect("uid"),
        block_owner_deletion: Some(true),
        controller: None,
    };
    create(&cms, cm("cm-child", vec![widget_ref], vec![])).await;
    let cm_parent = create(&cms, cm("cm-parent", vec![], vec![])).await;
    widgets
        .create(
            &PostParams::default(),
            &widget("w-child", vec![owner_ref(&cm_parent, true)]),
        )
        .await
        .expect("create widget child");

    widgets
        .delete("parent", &delete_with(PropagationPolicy::Foreground))
        .await
        .expect("delete widget parent");
    eventually_some("widget parent and its configmap child deleted", || async {
        let done =
            gone(&cms, "cm-child").await && widgets.get_opt("parent").await.expect("get").is_none();
        done.then_some(())
    })
    .await;
    cms.delete("cm-parent", &delete_with(PropagationPolicy::Background))
        .await
        .expect("delete cm parent");
    eventually_some("widget child deleted", || async {
        widgets
            .get_opt("w-child")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn replicaset_foreground_deletion_removes_its_pods_first() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    let h = Harness::start().await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
    .expect("replicaset object");
    let rs = rss
        .create(&PostParams::default(), &rs)
        .await
        .expect("create replicaset");
    for i in 0..3 {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": format!("web-{i}"), "labels": {"app": "web"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": rs.uid().expect("uid"), "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .expect("pod object");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
    }
    rss.delete("web", &delete_with(PropagationPolicy::Foreground))
        .await
        .expect("delete replicaset");
    eventually_some("replicaset deleted after its pods", || async {
        let rs_gone = rss.get_opt("web").await.expect("get rs").is_none();
        if rs_gone {
            let left = pods.list(&Default::default()).await.expect("list pods");
            assert!(left.items.is_empty(), "replicaset went before its pods");
        }
        rs_gone.then_some(())
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn cluster_scoped_object_naming_a_namespaced_owner_is_left_alone() {
    use k8s_openapi::api::core::v1::Namespace;
    let h = Harness::start().await;
    let cms = h.cms();
    let namespaces: Api<Namespace> = Api::all(h.client.clone());
    let bad_ref = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "no-such-owner".into(),
        uid: "00000000-0000-0000-0000-0000000000aa".into(),
        block_owner_deletion: None,
        controller: None,
    };
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("invalid-dependent".into()),
                    owner_references: Some(vec![bad_ref.clone()]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create namespace");
    // A valid dangling dependent created afterwards is collected...
    create(
        &cms,
        cm(
            "valid-dependent",
            vec![OwnerReference {
                uid: "00000000-0000-0000-0000-0000000000bb".into(),
                ..bad_ref
            }],
            vec![],
        ),
    )
    .await;
    eventually_some("valid dangling dependent deleted", || async {
        gone(&cms, "valid-dependent").await.then_some(())
    })
    .await;
    // ...while the invalid reference does not get the namespace deleted.
    let ns = namespaces
        .get("invalid-dependent")
        .await
        .expect("namespace remains");
    assert!(ns.metadata.deletion_timestamp.is_none());
    h.stop().await;
}

/// A Deployment → ReplicaSet → Pods chain, built by hand (no workload
/// controllers run here), as a Deployment controller would leave it.
async fn deployment_chain(h: &Harness, name: &str) {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::Pod;
    let spec = serde_json::json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }
    });
    let controller_ref = |kind: &str, api_version: &str, owner: &str, uid: String| {
        serde_json::json!([{"apiVersion": api_version, "kind": kind, "name": owner, "uid": uid,
            "controller": true, "blockOwnerDeletion": true}])
    };
    let deploys: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec
    }))
    .expect("deployment object");
    let d = deploys
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let rs_name = format!("{name}-abc");
    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs_name, "ownerReferences":
            controller_ref("Deployment", "apps/v1", name, d.uid().expect("uid"))},
        "spec": spec
    }))
    .expect("replicaset object");
    let rs = rss
        .create(&PostParams::default(), &rs)
        .await
        .expect("create replicaset");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    for i in 0..2 {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{rs_name}-{i}"), "labels": {"app": name}, "ownerReferences":
                controller_ref("ReplicaSet", "apps/v1", &rs_name, rs.uid().expect("uid"))},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .expect("pod object");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
    }
}

#[tokio::test]
async fn kubectl_delete_deployment_cascades_through_replicasets_to_pods() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    let h = Harness::start().await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let pods_of = |app: String| {
        let pods = pods.clone();
        async move {
            pods.list(&kube::api::ListParams::default().labels(&format!("app={app}")))
                .await
                .expect("list pods")
                .items
        }
    };
    for mode in ["foreground", "background", "orphan"] {
        let name = format!("web-{mode}");
        deployment_chain(&h, &name).await;
        let out = kubectl(
            &h,
            &["delete", "deployment", &name, &format!("--cascade={mode}")],
        )
        .await;
        assert!(
            out.status.success(),
            "kubectl delete deployment --cascade={mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rs_name = format!("{name}-abc");
        match mode {
            // kubectl waited for the Deployment, which waited for its RS, which
            // waited for its pods.
            "foreground" => {
                assert!(rss.get_opt(&rs_name).await.expect("get").is_none());
                assert!(pods_of(name.clone()).await.is_empty());
            }
            "background" => {
                eventually_some("replicaset and pods collected", || async {
                    let rs_gone = rss.get_opt(&rs_name).await.expect("get").is_none();
                    (rs_gone && pods_of(name.clone()).await.is_empty()).then_some(())
                })
                .await
            }
            _ => {
                let rs = rss
                    .get(&rs_name)
                    .await
                    .expect("orphaned replicaset remains");
                assert!(rs.owner_references().is_empty());
                let left = pods_of(name.clone()).await;
                assert_eq!(left.len(), 2, "pods stay with their replicaset");
                assert!(left.iter().all(|p| p.owner_references().len() == 1));
            }
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn owner_deleted_while_no_collector_ran_is_caught_up_at_start() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = create(&cms, cm("owner", vec![], vec![])).await;
    create(&cms, cm("child", vec![owner_ref(&owner, true)], vec![])).await;
    create(&cms, cm("unrelated", vec![], vec![])).await;
    cms.delete("owner", &delete_with(PropagationPolicy::Background))
        .await
        .expect("delete owner");
    assert!(
        !gone(&cms, "child").await,
        "nothing collects without the collector"
    );

    let (stop, stopped) = oneshot::channel::<()>();
    let gc = tokio::spawn(capstan_controllers::gc::run_garbage_collector(
        client.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    eventually_some("child collected from the initial list", || async {
        gone(&cms, "child").await.then_some(())
    })
    .await;
    assert!(!gone(&cms, "unrelated").await);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), gc)
        .await
        .expect("collector stops")
        .expect("task ends")
        .expect("collector returns Ok");
}
