//! Building responses: JSON bodies, `Status` errors, and streamed bodies (lists and
//! watches).

use std::convert::Infallible;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use serde_json::Value;

use crate::status::ApiError;

/// The response body type.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A response with a complete body.
pub fn bytes(code: u16, content_type: &str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed_unsync());
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response: a value naming its own type by `kind` and `apiVersion`, written with
/// its Go type's key order ([`crate::wire`]).
pub fn json(code: u16, v: &Value) -> Response<Body> {
    let body = crate::wire::to_vec(v).unwrap_or_default();
    bytes(code, "application/json", Bytes::from(body))
}

/// A JSON response of a document that names no kind, written with the key order of the
/// Go type of this full name ([`crate::wire::Ordered::of_type`]).
pub fn json_as(code: u16, v: &Value, go_type: &str) -> Response<Body> {
    let body = serde_json::to_vec(&crate::wire::Ordered::of_type(v, go_type)).unwrap_or_default();
    bytes(code, "application/json", Bytes::from(body))
}

/// A `Status` response for an error, with a `Retry-After` header when its details
/// carry `retryAfterSeconds` (upstream's `ErrorNegotiated`).
pub fn error(e: &ApiError) -> Response<Body> {
    let mut r = json(e.code, &e.to_status());
    let retry = e
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(Value::as_i64)
        .filter(|s| *s > 0);
    if let Some(v) = retry.and_then(|s| s.to_string().parse().ok()) {
        r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    r
}

/// A streamed response.
pub fn stream(
    code: u16,
    content_type: &str,
    s: impl Stream<Item = Bytes> + Send + 'static,
) -> Response<Body> {
    let body = StreamBody::new(s.map(|b| Ok::<_, Infallible>(Frame::data(b))));
    let mut r = Response::new(BodyExt::boxed_unsync(body));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}
