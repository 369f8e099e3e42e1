//! Choosing the streaming protocol of an `/exec`, `/attach` or `/portForward` request,
//! as the kubelet does: SPDY/3.1 with a version named in `X-Stream-Protocol-Version`
//! (upstream's `httpstream.Handshake`: the client's first offer the server accepts),
//! or a WebSocket with a subprotocol from `Sec-WebSocket-Protocol` (`v5.channel.k8s.io`
//! or `v4.channel.k8s.io` for commands; for port-forward `SPDY/3.1+portforward.k8s.io`,
//! the SPDY session tunnelled in binary messages that kubectl 1.31+ opens, or
//! `v4.channel.k8s.io`, the channel protocol of kube-rs and the Python client).

use hyper::HeaderMap;
use hyper::header::{self, HeaderValue};

use super::router::Streaming;

/// SPDY's protocol-version header.
pub const STREAM_PROTOCOL_VERSION: &str = "x-stream-protocol-version";
/// The header listing what the server accepts, on a failed negotiation.
pub const ACCEPTED_STREAM_PROTOCOL_VERSIONS: &str = "x-accepted-stream-protocol-versions";
/// The remote-command protocol over SPDY (the error stream carries a `Status`).
pub const REMOTE_COMMAND_V4: &str = "v4.channel.k8s.io";
/// The remote-command protocol over WebSocket with the close signal (channel 255).
pub const REMOTE_COMMAND_V5: &str = "v5.channel.k8s.io";
/// Port-forward over SPDY.
pub const PORT_FORWARD_V1: &str = "portforward.k8s.io";
/// Port-forward's SPDY session tunnelled through a WebSocket.
pub const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// The protocol a streaming request will speak once switched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// SPDY/3.1, with the negotiated `X-Stream-Protocol-Version`.
    Spdy(&'static str),
    /// A WebSocket with the negotiated subprotocol; `key` is the client's
    /// `Sec-WebSocket-Key`.
    WebSocket {
        /// The subprotocol.
        subprotocol: &'static str,
        /// The client's key, from which the accept header is derived.
        key: String,
    },
}

/// Why a request cannot be switched: the status and the message the kubelet answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status.
    pub code: u16,
    /// The plain-text message.
    pub message: String,
    /// The protocols the server accepts (sent back in
    /// `X-Accepted-Stream-Protocol-Versions` when SPDY negotiation fails).
    pub accepted: Vec<&'static str>,
}

impl Refused {
    fn bad_request(message: impl Into<String>) -> Self {
        Refused {
            code: 400,
            message: message.into(),
            accepted: Vec::new(),
        }
    }
}

/// Every value of a header, split at commas and trimmed.
fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first of the client's offers that the server accepts.
fn negotiate(client: &[&str], server: &[&'static str]) -> Option<&'static str> {
    client
        .iter()
        .find_map(|c| server.iter().find(|s| *s == c).copied())
}

/// The protocol a streaming request asks for, or why it cannot have one.
pub fn choose(kind: Streaming, headers: &HeaderMap) -> Result<Protocol, Refused> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if upgrade.eq_ignore_ascii_case("websocket") {
        let offered = values(headers, "sec-websocket-protocol");
        let server: &[&'static str] = match kind {
            Streaming::PortForward => &[PORT_FORWARD_TUNNEL, REMOTE_COMMAND_V4],
            Streaming::Exec | Streaming::Attach => &[REMOTE_COMMAND_V5, REMOTE_COMMAND_V4],
        };
        let Some(subprotocol) = negotiate(&offered, server) else {
            return Err(Refused::bad_request(format!(
                "unable to upgrade: unable to negotiate a WebSocket subprotocol: client supports {offered:?}, server accepts {server:?}"
            )));
        };
        let key = headers
            .get("sec-websocket-key")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Refused::bad_request("unable to upgrade: missing Sec-WebSocket-Key"))?;
        return Ok(Protocol::WebSocket {
            subprotocol,
            key: key.to_string(),
        });
    }
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        let offered = values(headers, STREAM_PROTOCOL_VERSION);
        if offered.is_empty() {
            return Err(Refused::bad_request(
                "unable to upgrade: X-Stream-Protocol-Version is required",
            ));
        }
        let server: &[&'static str] = match kind {
            Streaming::PortForward => &[PORT_FORWARD_V1],
            Streaming::Exec | Streaming::Attach => &[REMOTE_COMMAND_V4],
        };
        return match negotiate(&offered, server) {
            Some(p) => Ok(Protocol::Spdy(p)),
            None => Err(Refused {
                code: 403,
                message: format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {server:?}"
                ),
                accepted: server.to_vec(),
            }),
        };
    }
    Err(Refused::bad_request(format!(
        "unable to upgrade: {} requires an upgrade to SPDY/3.1 or websocket",
        kind.name()
    )))
}

