//! Property tests: several workers process a queue fed random sequences of `add` and
//! `add_after` (and pauses), then the queue is shut down (immediately or with drain) at
//! a random point or at the end. Whatever the interleaving:
//!
//! - no key is ever held by two workers at once;
//! - no add is lost: every key added is handed out at least once after its last add
//!   (for an `add_after`, after the call; for a drain, every immediate add made before
//!   the shut down);
//! - no key is handed out after `shut_down`, nor after `shut_down_with_drain` returned;
//! - every worker is released (gets `None`) after the shut down.
//!
//! One property runs on tokio's paused clock in a single thread (deterministic and
//! shrinkable: the interleaving is a function of the generated timings); the other on a
//! multi-threaded runtime for real parallel races.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use super::WorkQueue;

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    AddAfter(u8, u64),
    Pause(u64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Now,
    Drain,
}

#[derive(Clone, Debug)]
struct Case {
    ops: Vec<Op>,
    workers: usize,
    /// Milliseconds each successive piece of work takes (cycled); 0 yields only.
    work_ms: Vec<u64>,
    /// Shut down before op `i` (or after the last op when `i >= ops.len()`).
    stop_at: usize,
    stop: Stop,
}

fn op(max_delay_ms: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6).prop_map(Op::Add),
        2 => (0u8..6, 0..=max_delay_ms).prop_map(|(k, d)| Op::AddAfter(k, d)),
        1 => (0..=max_delay_ms).prop_map(Op::Pause),
    ]
}

fn case(max_delay_ms: u64, max_work_ms: u64) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(op(max_delay_ms), 1..60),
        1usize..=4,
        prop::collection::vec(0..=max_work_ms, 1..8),
        0usize..80,
        prop_oneof![Just(Stop::Now), Just(Stop::Drain)],
    )
        .prop_map(|(ops, workers, work_ms, stop_at, stop)| Case {
            ops,
            workers,
            work_ms,
            stop_at,
            stop,
        })
}

/// What the workers and the producer saw, in one logical order.
#[derive(Default)]
struct Log {
    seq: u64,
    /// Sequence number of each key's last add or add_after before the shut down.
    last_add: HashMap<u8, u64>,
    /// Sequence number of each key's last immediate add before the shut down.
    last_immediate_add: HashMap<u8, u64>,
    /// Sequence numbers at which each key was handed out.
    gets: HashMap<u8, Vec<u64>>,
    in_flight: HashSet<u8>,
    /// Set when `shut_down` was called, or when `shut_down_with_drain` returned.
    closed: bool,
    violations: Vec<String>,
}

impl Log {
    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// One worker. `strict`: the runtime is single-threaded, so nothing runs between `get`
/// returning and the worker logging it, and "closed when logged" means "handed out
/// after the shut down". On threads, only a `get` started after the shut down is
/// checked.
async fn worker(
    q: WorkQueue<u8>,
    log: Arc<Mutex<Log>>,
    work_ms: Vec<u64>,
    id: usize,
    strict: bool,
) {
    let mut n = id;
    loop {
        let closed_before = log.lock().unwrap().closed;
        let Some(key) = q.get().await else { break };
        {
            let mut log = log.lock().unwrap();
            let seq = log.tick();
            if closed_before || (strict && log.closed) {
                log.violations
                    .push(format!("key {key} handed out after shut down"));
            }
            if !log.in_flight.insert(key) {
                log.violations
                    .push(format!("key {key} handed to two workers at once"));
            }
            log.gets.entry(key).or_default().push(seq);
        }
        let ms = work_ms[n % work_ms.len()];
        n += 1;
        if ms == 0 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        log.lock().unwrap().in_flight.remove(&key);
        q.done(&key);
    }
}

async fn shut_down(q: &WorkQueue<u8>, log: &Mutex<Log>, stop: Stop) {
    match stop {
        Stop::Now => {
            q.shut_down();
            log.lock().unwrap().closed = true;
        }
        Stop::Drain => {
            q.shut_down_with_drain().await;
            let mut log = log.lock().unwrap();
            log.closed = true;
            if !log.in_flight.is_empty() {
                let in_flight = log.in_flight.clone();
                log.violations
                    .push(format!("drain returned with {in_flight:?} in flight"));
            }
        }
    }
}

async fn run(case: Case, strict: bool) -> Result<(), String> {
    // Virtual seconds on the paused clock; real ones on threads.
    let patience = Duration::from_secs(if strict { 60 } else { 5 });
    let q = WorkQueue::<u8>::builder().build();
    let log = Arc::new(Mutex::new(Log::default()));
    let workers: Vec<_> = (0..case.workers)
        .map(|id| {
            tokio::spawn(worker(
                q.clone(),
                log.clone(),
                case.work_ms.clone(),
                id,
                strict,
            ))
        })
        .collect();

    let stop_at = case.stop_at.min(case.ops.len());
    for (i, op) in case.ops.iter().enumerate() {
        if i == stop_at {
            shut_down(&q, &log, case.stop).await;
        }
        match *op {
            Op::Add(k) => {
                let mut l = log.lock().unwrap();
                let seq = l.tick();
                if i < stop_at {
                    l.last_add.insert(k, seq);
                    l.last_immediate_add.insert(k, seq);
                }
                // Added under the log's lock so the sequence number orders it against
                // the workers' hand-outs.
                q.add(k);
            }
            Op::AddAfter(k, ms) => {
                let mut l = log.lock().unwrap();
                let seq = l.tick();
                if i < stop_at {
                    l.last_add.insert(k, seq);
                    if ms == 0 {
                        l.last_immediate_add.insert(k, seq);
                    }
                }
                q.add_after(k, Duration::from_millis(ms));
            }
            Op::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }

    let lost_check_against = if stop_at == case.ops.len() {
        // Everything was added before the shut down: wait until all of it is processed,
        // polling with a deadline, then every add must have been served.
        let deadline = tokio::time::Instant::now() + patience;
        while !q.is_idle() {
            if tokio::time::Instant::now() > deadline {
                return Err("queue did not become idle".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let last_add = log.lock().unwrap().last_add.clone();
        shut_down(&q, &log, case.stop).await;
        Some(last_add)
    } else if case.stop == Stop::Drain {
        // Shut down with drain mid-way: immediate adds made before it were all served
        // (delayed ones still waiting were dropped, as in client-go).
        Some(log.lock().unwrap().last_immediate_add.clone())
    } else {
        None
    };

    // Adds after the shut down are ignored; every worker is released.
    q.add(0);
    q.add_after(1, Duration::ZERO);
    for w in workers {
        tokio::time::timeout(patience, w)
            .await
            .map_err(|_| "a worker was not released by the shut down".to_string())?
            .map_err(|e| format!("worker panicked: {e}"))?;
    }

    let log = log.lock().unwrap();
    if let Some(v) = log.violations.first() {
        return Err(v.clone());
    }
    if let Some(last_add) = lost_check_against {
        for (key, added) in last_add {
            let served = log
                .gets
                .get(&key)
                .is_some_and(|gets| gets.iter().any(|g| *g > added));
            if !served {
                return Err(format!("add of key {key} at #{added} was lost"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn workers_on_a_paused_clock_obey_the_queue_rules(case in case(50, 20)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let result = rt.block_on(run(case, true));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn workers_on_threads_obey_the_queue_rules(case in case(3, 0)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_time()
            .build()
            .unwrap();
        let result = rt.block_on(run(case, false));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
