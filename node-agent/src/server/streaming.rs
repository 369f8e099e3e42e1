//! `/exec/{namespace}/{pod}/{container}`, `/attach/…` and `/portForward/{namespace}/{pod}`:
//! checked and started before the connection is switched (so a missing pod, a sim pod,
//! a container that is not running or a bad query gets a plain HTTP error the API
//! server passes on), then served over the protocol [`upgrade::choose`] picked: SPDY,
//! a WebSocket with channels, or SPDY tunnelled in a WebSocket.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::handlers::{Context, served, text};
use super::portforward;
use super::remotecommand::{
    self, ClientStreams, CommandRequest, Inbound, Outbound, STREAM_CREATION_TIMEOUT,
};
use super::router::Streaming;
use super::spdy::{self, Connection};
use super::stream::Body;
use super::upgrade::{self, PORT_FORWARD_TUNNEL, Protocol, REMOTE_COMMAND_V5};
use super::websocket::{Channels, Tunnel};
use crate::crd::NodeRuntime;
use crate::process::exec::{Session, SessionError};

/// What a request names.
pub struct Target {
    /// Which endpoint.
    pub kind: Streaming,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container (`exec`, `attach`).
    pub container: Option<String>,
}

/// The message a sim pod's streaming request is refused with.
pub fn sim_refusal(kind: Streaming, namespace: &str, pod: &str) -> String {
    format!(
        "{} is not supported for pod {namespace}/{pod}: its node uses capstan's sim runtime, \
         which runs no processes (use a NodePool with the process runtime)",
        kind.name()
    )
}

/// What was started before switching protocols.
enum Started {
    Command {
        request: CommandRequest,
        session: Session,
    },
    PortForward {
        ports: Vec<u16>,
    },
}

/// Answers a streaming request: an error, or `101` and the session on its own task.
pub async fn serve(ctx: &Context, target: Target, mut req: Request<Incoming>) -> Response<Body> {
    let Some(pod) = ctx.pods.get(&target.namespace, &target.pod) else {
        return text(StatusCode::NOT_FOUND, "pod does not exist");
    };
    match served(ctx, &pod) {
        None => return text(StatusCode::NOT_FOUND, "pod does not exist"),
        Some(NodeRuntime::Sim) => {
            return text(
                StatusCode::BAD_REQUEST,
                sim_refusal(target.kind, &target.namespace, &target.pod),
            );
        }
        Some(NodeRuntime::Process) => {}
    }
    let protocol = match upgrade::choose(target.kind, req.headers()) {
        Ok(p) => p,
        Err(refused) => {
            let mut r = text(
                StatusCode::from_u16(refused.code).unwrap_or(StatusCode::BAD_REQUEST),
                refused.message,
            );
            for p in refused.accepted {
                r.headers_mut().append(
                    upgrade::ACCEPTED_STREAM_PROTOCOL_VERSIONS,
                    hyper::header::HeaderValue::from_static(p),
                );
            }
            return r;
        }
    };
    let started = match start(ctx, &target, &pod, &protocol, req.uri().query()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
    response.headers_mut().remove(hyper::header::CONTENT_TYPE);
    for (name, value) in upgrade::switching_headers(&protocol) {
        response.headers_mut().insert(name, value);
    }
    let (pod_name, uid) = (
        format!("{}/{}", target.namespace, target.pod),
        pod.uid().unwrap_or_default(),
    );
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(err) => {
                tracing::debug!(%err, pod = %pod_name, "streaming upgrade did not complete");
                return;
            }
        };
        run(io, protocol, started, pod_name, uid).await;
    });
    response
}

/// Checks the request and starts what it asks for.
async fn start(
    ctx: &Context,
    target: &Target,
    pod: &Arc<Pod>,
    protocol: &Protocol,
    query: Option<&str>,
) -> Result<Started, Response<Body>> {
    let bad = |m: String| text(StatusCode::BAD_REQUEST, m);
    match target.kind {
        Streaming::Exec | Streaming::Attach => {
            let request = CommandRequest::parse(query).map_err(bad)?;
            let container = target.container.as_deref().unwrap_or("");
            let session = if target.kind == Streaming::Exec {
                ctx.process
                    .exec(pod, container, request.command.clone(), request.opts)
                    .await
            } else {
                ctx.process.attach(pod, container, request.opts).await
            };
            let session = session.map_err(|e| match e {
                SessionError::NotFound(m) => text(StatusCode::NOT_FOUND, m),
                SessionError::BadRequest(m) => text(StatusCode::BAD_REQUEST, m),
                SessionError::Internal(m) => text(StatusCode::INTERNAL_SERVER_ERROR, m),
            })?;
            Ok(Started::Command { request, session })
        }
        Streaming::PortForward => {
            let ports = match protocol {
                Protocol::WebSocket { subprotocol, .. } if *subprotocol != PORT_FORWARD_TUNNEL => {
                    portforward::query_ports(query).map_err(bad)?
                }
                _ => Vec::new(),
            };
            Ok(Started::PortForward { ports })
        }
    }
}

