//! The HTTP(S) front: TLS (rustls), HTTP/1.1 and HTTP/2 (hyper-util's auto builder),
//! bearer-token authentication ([`crate::authn`]), and the request handlers.

pub mod computed;
pub mod handlers;
pub mod kubelet_proxy;
pub mod kubelet_stream;
pub mod openapi;
pub mod patch;
pub mod present;
pub mod request;
pub mod response;
pub mod route;
pub mod tls;
pub mod validation;

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::authn::{self, UserInfo};
use crate::kubelet::KubeletClient;
use crate::ops::Cluster;
use crate::status::ApiError;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Storage and semantics.
    pub cluster: Arc<Cluster>,
    /// The admin bearer token; `None` disables authentication.
    pub token: Option<String>,
    /// `host:port` clients reach the server at (for discovery).
    pub server_addr: String,
    /// How often watches with `allowWatchBookmarks` get a progress bookmark.
    pub bookmark_interval: Duration,
    /// The client of the nodes' kubelets (`pods/log`, `nodes/proxy`), replaceable while
    /// the server runs ([`crate::ApiServer::set_kubelet_client`]).
    pub kubelet: Arc<parking_lot::RwLock<Arc<KubeletClient>>>,
}

impl AppState {
    /// Who the request is (see [`crate::authn`]): the admin for the admin token, a
    /// service account for a valid token the server issued, 401 otherwise.
    pub fn authenticate(&self, headers: &hyper::HeaderMap) -> Result<UserInfo, ApiError> {
        let authorization = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        authn::authenticate_request(
            &self.cluster,
            self.token.as_deref(),
            authorization,
            chrono::Utc::now(),
        )
    }
}

/// Accepts connections until `shutdown` changes, serving each on its own task.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handlers::handle(state, req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        tokio::select! {
                            r = conn => r,
                            _ = conn_shutdown.changed() => Ok(()),
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    tokio::select! {
                        r = conn => r,
                        _ = conn_shutdown.changed() => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
