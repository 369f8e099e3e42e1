//! What the API server proxies to kubelets: `GET pods/{name}/log` (kube-apiserver's
//! `LogREST` and `LogLocation`: options validated, the container checked or defaulted,
//! then the kubelet's `/containerLogs/…` streamed back, its errors passed on as upstream's
//! `GenericHttpResponseChecker` does) and `nodes/{name}/proxy/{path}` (the request sent
//! to the node's kubelet as it is, the answer streamed back).

use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::Value;

use super::AppState;
use super::handlers::Ctx;
use super::present;
use super::response::{self, Body};
use crate::kubelet::client::RequestBody;
use crate::kubelet::location::kubelet_host_port;
use crate::kubelet::log_options::PodLogOptions;
use crate::status::ApiError;

/// How much of a kubelet's error answer is read (upstream's `maxReadLength`).
const MAX_ERROR_BODY: usize = 50_000;

pub(super) fn body_stream(body: Incoming) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::unfold(body, |mut body| async move {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((data, body));
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(%err, "kubelet stream ended with an error");
                    return None;
                }
                None => return None,
            }
        }
    })
}

/// A kubelet's non-2xx answer as upstream's `GenericHttpResponseChecker` reports it.
pub(super) async fn kubelet_error(resp: Response<Incoming>, plural: &str, name: &str) -> ApiError {
    let code = resp.status().as_u16();
    let mut text = Vec::new();
    let mut body = resp.into_body();
    while text.len() < MAX_ERROR_BODY {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    text.extend_from_slice(&d);
                }
            }
            _ => break,
        }
    }
    text.truncate(MAX_ERROR_BODY);
    let text = String::from_utf8_lossy(&text).into_owned();
    match code {
        500 => ApiError::internal(text),
        400 => ApiError::bad_request(text),
        _ => {
            let reason = match code {
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                405 => "MethodNotAllowed",
                409 => "Conflict",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "",
            };
            let message = if text.trim().is_empty() {
                format!(
                    "the server responded with the status code {code} but did not return more information ({plural} {name})"
                )
            } else {
                text
            };
            ApiError::new(code, reason, message)
        }
    }
}

pub(super) fn node_of(state: &AppState, node_name: &str) -> Result<Value, ApiError> {
    let kind = state
        .cluster
        .registry
        .lookup("", "v1", "nodes")
        .ok_or_else(|| ApiError::not_found("", "nodes", node_name))?;
    let obj = state.cluster.get(&kind, "", node_name)?;
    present::served_value(&kind, &obj).ok_or_else(|| ApiError::internal("corrupt node"))
}

async fn send(
    state: &AppState,
    node: &str,
    method: Method,
    path_and_query: &str,
    content_type: Option<&str>,
    body: RequestBody,
) -> Result<Response<Incoming>, ApiError> {
    let client = state.kubelet.read().clone();
    let node = node_of(state, node)?;
    let (host, port) = kubelet_host_port(&node, &client.config().preferred_address_types)?;
    client
        .send(&host, port, method, path_and_query, content_type, body)
        .await
}

/// The names of a pod's containers in `spec.<list>` (`containers`, `initContainers`,
/// `ephemeralContainers`).
pub(super) fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a log request reads: the one named, else the pod's only container
/// (upstream's `validateContainer`).
fn log_container(pod: &Value, name: &str, container: Option<&str>) -> Result<String, ApiError> {
    let (init, apps, ephemeral) = (
        container_names(pod, "initContainers"),
        container_names(pod, "containers"),
        container_names(pod, "ephemeralContainers"),
    );
    match container {
        Some(c) => {
            if init.iter().chain(&apps).chain(&ephemeral).any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match apps.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let all: Vec<&str> = init
                    .iter()
                    .chain(&apps)
                    .chain(&ephemeral)
                    .map(String::as_str)
                    .collect();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
        },
    }
}

/// `GET pods/{name}/log`.
pub(super) async fn pod_log(
    state: &Arc<AppState>,
    ctx: &Ctx,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let opts = PodLogOptions::parse(query, name)?;
    let obj = state.cluster.get(&ctx.kind, &ctx.ns, name)?;
    let pod =
        present::served_value(&ctx.kind, &obj).ok_or_else(|| ApiError::internal("corrupt pod"))?;
    let container = log_container(&pod, name, opts.container.as_deref())?;
    let Some(node) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        // Not scheduled yet: no location, an empty log (upstream's nil location).
        return Ok(response::bytes(200, "text/plain", Bytes::new()));
    };
    let path = format!(
        "/containerLogs/{}/{}/{}?{}",
        ctx.ns,
        name,
        container,
        opts.kubelet_query()
    );
    let empty = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let resp = send(state, node, Method::GET, &path, None, empty).await?;
    if !resp.status().is_success() {
        return Err(kubelet_error(resp, "pods/log", name).await);
    }
    Ok(response::stream(
        200,
        "text/plain",
        body_stream(resp.into_body()),
    ))
}

/// `nodes/{name}/proxy/{path}`: the request forwarded to the node's kubelet.
pub(super) async fn node_proxy(
    state: &Arc<AppState>,
    node: &str,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = match req.uri().query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    let body = req.into_body().boxed_unsync();
    let resp = send(state, node, method, &path, content_type.as_deref(), body).await?;
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_string();
    Ok(response::stream(code, &ct, body_stream(resp.into_body())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_checked_or_defaulted_as_upstream() {
        let pod = json!({"spec": {"initContainers": [{"name": "setup"}],
                                   "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            log_container(&pod, "web", None).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [setup a b]"
        );
        assert_eq!(log_container(&pod, "web", Some("setup")).unwrap(), "setup");
        let e = log_container(&pod, "web", Some("c")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container c is not valid for pod web")
        );
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(log_container(&one, "web", None).unwrap(), "a");
    }
}
