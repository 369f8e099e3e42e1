//! Client-side rate limiting and request counting for `kube::Client`, as client-go's REST
//! client does them.
//!
//! - A token bucket with `qps` and `burst` ([`DEFAULT_QPS`] 20 / [`DEFAULT_BURST`] 30,
//!   kube-controller-manager's `--kube-api-qps` / `--kube-api-burst`). Every request
//!   *waits* for a token (it is never rejected); waits are served in the order they
//!   were asked for, as `golang.org/x/time/rate` reservations are. The time waited is
//!   observed in `rest_client_rate_limiter_duration_seconds{verb,host}` and logged
//!   when it exceeds a second ("Waited for … due to client-side throttling").
//! - Server push-back: a `429 Too Many Requests` (or a 5xx) carrying an integer
//!   `Retry-After` blocks *every* request of this client until that time, and the
//!   request itself is retried after the delay — up to [`DEFAULT_MAX_RETRIES`] times,
//!   as client-go's `maxRetries` — when its body can be replayed (kube-rs bodies
//!   built from bytes can; streamed ones cannot and the 429 is returned as is).
//!   Retries take a token like any request.
//!
//! - Request counters ([`RequestMetricsLayer`]): client-go's
//!   `rest_client_requests_total{code,method,host}`, and
//!   `capstan_client_requests_total{verb,resource,code}` by Kubernetes verb and
//!   resource ([`RequestInfo`]), read back with [`RequestCounts`] to count the API
//!   writes a controller makes per object.
//!
//! [`client_with_rate_limit`] builds a `kube::Client` from a `kube::Config` with these
//! layers at the outside of kube-rs' default stack. It turns off kube-rs' own retry
//! layer (`Config::default_retry`), whose retries of 429 would hide them from this
//! layer; retries of `Retry-After` responses are done here instead, as in client-go.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use parking_lot::Mutex;
use prometheus::{HistogramOpts, HistogramVec};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

mod metrics;
mod request_info;

pub use metrics::{
    ERROR_CODE, RequestCounts, RequestMetricsLayer, RequestMetricsService, RequestSeries,
    WRITE_VERBS,
};
pub use request_info::RequestInfo;

/// Default queries per second of a controller's client (kube-controller-manager
/// `--kube-api-qps`).
pub const DEFAULT_QPS: f32 = 20.0;
/// Default burst of a controller's client (kube-controller-manager `--kube-api-burst`).
pub const DEFAULT_BURST: u32 = 30;
/// How often a request answered with `Retry-After` is retried (client-go `maxRetries`).
pub const DEFAULT_MAX_RETRIES: u32 = 10;
/// Waits longer than this are logged at info level, as client-go's
/// `extraLongThrottleLatency`.
const LONG_THROTTLE_LATENCY: Duration = Duration::from_secs(1);
/// Buffer of the [`tower::buffer::Buffer`] inserted by [`client_with_rate_limit`].
const BUFFER_CAPACITY: usize = 1024;

/// client-go's buckets for the REST client latency histograms.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0,
];

static RATE_LIMITER_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    crate::metrics::register(
        HistogramVec::new(
            HistogramOpts::new(
                "rest_client_rate_limiter_duration_seconds",
                "Client side rate limiter latency in seconds. Broken down by verb, and host.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["verb", "host"],
        )
        // Constant name, help, buckets and labels: construction cannot fail at run time.
        .expect("valid metric definition"),
    )
});

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// A token bucket shared by all requests of one client: refills at `qps` tokens per
/// second up to `burst`. Taking a token never fails; it may go into debt, and the
/// caller then waits until its token has been refilled (a reservation), so waiters
/// are served first come, first served.
#[derive(Debug)]
pub struct TokenBucket {
    /// Tokens per second; `None` means unlimited.
    qps: Option<f64>,
    burst: f64,
    state: Mutex<BucketState>,
}

