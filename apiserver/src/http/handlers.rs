//! Request dispatch: authentication, then discovery/health/version or the resource verbs
//! (get, list, watch, create, update, patch, delete, deletecollection) and subresources.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::AppState;
use super::present;
use super::request::{self, BodyFormat, Output, Query};
use super::response::{self, Body};
use super::route::{self, ResourcePath, Route};
use crate::admission::{self, Operation};
use crate::authn::UserInfo;
use crate::discovery;
use crate::kinds::descriptor::Deletion;
use crate::kinds::{KindInfo, Subresource};
use crate::ops::kind_schema::KindSchema;
use crate::ops::meta::manager_from_user_agent;
use crate::ops::{
    Applied, ApplyRequest, DeleteOptions, DeleteOutcome, Propagation, WriteOptions, key_of,
};
use crate::selector::{FieldSelector, parse_label_selector};
use crate::status::{self, ApiError};
use crate::storage::{Stored, StoredObject, WatchStart};
use crate::watch::{self, WatchFilter, WatchOptions};

/// The Kubernetes version this server reports (k8s-openapi's `v1_33`).
pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "capstan",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Handles one request; every failure becomes a `Status` response.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    let route = route::parse(req.uri().path());
    let public = matches!(route, Route::Health | Route::Version);
    let user = if public {
        None
    } else {
        match state.authenticate(req.headers()) {
            Ok(user) => Some(user),
            Err(e) => return response::error(&e),
        }
    };
    match dispatch(&state, route, req, user).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code, message = %e.message, "request failed");
            response::error(&e)
        }
    }
}

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn dispatch(
    state: &Arc<AppState>,
    route: Route,
    req: Request<Incoming>,
    user: Option<UserInfo>,
) -> Result<Response<Body>, ApiError> {
    let registry = &state.cluster.registry;
    let get_only = |req: &Request<Incoming>| {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match route {
        Route::Version => {
            get_only(&req)?;
            Ok(response::json_as(
                200,
                &version_info(),
                crate::wire::VERSION_INFO,
            ))
        }
        Route::Health => Ok(response::bytes(
            200,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"ok"),
        )),
        Route::LegacyVersions | Route::Groups => {
            get_only(&req)?;
            let legacy = route == Route::LegacyVersions;
            match request::negotiate(header(&req, hyper::header::ACCEPT))? {
                Output::AggregatedDiscovery { v2 } => {
                    let v = if v2 {
                        discovery::AggregatedVersion::V2
                    } else {
                        discovery::AggregatedVersion::V2Beta1
                    };
                    let doc = discovery::aggregated_discovery_as(registry, legacy, v);
                    let body = Bytes::from(crate::wire::to_vec(&doc).map_err(ApiError::internal)?);
                    Ok(response::bytes(
                        200,
                        discovery::aggregated_content_type(v),
                        body,
                    ))
                }
                _ if legacy => Ok(response::json(
                    200,
                    &discovery::api_versions(&state.server_addr),
                )),
                _ => Ok(response::json(200, &discovery::api_group_list(registry))),
            }
        }
        Route::Group(g) => {
            get_only(&req)?;
            let list = discovery::api_group_list(registry);
            let group = list["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == g.as_str()).cloned())
                .ok_or_else(ApiError::not_found_path)?;
            let mut group = group;
            group["kind"] = json!("APIGroup");
            group["apiVersion"] = json!("v1");
            Ok(response::json(200, &group))
        }
        Route::ResourceList(g, v) => {
            get_only(&req)?;
            let doc = discovery::api_resource_list(registry, &g, &v)
                .ok_or_else(ApiError::not_found_path)?;
            Ok(response::json(200, &doc))
        }
        Route::OpenApiV2 | Route::OpenApiV3Index | Route::OpenApiV3(..) => {
            get_only(&req)?;
            super::openapi::serve(state, &route)
        }
        Route::Resource(path) => resource(state, path, req, user.unwrap_or_default()).await,
        Route::NodeProxy { node, path } => {
            super::kubelet_proxy::node_proxy(state, &node, &path, req).await
        }
        Route::NotFound => Err(ApiError::not_found_path()),
    }
}

/// The request's common context for resource verbs.
pub(super) struct Ctx {
    pub(super) kind: Arc<KindInfo>,
    pub(super) path: ResourcePath,
    pub(super) query: Query,
    pub(super) ns: String,
    pub(super) output: Output,
    manager: String,
    /// Who is asking (for authorization; until RBAC is enforced, every authenticated
    /// user may do everything).
    user: UserInfo,
}

/// A resource request, answered with the `Warning` of a deprecated kind whatever its
/// outcome, as upstream's deprecation filter does.
async fn resource(
    state: &Arc<AppState>,
    path: ResourcePath,
    req: Request<Incoming>,
    user: UserInfo,
) -> Result<Response<Body>, ApiError> {
    let kind = state
        .cluster
        .registry
        .lookup(&path.group, &path.version, &path.plural)
        .ok_or_else(ApiError::not_found_path)?;
    let deprecation = kind.descriptor.and_then(|d| d.deprecation);
    let answer = resource_verbs(state, kind, path, req, user).await;
    match deprecation {
        None => answer,
        Some(warning) => {
            let warning = [warning.to_string()];
            match answer {
                Ok(r) => with_warnings(r, &warning),
                Err(e) => with_warnings(response::error(&e), &warning),
            }
        }
    }
}

async fn resource_verbs(
    state: &Arc<AppState>,
    kind: Arc<KindInfo>,
    path: ResourcePath,
    req: Request<Incoming>,
    user: UserInfo,
) -> Result<Response<Body>, ApiError> {
    if !kind.namespaced && path.namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    let query = Query::parse(req.uri().query());
    let output = request::negotiate(header(&req, hyper::header::ACCEPT))?;
    let manager = match query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => manager_from_user_agent(header(&req, hyper::header::USER_AGENT).unwrap_or("")),
    };
    let ns = path.namespace.clone().unwrap_or_default();
    let ctx = Ctx {
        kind,
        query,
        ns,
        output,
        manager,
        path,
        user,
    };
    let method = req.method().clone();
    tracing::trace!(
        user = %ctx.user.name,
        verb = %method,
        resource = %ctx.kind.plural,
        namespace = %ctx.ns,
        "resource request"
    );
    if ctx.kind.read_only() {
        return super::computed::serve(state, &ctx, &method);
    }
    let content_type = header(&req, hyper::header::CONTENT_TYPE).map(str::to_string);
    // Custom resources are served in JSON and YAML only, as upstream's CR handler.
    if ctx.kind.is_custom()
        && matches!(method, Method::POST | Method::PUT | Method::DELETE)
        && let Some(ct) = content_type
            .as_deref()
            .filter(|ct| crate::protobuf::is_protobuf(ct))
    {
        return Err(ApiError::unsupported_media(ct));
    }
    let has_name = ctx.path.name.is_some();
    let namespaced_target = !ctx.kind.namespaced || ctx.path.namespace.is_some();
    if has_name
        && (method == Method::GET || method == Method::POST)
        && let Some(sub) = subresource(&ctx)?.filter(|s| s.is_streaming())
    {
        return super::kubelet_stream::pod_stream(state, &ctx, sub, req).await;
    }
    match (method, has_name) {
        (Method::GET | Method::HEAD, false) => {
            if ctx.path.watch_prefix || ctx.query.flag("watch") {
                watch(state, &ctx)
            } else {
                list(state, &ctx)
            }
        }
        (Method::GET | Method::HEAD, true) if subresource(&ctx)? == Some(Subresource::Log) => {
            super::kubelet_proxy::pod_log(state, &ctx, req.uri().query()).await
        }
        (Method::GET | Method::HEAD, true) => get(state, &ctx),
        (Method::POST, false) if namespaced_target => {
            let body = body_value(req, content_type.as_deref(), false).await?;
            create(state, &ctx, body)
        }
        (Method::POST, true) if namespaced_target => {
            let body = body_value(req, content_type.as_deref(), false).await?;
            post_subresource(state, &ctx, body.value)
        }
        (Method::PUT, true) if namespaced_target => {
            let body = body_value(req, content_type.as_deref(), false).await?;
            put(state, &ctx, body)
        }
        (Method::PATCH, true) if namespaced_target => {
            let body = body_value(req, content_type.as_deref(), true).await?;
            patch(state, &ctx, body.format, body.value)
        }
        (Method::DELETE, true) if namespaced_target => {
            let bytes = request::read_body(req.into_body()).await?;
            let body = request::delete_body(&bytes, content_type.as_deref())?;
            delete(state, &ctx, body.as_ref())
        }
        (Method::DELETE, false) => {
            let bytes = request::read_body(req.into_body()).await?;
            let body = request::delete_body(&bytes, content_type.as_deref())?;
            delete_collection(state, &ctx, body.as_ref())
        }
        (Method::POST | Method::PUT | Method::PATCH | Method::DELETE, _) => {
            Err(ApiError::not_found_path())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// A parsed request body.
struct ReqBody {
    format: BodyFormat,
    raw: Bytes,
    value: Value,
}

impl ReqBody {
    /// The raw JSON (for duplicate-field detection); empty for YAML.
    fn json_bytes(&self) -> &[u8] {
        match self.format {
            BodyFormat::Json => &self.raw,
            _ => &[],
        }
    }
}

async fn body_value(
    req: Request<Incoming>,
    ct: Option<&str>,
    patch: bool,
) -> Result<ReqBody, ApiError> {
    let format = request::body_format(ct)?;
    let is_patch_format = matches!(
        format,
        BodyFormat::MergePatch
            | BodyFormat::JsonPatch
            | BodyFormat::StrategicMergePatch
            | BodyFormat::ApplyPatch
    );
    if patch != is_patch_format {
        return Err(ApiError::unsupported_media(ct.unwrap_or("")));
    }
    let raw = request::read_body(req.into_body()).await?;
    let value = request::parse_body(&raw, format)?;
    Ok(ReqBody { format, raw, value })
}

fn write_opts(ctx: &Ctx) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: ctx.query.dry_run()?,
        field_manager: ctx.manager.clone(),
        applied: false,
        requester: Some(ctx.user.clone()),
    })
}

