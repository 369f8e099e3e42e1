//! The synchronous heart of the queue, as client-go's `workqueue.Typed`: a FIFO of ready
//! keys, the *dirty* set (keys that need processing) and the *processing* set (keys
//! handed to a worker and not yet done), kept as one entry per key so each operation
//! looks a key up once.
//!
//! Rules: a dirty key is queued once; a processing key is not handed out again; a key
//! added while processing is queued again when it is done.
//!
//! Layout, for speed (issue 19): entries live in a [`Slots`] arena; a hashbrown
//! [`HashTable`] of `u32` indices finds a key's entry, and the ready FIFO holds indices
//! too. Handing out a key therefore reads its entry without probing the table, adding
//! and finishing probe a table of 4-byte indices (small enough to stay in cache with
//! hundreds of thousands of keys, where a map of whole entries spilled to memory), and
//! a key is stored once instead of once in the map and once in the FIFO. `done` finds
//! the entry of a key just handed out through a small direct-mapped cache and leaves a
//! finished entry to be retired (erased from the table, its key dropped) by the next
//! add, an idle worker or a batch: the workers, the usual bottleneck, touch the table
//! as little as possible. Callers hash a key with foldhash (randomly seeded per
//! process; SipHash made the queue half as fast) *before* taking the lock, and each
//! entry keeps its hash, so no key is hashed inside the critical section.

use std::collections::VecDeque;
use std::hash::Hash;

use hashbrown::HashTable;

use tokio::time::Instant;

use super::metrics::QueueMetrics;
use super::slots::Slots;

/// Where a key stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    /// Dirty and in the ready FIFO.
    Queued,
    /// Handed to a worker, not dirty.
    Processing,
    /// Handed to a worker and added again since: queued again when done.
    ProcessingDirty,
    /// Done and not dirty: the entry waits in `State::finished` to be retired.
    Finished,
}

/// Finished entries retired at once by [`State::done`] when no add or idle worker has
/// retired them before.
const RETIRE_BATCH: usize = 256;

/// Size of [`State::taken`], a power of two above the number of workers one usually
/// runs.
const TAKEN_SLOTS: usize = 64;

/// Where a key of hash `hash` is remembered in [`State::taken`].
fn taken_slot(hash: u64) -> usize {
    hash as usize % TAKEN_SLOTS
}

struct Entry<T> {
    key: T,
    hash: u64,
    status: Status,
}

/// A key's timestamps, kept only by queues that record metrics (beside the entries, so
/// the entries of other queues stay small).
#[derive(Clone, Copy, Default)]
struct Stamps {
    /// When the key became dirty: client-go's `addTimes`.
    added: Option<Instant>,
    /// When the key was handed out: client-go's `processingStartTimes`.
    started: Option<Instant>,
}

/// The stamps of entry `i`, growing `stamps` to reach it.
fn stamps_of(stamps: &mut Vec<Stamps>, i: u32) -> &mut Stamps {
    let i = i as usize;
    if stamps.len() <= i {
        stamps.resize(i + 1, Stamps::default());
    }
    &mut stamps[i]
}

impl<T: Eq> Entry<T> {
    fn is(&self, hash: u64, key: &T) -> bool {
        self.hash == hash && self.key == *key
    }
}

/// What [`State::add`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Added {
    /// The key went into the ready FIFO: a waiting worker should be woken.
    Queued,
    /// The key was already dirty, or is being processed and will be queued when done.
    Deferred,
    /// The queue is shutting down: the key was dropped.
    Rejected,
}

/// What [`State::take`] found.
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Take<T> {
    /// A key for the caller to process.
    Item(T),
    /// Nothing ready yet: wait.
    Empty,
    /// Shut down (and, when draining, empty): the worker should stop.
    Closed,
}

/// What [`State::done`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Done {
    /// The key was dirty and went back into the ready FIFO: wake a worker.
    Requeued,
    /// The key is finished.
    Finished,
    /// The key was not being processed: nothing changed.
    NotProcessing,
}

