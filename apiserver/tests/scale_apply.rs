//! Server-side apply on the `scale` subresource, as upstream's
//! `test/integration/apiserver/apply/scale_test.go` exercises it: ownership of
//! `.spec.replicas` moves between appliers of the object, writers of `/scale` (merge
//! patch, PUT) and appliers of `/scale`, with conflicts naming the current owner.

mod common;

use capstan_apiserver::TestServer;
use common::{get_json, send};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";

fn object(kind: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": "test"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
            },
        },
    })
}

fn scale(replicas: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "test", "namespace": "default"}, "spec": {"replicas": replicas}}))
    .unwrap()
}

/// Managers whose entries own `.spec.replicas`, sorted.
fn replica_owners(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
        .filter_map(|e| e["manager"].as_str().map(String::from))
        .collect();
    out.sort();
    out
}

struct Target<'a> {
    client: &'a kube::Client,
    path: String,
}

impl Target<'_> {
    async fn write(
        &self,
        method: &str,
        sub: &str,
        ct: &str,
        manager: &str,
        force: bool,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut url = format!("{}{sub}?fieldManager={manager}", self.path);
        if force {
            url.push_str("&force=true");
        }
        let (code, _, v) = send(self.client, method, &url, &[("content-type", ct)], body).await;
        (code, v)
    }

    async fn expect(&self, replicas: i64, owners: &[&str]) {
        let obj = get_json(self.client, &self.path).await;
        assert_eq!(obj["spec"]["replicas"], replicas, "{}", self.path);
        assert_eq!(replica_owners(&obj), owners, "{}: {obj}", self.path);
    }
}

#[tokio::test]
async fn apply_on_scale_moves_replica_ownership() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    for (kind, plural) in [
        ("Deployment", "deployments"),
        ("StatefulSet", "statefulsets"),
        ("ReplicaSet", "replicasets"),
    ] {
        let t = Target {
            client: &client,
            path: format!("/apis/apps/v1/namespaces/default/{plural}/test"),
        };
        let original = serde_json::to_vec(&object(kind)).unwrap();

        // Created by apply: the applier owns replicas.
        let (code, v) = t
            .write("PATCH", "", APPLY, "apply_test", false, original.clone())
            .await;
        assert_eq!(code, 201, "{kind}: {v}");
        t.expect(1, &["apply_test"]).await;

        // A merge patch of /scale takes them.
        let body = br#"{"spec":{"replicas":5}}"#.to_vec();
        let (code, v) = t
            .write("PATCH", "/scale", MERGE, "scale_test", false, body)
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        t.expect(5, &["scale_test"]).await;

        // Re-applying the original conflicts; forcing takes replicas back.
        let (code, v) = t
            .write("PATCH", "", APPLY, "apply_test", false, original.clone())
            .await;
        assert_eq!(code, 409, "{kind}: {v}");
        let (code, v) = t
            .write("PATCH", "", APPLY, "apply_test", true, original.clone())
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        t.expect(1, &["apply_test"]).await;

        // Applying a Scale with other replicas conflicts with the object's applier.
        let (code, v) = t
            .write("PATCH", "/scale", APPLY, "apply_scale", false, scale(17))
            .await;
        assert_eq!(code, 409, "{kind}: {v}");
        assert_eq!(
            v["message"],
            "Apply failed with 1 conflict: conflict with \"apply_test\": .spec.replicas"
        );
        assert_eq!(
            v["details"]["causes"],
            json!([{"reason": "FieldManagerConflict", "message": "conflict with \"apply_test\"", "field": ".spec.replicas"}])
        );
        t.expect(1, &["apply_test"]).await;

        // Forced, the Scale's applier becomes the only owner.
        let (code, v) = t
            .write("PATCH", "/scale", APPLY, "apply_scale", true, scale(17))
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        assert_eq!(v["kind"], "Scale");
        assert_eq!(v["spec"]["replicas"], 17);
        t.expect(17, &["apply_scale"]).await;
        let obj = get_json(&client, &t.path).await;
        let entry = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "apply_scale")
            .unwrap()
            .clone();
        assert_eq!(
            (
                &entry["operation"],
                &entry["apiVersion"],
                &entry["subresource"]
            ),
            (&json!("Apply"), &json!("apps/v1"), &json!("scale"))
        );
        assert_eq!(entry["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        // The object's applier kept everything else it applied.
        let applier = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "apply_test")
            .unwrap();
        assert!(
            applier["fieldsV1"]["f:spec"].get("f:template").is_some(),
            "{applier}"
        );

        // A PUT of /scale takes them.
        let (code, v) = t
            .write(
                "PUT",
                "/scale",
                "application/json",
                "replace_test",
                false,
                scale(7),
            )
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        t.expect(7, &["replace_test"]).await;

        // Applying the same value co-owns without a conflict.
        let (code, v) = t
            .write("PATCH", "/scale", APPLY, "co_owning_test", false, scale(7))
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        t.expect(7, &["co_owning_test", "replace_test"]).await;

        // Scaling again leaves one owner.
        let body = br#"{"spec":{"replicas":5}}"#.to_vec();
        let (code, v) = t
            .write("PATCH", "/scale", MERGE, "scale_test", false, body)
            .await;
        assert_eq!(code, 200, "{kind}: {v}");
        t.expect(5, &["scale_test"]).await;
    }
}

#[tokio::test]
async fn kube_patch_apply_on_scale() {
    let s = TestServer::start().await.unwrap();
    let api: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let d: Deployment = serde_json::from_value(object("Deployment")).unwrap();
    api.create(&Default::default(), &d).await.unwrap();
    let cfg = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 3}});

    // The creator (an Update manager) owns replicas: a different value conflicts.
    let err = api
        .patch_scale(
            "test",
            &PatchParams::apply("autoscaler"),
            &Patch::Apply(&cfg),
        )
        .await
        .expect_err("conflict with the creator");
    let kube::Error::Api(status) = err else {
        panic!("expected a Status, got {err}")
    };
    assert_eq!(status.code, 409);
    assert!(
        status.message.contains(".spec.replicas"),
        "{}",
        status.message
    );

    let sc = api
        .patch_scale(
            "test",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&cfg),
        )
        .await
        .unwrap();
    assert_eq!(sc.spec.unwrap().replicas, Some(3));
    let d = api.get("test").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    // The same apply again is a no-op for the object.
    let rv = d.metadata.resource_version.clone();
    api.patch_scale(
        "test",
        &PatchParams::apply("autoscaler"),
        &Patch::Apply(&cfg),
    )
    .await
    .unwrap();
    assert_eq!(api.get("test").await.unwrap().metadata.resource_version, rv);

    // A negative count is invalid; fieldManager is required.
    let bad = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": -1}});
    let err = api
        .patch_scale(
            "test",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&bad),
        )
        .await
        .expect_err("invalid");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422),
        "{err:?}"
    );
    let (code, _, v) = send(
        &s.client().await,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/test/scale",
        &[("content-type", APPLY)],
        serde_json::to_vec(&cfg).unwrap(),
    )
    .await;
    assert_eq!(code, 422, "{v}");
}
