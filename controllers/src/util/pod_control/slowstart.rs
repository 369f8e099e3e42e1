//! Slow-start batches (upstream `slowStartBatch`, `pkg/controller/replicaset`):
//! creations are issued in batches of 1, 2, 4, … so that a systematic failure
//! (quota, admission, a terminating namespace) costs one call rather than hundreds,
//! and the whole remaining work is skipped at the first batch with an error.

use std::future::Future;

/// Upstream `controller.SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// The state of a slow-start run over `count` calls. Drive it with
/// [`next_batch`](Self::next_batch) and [`record`](Self::record), or let
/// [`run`] do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowStart {
    count: usize,
    remaining: usize,
    batch: usize,
    successes: usize,
    failed: bool,
}

impl SlowStart {
    /// A run of `count` calls starting with batches of `initial` (at least 1).
    pub fn new(count: usize, initial: usize) -> Self {
        Self {
            count,
            remaining: count,
            batch: initial.max(1).min(count),
            successes: 0,
            failed: false,
        }
    }

    /// The size of the next batch to issue concurrently, or `None` when done
    /// (everything issued, or a batch had an error).
    pub fn next_batch(&self) -> Option<usize> {
        (!self.failed && self.batch > 0).then_some(self.batch)
    }

    /// Records the outcome of the batch returned by [`next_batch`](Self::next_batch):
    /// `successes` of its calls succeeded. Any failure stops the run; otherwise
    /// the next batch doubles, capped by what remains.
    pub fn record(&mut self, successes: usize) {
        let batch = self.batch;
        let successes = successes.min(batch);
        self.successes += successes;
        if successes < batch {
            self.failed = true;
            return;
        }
        self.remaining -= batch;
        self.batch = (2 * batch).min(self.remaining);
    }

    /// Calls that succeeded so far.
    pub fn successes(&self) -> usize {
        self.successes
    }

    /// Calls that did not succeed: failed ones plus those never attempted. The
    /// controller lowers its creation expectations by this many, since the
    /// informer will never see those pods.
    pub fn skipped(&self) -> usize {
        self.count - self.successes
    }
}

/// The batch sizes a run of `count` calls issues when every call succeeds:
/// `1, 2, 4, …`, the last one trimmed to what remains.
pub fn batch_sizes(count: usize, initial: usize) -> Vec<usize> {
    let mut s = SlowStart::new(count, initial);
    let mut out = Vec::new();
    while let Some(b) = s.next_batch() {
        out.push(b);
        s.record(b);
    }
    out
}

/// How many of `count` calls a run starting with batches of `initial` attempted
/// when it ended with `successes` successes: every call of the batches it issued,
/// up to and including the first batch with a failure (all of them when
/// `successes` is `count`). Those attempted and not successful failed.
pub fn attempted(count: usize, initial: usize, successes: usize) -> usize {
    let mut issued = 0;
    for b in batch_sizes(count, initial) {
        issued += b;
        if issued > successes {
            return issued;
        }
    }
    issued
}

/// Runs `f` `count` times in slow-start batches, each batch concurrently, and
/// returns the number of successes and the first error of the failing batch
/// (upstream `slowStartBatch`). The argument passed to `f` is the call's index.
pub async fn run<F, Fut, E>(count: usize, initial: usize, mut f: F) -> (usize, Option<E>)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut state = SlowStart::new(count, initial);
    let mut issued = 0;
    while let Some(batch) = state.next_batch() {
        let calls: Vec<Fut> = (issued..issued + batch).map(&mut f).collect();
        issued += batch;
        let results = futures::future::join_all(calls).await;
        let mut first_err = None;
        let mut ok = 0;
        for r in results {
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        state.record(ok);
        if first_err.is_some() {
            return (state.successes(), first_err);
        }
    }
    (state.successes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn batches_double_and_trim_to_the_remainder() {
        assert_eq!(batch_sizes(0, 1), Vec::<usize>::new());
        assert_eq!(batch_sizes(1, 1), [1]);
        assert_eq!(batch_sizes(7, 1), [1, 2, 4]);
        assert_eq!(batch_sizes(10, 1), [1, 2, 4, 3]);
        assert_eq!(batch_sizes(500, 1), [1, 2, 4, 8, 16, 32, 64, 128, 245]);
        assert_eq!(batch_sizes(5, 2), [2, 3]);
    }

    #[test]
    fn a_failing_batch_stops_the_run() {
        let mut s = SlowStart::new(10, 1);
        assert_eq!(s.next_batch(), Some(1));
        s.record(1);
        assert_eq!(s.next_batch(), Some(2));
        s.record(2);
        assert_eq!(s.next_batch(), Some(4));
        s.record(3); // one of four failed
        assert_eq!(s.next_batch(), None);
        assert_eq!(s.successes(), 6);
        assert_eq!(s.skipped(), 4);
    }

    #[tokio::test]
    async fn run_calls_in_batches_and_stops_after_the_first_failing_one() {
        // Calls with index 4 fail: batches [0], [1,2], [3,4,5,6] → stop; 9 calls
        // never attempted.
        let seen = Mutex::new(Vec::new());
        let (ok, err) = run(16, 1, |i| {
            seen.lock().unwrap().push(i);
            async move {
                if i == 4 {
                    Err(format!("boom {i}"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(ok, 6);
        assert_eq!(err.as_deref(), Some("boom 4"));
        assert_eq!(*seen.lock().unwrap(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn attempted_calls_end_with_the_failing_batch() {
        // Batches 1, 2, 4, 8, 1 of 16.
        assert_eq!(attempted(16, 1, 16), 16);
        assert_eq!(attempted(16, 1, 0), 1);
        assert_eq!(attempted(16, 1, 6), 7, "the batch [3..7) had a failure");
        assert_eq!(attempted(16, 1, 3), 7, "every call of [3..7) failed");
        assert_eq!(attempted(16, 1, 15), 16);
        assert_eq!(attempted(0, 1, 0), 0);
    }

    #[tokio::test]
    async fn run_without_errors_makes_every_call() {
        let (ok, err) = run(37, 1, |_| async { Ok::<(), ()>(()) }).await;
        assert_eq!((ok, err), (37, None));
    }
}
