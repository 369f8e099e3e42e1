//! A rate-limited `kube::Client` against a tiny in-process API server that pushes
//! back with `429 Too Many Requests` and `Retry-After`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use capstan_runtime::client::{DEFAULT_BURST, DEFAULT_QPS, client_with_rate_limit};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use tokio::net::TcpListener;

/// Serves GET namespace requests: the first `throttle` answered 429 with
/// `Retry-After: 1`, the rest with a Namespace. Returns the base URL and a counter.
async fn fake_apiserver(throttle: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let served = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let resp = if n < throttle {
                            Response::builder()
                                .status(StatusCode::TOO_MANY_REQUESTS)
                                .header("Retry-After", "1")
                                .header("Content-Type", "application/json")
                                .body(Full::new(Bytes::from_static(
                                    br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}"#,
                                )))
                        } else {
                            Response::builder()
                                .header("Content-Type", "application/json")
                                .body(Full::new(Bytes::from_static(
                                    br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"#,
                                )))
                        };
                        Ok::<_, Infallible>(resp.expect("response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn a_throttled_request_is_retried_after_retry_after() {
    let (url, count) = fake_apiserver(1).await;
    let config = kube::Config::new(url.parse().expect("url"));
    let client = client_with_rate_limit(config, DEFAULT_QPS, DEFAULT_BURST).expect("client");
    let namespaces: Api<Namespace> = Api::all(client);

    let start = Instant::now();
    let ns = namespaces
        .get("default")
        .await
        .expect("retried until served");
    assert_eq!(ns.metadata.name.as_deref(), Some("default"));
    assert_eq!(count.load(Ordering::SeqCst), 2, "one 429, one retry");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );

    let metrics = capstan_runtime::metrics::render();
    assert!(
        metrics.contains("rest_client_requests_total{code=\"429\",host=\"127.0.0.1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rest_client_rate_limiter_duration_seconds_count{host=\"127.0.0.1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn burst_then_qps_paces_a_real_client() {
    let (url, count) = fake_apiserver(0).await;
    let config = kube::Config::new(url.parse().expect("url"));
    // Burst 2 at 10 qps: 4 requests need at least 2 refills of 100 ms each.
    let client = client_with_rate_limit(config, 10.0, 2).expect("client");
    let namespaces: Api<Namespace> = Api::all(client);
    let start = Instant::now();
    for _ in 0..4 {
        namespaces.get("default").await.expect("served");
    }
    assert_eq!(count.load(Ordering::SeqCst), 4);
    assert!(
        start.elapsed() >= Duration::from_millis(190),
        "{:?}",
        start.elapsed()
    );
}
