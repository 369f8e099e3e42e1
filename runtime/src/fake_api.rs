//! A scripted fake API server for testing controller shells: every request is
//! recorded and answered by a closure, over a real `kube::Client`, so a test can
//! assert which calls a shell made (method, path, body) and script failures
//! (conflicts, quota refusals, `NotFound`) at exact points.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// JSON body (Null when empty).
    pub body: Value,
}

/// The request log, in arrival order.
pub type Log = Arc<Mutex<Vec<Recorded>>>;

/// A client whose requests are answered by `answer(recorded) → (status, body)`.
pub fn client<F>(answer: F) -> (kube::Client, Log)
where
    F: Fn(&Recorded) -> (StatusCode, Value) + Send + Sync + Clone + 'static,
{
    let log: Log = Arc::default();
    let seen = log.clone();
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let seen = seen.clone();
        let answer = answer.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let body = req.into_body().collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let rec = Recorded { method, path, body };
            let (status, out) = answer(&rec);
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
            let mut resp = Response::new(Full::new(Bytes::from(out.to_string())));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok::<_, Infallible>(resp)
        }
    });
    (kube::Client::new(svc, "default"), log)
}

/// A `Status` failure body with HTTP status `code` (500 when `code` is not one).
pub fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "reason": reason, "code": code, "message": message}),
    )
}

/// Echoes the request body back with a name filled from `generateName` and a
/// resourceVersion `100 + n`, as a create or update would.
pub fn echo(rec: &Recorded, n: usize) -> (StatusCode, Value) {
    let mut body = rec.body.clone();
    if body["metadata"]["name"].is_null() {
        let prefix = body["metadata"]["generateName"]
            .as_str()
            .unwrap_or("x-")
            .to_string();
        body["metadata"]["name"] = json!(format!("{prefix}{n:05}"));
    }
    body["metadata"]["resourceVersion"] = json!(format!("{}", 100 + n));
    (StatusCode::OK, body)
}
