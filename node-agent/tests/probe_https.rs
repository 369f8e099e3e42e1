//! `httpGet` probes with `scheme: HTTPS` against a real TLS server (`TestServer`, whose
//! certificate is signed by a CA the prober does not know): the kubelet does not verify
//! probe certificates, so the probe passes on the status code alone.

use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_node_agent::probe::Outcome;
use capstan_node_agent::probe::http::HttpGet;

#[tokio::test]
async fn https_probes_skip_certificate_verification() {
    let server = TestServer::start().await.expect("test server starts");
    let port = server.server().addr().port();
    let probe = |path: &str| HttpGet {
        scheme: "https".into(),
        host: "127.0.0.1".into(),
        port,
        path: path.into(),
        headers: vec![],
    };
    let timeout = Duration::from_secs(30);
    assert_eq!(probe("/healthz").probe(timeout).await, Outcome::Success);
    let missing = probe("/no/such/path").probe(timeout).await;
    assert!(
        matches!(&missing, Outcome::Failure(m) if m.starts_with("HTTP probe failed with statuscode: 4")),
        "{missing:?}"
    );
}
