//! The HTTP endpoint of a controller process: `/metrics` for Prometheus, `/healthz`
//! for the liveness probe, `/readyz` for the readiness probe, answering in the
//! format of the Kubernetes components' own health endpoints (`k8s.io/apiserver`
//! `pkg/server/healthz`).
//!
//! `/readyz` passes only when every registered readiness check passes — typically
//! "informer caches synced" and "leadership known". On failure it answers 500 with
//! one line per check (`[+]name ok` / `[-]name failed: reason withheld`) and
//! `readyz check failed`, as kube-apiserver does; `?verbose` lists the checks on
//! success too, and `/readyz/<name>` evaluates a single check.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A readiness check: returns true while the component it checks is ready.
pub type ReadinessCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Errors of the [`HealthServer`].
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed for good.
    #[error("health server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// The set of named readiness checks behind `/readyz`. Cheap to clone; every clone
/// shares the same checks, so components can register theirs after the server
/// started.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<Vec<(String, ReadinessCheck)>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.checks.read().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    /// An empty set: ready until a check is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, by name) a readiness check.
    pub fn add_check(&self, name: &str, check: ReadinessCheck) {
        let mut checks = self.checks.write();
        match checks.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = check,
            None => checks.push((name.to_string(), check)),
        }
    }

    /// Evaluates every check, in registration order.
    pub fn evaluate(&self) -> Vec<(String, bool)> {
        // Clone the checks out so no lock is held while user code runs.
        let checks: Vec<(String, ReadinessCheck)> = self.checks.read().clone();
        checks
            .into_iter()
            .map(|(name, check)| {
                let ok = check();
                (name, ok)
            })
            .collect()
    }

    /// Names of the checks that fail now.
    pub fn failing(&self) -> Vec<String> {
        self.evaluate()
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| n)
            .collect()
    }

    fn evaluate_one(&self, name: &str) -> Option<bool> {
        let check = self
            .checks
            .read()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone());
        check.map(|c| c())
    }
}

/// The health and metrics HTTP server of a controller process.
#[derive(Debug)]
pub struct HealthServer {
    listener: TcpListener,
    readiness: Readiness,
}

impl HealthServer {
    /// Binds `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: SocketAddr) -> Result<Self, HealthError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HealthError::Bind { addr, source })?;
        Ok(Self {
            listener,
            readiness: Readiness::new(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, HealthError> {
        Ok(self.listener.local_addr()?)
    }

    /// The shared readiness checks of this server.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Adds a readiness check (see [`Readiness::add_check`]).
    pub fn add_readiness_check(&self, name: &str, check: ReadinessCheck) {
        self.readiness.add_check(name, check);
    }

    /// Serves HTTP/1.1 until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish (connections are closed gracefully) and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), HealthError> {
        let stop = CancellationToken::new();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
                // Reap finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Per-connection errors (e.g. ECONNABORTED, EMFILE) must not kill the
                    // endpoint; back off briefly, as hyper's examples and Go's net/http do.
                    tracing::warn!(%err, "health server accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let readiness = self.readiness.clone();
            let stop = stop.clone();
            connections.spawn(async move {
                let service = service_fn(move |req| {
                    let readiness = readiness.clone();
                    async move { Ok::<_, Infallible>(handle(&readiness, &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                let result = tokio::select! {
                    res = conn.as_mut() => res,
                    _ = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(err) = result {
                    tracing::debug!(%err, %peer, "health connection ended with error");
                }
            });
        }
        stop.cancel();
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Routes one request; pure apart from evaluating checks and rendering metrics.
fn handle(readiness: &Readiness, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    route(readiness, req.method(), req.uri())
}

fn route(readiness: &Readiness, method: &Method, uri: &http::Uri) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        );
    }
    let verbose = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "verbose" || kv.starts_with("verbose="))
    });
    match uri.path() {
        "/metrics" => {
            let mut resp = text(StatusCode::OK, crate::metrics::render());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(METRICS_CONTENT_TYPE),
            );
            resp
        }
        "/healthz" | "/livez" => {
            if verbose {
                text(StatusCode::OK, "[+]ping ok\nhealthz check passed\n".into())
            } else {
                text(StatusCode::OK, "ok".into())
            }
        }
        "/healthz/ping" | "/livez/ping" => text(StatusCode::OK, "ok".into()),
        "/readyz" => readyz(readiness, verbose),
        path => match path.strip_prefix("/readyz/") {
            Some(name) => match readiness.evaluate_one(name) {
                Some(true) => text(StatusCode::OK, "ok".into()),
                Some(false) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal server error: {name} check failed\n"),
                ),
                None => text(StatusCode::NOT_FOUND, "404 page not found\n".into()),
            },
            None => text(StatusCode::NOT_FOUND, "404 page not found\n".into()),
        },
    }
}

fn readyz(readiness: &Readiness, verbose: bool) -> Response<Full<Bytes>> {
    let results = readiness.evaluate();
    let failed = results.iter().any(|(_, ok)| !ok);
    if !failed && !verbose {
        return text(StatusCode::OK, "ok".into());
    }
    let mut body = String::new();
    for (name, ok) in &results {
        // Writing to a String cannot fail.
        let _ = if *ok {
            writeln!(body, "[+]{name} ok")
        } else {
            writeln!(body, "[-]{name} failed: reason withheld")
        };
    }
    if failed {
        for (name, _) in results.iter().filter(|(_, ok)| !ok) {
            tracing::info!(check = %name, "readiness check failed");
        }
        body.push_str("readyz check failed\n");
        text(StatusCode::INTERNAL_SERVER_ERROR, body)
    } else {
        body.push_str("readyz check passed\n");
        text(StatusCode::OK, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn call(r: &Readiness, uri: &str) -> (StatusCode, String) {
        let resp = route(r, &Method::GET, &uri.parse().expect("uri"));
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_lists_failing_checks_like_kubernetes() {
        let r = Readiness::new();
        assert_eq!(call(&r, "/readyz").await, (StatusCode::OK, "ok".into()));
        let synced = Arc::new(AtomicBool::new(false));
        let s = synced.clone();
        r.add_check("informer-sync", Arc::new(move || s.load(Ordering::SeqCst)));
        r.add_check("leader-election", Arc::new(|| true));
        let (status, body) = call(&r, "/readyz").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            "[-]informer-sync failed: reason withheld\n[+]leader-election ok\nreadyz check failed\n"
        );
        assert_eq!(r.failing(), vec!["informer-sync".to_string()]);
        assert_eq!(call(&r, "/readyz/leader-election").await.0, StatusCode::OK);
        assert_eq!(
            call(&r, "/readyz/informer-sync").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(call(&r, "/readyz/nope").await.0, StatusCode::NOT_FOUND);

        synced.store(true, Ordering::SeqCst);
        assert_eq!(call(&r, "/readyz").await, (StatusCode::OK, "ok".into()));
        let (status, body) = call(&r, "/readyz?verbose").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.ends_with("[+]leader-election ok\nreadyz check passed\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn adding_a_check_with_the_same_name_replaces_it() {
        let r = Readiness::new();
        r.add_check("x", Arc::new(|| false));
        r.add_check("x", Arc::new(|| true));
        assert_eq!(r.evaluate(), vec![("x".to_string(), true)]);
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_rejected() {
        let r = Readiness::new();
        assert_eq!(call(&r, "/nope").await.0, StatusCode::NOT_FOUND);
        let resp = route(&r, &Method::POST, &"/healthz".parse().expect("uri"));
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