/// The queue's state, guarded by the queue's lock.
pub(crate) struct State<T> {
    /// Indices of the ready keys' entries, oldest first.
    ready: VecDeque<u32>,
    /// Every key's entry: dirty, processing, or both.
    entries: Slots<Entry<T>>,
    /// Finds a key's entry: indices into `entries`, by the key's hash.
    index: HashTable<u32>,
    /// Each entry's timestamps, by entry index; empty without metrics.
    stamps: Vec<Stamps>,
    /// Entries of keys done and not added since, to be retired (dropped from the
    /// index and freed) by the next add, by a worker finding nothing to take, or in
    /// batches of [`RETIRE_BATCH`]. The worker's `done` thereby neither probes the hash
    /// index to erase nor drops the key: the producer, usually less busy, does, and a
    /// batch lets the CPU overlap its cache misses.
    finished: Vec<u32>,
    /// The entry index of recently handed-out keys, by [`taken_slot`] of their hash
    /// (`u32::MAX` or stale when none): `done` finds the entry of the key it is given
    /// here, checked, without probing the hash index.
    taken: [u32; TAKEN_SLOTS],
    processing: usize,
    /// Keys added and not yet handed out, as client-go's `workqueue_depth` counts:
    /// queued, or added again while processing.
    depth: i64,
    shutting_down: bool,
    drain: bool,
    metrics: Option<QueueMetrics>,
}

impl<T: Clone + Eq + Hash> State<T> {
    /// An empty state. Keys passed in must all be hashed with the same hasher.
    pub(crate) fn new(metrics: Option<QueueMetrics>) -> Self {
        Self {
            ready: VecDeque::new(),
            entries: Slots::new(),
            index: HashTable::new(),
            stamps: Vec::new(),
            finished: Vec::new(),
            taken: [u32::MAX; TAKEN_SLOTS],
            processing: 0,
            depth: 0,
            shutting_down: false,
            drain: false,
            metrics,
        }
    }

    fn now(&self) -> Option<Instant> {
        self.metrics.as_ref().map(|_| Instant::now())
    }

