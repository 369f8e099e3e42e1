//! The request counters of `client_with_rate_limit` against the in-process API server:
//! a known sequence of calls is counted once each, by Kubernetes verb, resource (with
//! subresource) and status code, and in client-go's `rest_client_requests_total`.

use std::collections::BTreeMap;

use capstan_apiserver::TestServer;
use capstan_runtime::client::{RequestCounts, RequestSeries, client_with_rate_limit};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"counted": "yes"}},
        "data": {"k": "v"},
    }))
    .expect("config map")
}

#[tokio::test]
async fn a_known_sequence_of_calls_is_counted_once_each() {
    let server = TestServer::start().await.expect("server");
    let config = server.config().await;
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .expect("host");
    // qps 0: no client-side limit, only counting.
    let client = client_with_rate_limit(config, 0.0, 1).expect("client");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let post = PostParams::default();
    let before = RequestCounts::snapshot();

    maps.create(&post, &config_map("a"))
        .await
        .expect("create a");
    maps.create(&post, &config_map("b"))
        .await
        .expect("create b");
    let taken = maps.create(&post, &config_map("a")).await;
    assert!(taken.is_err(), "a exists");
    let mut a = maps.get("a").await.expect("get a");
    assert!(
        maps.get_opt("missing")
            .await
            .expect("get missing")
            .is_none()
    );
    let listed = maps
        .list(&ListParams::default().labels("counted=yes"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 2);
    let mut events = maps
        .watch(&WatchParams::default().labels("counted=yes"), "0")
        .await
        .expect("watch")
        .boxed();
    events
        .next()
        .await
        .expect("an event")
        .expect("not an error");
    drop(events);
    a.data = Some(BTreeMap::from([("k".to_string(), "w".to_string())]));
    maps.replace("a", &post, &a).await.expect("replace a");
    maps.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "x"}})),
    )
    .await
    .expect("patch b");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "pause"}]},
    }))
    .expect("pod");
    pods.create(&post, &pod).await.expect("create pod");
    pods.patch_status(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .expect("patch pod status");
    maps.delete("a", &DeleteParams::default())
        .await
        .expect("delete a");
    maps.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("counted=yes"),
    )
    .await
    .expect("delete the rest");

    let counted = RequestCounts::snapshot().since(&before);
    let series = |verb: &str, resource: &str, code: &str| {
        (
            RequestSeries {
                verb: verb.into(),
                resource: resource.into(),
                code: code.into(),
            },
            1,
        )
    };
    let created = |resource: &str| series("create", resource, "201");
    let ok = |verb: &str, resource: &str| series(verb, resource, "200");
    let mut want = BTreeMap::from([
        series("create", "configmaps", "409"),
        ok("get", "configmaps"),
        series("get", "configmaps", "404"),
        ok("list", "configmaps"),
        ok("watch", "configmaps"),
        ok("update", "configmaps"),
        ok("patch", "configmaps"),
        created("pods"),
        ok("patch", "pods/status"),
        ok("delete", "configmaps"),
        ok("deletecollection", "configmaps"),
    ]);
    want.insert(created("configmaps").0, 2);
    assert_eq!(counted.series(), &want);
    // Writes: 3 creates that took, 1 refused, an update, 2 patches, 2 deletes.
    assert_eq!(counted.writes(), 9);
    assert_eq!(counted.count("create", "configmaps"), 3);

    let text = capstan_runtime::metrics::render();
    for (code, method) in [
        ("201", "POST"),
        ("409", "POST"),
        ("404", "GET"),
        ("200", "PATCH"),
    ] {
        let line = format!(
            r#"rest_client_requests_total{{code="{code}",host="{host}",method="{method}"}}"#
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
}
