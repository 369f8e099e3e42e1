//! Behaviour of [`WorkQueue`] as a whole: the client-go rules workers rely on, delays,
//! rate limiting, shut down and metrics. Timing tests run on tokio's paused clock.

use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use super::metrics::test_support::{histogram, value};
use super::*;

fn queue() -> WorkQueue<&'static str> {
    WorkQueue::builder().build()
}

/// `get` that must not return within `wait` (paused clock: `wait` passes instantly).
async fn assert_nothing_for(q: &WorkQueue<&'static str>, wait: Duration) {
    let got = tokio::time::timeout(wait, q.get()).await;
    assert!(got.is_err(), "unexpectedly got {got:?}");
}

#[tokio::test(start_paused = true)]
async fn key_added_while_queued_is_queued_once() {
    let q = queue();
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("a");
    assert_eq!(q.len(), 2);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
    assert!(q.is_empty());
    assert_nothing_for(&q, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn keys_come_out_first_in_first_out() {
    let q = WorkQueue::<u32>::builder().build();
    for i in 0..100 {
        q.add(i);
    }
    for i in 0..100 {
        assert_eq!(q.get().await, Some(i));
    }
}

#[tokio::test(start_paused = true)]
async fn key_being_processed_is_not_handed_to_a_second_worker() {
    let q = queue();
    q.add("a");
    let first = q.get().await;
    assert_eq!(first, Some("a"));
    q.add("a");
    assert_eq!(q.len(), 0, "a processing key is not ready");
    assert_eq!(q.processing(), 1);

    // A second worker waits, and gets the key only once the first is done.
    let worker = tokio::spawn({
        let q = q.clone();
        async move { (q.get().await, Instant::now()) }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !worker.is_finished(),
        "second worker got the key being processed"
    );
    let done_at = Instant::now();
    q.done(&"a");
    let (got, at) = worker.await.unwrap();
    assert_eq!(got, Some("a"));
    assert_eq!(at, done_at);
}

#[tokio::test(start_paused = true)]
async fn key_added_during_processing_is_processed_once_more_after_done() {
    let q = queue();
    q.add("a");
    let key = q.get().await.unwrap();
    q.add("a");
    q.add("a");
    q.add("b");
    q.done(&key);
    // b was ready first; a comes back once (not twice) after it.
    assert_eq!(q.get().await, Some("b"));
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    q.done(&"b");
    assert_eq!(q.len(), 0);
    assert_eq!(q.processing(), 0);
    assert_nothing_for(&q, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn done_of_a_key_not_handed_out_changes_nothing() {
    let q = queue();
    q.add("a");
    q.done(&"a");
    q.done(&"zzz");
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
    assert_nothing_for(&q, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn add_wakes_a_waiting_worker() {
    let q = queue();
    let worker = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::task::yield_now().await;
    q.add("a");
    assert_eq!(worker.await.unwrap(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_get_passes_its_wake_up_on() {
    let q = queue();
    // The first waiter registers, then is dropped after being woken.
    let mut first = Box::pin(q.get());
    assert!((&mut first).now_or_never().is_none());
    let second = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::task::yield_now().await;
    q.add("a");
    drop(first);
    let got = tokio::time::timeout(Duration::from_secs(1), second).await;
    assert_eq!(got.expect("wake-up was lost").unwrap(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn add_after_adds_at_the_deadline() {
    let q = queue();
    let t0 = Instant::now();
    q.add_after("a", Duration::from_secs(3));
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiting(), 1);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(Instant::now(), t0 + Duration::from_secs(3));
    assert_eq!(q.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_after_with_zero_delay_adds_now() {
    let q = queue();
    q.add_after("a", Duration::ZERO);
    assert_eq!(q.len(), 1);
    assert_eq!(q.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_after_earliest_deadline_wins() {
    let q = queue();
    let t0 = Instant::now();
    q.add_after("a", Duration::from_secs(10));
    q.add_after("a", Duration::from_secs(2));
    q.add_after("a", Duration::from_secs(5));
    assert_eq!(q.waiting(), 1);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(Instant::now(), t0 + Duration::from_secs(2));
    q.done(&"a");
    // The later deadlines were merged into the earliest: nothing more comes.
    assert_nothing_for(&q, Duration::from_secs(60)).await;
}

#[tokio::test(start_paused = true)]
async fn add_after_orders_keys_by_deadline() {
    let q = queue();
    q.add_after("late", Duration::from_secs(20));
    q.add_after("early", Duration::from_secs(10));
    q.add_after("middle", Duration::from_secs(15));
    assert_eq!(q.get().await, Some("early"));
    assert_eq!(q.get().await, Some("middle"));
    assert_eq!(q.get().await, Some("late"));
}

#[tokio::test(start_paused = true)]
async fn key_waiting_for_a_delay_and_added_now_is_processed_now_and_again_later() {
    // As client-go: Add does not cancel a pending AddAfter.
    let q = queue();
    let t0 = Instant::now();
    q.add_after("a", Duration::from_secs(5));
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(Instant::now(), t0);
    q.done(&"a");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(Instant::now(), t0 + Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn delayed_key_due_while_queued_is_coalesced() {
    let q = queue();
    q.add("a");
    q.add_after("a", Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
}

#[tokio::test(start_paused = true)]
async fn add_rate_limited_waits_as_the_limiter_says() {
    let q = WorkQueue::<&'static str>::builder()
        .rate_limiter(ItemExponentialFailureRateLimiter::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ))
        .build();
    let t0 = Instant::now();
    for (attempt, expected) in [1u64, 2, 4, 8].into_iter().enumerate() {
        let start = Instant::now();
        q.add_rate_limited("a");
        assert_eq!(q.num_requeues(&"a"), attempt as u32 + 1);
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(Instant::now() - start, Duration::from_secs(expected));
        q.done(&"a");
    }
    assert_eq!(Instant::now() - t0, Duration::from_secs(15));
    q.forget(&"a");
    assert_eq!(q.num_requeues(&"a"), 0);
    let start = Instant::now();
    q.add_rate_limited("a");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn shut_down_wakes_every_waiting_worker() {
    let q = queue();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        })
        .collect();
    tokio::task::yield_now().await;
    q.shut_down();
    assert!(q.is_shutting_down());
    for w in workers {
        let got = tokio::time::timeout(Duration::from_secs(1), w).await;
        assert_eq!(got.expect("worker not woken").unwrap(), None);
    }
}

#[tokio::test(start_paused = true)]
async fn shut_down_stops_handing_out_and_ignores_adds() {
    let q = queue();
    q.add("queued");
    q.add_after("delayed", Duration::from_secs(1));
    q.shut_down();
    q.add("late");
    q.add_after("late", Duration::ZERO);
    q.add_rate_limited("late");
    assert_eq!(q.get().await, None);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(q.get().await, None);
    assert_eq!(q.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_waits_for_in_flight_keys() {
    let q = queue();
    q.add("a");
    q.add("b");
    assert_eq!(q.get().await, Some("a"));
    let drain = tokio::spawn({
        let q = q.clone();
        async move {
            q.shut_down_with_drain().await;
            Instant::now()
        }
    });
    tokio::task::yield_now().await;
    assert!(q.is_shutting_down());
    q.add("c"); // not accepted any more
    // Queued keys are still handed out while draining.
    assert_eq!(q.get().await, Some("b"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.done(&"a");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drain.is_finished(), "drain returned with b in flight");
    let last_done = Instant::now();
    q.done(&"b");
    assert_eq!(drain.await.unwrap(), last_done);
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn drain_hands_out_keys_re_added_during_processing() {
    let q = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.add("a"); // before the shut down: must still be processed
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::task::yield_now().await;
    q.done(&"a");
    assert_eq!(q.get().await, Some("a"));
    assert!(!drain.is_finished());
    q.done(&"a");
    drain.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn drain_releases_idle_workers_when_the_last_key_is_done() {
    let q = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    let idle_worker = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::task::yield_now().await;
    q.done(&"a");
    drain.await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(1), idle_worker).await;
    assert_eq!(got.expect("idle worker not released").unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn drain_of_an_idle_queue_returns_at_once_and_shut_down_cuts_a_drain_short() {
    let q = queue();
    q.shut_down_with_drain().await;
    assert_eq!(q.get().await, None);

    let q = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drain.is_finished());
    q.shut_down();
    let got = tokio::time::timeout(Duration::from_secs(1), drain).await;
    got.expect("shut_down did not end the drain").unwrap();
}

#[tokio::test(start_paused = true)]
async fn unnamed_queue_records_no_metrics() {
    let q = WorkQueue::<&'static str>::builder().name("").build();
    assert_eq!(q.name(), None);
    q.add("a");
    q.add_after("b", Duration::ZERO);
    let _ = q.get().await;
    assert_eq!(value("workqueue_adds_total", ""), None);
    assert_eq!(value("workqueue_retries_total", ""), None);
}

#[tokio::test(start_paused = true)]
async fn metrics_follow_adds_gets_dones_and_retries() {
    const NAME: &str = "queue-tests-metrics";
    let q = WorkQueue::<&'static str>::builder().name(NAME).build();
    let t0 = Instant::now();
    let depth = || value("workqueue_depth", NAME).unwrap();
    let adds = || value("workqueue_adds_total", NAME).unwrap();

    q.add("a");
    q.add("b");
    q.add("a"); // coalesced: not an add
    assert_eq!(adds(), 2.0);
    assert_eq!(depth(), 2.0);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(depth(), 1.0);
    assert_eq!(
        histogram("workqueue_queue_duration_seconds", NAME),
        Some((1, 1.0))
    );

    // Re-added while processing: counted as an add and in the depth, as client-go.
    q.add("a");
    assert_eq!(adds(), 3.0);
    assert_eq!(depth(), 2.0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    q.done(&"a");
    assert_eq!(
        histogram("workqueue_work_duration_seconds", NAME),
        Some((1, 2.0))
    );

    // Retries: every add_after and add_rate_limited, even with no delay.
    q.add_after("c", Duration::from_secs(1));
    q.add_after("c", Duration::ZERO);
    q.add_rate_limited("d");
    assert_eq!(value("workqueue_retries_total", NAME), Some(3.0));

    // Unfinished work, refreshed every 500 ms: b and a in flight since t0 + 3 s.
    assert_eq!(Instant::now(), t0 + Duration::from_secs(3));
    assert_eq!(q.get().await, Some("b"));
    assert_eq!(q.get().await, Some("a"));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(value("workqueue_unfinished_work_seconds", NAME), Some(3.0));
    assert_eq!(
        value("workqueue_longest_running_processor_seconds", NAME),
        Some(1.5)
    );
    q.done(&"a");
    q.done(&"b");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(value("workqueue_unfinished_work_seconds", NAME), Some(0.0));
    assert_eq!(
        value("workqueue_longest_running_processor_seconds", NAME),
        Some(0.0)
    );
}
