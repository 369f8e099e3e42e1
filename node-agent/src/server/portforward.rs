//! `portForward` once the connection is switched, as the kubelet serves it:
//!
//! - over SPDY (`portforward.k8s.io`, also tunnelled in a WebSocket): the client opens
//!   a pair of streams per connection, `streamType` `error` and `data`, with the same
//!   `requestID` and the `port` header; each complete pair is one TCP connection to
//!   the port, and a failure is written, as text, on the pair's error stream;
//! - over the WebSocket channel protocol (`v4.channel.k8s.io`): the ports come from the
//!   `port` query parameter, port `i` has data channel `2i` and error channel `2i+1`,
//!   and the first message on each is the port, two bytes little-endian.
//!
//! The process runtime's containers share the host's network, so a pod's port is
//! reached on the loopback address.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::remotecommand::{Inbound, Outbound};
use super::spdy::{Connection, IncomingStream};
use super::websocket::Channels;

/// The copy buffer per direction (port-forward moves bulk data).
const COPY_BUFFER: usize = 64 * 1024;

/// Where a forwarded port of a process pod is reached.
pub fn target(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// The ports of the `port` query parameter (comma-separated or repeated), required by
/// the WebSocket protocol.
pub fn query_ports(query: Option<&str>) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != "port" {
            continue;
        }
        for p in v.split(',').filter(|p| !p.is_empty()) {
            ports.push(parse_port(p)?);
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    Ok(ports)
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("port 0 must be > 0".into()),
        Ok(p) => Ok(p),
        Err(err) => Err(format!("unable to parse {s:?} as a port: {err}")),
    }
}

/// How long the other direction may go on once one has ended (containerd's grace).
const OTHER_DIRECTION_GRACE: Duration = Duration::from_secs(1);

/// Copies between the client's stream and a TCP connection to `to`, as the runtime's
/// port-forward does: each direction until its end (a half-close is passed on), and
/// once one direction has ended the other gets [`OTHER_DIRECTION_GRACE`] to finish,
/// in the background. Returns as soon as the first direction ends, with its outcome
/// (upstream reports that one only), so the pair's error stream can be closed at once:
/// kubectl waits for it before it closes the local connection.
pub async fn forward<R, W>(to: SocketAddr, from_client: R, mut to_client: W) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let tcp = TcpStream::connect(to).await?;
    let _ = tcp.set_nodelay(true);
    let (r, mut w) = tcp.into_split();
    let mut up = tokio::spawn(async move {
        let mut from = BufReader::with_capacity(COPY_BUFFER, from_client);
        let copied = tokio::io::copy_buf(&mut from, &mut w).await;
        let _ = w.shutdown().await;
        copied
    });
    let mut down = tokio::spawn(async move {
        let mut r = BufReader::with_capacity(COPY_BUFFER, r);
        let copied = tokio::io::copy_buf(&mut r, &mut to_client).await;
        let _ = to_client.shutdown().await;
        copied
    });
    let (first, mut other) = tokio::select! {
        r = &mut up => (r, down),
        r = &mut down => (r, up),
    };
    tokio::spawn(async move {
        if tokio::time::timeout(OTHER_DIRECTION_GRACE, &mut other)
            .await
            .is_err()
        {
            other.abort();
        }
    });
    first.map_err(io::Error::other)?.map(|_| ())
}

/// The message written on a pair's error stream when forwarding fails (the kubelet's).
fn failure(port: u16, pod: &str, uid: &str, err: &dyn std::fmt::Display) -> String {
    format!("error forwarding port {port} to pod {pod}, uid {uid}: {err}")
}

/// One forwarded connection: its data stream and its error stream.
#[derive(Default)]
struct Pair {
    port: Option<String>,
    data: Option<super::spdy::Stream>,
    error: Option<super::spdy::Stream>,
}