fn subresource(ctx: &Ctx) -> Result<Option<Subresource>, ApiError> {
    match ctx.path.sub.as_deref() {
        None => Ok(None),
        Some(s) => {
            let sub = Subresource::parse(s).ok_or_else(ApiError::not_found_path)?;
            let custom_scale = sub == Subresource::Scale
                && ctx.kind.custom.as_ref().is_some_and(|c| c.scale.is_some());
            if !ctx.kind.has_subresource(sub) && !custom_scale {
                return Err(ApiError::not_found_path());
            }
            Ok(Some(sub))
        }
    }
}

/// One object as the client asked for it.
pub(super) fn present_object(
    ctx: &Ctx,
    obj: &StoredObject,
    code: u16,
) -> Result<Response<Body>, ApiError> {
    match ctx.output {
        Output::Json | Output::AggregatedDiscovery { .. } => Ok(response::bytes(
            code,
            "application/json",
            present::object_bytes(&ctx.kind, obj),
        )),
        Output::PartialMetadata => {
            let v = present::served_value(&ctx.kind, obj)
                .ok_or_else(|| ApiError::internal("corrupt object"))?;
            Ok(response::json(code, &present::partial(&v)))
        }
        Output::Table { .. } => {
            let v = present::served_value(&ctx.kind, obj)
                .ok_or_else(|| ApiError::internal("corrupt object"))?;
            let include = present::include_object(ctx.query.get("includeObject"))?;
            let mut t = present::table(&ctx.kind, &[v], include, false);
            t["metadata"]["resourceVersion"] = json!(obj.rv.to_string());
            Ok(response::json(code, &t))
        }
    }
}

