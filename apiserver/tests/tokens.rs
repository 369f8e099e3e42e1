//! `serviceaccounts/{name}/token` over HTTP: TokenRequests answered as upstream answers
//! them, and the tokens then accepted as bearer tokens while their account (and bound
//! object) live, refused with upstream's 401 `Status` otherwise.

mod common;

use std::path::PathBuf;

use capstan_apiserver::{ServerConfig, TestServer};
use common::{client_with_token, jwt_part, post_json, send, tampered};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

async fn create(client: &kube::Client, path: &str, body: Value) -> Value {
    let (code, v) = post_json(client, path, &body).await;
    assert_eq!(code, 201, "POST {path}: {v}");
    v
}

async fn account(client: &kube::Client, name: &str) -> String {
    let sa = create(
        client,
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"metadata": {"name": name}}),
    )
    .await;
    sa["metadata"]["uid"].as_str().unwrap().to_string()
}

fn token_path(sa: &str) -> String {
    format!("/api/v1/namespaces/default/serviceaccounts/{sa}/token")
}

async fn request_token(client: &kube::Client, sa: &str, spec: Value) -> (u16, Value) {
    let body =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    post_json(client, &token_path(sa), &body).await
}

/// Lists pods with `token`; the HTTP status and body.
async fn list_pods_as(s: &TestServer, token: &str) -> (u16, Value) {
    let client = client_with_token(s, token).await;
    let (code, _, v) = send(
        &client,
        "GET",
        "/api/v1/namespaces/default/pods",
        &[],
        vec![],
    )
    .await;
    (code, v)
}

fn unauthorized() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
}

#[tokio::test]
async fn token_requests_issue_tokens_the_server_accepts_while_the_account_lives() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let uid = account(&client, "builder").await;
    let before = chrono::Utc::now().timestamp();
    let (code, tr) = request_token(&client, "builder", json!({})).await;
    assert_eq!(code, 201, "{tr}");
    assert_eq!(tr["kind"], "TokenRequest");
    assert_eq!(tr["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(
        (
            &tr["metadata"]["name"],
            &tr["metadata"]["namespace"],
            &tr["metadata"]["uid"]
        ),
        (&json!("builder"), &json!("default"), &json!(uid))
    );
    assert_eq!(
        tr["spec"],
        json!({"audiences": [ISSUER], "expirationSeconds": 3600, "boundObjectRef": null})
    );
    let token = tr["status"]["token"].as_str().unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(tr["status"]["expirationTimestamp"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert!((before + 3600..=before + 3602).contains(&expires), "{tr}");

    // A JWT with upstream's claims.
    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].as_str().is_some_and(|k| k.len() == 43));
    let claims = jwt_part(token, 1);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
    assert_eq!(claims["aud"], json!([ISSUER]));
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["exp"].as_i64().unwrap(), expires);
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "default", "serviceaccount": {"name": "builder", "uid": uid}})
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // The server takes it as a bearer token; not with its signature altered.
    assert_eq!(list_pods_as(&s, token).await.0, 200);
    assert_eq!(
        list_pods_as(&s, &tampered(token)).await,
        (401, unauthorized())
    );
    assert_eq!(list_pods_as(&s, "not-a-token").await, (401, unauthorized()));

    // Gone with its account, and not back with a new account of the same name.
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "default");
    sas.delete("builder", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(list_pods_as(&s, token).await, (401, unauthorized()));
    account(&client, "builder").await;
    assert_eq!(list_pods_as(&s, token).await.0, 401);
}

#[tokio::test]
async fn token_requests_are_checked_as_upstream_checks_them() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    account(&client, "builder").await;
    account(&client, "other").await;
    let pod = create(
        &client,
        "/api/v1/namespaces/default/pods",
        json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "other",
            "containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    let pod_ref = |uid: &str| json!({"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": uid});
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "under ten minutes",
            "builder",
            json!({"expirationSeconds": 599}),
            422,
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes",
        ),
        (
            "no such account",
            "nope",
            json!({}),
            404,
            "serviceaccounts \"nope\" not found",
        ),
        (
            "an unbindable kind",
            "builder",
            json!({"boundObjectRef": {"kind": "Deployment", "apiVersion": "apps/v1", "name": "d"}}),
            400,
            "cannot bind token to object of type apps/v1, Kind=Deployment",
        ),
        (
            "a missing pod",
            "builder",
            json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "missing"}}),
            404,
            "pods \"missing\" not found",
        ),
        (
            "another account's pod",
            "builder",
            json!({"boundObjectRef": pod_ref("")}),
            400,
            "cannot bind token for serviceaccount \"builder\" to pod running with different serviceaccount name.",
        ),
        (
            "a pod of another uid",
            "other",
            json!({"boundObjectRef": pod_ref("not-its-uid")}),
            409,
            "Operation cannot be fulfilled on Pod \"p\": the UID in the bound object reference (not-its-uid) does not match the UID in record. The object might have been deleted and then recreated",
        ),
    ];
    for (case, sa, spec, code, message) in cases {
        let (got, status) = request_token(&client, sa, spec).await;
        assert_eq!(
            (got, status["message"].as_str().unwrap_or("")),
            (code, message),
            "{case}: {status}"
        );
        assert_eq!(status["kind"], "Status", "{case}");
    }
    // The body may repeat the account's name, not name another.
    let (code, status) = post_json(
        &client,
        &token_path("builder"),
        &json!({"metadata": {"name": "someone"}, "spec": {}}),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");

    // A token for another audience is issued, but the server does not take it.
    let (code, tr) = request_token(&client, "builder", json!({"audiences": ["vault"]})).await;
    assert_eq!(code, 201, "{tr}");
    assert_eq!(
        jwt_part(tr["status"]["token"].as_str().unwrap(), 1)["aud"],
        json!(["vault"])
    );
    assert_eq!(
        list_pods_as(&s, tr["status"]["token"].as_str().unwrap())
            .await
            .0,
        401
    );
    // The pod's own account binds fine, naming its uid.
    let (code, tr) = request_token(
        &client,
        "other",
        json!({"boundObjectRef": pod_ref(pod["metadata"]["uid"].as_str().unwrap())}),
    )
    .await;
    assert_eq!(code, 201, "{tr}");
}

