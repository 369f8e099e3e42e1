//! Malformed and invalid requests, table-driven: each gets the right code and a `Status`
//! naming the problem, and the server keeps serving.

use capstan_apiserver::TestServer;
use http_body_util::BodyExt;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    code: u16,
    reason: &'static str,
    /// A substring the Status message (or a cause's field) must contain.
    mentions: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    code: u16,
    reason: &'static str,
    mentions: &'static str,
) -> Case {
    Case {
        name,
        method,
        path,
        content_type,
        body: body.into(),
        code,
        reason,
        mentions,
    }
}

fn pod(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).unwrap()
}

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    if !ct.is_empty() {
        req = req.header("content-type", ct);
    }
    let resp = client.send(req.body(body.into()).unwrap()).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_get_status_objects_and_the_server_keeps_serving() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    // Something to conflict with and update.
    let (code, _) = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod("existing"),
    )
    .await;
    assert_eq!(code, 201);
    let huge = {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {}});
        v["data"]["x"] = json!("a".repeat(3 * 1024 * 1024 + 10));
        serde_json::to_vec(&v).unwrap()
    };
    let stale = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "existing", "resourceVersion": "1"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).unwrap();
    let cases = vec![
        case(
            "malformed json",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "{\"metadata\": ",
            400,
            "BadRequest",
            "json parse error",
        ),
        case(
            "malformed yaml",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/yaml",
            "metadata: [\n  name: x",
            400,
            "BadRequest",
            "YAML",
        ),
        case(
            "empty body",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "",
            400,
            "BadRequest",
            "empty",
        ),
        case(
            "not an object",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "[1,2]",
            400,
            "BadRequest",
            "object",
        ),
        case(
            "body over 3 MiB",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            huge,
            413,
            "RequestEntityTooLarge",
            "limit is 3145728",
        ),
        case(
            "JSON body labelled protobuf",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/vnd.kubernetes.protobuf",
            pod("p"),
            400,
            "BadRequest",
            "magic number",
        ),
        case(
            "body in a media type the server does not read",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/cbor",
            pod("p"),
            415,
            "UnsupportedMediaType",
            "application/cbor",
        ),
        case(
            "unknown group",
            "GET",
            "/apis/widgets.example.com/v1/widgets",
            "",
            "",
            404,
            "NotFound",
            "could not find the requested resource",
        ),
        case(
            "unknown resource",
            "GET",
            "/api/v1/namespaces/default/widgets",
            "",
            "",
            404,
            "NotFound",
            "could not find",
        ),
        case(
            "missing object",
            "GET",
            "/api/v1/namespaces/default/pods/nope",
            "",
            "",
            404,
            "NotFound",
            "pods \"nope\" not found",
        ),
        case(
            "missing deployment",
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/nope",
            "",
            "",
            404,
            "NotFound",
            "deployments.apps \"nope\" not found",
        ),
        case(
            "invalid name",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            pod("Bad_Name"),
            422,
            "Invalid",
            "metadata.name",
        ),
        case(
            "no name",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{}}"#,
            422,
            "Invalid",
            "metadata.name",
        ),
        case(
            "resourceVersion on create",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"rv","resourceVersion":"5"}}"#,
            500,
            "InternalError",
            "resourceVersion should not be set",
        ),
        case(
            "already exists",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            pod("existing"),
            409,
            "AlreadyExists",
            "pods \"existing\" already exists",
        ),
        case(
            "wrong kind in body",
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"x"}}"#,
            400,
            "BadRequest",
            "Service",
        ),
        case(
            "namespace mismatch",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"x","namespace":"other"}}"#,
            400,
            "BadRequest",
            "namespace",
        ),
        case(
            "name mismatch on update",
            "PUT",
            "/api/v1/namespaces/default/pods/other",
            "application/json",
            pod("existing"),
            400,
            "BadRequest",
            "does not match the name on the URL",
        ),
        case(
            "stale resourceVersion",
            "PUT",
            "/api/v1/namespaces/default/pods/existing",
            "application/json",
            stale,
            409,
            "Conflict",
            "the object has been modified",
        ),
        case(
            "bad label selector",
            "GET",
            "/api/v1/pods?labelSelector=a%3D%3Db%3Dc",
            "",
            "",
            400,
            "BadRequest",
            "labelSelector",
        ),
        case(
            "unknown field selector",
            "GET",
            "/api/v1/pods?fieldSelector=spec.bogus%3Dx",
            "",
            "",
            400,
            "BadRequest",
            "spec.bogus",
        ),
        case(
            "bad limit",
            "GET",
            "/api/v1/pods?limit=abc",
            "",
            "",
            400,
            "BadRequest",
            "limit",
        ),
        case(
            "bad continue",
            "GET",
            "/api/v1/pods?limit=1&continue=%%%",
            "",
            "",
            400,
            "BadRequest",
            "continue",
        ),
        case(
            "sendInitialEvents without NotOlderThan",
            "GET",
            "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true",
            "",
            "",
            422,
            "Invalid",
            "sendInitialEvents",
        ),
        case(
            "resourceVersionMatch on plain watch",
            "GET",
            "/api/v1/pods?watch=1&resourceVersionMatch=NotOlderThan&resourceVersion=1",
            "",
            "",
            422,
            "Invalid",
            "resourceVersionMatch",
        ),
        case(
            "bad propagation policy",
            "DELETE",
            "/api/v1/namespaces/default/pods/existing?propagationPolicy=Sideways",
            "",
            "",
            400,
            "BadRequest",
            "propagationPolicy",
        ),
        case(
            "bad dryRun",
            "POST",
            "/api/v1/namespaces/default/pods?dryRun=Some",
            "application/json",
            pod("d"),
            400,
            "BadRequest",
            "dryRun",
        ),
        case(
            "bad fieldValidation",
            "POST",
            "/api/v1/namespaces/default/pods?fieldValidation=Loose",
            "application/json",
            pod("d"),
            400,
            "BadRequest",
            "fieldValidation",
        ),
        case(
            "namespaced kind without namespace",
            "POST",
            "/api/v1/pods",
            "application/json",
            pod("x"),
            404,
            "NotFound",
            "could not find",
        ),
        case(
            "bad json patch",
            "PATCH",
            "/api/v1/namespaces/default/pods/existing",
            "application/json-patch+json",
            r#"[{"op":"explode"}]"#,
            // Upstream decodes the operation list and fails applying it: 422.
            422,
            "Invalid",
            "request",
        ),
        case(
            "json patch that is not a list",
            "PATCH",
            "/api/v1/namespaces/default/pods/existing",
            "application/json-patch+json",
            r#"{"op":"add"}"#,
            400,
            "BadRequest",
            "request",
        ),
        case(
            "merge patch that is not an object",
            "PATCH",
            "/api/v1/namespaces/default/pods/existing",
            "application/merge-patch+json",
            "[1]",
            400,
            "BadRequest",
            "object",
        ),
        case(
            "patch with a non-patch type",
            "PATCH",
            "/api/v1/namespaces/default/pods/existing",
            "application/json",
            "{}",
            415,
            "UnsupportedMediaType",
            "application/json",
        ),
        case(
            "a field of the wrong JSON type",
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            "application/json",
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"typed"},"spec":{"replicas":"two","selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#,
            400,
            "BadRequest",
            "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        case(
            "a number as a ConfigMap value",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typed}\ndata: {port: 80}\n",
            400,
            "BadRequest",
            "ConfigMap.data of type string",
        ),
        case(
            "a wrong type through a merge patch",
            "PATCH",
            "/api/v1/namespaces/default/pods/existing",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"app":7}}}"#,
            // Upstream: 422 on the field `patch`, with the patched object.
            422,
            "Invalid",
            "ObjectMeta.metadata.labels of type string",
        ),
        case(
            "missing namespace",
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            r#"{"metadata":{"name":"x"}}"#,
            404,
            "NotFound",
            "namespaces \"nope\" not found",
        ),
        case(
            "unknown subresource",
            "GET",
            "/api/v1/namespaces/default/pods/existing/bogus",
            "",
            "",
            404,
            "NotFound",
            "could not find",
        ),
        case(
            "scale of a kind without it",
            "GET",
            "/api/v1/namespaces/default/pods/existing/scale",
            "",
            "",
            404,
            "NotFound",
            "could not find",
        ),
    ];
    for c in cases {
        let (code, status) = send(&client, c.method, c.path, c.content_type, c.body).await;
        assert_eq!(code, c.code, "{}: {status}", c.name);
        assert_eq!(status["kind"], "Status", "{}: {status}", c.name);
        assert_eq!(status["code"], c.code, "{}", c.name);
        assert_eq!(status["reason"], c.reason, "{}: {status}", c.name);
        let mut text = status["message"].as_str().unwrap_or("").to_string();
        for cause in status["details"]["causes"].as_array().into_iter().flatten() {
            text.push_str(&format!(" [{}]", cause["field"].as_str().unwrap_or("")));
        }
        assert!(
            text.contains(c.mentions),
            "{}: {text} should mention {:?}",
            c.name,
            c.mentions
        );
        // Still serving.
        let (code, _) = send(&client, "GET", "/api/v1/namespaces/default", "", Vec::new()).await;
        assert_eq!(code, 200, "after {}", c.name);
    }
    // Nothing half-written: wrongly typed objects were not stored, the pod is as created.
    for path in [
        "/apis/apps/v1/namespaces/default/deployments/typed",
        "/api/v1/namespaces/default/configmaps/typed",
    ] {
        let (code, _) = send(&client, "GET", path, "", Vec::new()).await;
        assert_eq!(code, 404, "{path}");
    }
    let (_, p) = send(
        &client,
        "GET",
        "/api/v1/namespaces/default/pods/existing",
        "",
        Vec::new(),
    )
    .await;
    assert_eq!(p["metadata"]["labels"]["app"], serde_json::Value::Null);
    assert_eq!(p["spec"]["containers"][0]["image"], "nginx");
    assert!(p["metadata"]["deletionTimestamp"].is_null());
}

/// A Namespace whose `spec` is not an object is refused by the typed decode like any
/// other wrongly typed field (it once reached the write path's namespace-finalizer step,
/// which indexed into it and dropped the connection).
#[tokio::test]
async fn a_namespace_spec_of_the_wrong_type_is_a_400() {
    let s = TestServer::start().await.unwrap();
    let client = s.client().await;
    let (code, status) = send(
        &client,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"odd"},"spec":"x"}"#
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(
        (code, &status["reason"]),
        (400, &json!("BadRequest")),
        "{status}"
    );
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot unmarshal string into Go struct field Namespace.spec"),
        "{status}"
    );
    let (code, _) = send(&client, "GET", "/api/v1/namespaces/odd", "", Vec::new()).await;
    assert_eq!(code, 404);
}