/// The `101 Switching Protocols` headers for `protocol`.
pub fn switching_headers(protocol: &Protocol) -> Vec<(&'static str, HeaderValue)> {
    match protocol {
        Protocol::Spdy(version) => vec![
            ("connection", HeaderValue::from_static("Upgrade")),
            ("upgrade", HeaderValue::from_static("SPDY/3.1")),
            (STREAM_PROTOCOL_VERSION, HeaderValue::from_static(version)),
        ],
        Protocol::WebSocket { subprotocol, key } => {
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let mut h = vec![
                ("connection", HeaderValue::from_static("Upgrade")),
                ("upgrade", HeaderValue::from_static("websocket")),
                (
                    "sec-websocket-protocol",
                    HeaderValue::from_static(subprotocol),
                ),
            ];
            if let Ok(v) = HeaderValue::from_str(&accept) {
                h.push(("sec-websocket-accept", v));
            }
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn spdy_picks_the_clients_first_accepted_version() {
        let h = headers(&[
            ("upgrade", "SPDY/3.1"),
            (STREAM_PROTOCOL_VERSION, "v4.channel.k8s.io"),
            (STREAM_PROTOCOL_VERSION, "v3.channel.k8s.io"),
            (STREAM_PROTOCOL_VERSION, "channel.k8s.io"),
        ]);
        assert_eq!(
            choose(Streaming::Exec, &h),
            Ok(Protocol::Spdy(REMOTE_COMMAND_V4))
        );
        let old = headers(&[
            ("upgrade", "SPDY/3.1"),
            (STREAM_PROTOCOL_VERSION, "v2.channel.k8s.io"),
        ]);
        let refused = choose(Streaming::Exec, &old).unwrap_err();
        assert_eq!(refused.code, 403);
        assert_eq!(refused.accepted, vec![REMOTE_COMMAND_V4]);
        let pf = headers(&[
            ("upgrade", "SPDY/3.1"),
            (STREAM_PROTOCOL_VERSION, "portforward.k8s.io"),
        ]);
        assert_eq!(
            choose(Streaming::PortForward, &pf),
            Ok(Protocol::Spdy(PORT_FORWARD_V1))
        );
    }

    #[test]
    fn websocket_picks_v5_before_v4_and_the_tunnel_for_port_forward() {
        let h = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            (
                "sec-websocket-protocol",
                "v4.channel.k8s.io, v5.channel.k8s.io",
            ),
        ]);
        match choose(Streaming::Exec, &h).unwrap() {
            Protocol::WebSocket { subprotocol, .. } => assert_eq!(subprotocol, REMOTE_COMMAND_V4),
            p => panic!("{p:?}"),
        }
        let tunnel = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        let p = choose(Streaming::PortForward, &tunnel).unwrap();
        let accept = switching_headers(&p)
            .into_iter()
            .find(|(k, _)| *k == "sec-websocket-accept")
            .map(|(_, v)| v);
        // RFC 6455's example key and accept value.
        assert_eq!(
            accept,
            Some(HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        );
        let none = headers(&[("connection", "Upgrade")]);
        assert_eq!(choose(Streaming::Attach, &none).unwrap_err().code, 400);
    }
}
