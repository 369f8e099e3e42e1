//! Read and write semantics over HTTP: pagination, dry runs, deletecollection, field
//! selectors, eviction against PodDisruptionBudgets, PriorityClass resolution, Tables
//! and partial metadata, bookmarks, duplicate fields, a body's uid on replace and patch.

use std::time::Duration;

use capstan_apiserver::{ServerConfig, TestServer};
use futures::TryStreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

fn pod(name: &str, extra_spec: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec}),
    )
    .unwrap()
}

async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: Option<&str>,
    body: Option<Value>,
) -> (u16, hyper::HeaderMap, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(&b).unwrap()
        }
        None => Vec::new(),
    };
    let resp = client.send(req.body(body.into()).unwrap()).await.unwrap();
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn pagination_walks_every_object_once() {
    let s = TestServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i:02}"), json!({"page": "yes"})),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().labels("page=yes").limit(10);
    let mut rvs = Vec::new();
    loop {
        let page = api.list(&lp).await.unwrap();
        rvs.push(page.metadata.resource_version.clone().unwrap());
        names.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => {
                if names.len() == 10 {
                    assert_eq!(page.metadata.remaining_item_count, Some(15));
                }
                lp = lp.continue_token(&c);
            }
            _ => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("c{i:02}")).collect();
    assert_eq!(names, want);
    assert_eq!(rvs.len(), 3);
    assert!(
        rvs.iter().all(|r| *r == rvs[0]),
        "every page reports the first page's revision"
    );
}

#[tokio::test]
async fn dry_run_and_delete_collection() {
    let s = TestServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry", json!({})),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(&PostParams::default(), &cm(n, json!({"grp": l})))
            .await
            .unwrap();
    }
    api.delete(
        "a",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(api.get_opt("a").await.unwrap().is_some());
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("grp=x"),
        )
        .await
        .unwrap();
    let names: Vec<String> = deleted
        .left()
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let left: Vec<String> = api
        .list(&ListParams::default().labels("grp"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn field_selectors_priority_and_eviction() {
    let s = TestServer::start().await.unwrap();
    // kube-rs retries 429s by default (up to minutes); this test wants to see them.
    let mut cfg = s.config().await;
    cfg.default_retry = false;
    let client = kube::Client::try_from(cfg).unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("on-n1", json!({"nodeName": "n1"})),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &pod(
            "on-n2",
            json!({"nodeName": "n2", "priorityClassName": "system-node-critical"}),
        ),
    )
    .await
    .unwrap();
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .unwrap();
    assert_eq!(on_n1.items.len(), 1);
    assert_eq!(on_n1.items[0].metadata.name.as_deref(), Some("on-n1"));
    let not_n1 = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("spec.nodeName!=n1,metadata.namespace=default"))
        .await
        .unwrap();
    assert_eq!(not_n1.items.len(), 1);
    let n2 = pods.get("on-n2").await.unwrap();
    assert_eq!(n2.spec.unwrap().priority, Some(2000001000));
    assert_eq!(
        pods.get("on-n1").await.unwrap().spec.unwrap().priority,
        Some(0)
    );
    let err = pods
        .create(
            &PostParams::default(),
            &pod("bad-pc", json!({"priorityClassName": "nope"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 403 && e.message.contains("no PriorityClass with name nope")),
        "{err:?}"
    );

    // Running, Ready pods are protected by a PDB that allows no disruption.
    for p in ["on-n1", "on-n2"] {
        let (code, _, _) = raw(
            &client,
            "PATCH",
            &format!("/api/v1/namespaces/default/pods/{p}/status"),
            None,
            None,
        )
        .await;
        assert_eq!(code, 415);
        let req = http::Request::patch(format!("/api/v1/namespaces/default/pods/{p}/status"))
            .header("content-type", "application/merge-patch+json")
            .body(
                serde_json::to_vec(&json!({"status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}]}}))
                .unwrap()
                .into(),
            )
            .unwrap();
        assert_eq!(client.send(req).await.unwrap().status(), 200);
    }
    let (code, _, _) = raw(&client, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", None, Some(json!({
        "metadata": {"name": "pdb"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}
    }))).await;
    assert_eq!(code, 201);
    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "on-n1"}});
    let (code, _, st) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods/on-n1/eviction",
        None,
        Some(eviction.clone()),
    )
    .await;
    assert_eq!(code, 429, "{st}");
    assert_eq!(st["details"]["causes"][0]["reason"], "DisruptionBudget");
    // The disruption controller (here: this test) says one disruption is allowed.
    let (_, _, pdb) = raw(
        &client,
        "GET",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb",
        None,
        None,
    )
    .await;
    let mut pdb = pdb;
    pdb["status"] = json!({"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2});
    let (code, _, _) = raw(
        &client,
        "PUT",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb/status",
        None,
        Some(pdb),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, st) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods/on-n1/eviction",
        None,
        Some(eviction),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let evicted = pods.get("on-n1").await.unwrap();
    assert!(
        evicted.metadata.deletion_timestamp.is_some(),
        "bound pods are deleted gracefully"
    );
    let (_, _, pdb) = raw(
        &client,
        "GET",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb",
        None,
        None,
    )
    .await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"]["on-n1"].is_string());
    let cond = &pdb["status"]["conditions"][0];
    assert_eq!(
        (&cond["type"], &cond["status"], &cond["reason"]),
        (
            &json!("DisruptionAllowed"),
            &json!("False"),
            &json!("InsufficientPods")
        ),
        "the last disruption taken turns the condition"
    );

    // A policy/v1 budget with an empty selector selects every pod: two budgets now
    // cover on-n2, which the eviction subresource refuses as upstream.
    let (code, _, _) = raw(
        &client,
        "POST",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
        None,
        Some(json!({
            "metadata": {"name": "everything"}, "spec": {"maxUnavailable": 1, "selector": {}}
        })),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _, st) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods/on-n2/eviction",
        None,
        Some(json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "on-n2"}})),
    )
    .await;
    assert_eq!(code, 500, "{st}");
    assert_eq!(
        st["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
    assert!(st.get("reason").is_none(), "{st}");
}

#[tokio::test]
async fn tables_partial_metadata_and_duplicate_fields() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("t", json!({})))
        .await
        .unwrap();
    let (code, _, table) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"][0]["cells"][0], "t");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert!(table["metadata"]["resourceVersion"].is_string());
    let (_, _, plain) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/t",
        None,
        None,
    )
    .await;
    assert_eq!(plain["kind"], "ConfigMap", "never a Table unless asked");
    let (_, _, partial) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
        None,
    )
    .await;
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
    assert_eq!(partial["items"][0]["metadata"]["name"], "t");
    assert!(partial["items"][0].get("data").is_none());

    // Duplicate fields: 400 in Strict, a Warning header by default.
    let dup = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}"#.to_vec();
    let send = |q: &'static str| {
        let client = client.clone();
        let dup = dup.clone();
        async move {
            let req = http::Request::post(format!("/api/v1/namespaces/default/configmaps{q}"))
                .header("content-type", "application/json")
                .body(dup.into())
                .unwrap();
            let resp = client.send(req).await.unwrap();
            let code = resp.status().as_u16();
            let warning = resp
                .headers()
                .get("warning")
                .map(|v| v.to_str().unwrap().to_string());
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (
                code,
                warning,
                serde_json::from_slice::<Value>(&body).unwrap(),
            )
        }
    };
    let (code, _, st) = send("?fieldValidation=Strict").await;
    assert_eq!(code, 400);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field \"data.a\""),
        "{st}"
    );
    let (code, warning, _) = send("").await;
    assert_eq!(code, 201);
    assert_eq!(
        warning.as_deref(),
        Some(r#"299 - "json: duplicate field \"data.a\"""#)
    );
}

