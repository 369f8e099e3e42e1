//! `/openapi/v2` and `/openapi/v3` endpoints (documents from [`crate::openapi`]), and
//! the schema lookup field validation uses.

use bytes::Bytes;
use serde_json::Value;

use super::AppState;
use super::response::{self, Body};
use super::route::Route;
use crate::kinds::KindInfo;
use crate::status::ApiError;

/// Serves an OpenAPI route.
pub fn serve(state: &AppState, route: &Route) -> Result<hyper::Response<Body>, ApiError> {
    let registry = &state.cluster.registry;
    match route {
        Route::OpenApiV2 => Ok(response::bytes(
            200,
            crate::openapi::v2::OPENAPI_V2_CONTENT_TYPE,
            Bytes::from(crate::openapi::v2::openapi_v2_protobuf()),
        )),
        Route::OpenApiV3Index => Ok(response::json(
            200,
            &crate::openapi::openapi_v3_index(registry),
        )),
        Route::OpenApiV3(g, v) => {
            let doc =
                crate::openapi::openapi_v3(registry, g, v).ok_or_else(ApiError::not_found_path)?;
            let mut r = response::bytes(
                200,
                "application/json",
                Bytes::from(doc.bytes.as_ref().clone()),
            );
            if let Ok(etag) = format!("\"{}\"", doc.hash).parse() {
                r.headers_mut().insert(hyper::header::ETAG, etag);
            }
            Ok(r)
        }
        _ => Err(ApiError::not_found_path()),
    }
}

/// Paths of fields in `body` that `kind`'s schema does not know.
pub fn unknown_fields(state: &AppState, kind: &KindInfo, body: &Value) -> Vec<String> {
    crate::openapi::fields::unknown_fields(&state.cluster.registry, kind, body)
}
