//! The server's protocol surface as clients meet it: TLS names and HTTP versions, the
//! plain-HTTP debug mode, health endpoints, legacy and aggregated discovery, OpenAPI v3
//! hashes, list `resourceVersion`/`resourceVersionMatch` semantics, watch timeouts, watch
//! Tables, and the `kubernetes` Service's endpoints.

mod common;

use std::time::Duration;

use capstan_apiserver::{ServerConfig, TestServer};
use common::{get_json, send};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::time::Instant;

/// One raw GET; returns (status, HTTP version, body text).
async fn get_raw(
    client: &kube::Client,
    path: &str,
    accept: Option<&str>,
) -> (u16, http::Version, String) {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = client
        .send(req.body(Vec::new().into()).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let version = resp.version();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, version, String::from_utf8_lossy(&bytes).into_owned())
}

/// GET over TLS (server name `localhost`, the server's CA) with ALPN `h2` only, through
/// hyper's HTTP/2 client; returns the response's HTTP version and body.
async fn h2_get(s: &TestServer, path: &str) -> (http::Version, Vec<u8>) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(s.server().ca_pem().unwrap().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(s.server().addr())
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost{path}"))
        .header("authorization", format!("Bearer {}", s.server().token()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let version = resp.version();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (version, body.to_vec())
}

/// Newline-delimited watch events of a finished watch response.
fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn tls_names_health_and_plain_http_debug_mode() {
    let s = TestServer::start().await.unwrap();
    // The serving certificate carries `localhost` as well as 127.0.0.1.
    let mut cfg = s.config().await;
    let port = s.server().addr().port();
    cfg.cluster_url = format!("https://localhost:{port}").parse().unwrap();
    let by_name = kube::Client::try_from(cfg).unwrap();
    let version = get_json(&by_name, "/version").await;
    assert_eq!(version["major"], "1");
    assert_eq!(version["minor"], "33");
    assert_eq!(version["gitVersion"], "v1.33.0");
    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, version, body) = get_raw(&by_name, path, None).await;
        assert_eq!((code, body.as_str()), (200, "ok"), "{path}");
        assert_eq!(version, http::Version::HTTP_11, "kube-rs speaks HTTP/1.1");
    }
    // HTTP/2 when the client offers it through ALPN (as kubectl does).
    let (version, body) = h2_get(&s, "/version").await;
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["minor"],
        "33"
    );
    s.shutdown().await;

    // --insecure-http: plain HTTP, no token needed.
    let plain = TestServer::start_with(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        insecure_http: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert!(plain.url().starts_with("http://"), "{}", plain.url());
    let anon = kube::Client::try_from(kube::Config::new(plain.url().parse().unwrap())).unwrap();
    let (code, _, body) = get_raw(&anon, "/api/v1/namespaces/default", None).await;
    assert_eq!(code, 200, "{body}");
    plain.shutdown().await;
}

