//! A scripted fake API server for the shells' tests: records every request and
//! answers through a closure, over a real `kube::Client`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
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

/// The request log.
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
            seen.lock().unwrap().push(rec);
            let resp = Response::builder()
                .status(status)
                .header("Content-Type", "application/json")
                .body(Full::new(Bytes::from(out.to_string())))
                .unwrap();
            Ok::<_, Infallible>(resp)
        }
    });
    (kube::Client::new(svc, "default"), log)
}

/// A `Status` failure body.
pub fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "reason": reason, "code": code, "message": message}),
    )
}

/// Echoes the request body back with a name filled from `generateName` and a
/// resourceVersion, as a create or update would.
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