    /// The index of `key`'s entry, if it has one.
    fn find(&self, hash: u64, key: &T) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries.get(i).is_some_and(|e| e.is(hash, key)))
            .copied()
    }

    /// The index of `key`'s entry if it was handed out recently.
    fn find_taken(&self, hash: u64, key: &T) -> Option<u32> {
        let i = self.taken[taken_slot(hash)];
        self.entries.get(i).filter(|e| e.is(hash, key)).map(|_| i)
    }

    /// Drops the finished entries from the index and frees them (with their keys).
    fn retire(&mut self) {
        for i in self.finished.drain(..) {
            match self.entries.get(i) {
                Some(entry) if entry.status == Status::Finished => {
                    if let Ok(found) = self.index.find_entry(entry.hash, |&j| j == i) {
                        found.remove();
                    }
                    self.entries.remove(i);
                }
                _ => {}
            }
        }
    }

    /// Marks `key` (of hash `hash`) as needing processing (client-go's `Add`).
    pub(crate) fn add(&mut self, hash: u64, key: T) -> Added {
        // Retired first, so a finished key added again gets a new entry and the index
        // never holds two entries for one key.
        self.retire();
        if self.shutting_down {
            return Added::Rejected;
        }
        let added = match self.find(hash, &key) {
            Some(i) => {
                match self.entries.get_mut(i) {
                    Some(entry) if entry.status == Status::Processing => {
                        entry.status = Status::ProcessingDirty;
                        if self.metrics.is_some() {
                            stamps_of(&mut self.stamps, i).added = Some(Instant::now());
                        }
                    }
                    _ => return Added::Deferred,
                }
                Added::Deferred
            }
            None => {
                let i = self.entries.insert(Entry {
                    key,
                    hash,
                    status: Status::Queued,
                });
                if self.metrics.is_some() {
                    *stamps_of(&mut self.stamps, i) = Stamps {
                        added: Some(Instant::now()),
                        started: None,
                    };
                }
                let entries = &self.entries;
                self.index
                    .insert_unique(hash, i, |&j| entries.get(j).map_or(0, |e| e.hash));
                self.ready.push_back(i);
                Added::Queued
            }
        };
        if let Some(m) = &self.metrics {
            m.adds.inc();
        }
        self.depth += 1;
        added
    }

    /// Hands out the oldest ready key, moving it from dirty to processing (client-go's
    /// `Get`, without the waiting).
    pub(crate) fn take(&mut self) -> Take<T> {
        if self.shutting_down && !self.drain {
            return Take::Closed;
        }
        while let Some(i) = self.ready.pop_front() {
            let now = self.now();
            // Every ready index has an entry; one without is skipped.
            let Some(entry) = self.entries.get_mut(i) else {
                continue;
            };
            entry.status = Status::Processing;
            self.taken[taken_slot(entry.hash)] = i;
            if let (Some(m), Some(now)) = (&self.metrics, now) {
                let stamps = stamps_of(&mut self.stamps, i);
                if let Some(added) = stamps.added.take() {
                    m.queue_duration
                        .observe(now.saturating_duration_since(added).as_secs_f64());
                }
                stamps.started = Some(now);
            }
            self.processing += 1;
            self.depth -= 1;
            return Take::Item(entry.key.clone());
        }
        // Nothing to hand out: the worker has time to retire finished entries.
        self.retire();
        if self.shutting_down {
            Take::Closed
        } else {
            Take::Empty
        }
    }

    /// Marks `key` as processed (client-go's `Done`): queued again if it was added
    /// while being processed.
    pub(crate) fn done(&mut self, hash: u64, key: &T) -> Done {
        let Some(i) = self.find_taken(hash, key).or_else(|| self.find(hash, key)) else {
            return Done::NotProcessing;
        };
        let Some(entry) = self.entries.get_mut(i) else {
            return Done::NotProcessing;
        };
        let requeue = match entry.status {
            Status::Queued | Status::Finished => return Done::NotProcessing,
            Status::Processing => false,
            Status::ProcessingDirty => true,
        };
        self.processing -= 1;
        if let Some(m) = &self.metrics
            && let Some(started) = stamps_of(&mut self.stamps, i).started.take()
        {
            m.work_duration.observe(
                Instant::now()
                    .saturating_duration_since(started)
                    .as_secs_f64(),
            );
        }
        if requeue {
            entry.status = Status::Queued;
            self.ready.push_back(i);
            Done::Requeued
        } else {
            entry.status = Status::Finished;
            self.finished.push(i);
            if self.finished.len() >= RETIRE_BATCH {
                self.retire();
            }
            Done::Finished
        }
    }

    /// Keys ready to be handed out (client-go's `Len`).
    pub(crate) fn len(&self) -> usize {
        self.ready.len()
    }

    /// Keys added and not yet handed out (`workqueue_depth`).
    pub(crate) fn depth(&self) -> i64 {
        self.depth
    }

    /// Keys handed out and not done.
    pub(crate) fn processing(&self) -> usize {
        self.processing
    }

    /// Stops accepting keys; with `drain`, ready keys are still handed out.
    pub(crate) fn shut_down(&mut self, drain: bool) {
        self.shutting_down = true;
        self.drain = drain;
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Whether a drain is in progress and not cancelled by a plain shut down.
    pub(crate) fn draining(&self) -> bool {
        self.shutting_down && self.drain
    }

    /// Nothing ready and nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.processing == 0
    }

    /// Refreshes the unfinished-work gauges (client-go's `updateUnfinishedWork`): the
    /// total and the longest time keys have been processing.
    pub(crate) fn update_unfinished_work(&self) {
        let Some(m) = &self.metrics else { return };
        if self.processing == 0 {
            m.unfinished_work.set(0.0);
            m.longest_running.set(0.0);
            return;
        }
        let now = Instant::now();
        let (mut total, mut oldest) = (0.0f64, 0.0f64);
        // A key's start is cleared when it is done, so only keys in flight have one.
        for stamps in &self.stamps {
            if let Some(started) = stamps.started {
                let age = now.saturating_duration_since(started).as_secs_f64();
                total += age;
                oldest = oldest.max(age);
            }
        }
        m.unfinished_work.set(total);
        m.longest_running.set(oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

    fn state() -> State<&'static str> {
        State::new(None)
    }

    fn h(_: &State<&'static str>, key: &'static str) -> u64 {
        BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
    }

    fn add(s: &mut State<&'static str>, key: &'static str) -> Added {
        s.add(h(s, key), key)
    }

    fn done(s: &mut State<&'static str>, key: &'static str) -> Done {
        s.done(h(s, key), &key)
    }

    fn take(s: &mut State<&'static str>) -> Option<&'static str> {
        match s.take() {
            Take::Item(k) => Some(k),
            _ => None,
        }
    }

    #[test]
    fn dedups_dirty_keys_and_keeps_fifo_order() {
        let mut s = state();
        assert_eq!(add(&mut s, "a"), Added::Queued);
        assert_eq!(add(&mut s, "b"), Added::Queued);
        assert_eq!(add(&mut s, "a"), Added::Deferred);
        assert_eq!(add(&mut s, "c"), Added::Queued);
        assert_eq!(s.len(), 3);
        assert_eq!(take(&mut s), Some("a"));
        assert_eq!(take(&mut s), Some("b"));
        assert_eq!(take(&mut s), Some("c"));
        assert_eq!(s.take(), Take::Empty);
    }

    #[test]
    fn processing_key_is_not_handed_out_twice_and_requeues_on_done() {
        let mut s = state();
        add(&mut s, "a");
        assert_eq!(take(&mut s), Some("a"));
        // Added while processing: not ready, not handed out.
        assert_eq!(add(&mut s, "a"), Added::Deferred);
        assert_eq!(add(&mut s, "a"), Added::Deferred);
        assert_eq!(s.len(), 0);
        assert_eq!(s.take(), Take::Empty);
        assert_eq!(done(&mut s, "a"), Done::Requeued);
        assert_eq!(s.len(), 1);
        assert_eq!(take(&mut s), Some("a"));
        assert_eq!(done(&mut s, "a"), Done::Finished);
        assert!(s.is_idle());
        // Done of a key nobody processes changes nothing.
        assert_eq!(done(&mut s, "a"), Done::NotProcessing);
        add(&mut s, "b");
        assert_eq!(done(&mut s, "b"), Done::NotProcessing);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn shut_down_stops_handing_out_and_rejects_adds() {
        let mut s = state();
        add(&mut s, "a");
        s.shut_down(false);
        assert_eq!(add(&mut s, "b"), Added::Rejected);
        assert_eq!(s.take(), Take::Closed);
    }

    #[test]
    fn drain_hands_out_what_is_queued_then_closes() {
        let mut s = state();
        add(&mut s, "a");
        add(&mut s, "b");
        assert_eq!(take(&mut s), Some("a"));
        add(&mut s, "a"); // dirty while processing, before the shut down
        s.shut_down(true);
        assert_eq!(add(&mut s, "c"), Added::Rejected);
        assert_eq!(take(&mut s), Some("b"));
        assert_eq!(done(&mut s, "a"), Done::Requeued);
        assert_eq!(take(&mut s), Some("a"));
        assert_eq!(s.take(), Take::Closed);
        assert!(!s.is_idle());
        done(&mut s, "a");
        done(&mut s, "b");
        assert!(s.is_idle());
    }
}
