//! `pods/{name}/exec`, `pods/{name}/attach` and `pods/{name}/portforward`: kube-apiserver's
//! connect subresources. The options are read as upstream's `PodExecOptions`,
//! `PodAttachOptions` and `PodPortForwardOptions`, the container checked or defaulted
//! and the node found as `streamLocation` does, then the client's upgrade request is
//! sent on to the node's kubelet (`/exec/{ns}/{pod}/{container}?command=…&input=1…`,
//! `/attach/…`, `/portForward/{ns}/{pod}?port=…`) and, once the kubelet switches
//! protocols, the two connections are spliced, as upstream's `UpgradeAwareHandler`
//! does. Whatever protocol the client and the kubelet agreed on (SPDY/3.1 or a
//! WebSocket subprotocol) passes through unchanged. A kubelet that refuses the upgrade
//! has its answer turned into a `Status` with its code and message, as `pods/log` does
//! (upstream passes the raw answer, which client-go's decoder misreads as YAML when the
//! message holds ": "), so kubectl reports `Error from server (NotFound): container not
//! found ("app")`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::AppState;
use super::handlers::Ctx;
use super::kubelet_proxy::{container_names, kubelet_error, node_of};
use super::present;
use super::response::Body;
use crate::kinds::Subresource;
use crate::kubelet::location::kubelet_host_port;
use crate::status::ApiError;

/// The copy buffer per direction once spliced (port-forward moves bulk data).
const SPLICE_BUFFER: usize = 64 * 1024;

/// Request headers the upgrade needs, passed on to the kubelet (SPDY's protocol
/// versions, the WebSocket handshake).
const FORWARDED: [&str; 5] = [
    "upgrade",
    "x-stream-protocol-version",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
];

/// Response headers of the kubelet's `101` passed back to the client.
const RETURNED: [&str; 5] = [
    "upgrade",
    "connection",
    "x-stream-protocol-version",
    "sec-websocket-accept",
    "sec-websocket-protocol",
];

/// What a connect request asks for (the union of upstream's three options types).
#[derive(Debug, Default, PartialEq, Eq)]
struct StreamOptions {
    container: Option<String>,
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    ports: Vec<u16>,
}

/// A query boolean as upstream converts one (`0` and `false` are false, anything
/// else present is true).
fn query_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

impl StreamOptions {
    fn parse(sub: Subresource, query: Option<&str>) -> Result<Self, ApiError> {
        let mut o = StreamOptions::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "container" if sub != Subresource::PortForward => {
                    o.container = Some(v.into_owned()).filter(|c| !c.is_empty())
                }
                "command" if sub == Subresource::Exec => o.command.push(v.into_owned()),
                "stdin" => o.stdin = query_bool(&v),
                "stdout" => o.stdout = query_bool(&v),
                "stderr" => o.stderr = query_bool(&v),
                "tty" => o.tty = query_bool(&v),
                "ports" if sub == Subresource::PortForward => {
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        let port = p.trim().parse::<u16>().ok().filter(|p| *p > 0);
                        o.ports.push(port.ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "ports: Invalid value: {p:?}: must be between 1 and 65535, inclusive"
                            ))
                        })?);
                    }
                }
                _ => {}
            }
        }
        Ok(o)
    }

    /// The kubelet's query (upstream's `streamParams`: `input`, `output`, `error`,
    /// `tty` as `1`, each `command`, `port` joined by commas).
    fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (on, name) in [
            (self.stdin, "input"),
            (self.stdout, "output"),
            (self.stderr, "error"),
            (self.tty, "tty"),
        ] {
            if on {
                q.append_pair(name, "1");
            }
        }
        for c in &self.command {
            q.append_pair("command", c);
        }
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            q.append_pair("port", &ports.join(","));
        }
        q.finish()
    }
}