fn get(state: &Arc<AppState>, ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    match subresource(ctx)? {
        Some(Subresource::Scale) => {
            let scale = state.cluster.get_scale(&ctx.kind, &ctx.ns, name)?;
            Ok(response::json(200, &scale))
        }
        Some(Subresource::Status | Subresource::EphemeralContainers | Subresource::Approval)
        | None => {
            let obj = state.cluster.get(&ctx.kind, &ctx.ns, name)?;
            present_object(ctx, &obj, 200)
        }
        Some(_) => Err(ApiError::method_not_allowed()),
    }
}

pub(super) fn filter_of(ctx: &Ctx) -> Result<WatchFilter, ApiError> {
    let labels = parse_label_selector(ctx.query.get("labelSelector").unwrap_or(""))?;
    let custom_fields = ctx
        .kind
        .custom
        .as_ref()
        .map(|c| c.selectable_fields.clone())
        .unwrap_or_default();
    let fields = if ctx.kind.is_custom() {
        let allowed: Vec<&str> = custom_fields.iter().map(String::as_str).collect();
        FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""), &allowed)?
    } else {
        FieldSelector::parse(
            ctx.query.get("fieldSelector").unwrap_or(""),
            ctx.kind.descriptor.map_or(&[], |d| d.selectable_fields),
        )?
    };
    Ok(WatchFilter {
        namespace: ctx.path.namespace.clone(),
        labels,
        fields,
        custom_fields,
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    ns: String,
    name: String,
}

fn decode_continue(s: &str) -> Result<ContinueToken, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        ns: ns.to_string(),
        name: name.to_string(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn list(state: &Arc<AppState>, ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let filter = filter_of(ctx)?;
    let limit = ctx
        .query
        .int("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let token = match ctx.query.get("continue") {
        Some(c) if !c.is_empty() => Some(decode_continue(c)?),
        _ => None,
    };
    let rv_param = ctx.query.get("resourceVersion").unwrap_or("");
    let rv_match = ctx.query.get("resourceVersionMatch").unwrap_or("");
    if token.is_some() && !rv_param.is_empty() && rv_param != "0" {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    match rv_match {
        "" | "NotOlderThan" | "Exact" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
    }
    if !rv_match.is_empty() && rv_param.is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let current = state.cluster.store.current_rv();
    if !rv_param.is_empty() {
        let n: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?;
        if n > current {
            // A revision this server never reached (a client of an earlier process):
            // upstream gives up waiting for it with a 504.
            return Err(ApiError::too_large_resource_version(n, current));
        }
        if rv_match == "Exact" && n != current {
            // Only the latest revision is kept in full; older snapshots are gone.
            return Err(ApiError::expired(n, current));
        }
    }
    let after = token.as_ref().map(|t| (t.ns.clone(), t.name.clone()));
    let matches = |o: &Stored| filter.matches(o);
    // Narrow a `metadata.name=` selector to one lookup.
    let page = state.cluster.store.list(
        &key_of(&ctx.kind),
        ctx.path.namespace.as_deref(),
        after,
        limit,
        &matches,
    );
    let list_rv = token.as_ref().map_or(page.rv, |t| t.rv);
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if let Some((ns, name)) = &page.next {
        meta["continue"] = json!(encode_continue(list_rv, ns, name));
        meta["remainingItemCount"] = json!(page.remaining);
    }
    match ctx.output {
        Output::Json | Output::AggregatedDiscovery { .. } => Ok(response::stream(
            200,
            "application/json",
            present::json_list_stream(&ctx.kind, page.items, meta)?,
        )),
        Output::PartialMetadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .filter_map(|o| present::served_value(&ctx.kind, o))
                .map(|v| present::partial(&v))
                .collect();
            Ok(response::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
            ))
        }
        Output::Table { .. } => {
            let items: Vec<Value> = page
                .items
                .iter()
                .filter_map(|o| present::served_value(&ctx.kind, o))
                .collect();
            let include = present::include_object(ctx.query.get("includeObject"))?;
            let mut t = present::table(&ctx.kind, &items, include, false);
            t["metadata"] = meta;
            Ok(response::json(200, &t))
        }
    }
}

/// A watch's one `ERROR` event carrying the `Status` of `e`.
fn error_frame(e: &ApiError) -> Bytes {
    watch::frame(
        "ERROR",
        &crate::wire::to_vec(&e.to_status()).unwrap_or_default(),
    )
}

/// The 422 upstream answers a watch whose `ListOptions` combine `field` forbiddenly.
fn forbidden_list_option(field: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        "ListOptions",
        "",
        "meta.k8s.io",
        vec![(
            "FieldValueForbidden".into(),
            field.into(),
            format!("Forbidden: {detail}"),
        )],
    )
}

