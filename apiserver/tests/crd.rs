//! CustomResourceDefinitions: custom resources served at once, structural-schema
//! validation and pruning, status and scale subresources, printer columns, several
//! versions, 422 on updates without a resourceVersion, cleanup on CRD deletion.

use std::time::Duration;

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::{Value, json};
use tokio::time::Instant;

fn crd() -> Value {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "image": {"type": "string"},
                "selector": {"type": "string"}
            }, "required": ["image"]},
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}}}
        }
    });
    let version = |name: &str, storage: bool| {
        json!({
            "name": name, "served": true, "storage": storage,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
            "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}, {"name": "Image", "type": "string", "jsonPath": ".spec.image"}],
            "selectableFields": [{"jsonPath": ".spec.image"}]
        })
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [version("v1", true), version("v1beta1", false)]
        }
    })
}

fn widgets(client: kube::Client, version: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", version, "Widget"),
        "widgets",
    );
    Api::namespaced_with(client, "default", &ar)
}

fn widget(name: &str, extra: Value) -> DynamicObject {
    let mut v = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"image": "nginx", "replicas": 1}});
    if let Some(m) = extra.as_object() {
        for (k, x) in m {
            v["spec"][k] = x.clone();
        }
    }
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn crds_serve_custom_resources_with_subresources() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let req = http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&crd()).unwrap().into())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(created["metadata"]["name"], "widgets.example.com");

    // The CRD's status says Established, and discovery lists the kind.
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = crds.get("widgets.example.com").await.unwrap();
        let established = c.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if established {
            assert_eq!(c.data["status"]["acceptedNames"]["kind"], "Widget");
            break;
        }
        assert!(Instant::now() < deadline, "CRD never established");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.groups().any(|g| g.name() == "example.com"));

    let api = widgets(client.clone(), "v1");
    let w = api
        .create(
            &PostParams::default(),
            &widget("w1", json!({"unknown": "pruned"})),
        )
        .await
        .unwrap();
    assert!(
        w.data["spec"].get("unknown").is_none(),
        "unknown fields are pruned"
    );
    assert_eq!(w.metadata.generation, Some(1));
    // Schema validation: 422 naming the field.
    let err = api
        .create(
            &PostParams::default(),
            &widget("bad", json!({"replicas": -1})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 422 && e.message.contains("spec.replicas")),
        "{err:?}"
    );
    // An update without a resourceVersion is a 422 for custom resources.
    let mut unconditional = w.clone();
    unconditional.metadata.resource_version = None;
    let err = api
        .replace("w1", &PostParams::default(), &unconditional)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 422 && e.message.contains("metadata.resourceVersion")),
        "{err:?}"
    );
    // Status subresource.
    let st = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=w1"}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["replicas"], 1);
    assert_eq!(st.metadata.generation, Some(1));
    // Any non-metadata change bumps a custom resource's generation.
    let p = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": "httpd"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    // The version's selectableFields are field selectors, as on a 1.32+ cluster.
    api.create(&PostParams::default(), &widget("w2", json!({})))
        .await
        .unwrap();
    let names = |l: kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        l.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect()
    };
    let lp = |f: &str| kube::api::ListParams::default().fields(f);
    assert_eq!(
        names(api.list(&lp("spec.image=httpd")).await.unwrap()),
        ["w1"]
    );
    assert_eq!(
        names(api.list(&lp("spec.image!=httpd")).await.unwrap()),
        ["w2"]
    );
    let err = api.list(&lp("spec.replicas=1")).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 400 && e.message.contains("field label not supported: spec.replicas")),
        "{err:?}"
    );
    // Scale subresource through the CRD's paths.
    let scale = api.get_scale("w1").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=w1"));
    api.patch_scale(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    assert_eq!(api.get("w1").await.unwrap().data["spec"]["replicas"], 4);
    // Served at the second version too (conversion None).
    let beta = widgets(client.clone(), "v1beta1").get("w1").await.unwrap();
    assert_eq!(beta.types.unwrap().api_version, "example.com/v1beta1");
    // Printer columns in Tables.
    let req = http::Request::get("/apis/example.com/v1/namespaces/default/widgets")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new().into())
        .unwrap();
    let t: Value = serde_json::from_slice(
        &client
            .send(req)
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        cols.contains(&"Replicas") && cols.contains(&"Image"),
        "{cols:?}"
    );

    // A cluster-scoped CRD: its resources are served without a namespace.
    let mut cluster = crd();
    cluster["metadata"]["name"] = json!("gizmos.example.com");
    cluster["spec"]["scope"] = json!("Cluster");
    cluster["spec"]["names"] = json!({"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"});
    let req = http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&cluster).unwrap().into())
        .unwrap();
    assert_eq!(client.send(req).await.unwrap().status(), 201);
    let gizmos: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gizmo"),
            "gizmos",
        ),
    );
    let mut g = widget("g1", json!({}));
    g.types.as_mut().unwrap().kind = "Gizmo".into();
    let deadline = Instant::now() + Duration::from_secs(30);
    let made = loop {
        match gizmos.create(&PostParams::default(), &g).await {
            Ok(o) => break o,
            Err(e) => {
                assert!(Instant::now() < deadline, "gizmos never served: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(made.metadata.namespace, None);
    assert_eq!(
        gizmos.get("g1").await.unwrap().data["spec"]["image"],
        "nginx"
    );
    let req = http::Request::get("/apis/example.com/v1/namespaces/default/gizmos")
        .body(Vec::new().into())
        .unwrap();
    assert_eq!(
        client.send(req).await.unwrap().status(),
        404,
        "no namespaced path for a cluster-scoped kind"
    );

    // Deleting the CRD removes its resources and stops serving them.
    let req = http::Request::delete(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
    )
    .body(Vec::new().into())
    .unwrap();
    assert_eq!(client.send(req).await.unwrap().status(), 200);
    let err = api.get("w1").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err:?}"
    );
    assert_eq!(
        s.server()
            .cluster()
            .store
            .count(&capstan_apiserver::storage::ResourceKey::new(
                "example.com",
                "widgets"
            )),
        0
    );
}