#[tokio::test]
async fn bound_tokens_name_their_object_and_die_with_it() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let sa_uid = account(&client, "builder").await;
    let node = create(
        &client,
        "/api/v1/nodes",
        json!({"metadata": {"name": "n1"}}),
    )
    .await;
    let pod = create(
        &client,
        "/api/v1/namespaces/default/pods",
        json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "builder", "nodeName": "n1",
            "containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .await;
    // The projected volume's 3607 seconds, bound to a pod: the token lives a year and
    // warns after the hour; the answer still says the hour.
    let (code, tr) = request_token(
        &client,
        "builder",
        json!({"expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}),
    )
    .await;
    assert_eq!(code, 201, "{tr}");
    assert_eq!(tr["spec"]["expirationSeconds"], 3607);
    let token = tr["status"]["token"].as_str().unwrap().to_string();
    let claims = jwt_part(&token, 1);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 365 * 24 * 3600);
    assert_eq!(
        claims["kubernetes.io"],
        json!({
            "namespace": "default",
            "node": {"name": "n1", "uid": node["metadata"]["uid"]},
            "pod": {"name": "p", "uid": pod["metadata"]["uid"]},
            "serviceaccount": {"name": "builder", "uid": sa_uid},
            "warnafter": iat + 3607,
        })
    );
    assert_eq!(list_pods_as(&s, &token).await.0, 200);

    // Bound to a secret: it works until the secret goes.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    create(
        &client,
        "/api/v1/namespaces/default/secrets",
        json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
    )
    .await;
    let (code, tr) = request_token(
        &client,
        "builder",
        json!({"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"}}),
    )
    .await;
    assert_eq!(code, 201, "{tr}");
    let secret_token = tr["status"]["token"].as_str().unwrap().to_string();
    assert!(jwt_part(&secret_token, 1)["kubernetes.io"]["secret"]["uid"].is_string());
    assert_eq!(list_pods_as(&s, &secret_token).await.0, 200);
    secrets.delete("s", &DeleteParams::default()).await.unwrap();
    assert_eq!(list_pods_as(&s, &secret_token).await, (401, unauthorized()));

    // A node-bound token dies with its node.
    let (code, tr) = request_token(
        &client,
        "builder",
        json!({"boundObjectRef": {"kind": "Node", "apiVersion": "v1", "name": "n1"}}),
    )
    .await;
    assert_eq!(code, 201, "{tr}");
    let node_token = tr["status"]["token"].as_str().unwrap().to_string();
    assert_eq!(list_pods_as(&s, &node_token).await.0, 200);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    nodes.delete("n1", &DeleteParams::default()).await.unwrap();
    assert_eq!(list_pods_as(&s, &node_token).await.0, 401);
    // The pod-bound token names its node for information only: still good.
    let pods: Api<Pod> = Api::namespaced(client_with_token(&s, &token).await, "default");
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn a_configured_key_signs_and_other_servers_tokens_are_refused() {
    let key = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/serviceaccount/testdata/rsa.pem");
    let s = TestServer::start_with(ServerConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        service_account_key_file: Some(key),
        service_account_issuer: "https://capstan.example".into(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = s.client().await;
    account(&client, "builder").await;
    let (code, tr) = request_token(&client, "builder", json!({})).await;
    assert_eq!(code, 201, "{tr}");
    assert_eq!(tr["spec"]["audiences"], json!(["https://capstan.example"]));
    let token = tr["status"]["token"].as_str().unwrap();
    // The kid OpenSSL gives this key's public half (see the signing module's tests).
    assert_eq!(
        jwt_part(token, 0),
        json!({"alg": "RS256", "kid": "3sGglOgbu9m-iNrBPArZj-72Avj_pus3mgTEqN5gm2E"})
    );
    assert_eq!(jwt_part(token, 1)["iss"], "https://capstan.example");
    assert_eq!(list_pods_as(&s, token).await.0, 200);

    // Another server with its own key, an account of the same name: not its token.
    let other = TestServer::start().await.unwrap();
    account(&other.client().await, "builder").await;
    assert_eq!(list_pods_as(&other, token).await, (401, unauthorized()));
}
