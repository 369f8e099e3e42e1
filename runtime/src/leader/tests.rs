//! State-machine tests of the elector against an in-memory lease with
//! resourceVersion semantics, on paused time.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;

/// The "API server": one optional lease with a resource version.
#[derive(Default)]
struct Server {
    lease: Option<(LeaderElectionRecord, u64)>,
    failing: bool,
}

#[derive(Clone, Default)]
struct SharedServer(Arc<Mutex<Server>>);

impl SharedServer {
    fn record(&self) -> Option<LeaderElectionRecord> {
        self.0.lock().lease.as_ref().map(|(r, _)| r.clone())
    }
    fn version(&self) -> u64 {
        self.0.lock().lease.as_ref().map_or(0, |(_, v)| *v)
    }
    fn set_failing(&self, failing: bool) {
        self.0.lock().failing = failing;
    }
    /// Writes the lease as another process would, bumping the version.
    fn overwrite(&self, record: LeaderElectionRecord) {
        let mut s = self.0.lock();
        let rv = s.lease.as_ref().map_or(0, |(_, v)| *v) + 1;
        s.lease = Some((record, rv));
    }
    fn store(&self) -> FakeStore {
        FakeStore {
            server: self.clone(),
            seen: Mutex::new(None),
        }
    }
}

/// One client's view: remembers the version it last read or wrote, as `LeaseLock`.
struct FakeStore {
    server: SharedServer,
    seen: Mutex<Option<u64>>,
}

fn unavailable() -> LeaseStoreError {
    LeaseStoreError::Other("connection refused".into())
}

impl LeaseStore for FakeStore {
    async fn get(&self) -> Result<Option<LeaderElectionRecord>, LeaseStoreError> {
        let s = self.server.0.lock();
        if s.failing {
            return Err(unavailable());
        }
        *self.seen.lock() = s.lease.as_ref().map(|(_, v)| *v);
        Ok(s.lease.as_ref().map(|(r, _)| r.clone()))
    }

    async fn create(&self, record: &LeaderElectionRecord) -> Result<(), LeaseStoreError> {
        let mut s = self.server.0.lock();
        if s.failing {
            return Err(unavailable());
        }
        if s.lease.is_some() {
            return Err(LeaseStoreError::Conflict("already exists".into()));
        }
        s.lease = Some((record.clone(), 1));
        *self.seen.lock() = Some(1);
        Ok(())
    }

    async fn update(&self, record: &LeaderElectionRecord) -> Result<(), LeaseStoreError> {
        let mut s = self.server.0.lock();
        if s.failing {
            return Err(unavailable());
        }
        let seen = (*self.seen.lock()).ok_or(LeaseStoreError::NotInitialized)?;
        let Some((_, rv)) = s.lease.as_ref() else {
            return Err(LeaseStoreError::Other("not found".into()));
        };
        if *rv != seen {
            return Err(LeaseStoreError::Conflict("resourceVersion mismatch".into()));
        }
        let next = rv + 1;
        s.lease = Some((record.clone(), next));
        *self.seen.lock() = Some(next);
        Ok(())
    }

    fn describe(&self) -> String {
        "kube-system/test".into()
    }
}

fn config(identity: &str, metric_name: &str) -> LeaderElectionConfig {
    let mut c = LeaderElectionConfig::new("kube-system", "test", identity);
    c.name = metric_name.to_string();
    c
}

type Run = JoinHandle<Result<RunOutcome, LeaderElectionError>>;

/// Starts a candidate whose leading work reports its token and then waits for it.
fn start(
    server: &SharedServer,
    cfg: LeaderElectionConfig,
    cancel: &CancellationToken,
) -> (
    Run,
    watch::Receiver<Leadership>,
    mpsc::UnboundedReceiver<CancellationToken>,
) {
    let elector = LeaderElector::with_store(server.store(), cfg).expect("valid config");
    let status = elector.subscribe();
    let (tx, rx) = mpsc::unbounded_channel();
    let cancel = cancel.clone();
    let run = tokio::spawn(elector.run(cancel, move |token| async move {
        let _ = tx.send(token.clone());
        token.cancelled().await;
    }));
    (run, status, rx)
}

