//! Requests for kinds computed on every read (ComponentStatuses): `get` and `list` (with
//! label and field selectors) in JSON, as a Table or as partial metadata. Every other
//! verb, watches included, is a `405 MethodNotAllowed`, as upstream answers a storage
//! that lacks it.

use std::sync::Arc;

use hyper::{Method, Response};
use serde_json::{Value, json};

use super::AppState;
use super::handlers::{Ctx, filter_of};
use super::present;
use super::request::Output;
use super::response::{self, Body};
use crate::json::str_at;
use crate::ops::key_of;
use crate::status::ApiError;
use crate::storage::Stored;

/// Answers a request for the computed kind of `ctx`.
pub(super) fn serve(
    state: &Arc<AppState>,
    ctx: &Ctx,
    method: &Method,
) -> Result<Response<Body>, ApiError> {
    if ctx.path.sub.is_some() {
        return Err(ApiError::not_found_path());
    }
    let watch = ctx.path.watch_prefix || ctx.query.flag("watch");
    if !matches!(*method, Method::GET | Method::HEAD) || watch {
        return Err(ApiError::method_not_allowed());
    }
    let objects = state
        .cluster
        .computed_objects(&ctx.kind, chrono::Utc::now())?;
    match &ctx.path.name {
        Some(name) => {
            let obj = objects
                .into_iter()
                .find(|o| str_at(o, &["metadata", "name"]) == name)
                .ok_or_else(|| ApiError::not_found(&ctx.kind.group, &ctx.kind.plural, name))?;
            present_one(ctx, obj)
        }
        None => {
            let filter = filter_of(ctx)?;
            let key = key_of(&ctx.kind);
            let mut items = Vec::new();
            for obj in objects {
                if filter.matches(&Stored::from_value(&key, &obj, 0)?) {
                    items.push(obj);
                }
            }
            present_list(ctx, items)
        }
    }
}

fn present_one(ctx: &Ctx, obj: Value) -> Result<Response<Body>, ApiError> {
    Ok(match ctx.output {
        Output::Json | Output::AggregatedDiscovery { .. } => response::json(200, &obj),
        Output::PartialMetadata => response::json(200, &present::partial(&obj)),
        Output::Table { .. } => {
            let include = present::include_object(ctx.query.get("includeObject"))?;
            response::json(200, &present::table(&ctx.kind, &[obj], include, false))
        }
    })
}

fn present_list(ctx: &Ctx, items: Vec<Value>) -> Result<Response<Body>, ApiError> {
    Ok(match ctx.output {
        Output::Json | Output::AggregatedDiscovery { .. } => response::json(
            200,
            &json!({
                "kind": ctx.kind.list_kind(),
                "apiVersion": ctx.kind.api_version(),
                "metadata": {},
                "items": items,
            }),
        ),
        Output::PartialMetadata => {
            let items: Vec<Value> = items.iter().map(present::partial).collect();
            response::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                        "metadata": {}, "items": items}),
            )
        }
        Output::Table { .. } => {
            let include = present::include_object(ctx.query.get("includeObject"))?;
            response::json(200, &present::table(&ctx.kind, &items, include, false))
        }
    })
}