impl TokenBucket {
    /// A bucket refilling at `qps` per second holding at most `burst` tokens (at
    /// least 1), starting full. A `qps` that is zero, negative or not finite means
    /// no client-side limit (server push-back is still honoured).
    pub fn new(qps: f32, burst: u32) -> Self {
        let qps = (qps.is_finite() && qps > 0.0).then_some(f64::from(qps));
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
                blocked_until: None,
            }),
        }
    }

    /// Takes a token and returns the instant from which the caller may send its
    /// request (now, or later when the bucket is empty or the server asked to wait).
    pub fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut st = self.state.lock();
        let mut ready_at = now;
        if let Some(qps) = self.qps {
            let elapsed = now.saturating_duration_since(st.last).as_secs_f64();
            st.tokens = (st.tokens + elapsed * qps).min(self.burst);
            st.last = now;
            st.tokens -= 1.0;
            if st.tokens < 0.0 {
                ready_at = now + Duration::from_secs_f64(-st.tokens / qps);
            }
        }
        match st.blocked_until {
            Some(until) if until > ready_at => until,
            _ => ready_at,
        }
    }

    /// Waits for a token (see [`reserve`](Self::reserve)) and returns how long it
    /// waited. Waits again when a `Retry-After` arrived meanwhile.
    pub async fn acquire(&self) -> Duration {
        let start = Instant::now();
        let mut at = self.reserve();
        loop {
            tokio::time::sleep_until(at).await;
            match self.blocked_until() {
                Some(until) if until > Instant::now() => at = until,
                _ => return start.elapsed(),
            }
        }
    }

    /// Holds every request back until `until` (the server's `Retry-After`); an
    /// earlier instant than one already set is ignored.
    pub fn block_until(&self, until: Instant) {
        let mut st = self.state.lock();
        if st.blocked_until.is_none_or(|cur| cur < until) {
            st.blocked_until = Some(until);
        }
    }

    /// The instant requests are held back until, if the server asked to wait.
    pub fn blocked_until(&self) -> Option<Instant> {
        self.state.lock().blocked_until
    }
}

/// A tower [`Layer`] adding client-side rate limiting and `Retry-After` handling to
/// a `kube::Client` service stack. The wrapped service must be `Clone` (put a
/// [`tower::buffer::BufferLayer`] under it for kube-rs' boxed stack, as
/// [`client_with_rate_limit`] does).
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<TokenBucket>,
    max_retries: u32,
    host: Option<Arc<str>>,
}

impl RateLimitLayer {
    /// A layer with its own bucket of `qps` and `burst`.
    pub fn new(qps: f32, burst: u32) -> Self {
        Self::with_limiter(Arc::new(TokenBucket::new(qps, burst)))
    }

    /// A layer drawing from a bucket shared with other clients.
    pub fn with_limiter(limiter: Arc<TokenBucket>) -> Self {
        Self {
            limiter,
            max_retries: DEFAULT_MAX_RETRIES,
            host: None,
        }
    }

    /// The `host` label of the metrics. Needed when the layer sits outside kube-rs'
    /// base-URI layer, where request URIs are still relative; otherwise the URI's
    /// authority is used.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(Arc::from(host));
        self
    }

    /// How many times a request answered with `Retry-After` is retried (0 disables
    /// retrying; later requests are still held back).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The bucket this layer draws from.
    pub fn limiter(&self) -> Arc<TokenBucket> {
        self.limiter.clone()
    }
}

impl Default for RateLimitLayer {
    /// [`DEFAULT_QPS`] and [`DEFAULT_BURST`].
    fn default() -> Self {
        Self::new(DEFAULT_QPS, DEFAULT_BURST)
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            max_retries: self.max_retries,
            host: self.host.clone(),
        }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: Arc<TokenBucket>,
    max_retries: u32,
    host: Option<Arc<str>>,
}

