//! The health server over real HTTP on an ephemeral port.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capstan_runtime::health::HealthServer;
use support::get;
use tokio::net::TcpStream;

#[tokio::test]
async fn serves_health_readiness_and_metrics_until_shutdown() {
    let counter = capstan_runtime::metrics::register(
        prometheus::IntCounter::new("capstan_health_test_total", "test counter").expect("metric"),
    );
    counter.inc_by(7);

    let server = HealthServer::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    assert_ne!(addr.port(), 0);
    let synced = Arc::new(AtomicBool::new(false));
    let s = synced.clone();
    server.add_readiness_check("informer-sync", Arc::new(move || s.load(Ordering::SeqCst)));
    let readiness = server.readiness();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stop_rx.await;
    }));

    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, 500);
    assert!(body.contains("[-]informer-sync failed"), "{body}");
    assert!(body.ends_with("readyz check failed\n"), "{body}");

    synced.store(true, Ordering::SeqCst);
    // A check registered through the shared handle after serving started counts too.
    readiness.add_check("leader-election", Arc::new(|| true));
    let (status, _, body) = get(addr, "/readyz?verbose").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("[+]informer-sync ok\n[+]leader-election ok\n"),
        "{body}"
    );

    let (status, head, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(body.contains("capstan_health_test_total 7"), "{body}");

    let (status, _, _) = get(addr, "/does-not-exist").await;
    assert_eq!(status, 404);

    stop_tx.send(()).expect("server alive");
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("server stops after shutdown")
        .expect("joined")
        .expect("no error");
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn binding_a_taken_port_is_a_clear_error() {
    let first = HealthServer::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = first.local_addr().expect("addr");
    let err = HealthServer::bind(addr).await.expect_err("port in use");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
