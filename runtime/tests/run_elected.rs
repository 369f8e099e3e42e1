//! `leader::run_elected` against the in-process API server, as two replicas of one
//! component: the second waits while the first leads and takes over when it stops,
//! `/readyz` reports leadership, and a leader whose Lease is taken behind its back
//! ends its run with an error (its process would exit non-zero).

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capstan_apiserver::TestServer;
use capstan_runtime::health::HealthServer;
use capstan_runtime::leader::{
    ComponentContext, ElectedConfig, ElectedError, LeaderElectionConfig, LeaderElectionError,
    run_elected,
};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::{eventually, get};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const LEASE: &str = "run-elected-test";

/// A Lease released on a graceful stop; a leader that cannot renew gives up after 3 s.
fn election(identity: &str) -> LeaderElectionConfig {
    let mut config = LeaderElectionConfig::new("kube-system", LEASE, identity);
    config.lease_duration = Duration::from_secs(15);
    config.renew_deadline = Duration::from_secs(3);
    config.retry_period = Duration::from_millis(250);
    config.release_on_cancel = true;
    config
}

/// One replica: its health address, whether its component runs or returned, how
/// to stop it and its run.
struct Replica {
    health: SocketAddr,
    running: Arc<AtomicBool>,
    returned: Arc<AtomicBool>,
    stop: CancellationToken,
    run: JoinHandle<Result<(), ElectedError>>,
}

/// Starts a replica whose component adds the readiness check `component` and runs
/// until told to stop.
async fn replica(client: &kube::Client, identity: &str) -> Replica {
    let health = HealthServer::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = health.local_addr().expect("addr");
    let running = Arc::new(AtomicBool::new(false));
    let returned = Arc::new(AtomicBool::new(false));
    let stop = CancellationToken::new();
    let config = ElectedConfig {
        stop_on_signals: false,
        shutdown: stop.clone(),
        ..ElectedConfig::new(Some(election(identity)))
    };
    let (run_flag, return_flag) = (running.clone(), returned.clone());
    let component = move |ctx: ComponentContext| async move {
        run_flag.store(true, Ordering::SeqCst);
        ctx.readiness.add_check("component", Arc::new(|| true));
        ctx.stop.cancelled().await;
        return_flag.store(true, Ordering::SeqCst);
        Ok::<(), Infallible>(())
    };
    let run = tokio::spawn(run_elected(client.clone(), health, config, component));
    Replica {
        health: addr,
        running,
        returned,
        stop,
        run,
    }
}

async fn holder(leases: &Api<Lease>) -> Result<String, String> {
    leases
        .get_opt(LEASE)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .ok_or_else(|| "no holder".to_string())
}

/// Waits until `replica` holds the Lease as `identity` and runs its component.
async fn leads(leases: &Api<Lease>, replica: &Replica, identity: &str) {
    eventually(
        &format!("{identity} leads and runs its component"),
        || async {
            let holder = holder(leases).await?;
            if holder == identity && replica.running.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(format!("holder {holder:?}"))
            }
        },
    )
    .await;
}

/// `/readyz?verbose` once it answers 200.
async fn ready(replica: &Replica) -> String {
    eventually("/readyz passes", || async {
        match get(replica.health, "/readyz?verbose").await {
            (200, _, body) => Ok(body),
            (status, _, body) => Err(format!("{status}: {body}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_takes_over_and_a_lost_lease_ends_the_run() {
    let server = TestServer::start().await.expect("server");
    let client = server.client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");

    let a = replica(&client, "a").await;
    leads(&leases, &a, "a").await;
    let body = ready(&a).await;
    assert!(body.contains("[+]leader-election ok"), "{body}");
    assert!(body.contains("[+]component ok"), "{body}");

    // The follower is ready once it knows the leader, without running its component.
    let b = replica(&client, "b").await;
    let body = ready(&b).await;
    assert!(body.contains("[+]leader-election ok"), "{body}");
    assert!(!body.contains("component"), "{body}");
    assert!(!b.running.load(Ordering::SeqCst), "b waits while a leads");
    assert_eq!(holder(&leases).await.as_deref(), Ok("a"));

    // a stops gracefully: its component returns, its Lease is released, its health
    // server goes away, and b takes over without waiting for the lease to expire.
    a.stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), a.run)
        .await
        .expect("a stops")
        .expect("joined")
        .expect("a graceful stop is Ok");
    assert!(
        a.returned.load(Ordering::SeqCst),
        "a's component saw its stop"
    );
    assert!(
        TcpStream::connect(a.health).await.is_err(),
        "a's health is down"
    );
    leads(&leases, &b, "b").await;
    let body = ready(&b).await;
    assert!(body.contains("[+]component ok"), "{body}");

    // Another candidate takes the Lease for an hour: b cannot renew, and after the
    // renew deadline its run ends with the loss.
    leases
        .patch(
            LEASE,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 3600}
            })),
        )
        .await
        .expect("take the lease");
    let lost = tokio::time::timeout(Duration::from_secs(30), b.run)
        .await
        .expect("b's run ends")
        .expect("joined");
    match lost {
        Err(ElectedError::Election(LeaderElectionError::LeadershipLost { lease })) => {
            assert_eq!(lease, format!("kube-system/{LEASE}"));
        }
        other => panic!("expected a lost lease, got {other:?}"),
    }
    assert!(!b.stop.is_cancelled(), "nobody asked b to stop");
    assert_eq!(holder(&leases).await.as_deref(), Ok("intruder"));
}