/// The `Retry-After` delay of a response that asks the client to wait: a 429 or a
/// 5xx with an integer number of seconds, as client-go's `checkWait`.
pub fn retry_after<B>(resp: &Response<B>) -> Option<Duration> {
    let status = resp.status();
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let secs: u64 = resp
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

impl<S, B> Service<Request<Body>> for RateLimitService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness of the inner service is awaited in the call, after the wait for
        // a token, on a clone (the usual tower pattern for services that wait).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let limiter = self.limiter.clone();
        let max_retries = self.max_retries;
        let host = host_label(self.host.as_deref(), req.uri());
        Box::pin(async move {
            let verb = req.method().as_str().to_string();
            let mut req = req;
            let mut attempt = 0;
            loop {
                let waited = limiter.acquire().await;
                RATE_LIMITER_DURATION
                    .with_label_values(&[&verb, &host])
                    .observe(waited.as_secs_f64());
                if waited > LONG_THROTTLE_LATENCY {
                    tracing::info!(
                        waited = ?waited, verb = %verb, url = %req.uri(),
                        "Waited due to client-side throttling, not priority and fairness"
                    );
                }
                let replay = if attempt < max_retries {
                    clone_request(&req)
                } else {
                    None
                };
                let resp = inner.clone().oneshot(req).await?;
                let Some(delay) = retry_after(&resp) else {
                    return Ok(resp);
                };
                limiter.block_until(Instant::now() + delay);
                tracing::debug!(status = %resp.status(), ?delay, attempt, "server asked to retry after a delay");
                match replay {
                    Some(next) => {
                        req = next;
                        attempt += 1;
                    }
                    None => return Ok(resp),
                }
            }
        })
    }
}

/// The `host` label of a request's metrics: the configured host, else the URI's
/// authority (empty for a relative URI).
fn host_label(configured: Option<&str>, uri: &http::Uri) -> String {
    configured
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string()
}