#[tokio::test]
async fn watch_bookmarks_carry_progress() {
    let s = TestServer::start_with(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        bookmark_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = cms
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap();
    futures::pin_mut!(stream);
    // A write to another resource advances the revision bookmarks report.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let p = pods
        .create(&PostParams::default(), &pod("elsewhere", json!({})))
        .await
        .unwrap();
    let target: u64 = p.metadata.resource_version.unwrap().parse().unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Bookmark(b) => {
                if b.metadata.resource_version.parse::<u64>().unwrap() >= target {
                    break;
                }
            }
            other => panic!("only bookmarks expected: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_uid_in_the_body_is_a_precondition_on_replace_and_immutable_on_patch() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("u", json!({})))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let path = "/api/v1/namespaces/default/configmaps/u";

    // Replace carrying another object's uid: 409, the stored object untouched.
    let mut body = serde_json::to_value(&created).unwrap();
    body["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    body["data"] = json!({"k": "v"});
    let (code, _, st) = raw(&client, "PUT", path, None, Some(body.clone())).await;
    assert_eq!(code, 409, "{st}");
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        format!(
            "Operation cannot be fulfilled on configmaps \"u\": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: {uid}"
        )
    );
    // With its own uid, or none, the replace goes through.
    body["metadata"]["uid"] = json!(uid);
    let (code, _, st) = raw(&client, "PUT", path, None, Some(body)).await;
    assert_eq!(code, 200, "{st}");

    // A merge patch changing the uid: 422 naming the field; one carrying the same uid
    // is fine.
    let req = http::Request::patch(path)
        .header("content-type", "application/merge-patch+json")
        .body(
            serde_json::to_vec(&json!({"metadata": {"uid": "other"}}))
                .unwrap()
                .into(),
        )
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let st: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        st["message"],
        "ConfigMap \"u\" is invalid: metadata.uid: Invalid value: \"other\": field is immutable"
    );
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.uid");
    let req = http::Request::patch(path)
        .header("content-type", "application/merge-patch+json")
        .body(
            serde_json::to_vec(&json!({"metadata": {"uid": uid}, "data": {"k": "w"}}))
                .unwrap()
                .into(),
        )
        .unwrap();
    assert_eq!(client.send(req).await.unwrap().status().as_u16(), 200);
    let now = cms.get("u").await.unwrap();
    assert_eq!(now.metadata.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(now.data.unwrap()["k"], "w");
}