async fn wait_for(status: &mut watch::Receiver<Leadership>, want: Leadership) {
    tokio::time::timeout(Duration::from_secs(600), status.wait_for(|s| *s == want))
        .await
        .expect("state reached before deadline")
        .expect("elector alive");
}

#[tokio::test(start_paused = true)]
async fn acquires_a_missing_lease_and_releases_on_cancel() {
    let server = SharedServer::default();
    let cancel = CancellationToken::new();
    let mut cfg = config("a", "acquire_missing");
    cfg.release_on_cancel = true;
    let (run, mut status, mut leading) = start(&server, cfg, &cancel);

    let token = leading.recv().await.expect("started leading");
    wait_for(&mut status, Leadership::Leader).await;
    let record = server.record().expect("lease created");
    assert_eq!(record.holder_identity, "a");
    assert_eq!(record.lease_duration, Duration::from_secs(15));
    assert_eq!(record.leader_transitions, 0);
    assert!(record.acquire_time.is_some() && record.renew_time.is_some());
    assert_eq!(
        MASTER_STATUS.with_label_values(&["acquire_missing"]).get(),
        1
    );

    // It renews every retry period while leading.
    let v = server.version();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(
        server.version() >= v + 3,
        "renewed: {} -> {}",
        v,
        server.version()
    );

    cancel.cancel();
    assert_eq!(
        run.await.expect("joined").expect("no error"),
        RunOutcome::Cancelled
    );
    assert!(token.is_cancelled());
    let released = server.record().expect("lease kept");
    assert_eq!(released.holder_identity, "");
    assert_eq!(released.lease_duration, Duration::from_secs(1));
    assert_eq!(released.leader_transitions, 0);
    assert_eq!(
        MASTER_STATUS.with_label_values(&["acquire_missing"]).get(),
        0
    );
    assert_eq!(*status.borrow(), Leadership::Stopped);
}

#[tokio::test(start_paused = true)]
async fn waits_for_a_stale_lease_to_expire_then_takes_over() {
    let server = SharedServer::default();
    server.overwrite(LeaderElectionRecord {
        holder_identity: "dead".into(),
        lease_duration: Duration::from_secs(15),
        leader_transitions: 4,
        ..LeaderElectionRecord::default()
    });
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let (run, mut status, mut leading) = start(&server, config("b", "stale"), &cancel);

    wait_for(
        &mut status,
        Leadership::Follower {
            holder: "dead".into(),
        },
    )
    .await;
    leading.recv().await.expect("eventually leads");
    let waited = started.elapsed();
    // Expiry is judged from when b first saw the record, on b's clock.
    assert!(
        waited >= Duration::from_secs(15),
        "took over after {waited:?}"
    );
    assert!(
        waited <= Duration::from_secs(15 + 5),
        "took over after {waited:?}"
    );
    let record = server.record().expect("lease");
    assert_eq!(record.holder_identity, "b");
    assert_eq!(record.leader_transitions, 5, "transition counted");
    cancel.cancel();
    run.await.expect("joined").expect("no error");
}

