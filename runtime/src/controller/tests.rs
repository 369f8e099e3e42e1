//! Runner tests: outcomes per reconcile result, panic isolation, one worker per key,
//! graceful shutdown.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use super::*;
use crate::ObjectKey;

fn key(name: &str) -> ObjectKey {
    ObjectKey::namespaced("default", name)
}

/// Polls `cond` every few (virtual or real) milliseconds until it holds or `deadline` passes.
async fn eventually(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

fn counter_value(name: &str, labels: &[(&str, &str)]) -> f64 {
    crate::metrics::registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().to_vec())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

fn histogram_count(name: &str, controller: &str) -> u64 {
    crate::metrics::registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().to_vec())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "controller" && l.value() == controller)
        })
        .map(|m| m.get_histogram().get_sample_count())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn reconciles_each_key_once_when_done() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let controller = ControllerBuilder::new("test-done")
        .workers(2)
        .build(reconciler_fn(move |key: ObjectKey| {
            let s = s.clone();
            async move {
                s.lock().push(key.to_string());
                Ok::<_, String>(Action::Done)
            }
        }));
    let queue = controller.queue();
    for name in ["a", "b", "c", "a"] {
        queue.add(key(name));
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    assert!(eventually(Duration::from_secs(5), || seen.lock().len() == 3).await);
    let names: HashSet<_> = seen.lock().iter().cloned().collect();
    assert_eq!(
        names.len(),
        3,
        "a key queued twice is reconciled once: {names:?}"
    );
    assert_eq!(queue.num_requeues(&key("a")), 0);
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(
        counter_value(
            "controller_runtime_reconcile_total",
            &[("controller", "test-done"), ("result", "success")]
        ),
        3.0
    );
    assert_eq!(
        histogram_count("controller_runtime_reconcile_time_seconds", "test-done"),
        3,
        "one latency sample per reconcile"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_and_panics_are_requeued_with_backoff_and_workers_survive() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let others = Arc::new(AtomicUsize::new(0));
    let (a, o) = (attempts.clone(), others.clone());
    let controller = ControllerBuilder::new("test-errors")
        .workers(1)
        .build(reconciler_fn(move |key: ObjectKey| {
            let (a, o) = (a.clone(), o.clone());
            async move {
                if key.name() == "flaky" {
                    match a.fetch_add(1, Ordering::SeqCst) {
                        0 => return Err("first attempt fails".to_string()),
                        1 => panic!("second attempt panics"),
                        _ => return Ok(Action::Done),
                    }
                }
                o.fetch_add(1, Ordering::SeqCst);
                Ok(Action::Done)
            }
        }));
    let queue = controller.queue();
    queue.add(key("flaky"));
    queue.add(key("steady"));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    assert!(
        eventually(Duration::from_secs(10), || attempts.load(Ordering::SeqCst)
            == 3)
        .await
    );
    assert_eq!(
        others.load(Ordering::SeqCst),
        1,
        "the worker kept serving after a panic"
    );
    assert_eq!(
        queue.num_requeues(&key("flaky")),
        0,
        "success forgets the failure history"
    );
    assert_eq!(
        counter_value(
            "controller_runtime_reconcile_errors_total",
            &[("controller", "test-errors")]
        ),
        2.0
    );
    assert_eq!(
        counter_value(
            "controller_runtime_reconcile_panics_total",
            &[("controller", "test-errors")]
        ),
        1.0
    );
    assert_eq!(
        counter_value(
            "controller_runtime_reconcile_total",
            &[("controller", "test-errors"), ("result", "success")]
        ),
        2.0
    );
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn requeue_after_reconciles_again_after_the_delay() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    let controller = ControllerBuilder::new("test-requeue-after").build(reconciler_fn(
        move |_key: ObjectKey| {
            let t = t.clone();
            async move {
                let mut times = t.lock();
                times.push(tokio::time::Instant::now());
                Ok::<_, String>(if times.len() == 1 {
                    Action::RequeueAfter(Duration::from_secs(7))
                } else {
                    Action::Done
                })
            }
        },
    ));
    controller.queue().add(key("x"));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    assert!(eventually(Duration::from_secs(30), || times.lock().len() == 2).await);
    let gap = {
        let times = times.lock();
        times[1] - times[0]
    };
    assert!(gap >= Duration::from_secs(7), "requeued after {gap:?}");
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn one_key_is_never_reconciled_by_two_workers_at_once() {
    let in_flight = Arc::new(Mutex::new(HashSet::new()));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (f, ov, d) = (in_flight.clone(), overlaps.clone(), done.clone());
    let controller = ControllerBuilder::new("test-exclusive")
        .workers(8)
        .build(reconciler_fn(move |key: ObjectKey| {
            let (f, ov, d) = (f.clone(), ov.clone(), d.clone());
            async move {
                if !f.lock().insert(key.clone()) {
                    ov.fetch_add(1, Ordering::SeqCst);
                }
                tokio::task::yield_now().await;
                f.lock().remove(&key);
                d.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(Action::Done)
            }
        }));
    let queue = controller.queue();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    for round in 0..200 {
        queue.add(key(&format!("k{}", round % 4)));
        tokio::task::yield_now().await;
    }
    assert!(
        eventually(Duration::from_secs(30), || queue.is_empty()
            && in_flight.lock().is_empty())
        .await
    );
    assert!(done.load(Ordering::SeqCst) >= 4);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_in_flight_reconciles_and_takes_no_new_keys() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let finished = Arc::new(Mutex::new(Vec::new()));
    let (s, r, f) = (started.clone(), release.clone(), finished.clone());
    let controller = ControllerBuilder::new("test-shutdown")
        .workers(1)
        .build(reconciler_fn(move |key: ObjectKey| {
            let (s, r, f) = (s.clone(), r.clone(), f.clone());
            async move {
                s.notify_one();
                r.notified().await;
                f.lock().push(key.name().to_string());
                Ok::<_, String>(Action::Done)
            }
        }));
    let queue = controller.queue();
    queue.add(key("in-flight"));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    started.notified().await;
    queue.add(key("queued"));
    stop_tx.send(()).unwrap();
    // Let the runner observe the shutdown before the in-flight reconcile completes.
    assert!(eventually(Duration::from_secs(5), || queue.is_shutting_down()).await);
    release.notify_one();
    run.await.unwrap().unwrap();
    assert_eq!(*finished.lock(), vec!["in-flight".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn caches_that_never_sync_fail_the_start_after_the_timeout() {
    let controller = ControllerBuilder::new("test-sync")
        .wait_for(Arc::new(|| false))
        .cache_sync_timeout(Duration::from_secs(3))
        .build(reconciler_fn(|_key: ObjectKey| async {
            Ok::<_, String>(Action::Done)
        }));
    let err = controller.run(std::future::pending()).await.unwrap_err();
    assert!(
        matches!(err, ControllerError::CacheSyncTimeout { .. }),
        "{err}"
    );
}

#[test]
fn synced_all_waits_for_every_check() {
    use std::sync::atomic::AtomicBool;
    let flags: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let checks = flags.iter().map(|f| {
        let f = f.clone();
        Arc::new(move || f.load(Ordering::Acquire)) as SyncCheck
    });
    let all = synced_all(checks);
    assert!(!all());
    flags[0].store(true, Ordering::Release);
    flags[2].store(true, Ordering::Release);
    assert!(!all(), "one check still false");
    flags[1].store(true, Ordering::Release);
    assert!(all());
    assert!(synced_all([])(), "nothing to wait for");
}
