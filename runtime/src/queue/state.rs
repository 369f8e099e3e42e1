//! The synchronous heart of the queue, as client-go's `workqueue.Typed`: a FIFO of ready
//! keys, the *dirty* set (keys that need processing) and the *processing* set (keys
//! handed to a worker and not yet done), kept in one map so each operation hashes once.
//!
//! Rules: a dirty key is queued once; a processing key is not handed out again; a key
//! added while processing is queued again when it is done.
//!
//! The map is hashbrown's with foldhash (randomly seeded per process): hashing is a
//! large part of each operation's cost, and SipHash made the queue half as fast. Callers
//! hash a key with [`State::hasher`]'s copy *before* taking the lock, and the ready FIFO
//! keeps each key's hash, so no hashing happens inside the critical section.

use std::collections::VecDeque;
use std::hash::Hash;

use hashbrown::DefaultHashBuilder;
use hashbrown::hash_map::{HashMap, RawEntryMut};

use tokio::time::Instant;

use super::metrics::QueueMetrics;

/// Where a key stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    /// Dirty and in the ready FIFO.
    Queued,
    /// Handed to a worker, not dirty.
    Processing,
    /// Handed to a worker and added again since: queued again when done.
    ProcessingDirty,
}

struct Entry {
    status: Status,
    /// When the key became dirty (metrics only): client-go's `addTimes`.
    added: Option<Instant>,
    /// When the key was handed out (metrics only): client-go's `processingStartTimes`.
    started: Option<Instant>,
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
    /// Ready keys with their hashes.
    ready: VecDeque<(u64, T)>,
    items: HashMap<T, Entry>,
    processing: usize,
    shutting_down: bool,
    drain: bool,
    metrics: Option<QueueMetrics>,
}

impl<T: Clone + Eq + Hash> State<T> {
    /// An empty state whose map hashes with `hasher`: keys passed in must have been
    /// hashed with the same (a copy of it).
    pub(crate) fn new(metrics: Option<QueueMetrics>, hasher: DefaultHashBuilder) -> Self {
        Self {
            ready: VecDeque::new(),
            items: HashMap::with_hasher(hasher),
            processing: 0,
            shutting_down: false,
            drain: false,
            metrics,
        }
    }

    fn now(&self) -> Option<Instant> {
        self.metrics.as_ref().map(|_| Instant::now())
    }

    /// Marks `key` (of hash `hash`) as needing processing (client-go's `Add`).
    pub(crate) fn add(&mut self, hash: u64, key: T) -> Added {
        if self.shutting_down {
            return Added::Rejected;
        }
        match self
            .items
            .raw_entry_mut()
            .from_key_hashed_nocheck(hash, &key)
        {
            RawEntryMut::Occupied(mut e) => {
                let entry = e.get_mut();
                if entry.status != Status::Processing {
                    return Added::Deferred;
                }
                entry.status = Status::ProcessingDirty;
                entry.added = self.metrics.as_ref().map(|_| Instant::now());
                if let Some(m) = &self.metrics {
                    m.adds.inc();
                    m.depth.inc();
                }
                Added::Deferred
            }
            RawEntryMut::Vacant(v) => {
                self.ready.push_back((hash, key.clone()));
                v.insert_hashed_nocheck(
                    hash,
                    key,
                    Entry {
                        status: Status::Queued,
                        added: self.metrics.as_ref().map(|_| Instant::now()),
                        started: None,
                    },
                );
                if let Some(m) = &self.metrics {
                    m.adds.inc();
                    m.depth.inc();
                }
                Added::Queued
            }
        }
    }

    /// Hands out the oldest ready key, moving it from dirty to processing (client-go's
    /// `Get`, without the waiting).
    pub(crate) fn take(&mut self) -> Take<T> {
        if self.shutting_down && !self.drain {
            return Take::Closed;
        }
        let Some((hash, key)) = self.ready.pop_front() else {
            return if self.shutting_down {
                Take::Closed
            } else {
                Take::Empty
            };
        };
        let now = self.now();
        if let RawEntryMut::Occupied(mut occupied) = self
            .items
            .raw_entry_mut()
            .from_key_hashed_nocheck(hash, &key)
        {
            let entry = occupied.get_mut();
            entry.status = Status::Processing;
            if let Some(m) = &self.metrics {
                m.depth.dec();
                if let (Some(added), Some(now)) = (entry.added.take(), now) {
                    m.queue_duration
                        .observe(now.saturating_duration_since(added).as_secs_f64());
                }
                entry.started = now;
            }
        }
        self.processing += 1;
        Take::Item(key)
    }

    /// Marks `key` as processed (client-go's `Done`): queued again if it was added
    /// while being processed.
    pub(crate) fn done(&mut self, hash: u64, key: &T) -> Done {
        let RawEntryMut::Occupied(mut occupied) = self
            .items
            .raw_entry_mut()
            .from_key_hashed_nocheck(hash, key)
        else {
            return Done::NotProcessing;
        };
        let entry = occupied.get_mut();
        let requeue = match entry.status {
            Status::Queued => return Done::NotProcessing,
            Status::Processing => false,
            Status::ProcessingDirty => true,
        };
        self.processing -= 1;
        if let Some(m) = &self.metrics
            && let Some(started) = entry.started.take()
        {
            m.work_duration.observe(
                Instant::now()
                    .saturating_duration_since(started)
                    .as_secs_f64(),
            );
        }
        if requeue {
            entry.status = Status::Queued;
            self.ready.push_back((hash, key.clone()));
            Done::Requeued
        } else {
            occupied.remove();
            Done::Finished
        }
    }

    /// Keys ready to be handed out (client-go's `Len`).
    pub(crate) fn len(&self) -> usize {
        self.ready.len()
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
        for entry in self.items.values() {
            if let Some(started) = entry.started {
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

    use std::hash::BuildHasher;

    fn state() -> State<&'static str> {
        State::new(None, DefaultHashBuilder::default())
    }

    fn h(s: &State<&'static str>, key: &'static str) -> u64 {
        s.items.hasher().hash_one(key)
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