/// Serves the stream pairs of a SPDY port-forward session until the client ends it.
/// `pod` and `uid` name the pod in error messages.
pub async fn serve_spdy(
    conn: Connection,
    mut incoming: mpsc::Receiver<IncomingStream>,
    pod: String,
    uid: String,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(stream) = incoming.recv().await {
        let kind = stream.header("streamtype").unwrap_or("").to_string();
        let id = stream.header("requestid").unwrap_or("").to_string();
        let port = stream.header("port").map(str::to_string);
        let stream = match stream.accept().await {
            Ok(s) => s,
            Err(err) => {
                tracing::debug!(%err, "port-forward stream not accepted");
                continue;
            }
        };
        let pair = pairs.entry(id.clone()).or_default();
        match kind.as_str() {
            "data" => pair.data = Some(stream),
            "error" => pair.error = Some(stream),
            other => {
                tracing::debug!(streamtype = other, "unexpected port-forward stream");
                continue;
            }
        }
        if port.is_some() {
            pair.port = port;
        }
        if pair.data.is_some() && pair.error.is_some() {
            let Some(Pair {
                port,
                data: Some(data),
                error: Some(error),
            }) = pairs.remove(&id)
            else {
                continue;
            };
            let (pod, uid) = (pod.clone(), uid.clone());
            tokio::spawn(async move {
                let (_, mut error_out) = error.into_split();
                let (data_in, data_out) = data.into_split();
                let port_text = port.unwrap_or_default();
                let result = match parse_port(&port_text) {
                    Ok(port) => forward(target(port), data_in, data_out)
                        .await
                        .map_err(|err| failure(port, &pod, &uid, &err)),
                    Err(message) => Err(message),
                };
                if let Err(message) = result {
                    tracing::debug!(%message, "port-forward failed");
                    let _ = error_out.write_all(message.as_bytes()).await;
                }
                let _ = error_out.shutdown().await;
            });
        }
    }
    conn.close().await;
}

/// Serves a WebSocket channel port-forward of `ports` until the client ends it.
pub async fn serve_channels(mut channels: Channels, ports: Vec<u16>, pod: String, uid: String) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, port) in ports.into_iter().enumerate() {
        let Ok(data_ch) = u8::try_from(2 * i) else {
            break;
        };
        let error_ch = data_ch + 1;
        let prefix = port.to_le_bytes();
        if channels.send(data_ch, &prefix).await.is_err()
            || channels.send(error_ch, &prefix).await.is_err()
        {
            return;
        }
        let Some(data_in) = channels.reader(data_ch) else {
            continue;
        };
        let data_out: Outbound = Box::new(channels.writer(data_ch));
        let mut error_out = channels.writer(error_ch);
        let (pod, uid) = (pod.clone(), uid.clone());
        tasks.spawn(async move {
            let data_in: Inbound = Box::new(data_in);
            if let Err(err) = forward(target(port), data_in, data_out).await {
                let message = failure(port, &pod, &uid, &err);
                let _ = error_out.write_all(message.as_bytes()).await;
            }
        });
    }
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = channels.ended() => tasks.abort_all(),
    }
    channels.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn ports_come_from_the_query() {
        assert_eq!(
            query_ports(Some("port=80,8080&port=9090")),
            Ok(vec![80, 8080, 9090])
        );
        assert_eq!(
            query_ports(None).unwrap_err(),
            "query parameter \"port\" is required"
        );
        assert!(
            query_ports(Some("port=x"))
                .unwrap_err()
                .contains("as a port")
        );
    }

    #[tokio::test]
    async fn forward_copies_both_ways_and_passes_the_half_close_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            s.write_all(&got.repeat(2)).await.unwrap();
        });
        let (mut client_in, agent_in) = tokio::io::duplex(1 << 16);
        let (agent_out, mut client_out) = tokio::io::duplex(1 << 16);
        let fwd = tokio::spawn(forward(addr, agent_in, agent_out));
        client_in.write_all(b"ping").await.unwrap();
        drop(client_in);
        let mut back = Vec::new();
        client_out.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"pingping");
        fwd.await.unwrap().unwrap();
        server.await.unwrap();
    }
}
