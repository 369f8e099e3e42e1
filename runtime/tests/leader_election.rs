//! Leader election through a real HTTP API server: one of two candidates leads, and a
//! leader that releases on shutdown hands over without waiting for the lease to expire.

use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_runtime::leader::{LeaderElectionConfig, LeaderElector, Leadership, RunOutcome};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn config(identity: &str) -> LeaderElectionConfig {
    let mut config = LeaderElectionConfig::new("kube-system", "capstan-test", identity);
    config.lease_duration = Duration::from_secs(60);
    config.renew_deadline = Duration::from_secs(40);
    config.retry_period = Duration::from_millis(200);
    config.release_on_cancel = true;
    config
}

async fn wait_for(rx: &mut watch::Receiver<Leadership>, want: Leadership) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while *rx.borrow_and_update() != want {
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("leadership never became {want:?}: {:?}", *rx.borrow()))
            .unwrap();
    }
}

#[tokio::test]
async fn one_candidate_leads_and_a_released_lease_passes_on_at_once() {
    let server = TestServer::start().await.expect("test server starts");
    let client = server.client().await;

    let first = LeaderElector::new(client.clone(), config("first")).unwrap();
    let mut first_status = first.subscribe();
    let first_stop = CancellationToken::new();
    let first_run = tokio::spawn(first.run(first_stop.clone(), |token| async move {
        token.cancelled().await
    }));
    wait_for(&mut first_status, Leadership::Leader).await;

    let second = LeaderElector::new(client.clone(), config("second")).unwrap();
    let mut second_status = second.subscribe();
    let second_stop = CancellationToken::new();
    let second_run = tokio::spawn(second.run(second_stop.clone(), |token| async move {
        token.cancelled().await
    }));
    wait_for(
        &mut second_status,
        Leadership::Follower {
            holder: "first".to_string(),
        },
    )
    .await;

    let lease = Api::<Lease>::namespaced(client.clone(), "kube-system")
        .get("capstan-test")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("first"));
    assert_eq!(spec.lease_duration_seconds, Some(60));

    // The lease lasts 60 s and wait_for gives up after 15 s: only the release can let the
    // successor in.
    first_stop.cancel();
    assert_eq!(first_run.await.unwrap().unwrap(), RunOutcome::Cancelled);
    wait_for(&mut second_status, Leadership::Leader).await;
    let lease = Api::<Lease>::namespaced(client, "kube-system")
        .get("capstan-test")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("second"));
    assert!(spec.lease_transitions.unwrap_or(0) >= 1);

    second_stop.cancel();
    assert_eq!(second_run.await.unwrap().unwrap(), RunOutcome::Cancelled);
}