#[tokio::test]
async fn discovery_legacy_aggregated_and_openapi_hashes() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;

    // Legacy discovery, which kube-rs's Discovery::run() reads.
    let core = get_json(&client, "/api/v1").await;
    let pods = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods")
        .unwrap();
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    let subs: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|n| n.starts_with("pods/"))
        .collect();
    for sub in ["pods/status", "pods/binding", "pods/eviction", "pods/log"] {
        assert!(subs.contains(&sub), "{subs:?}");
    }
    let groups = get_json(&client, "/apis").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for g in [
        "apps",
        "batch",
        "discovery.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "policy",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(names.contains(&g), "{g} missing from {names:?}");
    }

    // Aggregated discovery, which kubectl reads.
    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (code, _, body) = get_raw(&client, "/apis", Some(accept)).await;
    assert_eq!(code, 200);
    let agg: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let apps = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("apps group");
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    let subresources: Vec<&str> = deploy["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["subresource"].as_str())
        .collect();
    assert!(
        subresources.contains(&"scale") && subresources.contains(&"status"),
        "{subresources:?}"
    );

    // OpenAPI v3: each group-version's URL carries a hash that changes with its schema.
    let index_url = |idx: &Value, gv: &str| {
        idx["paths"][gv]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let crd = |extra: Value| {
        let mut props = json!({"size": {"type": "integer"}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                props[k] = v.clone();
            }
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "dials.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "dials", "singular": "dial", "kind": "Dial"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": props}}}}}]}
        })
    };
    let (code, _, created) = send(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("content-type", "application/json")],
        serde_json::to_vec(&crd(json!({}))).unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let url = index_url(
            &get_json(&client, "/openapi/v3").await,
            "apis/example.com/v1",
        );
        if !url.is_empty() {
            break url;
        }
        assert!(Instant::now() < deadline, "CRD never in the OpenAPI index");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(first.contains("?hash="), "{first}");
    let doc = get_json(&client, &first).await;
    let patch = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/dials/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "example.com", "version": "v1", "kind": "Dial"})
    );
    let apps_before = index_url(&get_json(&client, "/openapi/v3").await, "apis/apps/v1");
    let changed = crd(json!({"color": {"type": "string"}}));
    let (code, _, body) = send(
        &client,
        "PATCH",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/dials.example.com",
        &[("content-type", "application/merge-patch+json")],
        serde_json::to_vec(&json!({"spec": {"versions": changed["spec"]["versions"]}})).unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let idx = get_json(&client, "/openapi/v3").await;
        let now = index_url(&idx, "apis/example.com/v1");
        if now != first {
            assert!(now.contains("?hash="), "{now}");
            // Other group-versions keep theirs.
            assert_eq!(index_url(&idx, "apis/apps/v1"), apps_before);
            break;
        }
        assert!(Instant::now() < deadline, "hash never changed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn list_resource_versions_watch_timeouts_and_tables() {
    let s = TestServer::start().await.unwrap();
    // kube-rs retries 504s by default; this test wants to see the first answer.
    let mut cfg = s.config().await;
    cfg.default_retry = false;
    let client = kube::Client::try_from(cfg).unwrap();
    let cm = |name: &str| {
        serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
        )
        .unwrap()
    };
    let base = "/api/v1/namespaces/default/configmaps";
    for n in ["a", "b"] {
        let (code, _, _) = send(
            &client,
            "POST",
            base,
            &[("content-type", "application/json")],
            cm(n),
        )
        .await;
        assert_eq!(code, 201);
    }
    let list = get_json(&client, base).await;
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // resourceVersion / resourceVersionMatch on lists.
    let at = |q: String| {
        let client = client.clone();
        async move { send(&client, "GET", &format!("{base}?{q}"), &[], Vec::new()).await }
    };
    let (code, _, l) = at(format!("resourceVersion={rv}&resourceVersionMatch=Exact")).await;
    assert_eq!((code, l["items"].as_array().map(Vec::len)), (200, Some(2)));
    let (code, _, l) = at("resourceVersion=1&resourceVersionMatch=NotOlderThan".into()).await;
    assert_eq!(code, 200);
    assert_eq!(l["metadata"]["resourceVersion"], rv.to_string());
    let (code, _, st) = at("resourceVersion=1&resourceVersionMatch=Exact".into()).await;
    assert_eq!(
        (code, st["reason"].as_str()),
        (410, Some("Expired")),
        "{st}"
    );
    // A revision the server never reached: upstream's 504 with its cause.
    let future = rv + 1_000;
    let (code, _, st) = at(format!(
        "resourceVersion={future}&resourceVersionMatch=NotOlderThan"
    ))
    .await;
    assert_eq!(code, 504, "{st}");
    assert_eq!(st["reason"], "Timeout");
    assert_eq!(
        st["message"],
        format!("Timeout: Too large resource version: {future}, current: {rv}")
    );
    assert_eq!(
        st["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
    let (code, _, st) = at("resourceVersionMatch=NotOlderThan".into()).await;
    assert_eq!(code, 400, "{st}");

    // A watch from a revision never reached: one ERROR event with that Status.
    let (code, _, body) = get_raw(
        &client,
        &format!("{base}?watch=true&resourceVersion={future}"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let evs = events(&body);
    assert_eq!(evs.len(), 1, "{body}");
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 504);

    // timeoutSeconds ends the stream (with the initial ADDED events for RV 0).
    let started = Instant::now();
    let (code, _, body) = get_raw(
        &client,
        &format!("{base}?watch=true&resourceVersion=0&timeoutSeconds=1"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(started.elapsed() < Duration::from_secs(30));
    let kinds: Vec<(String, String)> = events(&body)
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("ADDED".into(), "a".into()), ("ADDED".into(), "b".into())]
    );

    // Watches answered as Tables: one row per event, column definitions in the first.
    let (code, _, body) = get_raw(
        &client,
        &format!("{base}?watch=true&timeoutSeconds=1"),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    )
    .await;
    assert_eq!(code, 200);
    let evs = events(&body);
    assert_eq!(evs.len(), 2, "{body}");
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e["object"]["kind"], "Table");
        assert_eq!(e["object"]["rows"].as_array().map(Vec::len), Some(1));
        let cols = e["object"]["columnDefinitions"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        if i == 0 {
            assert!(cols >= 3, "{e}");
        } else {
            assert_eq!(cols, 0, "{e}");
        }
    }
    assert_eq!(evs[1]["object"]["rows"][0]["cells"][0], "b");
}

#[tokio::test]
async fn the_kubernetes_service_points_at_the_server() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let port = s.server().addr().port();
    let ep = get_json(&client, "/api/v1/namespaces/default/endpoints/kubernetes").await;
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], port);
    let slice = get_json(
        &client,
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
    )
    .await;
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"][0]["addresses"][0], "127.0.0.1");
    assert_eq!(slice["ports"][0]["port"], port);
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "kubernetes"
    );
    let svc = get_json(&client, "/api/v1/namespaces/default/services/kubernetes").await;
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
}
