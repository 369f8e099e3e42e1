//! Request counters of a `kube::Client`, counted once per attempt sent (a retry
//! after `Retry-After` counts again, as in client-go):
//!
//! - `rest_client_requests_total{code,method,host}` — client-go's counter, with its
//!   labels: the HTTP status code (`<error>` when no response came back), the HTTP
//!   method and the API server's host;
//! - `capstan_client_requests_total{verb,resource,code}` — the same requests by
//!   Kubernetes verb and resource (see [`RequestInfo`]), so a benchmark can count the
//!   API writes a controller made per object ([`RequestCounts`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use http::{Request, Response};
use kube::client::Body;
use prometheus::IntCounterVec;
use prometheus::core::Collector;
use tower::{Layer, Service};

use super::request_info::RequestInfo;

/// The `code` label of a request that got no response (client-go's `<error>`).
pub const ERROR_CODE: &str = "<error>";

/// The verbs that change objects, as [`RequestCounts::writes`] counts them.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

static REQUESTS_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::counter_vec(
        "rest_client_requests_total",
        "Number of HTTP requests, partitioned by status code, method, and host.",
        &["code", "method", "host"],
    )
});

static RESOURCE_REQUESTS_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    crate::metrics::counter_vec(
        "capstan_client_requests_total",
        "Number of API requests, partitioned by Kubernetes verb, resource (with subresource) and status code.",
        &["verb", "resource", "code"],
    )
});

/// A tower [`Layer`] counting every request of a `kube::Client` in both counters
/// (see the module documentation). [`super::client_with_rate_limit`] puts it under
/// its rate limiter; any client can have it:
///
/// ```no_run
/// # async fn example(config: kube::Config) -> Result<(), kube::Error> {
/// use capstan_runtime::client::RequestMetricsLayer;
///
/// let host = config.cluster_url.authority().map(|a| a.to_string()).unwrap_or_default();
/// let client = kube::client::ClientBuilder::try_from(config)?
///     .with_layer(&RequestMetricsLayer::new().host(&host))
///     .build();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestMetricsLayer {
    host: Option<Arc<str>>,
}

impl RequestMetricsLayer {
    /// A layer taking the `host` label from each request's URI.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `host` label. Needed where request URIs are still relative: outside
    /// kube-rs' base-URI layer, which is where `ClientBuilder::with_layer` puts it.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(Arc::from(host));
        self
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetricsService {
            inner,
            host: self.host.clone(),
        }
    }
}

/// The service made by [`RequestMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RequestMetricsService<S> {
    inner: S,
    host: Option<Arc<str>>,
}

impl<S, B> Service<Request<Body>> for RequestMetricsService<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let method = req.method().as_str().to_string();
        let info = RequestInfo::of(req.method(), req.uri());
        let host = super::host_label(self.host.as_deref(), req.uri());
        let sent = self.inner.call(req);
        Box::pin(async move {
            let result = sent.await;
            let code = match &result {
                Ok(resp) => resp.status().as_str().to_string(),
                Err(_) => ERROR_CODE.to_string(),
            };
            REQUESTS_TOTAL
                .with_label_values(&[code.as_str(), method.as_str(), host.as_str()])
                .inc();
            RESOURCE_REQUESTS_TOTAL
                .with_label_values(&[info.verb.as_str(), info.resource.as_str(), code.as_str()])
                .inc();
            result
        })
    }
}

/// One series of `capstan_client_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestSeries {
    /// The Kubernetes verb ([`RequestInfo::verb`]).
    pub verb: String,
    /// The resource, with its subresource ([`RequestInfo::resource`]).
    pub resource: String,
    /// The HTTP status code, or [`ERROR_CODE`].
    pub code: String,
}

/// The values of `capstan_client_requests_total` at one moment, by series. Take a
/// [`snapshot`](Self::snapshot) before and after a phase and subtract
/// ([`since`](Self::since)) to count what the phase sent; the counter is
/// process-wide, so count phases that run alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts(BTreeMap<RequestSeries, u64>);