#[tokio::test(start_paused = true)]
async fn a_renewing_leader_keeps_others_out_until_it_releases() {
    let server = SharedServer::default();
    let cancel_a = CancellationToken::new();
    let mut cfg_a = config("a", "contend_a");
    cfg_a.release_on_cancel = true;
    let (run_a, mut status_a, _leading_a) = start(&server, cfg_a, &cancel_a);
    wait_for(&mut status_a, Leadership::Leader).await;

    let cancel_b = CancellationToken::new();
    let (run_b, mut status_b, mut leading_b) = start(&server, config("b", "contend_b"), &cancel_b);
    wait_for(&mut status_b, Leadership::Follower { holder: "a".into() }).await;
    // A minute (four lease durations) later b still follows, because a renews.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        leading_b.try_recv().is_err(),
        "b must not lead while a renews"
    );
    assert_eq!(server.record().expect("lease").holder_identity, "a");
    assert_eq!(MASTER_STATUS.with_label_values(&["contend_b"]).get(), 0);

    // a steps down and releases: b takes over without waiting 15 s.
    let released_at = Instant::now();
    cancel_a.cancel();
    run_a.await.expect("joined").expect("no error");
    leading_b.recv().await.expect("b leads");
    assert!(released_at.elapsed() < Duration::from_secs(15));
    let record = server.record().expect("lease");
    assert_eq!(record.holder_identity, "b");
    assert_eq!(record.leader_transitions, 1);
    cancel_b.cancel();
    run_b.await.expect("joined").expect("no error");
}

#[tokio::test(start_paused = true)]
async fn candidates_racing_for_a_free_lease_elect_one_leader() {
    let server = SharedServer::default();
    let cancel = CancellationToken::new();
    let (run_a, _sa, mut la) = start(&server, config("a", "race_a"), &cancel);
    let (run_b, _sb, mut lb) = start(&server, config("b", "race_b"), &cancel);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let a_leads = la.try_recv().is_ok();
    let b_leads = lb.try_recv().is_ok();
    assert!(
        a_leads ^ b_leads,
        "exactly one leader (a={a_leads}, b={b_leads})"
    );
    let holder = server.record().expect("lease").holder_identity;
    assert_eq!(holder, if a_leads { "a" } else { "b" });
    cancel.cancel();
    run_a.await.expect("joined").expect("no error");
    run_b.await.expect("joined").expect("no error");
}