/// The container a stream goes to: the one named (any container, init or ephemeral
/// one), else the pod's only container, with upstream's `streamLocation` messages.
fn stream_container(pod: &Value, name: &str, container: Option<&str>) -> Result<String, ApiError> {
    let apps = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    match container {
        Some(c) => {
            let ephemeral = container_names(pod, "ephemeralContainers");
            if apps.iter().chain(&init).chain(&ephemeral).any(|n| n == c) {
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
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    apps.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// Whether the client asked to switch protocols (`Connection: Upgrade` and an
/// `Upgrade` header), as upstream's `httpstream.IsUpgradeRequest`.
fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
            .unwrap_or(false)
    });
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, names: &[&'static str]) {
    for name in names {
        let name = HeaderName::from_static(name);
        for v in from.get_all(&name) {
            to.append(name.clone(), v.clone());
        }
    }
}

/// `GET|POST pods/{name}/{exec,attach,portforward}`.
pub(super) async fn pod_stream(
    state: &Arc<AppState>,
    ctx: &Ctx,
    sub: Subresource,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.path.name.as_deref().unwrap_or("");
    let opts = StreamOptions::parse(sub, req.uri().query())?;
    let obj = state.cluster.get(&ctx.kind, &ctx.ns, name)?;
    let pod =
        present::served_value(&ctx.kind, &obj).ok_or_else(|| ApiError::internal("corrupt pod"))?;
    let path = match sub {
        Subresource::PortForward => format!("/portForward/{}/{}", ctx.ns, name),
        _ => {
            let container = stream_container(&pod, name, opts.container.as_deref())?;
            format!("/{}/{}/{}/{}", sub.as_str(), ctx.ns, name, container)
        }
    };
    let Some(node) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    if !is_upgrade(req.headers()) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let query = opts.kubelet_query();
    let path = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let mut headers = HeaderMap::new();
    copy_headers(req.headers(), &mut headers, &FORWARDED);
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));

    let client = state.kubelet.read().clone();
    let node = node_of(state, node)?;
    let (host, port) = kubelet_host_port(&node, &client.config().preferred_address_types)?;
    let backend = client
        .upgrade(&host, port, req.method().clone(), &path, headers)
        .await?;
    if backend.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The kubelet refused: its message comes back as a Status (a plain-text body
        // would be read by client-go's decoder as YAML when it holds ": ").
        return Err(kubelet_error(backend, &format!("pods/{}", sub.as_str()), name).await);
    }
    let mut answer = Response::new(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    copy_headers(backend.headers(), answer.headers_mut(), &RETURNED);
    let from_client = hyper::upgrade::on(&mut req);
    let to_kubelet = hyper::upgrade::on(backend);
    let what = format!("{}/{} {}", ctx.ns, name, sub.as_str());
    tokio::spawn(async move {
        let (client_io, kubelet_io) = match tokio::try_join!(from_client, to_kubelet) {
            Ok(both) => both,
            Err(err) => {
                tracing::debug!(%err, stream = %what, "upgrade did not complete");
                return;
            }
        };
        let (mut a, mut b) = (TokioIo::new(client_io), TokioIo::new(kubelet_io));
        match tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, SPLICE_BUFFER, SPLICE_BUFFER)
            .await
        {
            Ok((up, down)) => tracing::debug!(stream = %what, up, down, "stream ended"),
            Err(err) => tracing::debug!(stream = %what, %err, "stream ended with an error"),
        }
    });
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_become_the_kubelets_query() {
        let o = StreamOptions::parse(
            Subresource::Exec,
            Some("command=sh&command=-c&command=echo%20hi&container=app&stdin=true&stdout=1&stderr=false&tty=0"),
        )
        .unwrap();
        assert_eq!(o.container.as_deref(), Some("app"));
        assert_eq!(
            o.kubelet_query(),
            "input=1&output=1&command=sh&command=-c&command=echo+hi"
        );
        let pf = StreamOptions::parse(Subresource::PortForward, Some("ports=8080,9090")).unwrap();
        assert_eq!(pf.kubelet_query(), "port=8080%2C9090");
        let bad = StreamOptions::parse(Subresource::PortForward, Some("ports=0")).unwrap_err();
        assert_eq!(bad.code, 400);
        assert!(
            bad.message.contains("between 1 and 65535"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn containers_are_checked_or_defaulted_as_stream_location() {
        let pod = json!({"spec": {"initContainers": [{"name": "setup"}],
                                   "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            stream_container(&pod, "web", None).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [setup]"
        );
        assert_eq!(
            stream_container(&pod, "web", Some("setup")).unwrap(),
            "setup"
        );
        assert_eq!(
            stream_container(&pod, "web", Some("c"))
                .unwrap_err()
                .message,
            "container c is not valid for pod web"
        );
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(stream_container(&one, "web", None).unwrap(), "a");
    }

    #[test]
    fn upgrade_requests_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert!(!is_upgrade(&h));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_upgrade(&h));
    }
}