type Io = TokioIo<Upgraded>;

async fn run(io: Io, protocol: Protocol, started: Started, pod: String, uid: String) {
    match (protocol, started) {
        (Protocol::Spdy(_), Started::Command { request, session }) => {
            command_over_spdy(io, request, session).await
        }
        (Protocol::WebSocket { subprotocol, .. }, Started::Command { request, session }) => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            let close_signal = subprotocol == REMOTE_COMMAND_V5;
            command_over_channels(Channels::start(ws, &[0, 4], close_signal), request, session)
                .await
        }
        (Protocol::Spdy(_), Started::PortForward { .. }) => {
            let (conn, incoming) = Connection::server(io);
            portforward::serve_spdy(conn, incoming, pod, uid).await
        }
        (Protocol::WebSocket { subprotocol, .. }, Started::PortForward { ports }) => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            if subprotocol == PORT_FORWARD_TUNNEL {
                let (conn, incoming) = Connection::server(Tunnel::new(ws));
                portforward::serve_spdy(conn, incoming, pod, uid).await
            } else {
                let inbound: Vec<u8> = (0..ports.len())
                    .filter_map(|i| u8::try_from(2 * i).ok())
                    .collect();
                let channels = Channels::start(ws, &inbound, false);
                portforward::serve_channels(channels, ports, pod, uid).await
            }
        }
    }
}

fn boxed_reader(r: impl AsyncRead + Send + Unpin + 'static) -> Inbound {
    Box::new(r)
}

fn boxed_writer(w: impl AsyncWrite + Send + Unpin + 'static) -> Outbound {
    Box::new(w)
}

/// Exec or attach over SPDY: waits for the client's streams, then runs the session.
async fn command_over_spdy<S>(io: S, request: CommandRequest, session: Session)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (conn, mut incoming) = Connection::server(io);
    let expected = request.expected_streams();
    let gathered = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        let mut streams: HashMap<String, spdy::Stream> = HashMap::new();
        while streams.len() < expected {
            let s = incoming.recv().await?;
            let kind = s.header("streamtype").unwrap_or("").to_ascii_lowercase();
            match s.accept().await {
                Ok(stream) => {
                    streams.insert(kind, stream);
                }
                Err(err) => tracing::debug!(%err, "exec stream not accepted"),
            }
        }
        Some(streams)
    })
    .await;
    let Ok(Some(mut streams)) = gathered else {
        tracing::debug!("the client did not open the streams it asked for in time");
        conn.close().await;
        return;
    };
    // Halves the session does not use stay open until it ends.
    let mut keep = Vec::new();
    let mut reader = |name: &str, keep: &mut Vec<spdy::StreamWriter>| {
        streams.remove(name).map(|s| {
            let (r, w) = s.into_split();
            keep.push(w);
            boxed_reader(r)
        })
    };
    let stdin = reader("stdin", &mut keep);
    let resize = reader("resize", &mut keep);
    let mut unread = Vec::new();
    let mut writer = |name: &str| {
        streams.remove(name).map(|s| {
            let (r, w) = s.into_split();
            unread.push(r);
            boxed_writer(w)
        })
    };
    let stdout = writer("stdout");
    let stderr = writer("stderr");
    let Some(error) = writer("error") else {
        conn.close().await;
        return;
    };
    let client = ClientStreams {
        stdin,
        stdout,
        stderr,
        resize,
        error,
    };
    let closed = conn.clone();
    remotecommand::run(client, session, &request.command, async move {
        closed.closed().await
    })
    .await;
    drop((keep, unread));
    conn.close().await;
}

/// Exec or attach over WebSocket channels.
async fn command_over_channels(mut channels: Channels, request: CommandRequest, session: Session) {
    let opts = request.opts;
    let client = ClientStreams {
        stdin: if opts.stdin {
            channels.reader(0).map(boxed_reader)
        } else {
            None
        },
        stdout: opts.stdout.then(|| boxed_writer(channels.writer(1))),
        stderr: opts.stderr.then(|| boxed_writer(channels.writer(2))),
        resize: if opts.tty {
            channels.reader(4).map(boxed_reader)
        } else {
            None
        },
        error: boxed_writer(channels.writer(3)),
    };
    remotecommand::run(client, session, &request.command, channels.ended()).await;
    channels.close().await;
}
