//! The namespace controller against capstan's API server: `kubectl delete
//! namespace` returns once the namespace's content (built-in kinds, Events, a
//! custom resource, a pod held by a finalizer) is gone, and the namespace
//! reports what holds it while it waits.

mod support;

use support::eventually_some;

use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_controllers::manager::{ControllerManager, ControllerSelection, ControllersConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;
use tokio::sync::oneshot;

const NS: &str = "doomed";
const HOLD: &str = "example.com/hold";

fn widgets_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}

async fn create_crd(client: &Client) {
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = json!({
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
    });
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).expect("crd"),
    )
    .await
    .expect("create crd");
}

async fn populate(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).expect("namespace"),
        )
        .await
        .expect("create namespace");
    let pp = PostParams::default();
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "b"}}))
                .expect("configmap"),
        )
        .await
        .expect("create configmap");
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "held", "finalizers": [HOLD]},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }))
            .expect("pod"),
        )
        .await
        .expect("create pod");
    Api::<Event>::namespaced(client.clone(), NS)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "held.1"},
                "involvedObject": {"kind": "Pod", "namespace": NS, "name": "held"},
                "reason": "Testing", "message": "an event", "type": "Normal"
            }))
            .expect("event"),
        )
        .await
        .expect("create event");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &widgets_resource());
    eventually_some("widgets served", || async {
        widgets
            .create(
                &pp,
                &serde_json::from_value(json!({
                    "apiVersion": "example.com/v1", "kind": "Widget",
                    "metadata": {"name": "gizmo"}, "spec": {"size": 3}
                }))
                .expect("widget"),
            )
            .await
            .ok()
    })
    .await;
}

fn condition(ns: &Namespace, ty: &str) -> Option<(String, String, String)> {
    ns.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test]
async fn kubectl_delete_namespace_returns_once_its_content_is_gone() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    create_crd(&client).await;
    populate(&client).await;

    let config = ControllersConfig {
        selection: ControllerSelection::parse(&["namespace-controller"]).expect("selection"),
        ..ControllersConfig::default()
    };
    let manager = ControllerManager::new(client.clone(), &config).expect("controllers build");
    assert_eq!(manager.enabled(), ["namespace-controller"]);
    let (stop, stopped) = oneshot::channel::<()>();
    let controllers = tokio::spawn(manager.run(async {
        let _ = stopped.await;
    }));

    let cache = server.dir().join("kubectl-cache");
    let kubectl = tokio::process::Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(server.kubeconfig_path())
        .arg("--cache-dir")
        .arg(&cache)
        .args(["delete", "namespace", NS])
        .kill_on_drop(true)
        .output();
    let kubectl = tokio::spawn(tokio::time::timeout(Duration::from_secs(180), kubectl));

    // While the held pod remains, the namespace is Terminating and says why.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = eventually_some("remaining-content conditions", || async {
        let ns = namespaces.get_opt(NS).await.expect("get namespace")?;
        let fins = condition(&ns, "NamespaceFinalizersRemaining")?;
        (fins.0 == "True").then_some(ns)
    })
    .await;
    assert_eq!(
        ns.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Terminating")
    );
    assert_eq!(
        condition(&ns, "NamespaceFinalizersRemaining"),
        Some((
            "True".into(),
            "SomeFinalizersRemain".into(),
            format!(
                "Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances"
            )
        ))
    );
    assert_eq!(
        condition(&ns, "NamespaceContentRemaining"),
        Some((
            "True".into(),
            "SomeResourcesRemain".into(),
            "Some resources are remaining: pods. has 1 resource instances".into()
        ))
    );
    assert_eq!(
        condition(&ns, "NamespaceDeletionContentFailure").map(|c| c.1),
        Some("ContentDeleted".into())
    );
    assert_eq!(
        condition(&ns, "NamespaceDeletionDiscoveryFailure").map(|c| c.0),
        Some("False".into())
    );
    // Everything else is gone already; the pod waits on its finalizer.
    let cms = Api::<ConfigMap>::namespaced(client.clone(), NS);
    assert!(cms.get_opt("settings").await.expect("get").is_none());
    let events = Api::<Event>::namespaced(client.clone(), NS);
    assert!(events.get_opt("held.1").await.expect("get").is_none());
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &widgets_resource());
    assert!(widgets.get_opt("gizmo").await.expect("get").is_none());
    let pods = Api::<Pod>::namespaced(client.clone(), NS);
    let held = pods.get("held").await.expect("held pod remains");
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "the pod is being deleted"
    );
    assert!(
        !kubectl.is_finished(),
        "kubectl waits while the namespace remains"
    );

    // Release the pod: the namespace goes and kubectl returns.
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove the pod's finalizer");
    let out = kubectl
        .await
        .expect("kubectl task")
        .expect("kubectl returns in time")
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl delete namespace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("namespace \"{NS}\" deleted")
    );
    assert!(
        namespaces.get_opt(NS).await.expect("get").is_none(),
        "namespace removed"
    );
    assert!(pods.get_opt("held").await.expect("get").is_none());

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), controllers)
        .await
        .expect("controllers stop")
        .expect("controller task")
        .expect("controllers end cleanly");
}

#[tokio::test]
async fn a_namespace_whose_content_has_no_finalizers_goes_at_once() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;
    let config = ControllersConfig {
        selection: ControllerSelection::parse(&["namespace"]).expect("selection"),
        ..ControllersConfig::default()
    };
    let manager = ControllerManager::new(client.clone(), &config).expect("controllers build");
    let (stop, stopped) = oneshot::channel::<()>();
    let controllers = tokio::spawn(manager.run(async {
        let _ = stopped.await;
    }));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "brief"}})).expect("namespace"),
        )
        .await
        .expect("create namespace");
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "brief");
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}}))
                .expect("configmap"),
        )
        .await
        .expect("create configmap");
    }
    namespaces
        .delete("brief", &Default::default())
        .await
        .expect("delete namespace");
    let terminating = namespaces
        .get("brief")
        .await
        .expect("terminating namespace");
    assert_eq!(
        terminating.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_string()])
    );
    eventually_some("namespace removed", || async {
        namespaces
            .get_opt("brief")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        cms.list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), controllers)
        .await
        .expect("controllers stop")
        .expect("controller task")
        .expect("controllers end cleanly");
}
