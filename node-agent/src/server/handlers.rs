//! The kubelet API's endpoints: `/healthz`, `/pods` (the PodList of the agent's
//! nodes), `/containerLogs/{namespace}/{pod}/{container}` for both runtimes, and the
//! streaming endpoints (`/exec`, `/attach`, `/portForward`, in [`super::streaming`]).
//! Errors are plain text with the kubelet's status codes and messages (the API server
//! passes them on to clients).

use std::sync::Arc;

use bytes::Bytes;
use capstan_runtime::informer::Lister;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use tokio::sync::mpsc;

use super::auth::Authenticator;
use super::container::{find_status, log_container_id};
use super::logs::LogOptions;
use super::router::{self, Route};
use super::sim_logs::instance_lines;
use super::stream::{self, Body};
use super::streaming;
use crate::crd::NodeRuntime;
use crate::nodes::NodeRegistry;
use crate::process::ProcessRuntime;

/// What the endpoints read: the agent's pod cache, its nodes and its process runtime.
pub struct Context {
    /// Pods bound to nodes (the agent's informer).
    pub pods: Lister<Pod>,
    /// The nodes the agent serves.
    pub registry: Arc<NodeRegistry>,
    /// The process runtime (logs, exec, attach of `process` pods).
    pub process: Arc<ProcessRuntime>,
}

/// A plain-text answer, as the kubelet writes its errors.
pub(super) fn text(code: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())).boxed_unsync());
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn streamed(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut r = Response::new(stream::channel_body(rx));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    r
}

/// Answers one request.
pub async fn handle(
    ctx: &Context,
    auth: &Authenticator,
    client_cert: bool,
    req: Request<Incoming>,
) -> Response<Body> {
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !auth.allows(client_cert, authorization) {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let route = router::route(req.uri().path());
    if !matches!(route, Route::Streaming { .. })
        && req.method() != Method::GET
        && req.method() != Method::HEAD
    {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
    }
    match route {
        Route::Healthz => text(StatusCode::OK, "ok"),
        Route::Pods => pods(ctx),
        Route::ContainerLogs {
            namespace,
            pod,
            container,
        } => container_logs(ctx, &namespace, &pod, &container, req.uri().query()),
        Route::Streaming {
            kind,
            namespace,
            pod,
            container,
        } => {
            if req.method() != Method::GET && req.method() != Method::POST {
                return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
            }
            let target = streaming::Target {
                kind,
                namespace,
                pod,
                container,
            };
            streaming::serve(ctx, target, req).await
        }
        Route::NotFound => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// The runtime of the agent's node `pod` is bound to; `None` when no node of the agent
/// holds it.
pub(super) fn served(ctx: &Context, pod: &Pod) -> Option<NodeRuntime> {
    let node = pod.spec.as_ref()?.node_name.as_deref()?;
    ctx.registry.get(node).map(|e| e.runtime)
}

/// `/pods`: a v1 PodList of the pods bound to any node the agent serves.
fn pods(ctx: &Context) -> Response<Body> {
    let mut items: Vec<Arc<Pod>> = ctx
        .pods
        .list_all()
        .into_iter()
        .filter(|p| served(ctx, p).is_some())
        .collect();
    items.sort_by_key(|p| (p.namespace(), p.name_any()));
    let list = serde_json::json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {},
        "items": items.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
    });
    let mut r = text(
        StatusCode::OK,
        serde_json::to_string(&list).unwrap_or_default(),
    );
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn container_logs(
    ctx: &Context,
    namespace: &str,
    name: &str,
    container: &str,
    query: Option<&str>,
) -> Response<Body> {
    let opts = match LogOptions::parse(query, Timestamp::now()) {
        Ok(o) => o,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let Some((pod, runtime)) = ctx
        .pods
        .get(namespace, name)
        .and_then(|p| served(ctx, &p).map(|r| (p, r)))
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {name:?} does not exist\n"),
        );
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let known = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| c.name == container)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| c.name == container);
    if !known {
        return text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {name:?}\n"),
        );
    }
    let (tx, rx) = mpsc::channel(16);
    match runtime {
        NodeRuntime::Process => match ctx.process.container_log(&pod, container, opts.previous) {
            Ok(instance) => {
                let live = (opts.follow && !opts.previous).then(|| {
                    let process = ctx.process.clone();
                    let (uid, c, n) = (
                        pod.uid().unwrap_or_default(),
                        container.to_string(),
                        instance.restart_count,
                    );
                    stream::Live {
                        running: Box::new(move || process.instance_running(&uid, &c, n)),
                        written: instance.written,
                    }
                });
                tokio::spawn(stream::stream_file(instance.path, opts, live, tx));
            }
            Err(message) => return text(StatusCode::BAD_REQUEST, message),
        },
        NodeRuntime::Sim => {
            let status = pod.status.clone().unwrap_or_default();
            let id = match log_container_id(name, &status, container, opts.previous) {
                Ok(id) => id,
                Err(message) => return text(StatusCode::BAD_REQUEST, message),
            };
            let (lister, ns, pod_name, c) = (
                ctx.pods.clone(),
                namespace.to_string(),
                name.to_string(),
                container.to_string(),
            );
            let uid = pod.uid();
            let lines = move || {
                let pod = lister.get(&ns, &pod_name).filter(|p| p.uid() == uid)?;
                let status = pod.status.as_ref()?;
                instance_lines(&pod, find_status(status, &c)?, &id)
            };
            tokio::spawn(stream::stream_lines(lines, opts, tx));
        }
    }
    streamed(rx)
}
