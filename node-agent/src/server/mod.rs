//! The kubelet's API for the agent's virtual nodes, over HTTPS, as KWOK and the kubelet
//! serve it: what the API server proxies `kubectl logs` and `nodes/proxy` to.
//!
//! One listener serves every node of the agent: each Node publishes the listener's
//! address as its `InternalIP` and its port as `status.daemonEndpoints.kubeletEndpoint`,
//! and paths name the pod (`/containerLogs/{namespace}/{pod}/{container}`).
//!
//! - [`router`]: the paths: `/healthz`, `/pods`, `/containerLogs/…`, `/exec/…`,
//!   `/attach/…` and `/portForward/…`.
//! - [`tls`]: the serving certificate and the optional client-certificate check.
//! - [`auth`]: a verified client certificate or a bearer token.
//! - [`spdy`]: SPDY/3.1 framing, header compression and streams over an upgraded
//!   connection, for `exec`, `attach` and `portForward`.
//! - [`handlers`]: the endpoints; [`logs`], [`stream`], [`container`] and [`sim_logs`]
//!   serve container logs for both runtimes.
//! - [`streaming`]: exec, attach and port-forward, switched to the protocol [`upgrade`]
//!   negotiates: SPDY/3.1 ([`spdy`]) or a WebSocket ([`websocket`]); [`remotecommand`]
//!   wires a command's streams, [`portforward`] a pod's ports.

pub mod auth;
pub mod container;
pub mod handlers;
pub mod logs;
pub mod portforward;
pub mod remotecommand;
pub mod router;
pub mod sim_logs;
pub mod spdy;
pub mod stream;
pub mod streaming;
pub mod tls;
pub mod upgrade;
pub mod websocket;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use auth::Authenticator;
pub use handlers::Context;
pub use tls::ServingTls;

/// The kubelet's default API port.
pub const DEFAULT_PORT: u16 = 10250;

/// How the agent serves the kubelet API.
#[derive(Clone, Debug)]
pub struct KubeletServerConfig {
    /// Where to listen (port 0 picks a free one; default `0.0.0.0:10250`).
    pub bind: SocketAddr,
    /// The address the Nodes publish as their `InternalIP` (where the API server
    /// reaches the listener); default: the bind address, or `127.0.0.1` when binding
    /// every interface.
    pub advertise: Option<IpAddr>,
    /// The serving certificate.
    pub tls: ServingTls,
    /// Client certificates chaining to this CA (PEM) are accepted.
    pub client_ca_pem: Option<String>,
    /// Bearer tokens accepted.
    pub tokens: Vec<String>,
}

impl KubeletServerConfig {
    /// A listener on `bind` with a self-signed serving certificate for its address
    /// and `advertise`, accepting the bearer token `token`.
    pub fn self_signed(
        bind: SocketAddr,
        advertise: Option<IpAddr>,
        token: String,
    ) -> Result<Self, tls::TlsError> {
        let mut sans = vec![bind.ip().to_string()];
        if let Some(a) = advertise {
            sans.push(a.to_string());
        }
        Ok(KubeletServerConfig {
            bind,
            advertise,
            tls: ServingTls::self_signed(&sans)?,
            client_ca_pem: None,
            tokens: vec![token],
        })
    }
}

/// A random bearer token (32 bytes, URL-safe base64 without padding).
pub fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % 64] as char)
        .collect()
}

/// Why the kubelet API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener could not be bound.
    #[error("binding the kubelet API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS configuration is not usable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Where a node's kubelet API is reached (published in the Node's status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletEndpoint {
    /// The `InternalIP`.
    pub address: IpAddr,
    /// `daemonEndpoints.kubeletEndpoint.port`.
    pub port: u16,
}

/// A bound kubelet API listener, served by [`KubeletServer::serve`].
pub struct KubeletServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    endpoint: KubeletEndpoint,
    auth: Arc<Authenticator>,
}

impl std::fmt::Debug for KubeletServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl KubeletServer {
    /// Binds the listener of `config`.
    pub async fn bind(config: &KubeletServerConfig) -> Result<Self, ServerError> {
        let tls = tls::server_config(&config.tls, config.client_ca_pem.as_deref())?;
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let local = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let address = config.advertise.unwrap_or(if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        });
        Ok(KubeletServer {
            listener,
            acceptor: TlsAcceptor::from(tls),
            endpoint: KubeletEndpoint {
                address,
                port: local.port(),
            },
            auth: Arc::new(Authenticator::new(&config.tokens)),
        })
    }

    /// Where the Nodes say the listener is.
    pub fn endpoint(&self) -> &KubeletEndpoint {
        &self.endpoint
    }

    /// Serves connections until `stop` is cancelled.
    pub async fn serve(self, ctx: Arc<Context>, stop: CancellationToken) {
        tracing::info!(endpoint = ?self.endpoint, "kubelet API listening");
        loop {
            let (tcp, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(err) => {
                        tracing::warn!(%err, "kubelet API accept failed");
                        continue;
                    }
                },
                _ = stop.cancelled() => return,
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, ctx, auth, stop) = (
                self.acceptor.clone(),
                ctx.clone(),
                self.auth.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let stream = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    Err(err) => {
                        tracing::debug!(%peer, %err, "kubelet API TLS handshake failed");
                        return;
                    }
                };
                let client_cert = stream.get_ref().1.peer_certificates().is_some();
                let service = service_fn(move |req| {
                    let (ctx, auth) = (ctx.clone(), auth.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            handlers::handle(&ctx, &auth, client_cert, req).await,
                        )
                    }
                });
                let conn = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                tokio::select! {
                    r = conn => if let Err(err) = r {
                        tracing::debug!(%peer, %err, "kubelet API connection ended with an error");
                    },
                    _ = stop.cancelled() => {}
                }
            });
        }
    }
}