impl RequestCounts {
    /// The counter's current values.
    pub fn snapshot() -> Self {
        let mut counts = BTreeMap::new();
        for family in RESOURCE_REQUESTS_TOTAL.collect() {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|pair| pair.name() == name)
                        .map(|pair| pair.value().to_string())
                        .unwrap_or_default()
                };
                let series = RequestSeries {
                    verb: label("verb"),
                    resource: label("resource"),
                    code: label("code"),
                };
                // Counter values are whole numbers stored as f64.
                counts.insert(series, metric.get_counter().get_value() as u64);
            }
        }
        Self(counts)
    }

    /// What was counted after `earlier`: each series' increase, without the series
    /// that did not grow.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let grown = self
            .0
            .iter()
            .filter_map(|(series, &now)| {
                let before = earlier.0.get(series).copied().unwrap_or(0);
                (now > before).then(|| (series.clone(), now - before))
            })
            .collect();
        Self(grown)
    }

    /// Requests with `verb` on `resource`, whatever their status code.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.0
            .iter()
            .filter(|(s, _)| s.verb == verb && s.resource == resource)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests that change objects ([`WRITE_VERBS`]), on any resource and with any
    /// status code.
    pub fn writes(&self) -> u64 {
        self.0
            .iter()
            .filter(|(s, _)| WRITE_VERBS.contains(&s.verb.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every series with its count.
    pub fn series(&self) -> &BTreeMap<RequestSeries, u64> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, StatusCode};
    use tower::ServiceExt;

    use super::*;

    /// Answers every request with `status`, or fails it when `status` is `None`.
    fn server(
        status: Option<StatusCode>,
    ) -> impl Service<
        Request<Body>,
        Response = Response<()>,
        Error = &'static str,
        Future = impl Send + 'static,
    > {
        tower::service_fn(move |_req: Request<Body>| async move {
            match status {
                Some(status) => {
                    let mut resp = Response::new(());
                    *resp.status_mut() = status;
                    Ok(resp)
                }
                None => Err("connection refused"),
            }
        })
    }

    fn request(method: Method, path: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn each_request_is_counted_by_verb_resource_and_code() {
        let layer = RequestMetricsLayer::new().host("layer-test:6443");
        let before = RequestCounts::snapshot();
        let created = layer
            .layer(server(Some(StatusCode::CREATED)))
            .oneshot(request(
                Method::POST,
                "/apis/test.dev/v1/namespaces/ns/widgets",
            ))
            .await;
        assert!(created.is_ok());
        let conflict = layer
            .layer(server(Some(StatusCode::CONFLICT)))
            .oneshot(request(
                Method::PUT,
                "/apis/test.dev/v1/namespaces/ns/widgets/w/status",
            ))
            .await;
        assert_eq!(conflict.map(|r| r.status()), Ok(StatusCode::CONFLICT));
        let failed = layer
            .layer(server(None))
            .oneshot(request(Method::GET, "/apis/test.dev/v1/widgets?watch=true"))
            .await;
        assert_eq!(failed.map(|r| r.status()), Err("connection refused"));

        let counted = RequestCounts::snapshot().since(&before);
        let series = |verb: &str, resource: &str, code: &str| RequestSeries {
            verb: verb.into(),
            resource: resource.into(),
            code: code.into(),
        };
        let want = BTreeMap::from([
            (series("create", "widgets", "201"), 1),
            (series("update", "widgets/status", "409"), 1),
            (series("watch", "widgets", ERROR_CODE), 1),
        ]);
        let mine: BTreeMap<_, _> = counted
            .series()
            .iter()
            .filter(|(s, _)| s.resource.starts_with("widgets"))
            .map(|(s, n)| (s.clone(), *n))
            .collect();
        assert_eq!(mine, want);
        assert_eq!(counted.count("create", "widgets"), 1);
        assert!(counted.writes() >= 2, "{counted:?}");

        let text = crate::metrics::render();
        for line in [
            r#"rest_client_requests_total{code="201",host="layer-test:6443",method="POST"} 1"#,
            r#"rest_client_requests_total{code="409",host="layer-test:6443",method="PUT"} 1"#,
            r#"rest_client_requests_total{code="<error>",host="layer-test:6443",method="GET"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn since_keeps_only_what_grew() {
        let series = |verb: &str| RequestSeries {
            verb: verb.into(),
            resource: "pods".into(),
            code: "200".into(),
        };
        let before = RequestCounts(BTreeMap::from([(series("get"), 3), (series("patch"), 1)]));
        let after = RequestCounts(BTreeMap::from([
            (series("get"), 3),
            (series("patch"), 4),
            (series("delete"), 2),
        ]));
        let grown = after.since(&before);
        assert_eq!(
            grown.series(),
            &BTreeMap::from([(series("patch"), 3), (series("delete"), 2)])
        );
        assert_eq!(grown.writes(), 5);
        assert_eq!(grown.count("get", "pods"), 0);
        assert_eq!(grown.count("patch", "pods"), 3);
    }
}