/// A copy of `req` to send again, when its body can be replayed.
fn clone_request(req: &Request<Body>) -> Option<Request<Body>> {
    let body = req.body().try_clone()?;
    let mut builder = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .version(req.version());
    if let Some(headers) = builder.headers_mut() {
        headers.extend(req.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut copy = builder.body(body).ok()?;
    // kube-rs tags requests with their operation name for tracing; keep it.
    if let Some(name) = req.extensions().get::<&'static str>() {
        copy.extensions_mut().insert(*name);
    }
    Some(copy)
}

/// Builds a `kube::Client` from `config` with client-side rate limiting of `qps` and
/// `burst`, `Retry-After` handling and the request counters (see the module
/// documentation), replacing kube-rs' default retry of 429/503/504. Each attempt,
/// retries included, is counted.
pub fn client_with_rate_limit(
    mut config: kube::Config,
    qps: f32,
    burst: u32,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder
        .with_layer(&RequestMetricsLayer::new().host(&host))
        .with_layer(&tower::buffer::BufferLayer::new(BUFFER_CAPACITY))
        .with_layer(&RateLimitLayer::new(qps, burst).host(&host))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn get(path: &str) -> Request<Body> {
        Request::get(format!("https://api.test{path}"))
            .body(Body::empty())
            .expect("request")
    }

    /// A fake API server recording when each request arrived; answers with the
    /// statuses in `script` first, then 200.
    #[derive(Clone)]
    struct Fake {
        arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
        script: Arc<Mutex<Vec<Response<String>>>>,
    }

    impl Fake {
        fn new(script: Vec<Response<String>>) -> Self {
            Self {
                arrivals: Arc::default(),
                script: Arc::new(Mutex::new(script)),
            }
        }
        fn arrivals(&self) -> Vec<(Instant, String)> {
            self.arrivals.lock().clone()
        }
        fn service(
            &self,
        ) -> impl Service<
            Request<Body>,
            Response = Response<String>,
            Error = Infallible,
            Future = impl Send + 'static,
        > + Clone
        + Send
        + 'static {
            let fake = self.clone();
            tower::service_fn(move |req: Request<Body>| {
                let fake = fake.clone();
                async move {
                    let body = req.into_body().collect_bytes().await.unwrap_or_default();
                    fake.arrivals
                        .lock()
                        .push((Instant::now(), String::from_utf8_lossy(&body).into()));
                    let mut script = fake.script.lock();
                    let resp = if script.is_empty() {
                        Response::new(String::from("ok"))
                    } else {
                        script.remove(0)
                    };
                    Ok::<_, Infallible>(resp)
                }
            })
        }
    }

    fn too_many(retry_after: &str) -> Response<String> {
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", retry_after)
            .body(String::new())
            .expect("response")
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces_at_qps() {
        let fake = Fake::new(vec![]);
        let svc = RateLimitLayer::new(20.0, 30).layer(fake.service());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let svc = svc.clone();
            tasks.push(tokio::spawn(svc.oneshot(get(&format!("/{i}")))));
        }
        for t in tasks {
            t.await.expect("joined").expect("ok");
        }
        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 50);
        let at = |i: usize| arrivals[i].0.duration_since(start);
        // The burst of 30 goes at once; the remaining 20 at 20/s, the last after 1 s.
        assert_eq!(at(29), Duration::ZERO);
        assert!(at(30) >= Duration::from_millis(49) && at(30) <= Duration::from_millis(51));
        assert!(at(49) >= Duration::from_millis(999), "{:?}", at(49));
        assert!(at(49) <= Duration::from_millis(1001), "{:?}", at(49));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_refill_while_idle_up_to_burst() {
        let bucket = TokenBucket::new(10.0, 5);
        for _ in 0..5 {
            assert!(bucket.reserve() <= Instant::now());
        }
        let later = bucket.reserve();
        assert_eq!(later - Instant::now(), Duration::from_millis(100));
        tokio::time::sleep(Duration::from_secs(60)).await;
        // A minute idle refills to 5, not to 600.
        for _ in 0..5 {
            assert!(bucket.reserve() <= Instant::now());
        }
        assert!(bucket.reserve() > Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_qps_means_unlimited() {
        let bucket = TokenBucket::new(0.0, 1);
        for _ in 0..1000 {
            assert!(bucket.reserve() <= Instant::now());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_delays_the_retry_and_every_other_request() {
        let fake = Fake::new(vec![too_many("3")]);
        let svc = RateLimitLayer::new(1000.0, 1000).layer(fake.service());
        let start = Instant::now();
        let post = Request::post("https://api.test/api/v1/namespaces/default/pods")
            .body(Body::from(b"{\"kind\":\"Pod\"}".to_vec()))
            .expect("request");
        let first = tokio::spawn(svc.clone().oneshot(post));
        // Let the first request get its 429 before the second one is sent.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = svc.clone().oneshot(get("/api/v1/pods")).await.expect("ok");
        assert_eq!(second.status(), StatusCode::OK);
        let resp = first.await.expect("joined").expect("ok");
        assert_eq!(resp.status(), StatusCode::OK, "retried after the delay");

        let arrivals = fake.arrivals();
        assert_eq!(arrivals.len(), 3);
        assert_eq!(arrivals[0].0, start);
        // Both the retry (with the same body) and the unrelated request waited 3 s.
        for (at, _) in &arrivals[1..] {
            assert!(
                at.duration_since(start) >= Duration::from_secs(3),
                "{:?}",
                *at - start
            );
        }
        let bodies: Vec<&str> = arrivals.iter().map(|(_, b)| b.as_str()).collect();
        assert_eq!(
            bodies
                .iter()
                .filter(|b| **b == "{\"kind\":\"Pod\"}")
                .count(),
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_limit() {
        let fake = Fake::new(vec![too_many("1"), too_many("1"), too_many("1")]);
        let svc = RateLimitLayer::new(100.0, 10)
            .max_retries(2)
            .layer(fake.service());
        let resp = svc.oneshot(get("/x")).await.expect("ok");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(fake.arrivals().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn responses_without_retry_after_are_returned_as_is() {
        let fake = Fake::new(vec![
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .body(String::new())
                .expect("response"),
            Response::builder()
                .status(StatusCode::CONFLICT)
                .header("Retry-After", "5")
                .body(String::new())
                .expect("response"),
        ]);
        let svc = RateLimitLayer::new(100.0, 10).layer(fake.service());
        let a = svc.clone().oneshot(get("/a")).await.expect("ok");
        let b = svc.clone().oneshot(get("/b")).await.expect("ok");
        assert_eq!(a.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            b.status(),
            StatusCode::CONFLICT,
            "4xx other than 429 is not retried"
        );
        assert_eq!(fake.arrivals().len(), 2);
        assert_eq!(svc.limiter.blocked_until(), None);
    }

    #[test]
    fn retry_after_parsing_follows_client_go() {
        assert_eq!(retry_after(&too_many("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&too_many("soon")), None);
        let unavailable = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("Retry-After", "2")
            .body(())
            .expect("response");
        assert_eq!(retry_after(&unavailable), Some(Duration::from_secs(2)));
    }
}