fn watch(state: &Arc<AppState>, ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let filter = filter_of(ctx)?;
    let rv = ctx.query.get("resourceVersion").unwrap_or("");
    let rv_match = ctx.query.get("resourceVersionMatch").unwrap_or("");
    let send_initial = ctx
        .query
        .get("sendInitialEvents")
        .map(|v| v == "true" || v == "1");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    match send_initial {
        Some(_) => {
            if rv_match != "NotOlderThan" {
                return Err(forbidden_list_option(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
                ));
            }
            if send_initial == Some(true) && !bookmarks {
                return Err(forbidden_list_option(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is true",
                ));
            }
        }
        None if !rv_match.is_empty() => {
            return Err(forbidden_list_option(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        None => {}
    }
    let parsed: Option<u64> = match rv {
        "" => None,
        s => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let store = &state.cluster.store;
    let start = match (send_initial, parsed) {
        (Some(true), _) | (None, None | Some(0)) => WatchStart::Current,
        (Some(false), None | Some(0)) => WatchStart::After(store.current_rv()),
        (_, Some(n)) => WatchStart::After(n),
    };
    let timeout = match ctx.query.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => watch::default_timeout(),
    };
    let key = key_of(&ctx.kind);
    if let WatchStart::After(n) = &start
        && *n > store.current_rv()
    {
        // A revision this server never reached: upstream's cacher gives up waiting for
        // it and sends one ERROR event carrying the 504.
        let e = ApiError::too_large_resource_version(*n, store.current_rv());
        let frame = error_frame(&e);
        return Ok(response::bytes(200, "application/json", frame));
    }
    let startup = match store.watch(&key, ctx.path.namespace.as_deref(), start) {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            // Upstream answers 200 and sends one ERROR event carrying the Status.
            let frame = error_frame(&e);
            return Ok(response::bytes(200, "application/json", frame));
        }
        Err(e) => return Err(e),
    };
    let include = present::include_object(ctx.query.get("includeObject"))?;
    let transform: Option<watch::Transform> = match ctx.output {
        Output::Json | Output::AggregatedDiscovery { .. } => {
            if ctx.kind.is_custom() && ctx.kind.storage_version() != ctx.kind.version {
                let av = ctx.kind.api_version();
                Some(Box::new(move |mut v: Value| {
                    v["apiVersion"] = json!(av);
                    v
                }))
            } else {
                None
            }
        }
        Output::PartialMetadata => Some(Box::new(|v: Value| present::partial(&v))),
        Output::Table { .. } => {
            let kind = ctx.kind.clone();
            let mut first = true;
            Some(Box::new(move |mut v: Value| {
                if kind.is_custom() {
                    v["apiVersion"] = json!(kind.api_version());
                }
                let rv = v.pointer("/metadata/resourceVersion").cloned();
                let mut t = present::table(&kind, &[v], include, !first);
                first = false;
                if let Some(rv) = rv {
                    t["metadata"]["resourceVersion"] = rv;
                }
                t
            }))
        }
    };
    let bookmark_type = match ctx.output {
        Output::PartialMetadata => (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadata".to_string(),
        ),
        _ => (ctx.kind.api_version(), ctx.kind.kind.clone()),
    };
    let opts = WatchOptions {
        bookmarks,
        initial_events_end: send_initial == Some(true),
        timeout,
        bookmark_interval: state.bookmark_interval,
        bookmark_type,
        transform,
    };
    let s = watch::stream(
        startup,
        key,
        filter,
        opts,
        store.cut_signal(),
        store.serialization_counter().clone(),
    );
    Ok(response::stream(200, "application/json", s))
}

fn create(state: &Arc<AppState>, ctx: &Ctx, req: ReqBody) -> Result<Response<Body>, ApiError> {
    if ctx.path.sub.is_some() {
        return Err(ApiError::not_found_path());
    }
    let raw = req.json_bytes().to_vec();
    let body =
        super::validation::check_fields(state, ctx.kind.as_ref(), &ctx.query, &raw, req.value)?;
    let opts = write_opts(ctx)?;
    let obj = state
        .cluster
        .create(&ctx.kind, &ctx.ns, body.value, &opts)?;
    with_warnings(present_object(ctx, &obj, 201)?, &body.warnings)
}

/// Adds `Warning: 299 - "<text>"` headers, the text quoted as upstream's
/// `NewWarningHeader` does (`"` and `\` escaped with a backslash), so clients print
/// `unknown field "spec.foo"` as on a real cluster.
pub(super) fn with_warnings(
    mut r: Response<Body>,
    warnings: &[String],
) -> Result<Response<Body>, ApiError> {
    for w in warnings {
        let v = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(h) = v.parse() {
            r.headers_mut().append("Warning", h);
        }
    }
    Ok(r)
}

fn post_subresource(
    state: &Arc<AppState>,
    ctx: &Ctx,
    body: Value,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let dry = ctx.query.dry_run()?;
    match subresource(ctx)? {
        Some(Subresource::Binding) => {
            state.cluster.bind(&ctx.kind, &ctx.ns, name, &body, dry)?;
            Ok(response::json(
                201,
                &status::success("", "pods", name, None, 201),
            ))
        }
        Some(Subresource::Eviction) => {
            state.cluster.evict(&ctx.kind, &ctx.ns, name, &body, dry)?;
            Ok(response::json(
                201,
                &status::success("", "pods", name, None, 201),
            ))
        }
        Some(Subresource::Token) => {
            let answer = state
                .cluster
                .create_token(&ctx.ns, name, &body, chrono::Utc::now())?;
            Ok(response::json(201, &answer))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn put(state: &Arc<AppState>, ctx: &Ctx, req: ReqBody) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let raw = req.json_bytes().to_vec();
    let body = req.value;
    let opts = write_opts(ctx)?;
    if ctx.kind.deletion() == Deletion::Namespace && ctx.path.sub.as_deref() == Some("finalize") {
        let obj = state
            .cluster
            .finalize_namespace(name, &body, opts.dry_run)?;
        return present_object(ctx, &obj, 200);
    }
    match subresource(ctx)? {
        Some(Subresource::Scale) => {
            let scale = state
                .cluster
                .update_scale(&ctx.kind, &ctx.ns, name, &body, &opts)?;
            Ok(response::json(200, &scale))
        }
        sub @ (None
        | Some(
            Subresource::Status | Subresource::EphemeralContainers | Subresource::Approval,
        )) => {
            let checked =
                super::validation::check_fields(state, ctx.kind.as_ref(), &ctx.query, &raw, body)?;
            let (obj, created) =
                state
                    .cluster
                    .update(&ctx.kind, &ctx.ns, name, checked.value, sub, &opts)?;
            with_warnings(
                present_object(ctx, &obj, if created { 201 } else { 200 })?,
                &checked.warnings,
            )
        }
        Some(_) => Err(ApiError::method_not_allowed()),
    }
}

fn patch(
    state: &Arc<AppState>,
    ctx: &Ctx,
    format: BodyFormat,
    patch: Value,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let opts = write_opts(ctx)?;
    let sub = subresource(ctx)?;
    if format == BodyFormat::ApplyPatch {
        return server_side_apply(state, ctx, sub, patch);
    }
    match sub {
        Some(Subresource::Scale) => {
            let scale = state.cluster.get_scale(&ctx.kind, &ctx.ns, name)?;
            let patched = super::patch::apply(format, &scale, &patch, &KindSchema::scale())?;
            let scale = state
                .cluster
                .update_scale(&ctx.kind, &ctx.ns, name, &patched, &opts)?;
            Ok(response::json(200, &scale))
        }
        None
        | Some(Subresource::Status | Subresource::EphemeralContainers | Subresource::Approval) => {
            let schema = KindSchema::of(&ctx.kind);
            let obj = state
                .cluster
                .update_with(&ctx.kind, &ctx.ns, name, sub, &opts, |cur| {
                    // The patch sees the current object with its resourceVersion, as
                    // upstream: a JSON patch may `test`/`replace` it (kubectl's
                    // managed-fields migration does), and a merge patch naming another
                    // one makes it a precondition.
                    let patched = super::patch::apply(format, cur, &patch, &schema)?;
                    crate::typed::check_patched(&state.cluster.registry, &ctx.kind, &patched)?;
                    Ok(patched)
                })?;
            present_object(ctx, &obj, 200)
        }
        Some(_) => Err(ApiError::method_not_allowed()),
    }
}

/// `application/apply-patch+yaml`: server-side apply of the request's configuration by
/// its `fieldManager`, creating the object when it does not exist (201).
fn server_side_apply(
    state: &Arc<AppState>,
    ctx: &Ctx,
    sub: Option<Subresource>,
    applied: Value,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let manager = match ctx.query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => {
            return Err(ApiError::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
    };
    let req = ApplyRequest {
        config: &applied,
        manager: &manager,
        force: ctx.query.flag("force"),
    };
    match state
        .cluster
        .apply(&ctx.kind, &ctx.ns, name, sub, &req, &write_opts(ctx)?)?
    {
        Applied::Object { object, created } => {
            present_object(ctx, &object, if created { 201 } else { 200 })
        }
        Applied::Scale(scale) => Ok(response::json(200, &scale)),
    }
}

fn delete_options(ctx: &Ctx, body: Option<&Value>) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        grace: ctx.query.int("gracePeriodSeconds")?,
        dry_run: ctx.query.dry_run()?,
        ..DeleteOptions::default()
    };
    if let Some(p) = ctx.query.get("propagationPolicy").filter(|p| !p.is_empty()) {
        opts.propagation = Some(Propagation::parse(p)?);
    } else if let Some(o) = ctx.query.get("orphanDependents") {
        opts.propagation = Some(if o == "true" {
            Propagation::Orphan
        } else {
            Propagation::Background
        });
    }
    if let Some(v) = body {
        opts.merge_body(v)?;
    }
    Ok(opts)
}

fn returns_deleted_object(kind: &KindInfo) -> bool {
    kind.descriptor.is_some_and(|d| d.delete.returns_object)
}

fn delete(
    state: &Arc<AppState>,
    ctx: &Ctx,
    body: Option<&Value>,
) -> Result<Response<Body>, ApiError> {
    if ctx.path.sub.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let name = ctx.path.name.as_deref().unwrap_or("");
    let opts = delete_options(ctx, body)?;
    // Admission judges single deletes; a collection's items are not (upstream runs
    // only validating plugins on them, and NamespaceLifecycle is not one).
    admission::admit_request(&state.cluster, &ctx.kind, Operation::Delete, &ctx.ns, name)?;
    match state.cluster.delete(&ctx.kind, &ctx.ns, name, &opts)? {
        DeleteOutcome::Pending(obj) => present_object(ctx, &obj, 202),
        DeleteOutcome::Removed(obj) => {
            if returns_deleted_object(&ctx.kind) {
                present_object(ctx, &obj, 200)
            } else {
                Ok(response::json(
                    200,
                    &status::success(&ctx.kind.group, &ctx.kind.plural, name, Some(&obj.uid), 200),
                ))
            }
        }
    }
}

fn delete_collection(
    state: &Arc<AppState>,
    ctx: &Ctx,
    body: Option<&Value>,
) -> Result<Response<Body>, ApiError> {
    let filter = filter_of(ctx)?;
    let opts = delete_options(ctx, body)?;
    let page = state.cluster.store.list(
        &key_of(&ctx.kind),
        ctx.path.namespace.as_deref(),
        None,
        None,
        &|o| filter.matches(o),
    );
    let mut items = Vec::new();
    for o in page.items {
        match state
            .cluster
            .delete(&ctx.kind, &o.namespace, &o.name, &opts)
        {
            Ok(DeleteOutcome::Pending(x) | DeleteOutcome::Removed(x)) => {
                if let Some(v) = present::served_value(&ctx.kind, &x) {
                    items.push(v);
                }
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(response::json(
        200,
        &json!({
            "kind": ctx.kind.list_kind(),
            "apiVersion": ctx.kind.api_version(),
            "metadata": {"resourceVersion": state.cluster.store.current_rv().to_string()},
            "items": items,
        }),
    ))
}