#[tokio::test(start_paused = true)]
async fn failing_to_renew_within_the_deadline_loses_leadership() {
    let server = SharedServer::default();
    let cancel = CancellationToken::new();
    let (run, mut status, mut leading) = start(&server, config("a", "lose_outage"), &cancel);
    let token = leading.recv().await.expect("leads");
    assert_eq!(MASTER_STATUS.with_label_values(&["lose_outage"]).get(), 1);

    server.set_failing(true);
    let outage = Instant::now();
    let result = run.await.expect("joined");
    let after = outage.elapsed();
    assert!(
        matches!(result, Err(LeaderElectionError::LeadershipLost { ref lease }) if lease == "kube-system/test"),
        "{result:?}"
    );
    // Gave up after the 10 s renew deadline (plus at most one retry period between
    // renewals), well before another candidate could take the 15 s lease.
    assert!(after >= Duration::from_secs(10), "{after:?}");
    assert!(after <= Duration::from_secs(12), "{after:?}");
    assert!(token.is_cancelled(), "leading work told to stop");
    assert_eq!(MASTER_STATUS.with_label_values(&["lose_outage"]).get(), 0);
    assert_eq!(*status.borrow_and_update(), Leadership::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_lease_taken_over_behind_the_leaders_back_is_lost() {
    let server = SharedServer::default();
    let cancel = CancellationToken::new();
    let (run, _status, mut leading) = start(&server, config("a", "lose_steal"), &cancel);
    leading.recv().await.expect("leads");
    // Another writer takes the lease; a's next update carries a stale version.
    server.overwrite(LeaderElectionRecord {
        holder_identity: "thief".into(),
        lease_duration: Duration::from_secs(3600),
        ..LeaderElectionRecord::default()
    });
    let result = run.await.expect("joined");
    assert!(
        matches!(result, Err(LeaderElectionError::LeadershipLost { .. })),
        "{result:?}"
    );
    assert_eq!(server.record().expect("lease").holder_identity, "thief");
}

#[tokio::test(start_paused = true)]
async fn leading_work_that_finishes_ends_the_run() {
    let server = SharedServer::default();
    let elector = LeaderElector::with_store(server.store(), config("a", "finish")).expect("valid");
    let outcome = elector
        .run(CancellationToken::new(), |_| async {})
        .await
        .expect("no error");
    assert_eq!(outcome, RunOutcome::LeadingCompleted);
}

#[tokio::test(start_paused = true)]
async fn cancelled_before_leading_returns_without_touching_the_lease() {
    let server = SharedServer::default();
    server.overwrite(LeaderElectionRecord {
        holder_identity: "other".into(),
        lease_duration: Duration::from_secs(15),
        ..LeaderElectionRecord::default()
    });
    let cancel = CancellationToken::new();
    let mut cfg = config("a", "cancel_early");
    cfg.release_on_cancel = true;
    let (run, mut status, _leading) = start(&server, cfg, &cancel);
    wait_for(
        &mut status,
        Leadership::Follower {
            holder: "other".into(),
        },
    )
    .await;
    cancel.cancel();
    assert_eq!(
        run.await.expect("joined").expect("no error"),
        RunOutcome::Cancelled
    );
    assert_eq!(server.record().expect("lease").holder_identity, "other");
}

#[test]
fn config_defaults_and_validation_follow_client_go() {
    let c = LeaderElectionConfig::new("kube-system", "kcm", "me");
    assert_eq!(c.lease_duration, Duration::from_secs(15));
    assert_eq!(c.renew_deadline, Duration::from_secs(10));
    assert_eq!(c.retry_period, Duration::from_secs(2));
    assert!(c.validate().is_ok());

    let mut bad = c.clone();
    bad.renew_deadline = Duration::from_secs(15);
    assert!(
        bad.validate().is_err(),
        "lease duration must exceed renew deadline"
    );
    let mut bad = c.clone();
    bad.retry_period = Duration::from_secs(9);
    assert!(
        bad.validate().is_err(),
        "renew deadline must exceed 1.2 * retry"
    );
    let mut bad = c.clone();
    bad.identity.clear();
    assert!(bad.validate().is_err());
    let mut bad = c;
    bad.retry_period = Duration::ZERO;
    assert!(bad.validate().is_err());
}

#[tokio::test(start_paused = true)]
async fn readiness_passes_once_leadership_is_known_and_fails_after_the_stop() {
    let server = SharedServer::default();
    let cancel_a = CancellationToken::new();
    let elector = LeaderElector::with_store(server.store(), config("a", "ready_a")).unwrap();
    let ready_a = leadership_known_check(elector.subscribe());
    assert!(!ready_a(), "no attempt completed yet");
    let mut status_a = elector.subscribe();
    let run_a =
        tokio::spawn(elector.run(
            cancel_a.clone(),
            |token| async move { token.cancelled().await },
        ));
    wait_for(&mut status_a, Leadership::Leader).await;
    assert!(ready_a(), "a leader knows who leads");

    let cancel_b = CancellationToken::new();
    let (run_b, mut status_b, _leading_b) = start(&server, config("b", "ready_b"), &cancel_b);
    let ready_b = leadership_known_check(status_b.clone());
    wait_for(&mut status_b, Leadership::Follower { holder: "a".into() }).await;
    assert!(ready_b(), "a follower of a live leader knows who leads");

    cancel_a.cancel();
    run_a.await.expect("joined").expect("no error");
    assert!(!ready_a(), "a stopped candidate is not ready");
    cancel_b.cancel();
    run_b.await.expect("joined").expect("no error");
}

#[test]
fn unique_identities_are_host_underscore_uuid() {
    let a = unique_identity();
    let b = unique_identity();
    assert_ne!(a, b, "two processes on one host differ");
    let (host, uuid) = a.rsplit_once('_').expect("host_uuid");
    assert!(!host.is_empty(), "{a}");
    let groups: Vec<&str> = uuid.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{uuid}"
    );
    assert!(
        uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{uuid}"
    );
    assert!(groups[2].starts_with('4'), "version 4: {uuid}");
    assert!(
        matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
        "RFC 4122 variant: {uuid}"
    );
}
