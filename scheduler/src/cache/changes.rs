//! What changed in the cache between two snapshots, so that results computed per
//! node (the scheduling cycle's batching memo) can be kept for every node that did
//! not change and recomputed for the few that did.
//!
//! Two kinds of change are told apart:
//! - a change to one listed node's info (a pod placed on it or removed, its node
//!   object replaced), logged by the node's list position;
//! - a change that can move results on nodes other than the one it touched
//!   (nodes added, removed or reordered, namespace labels, a pod with affinity
//!   terms placed or removed): it bumps the cache's *epoch*, and every per-node
//!   result of an older epoch is void.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Positions logged before the log drops its oldest ones (a consumer that fell this
/// far behind recomputes everything).
const MAX_LOGGED: usize = 16 * 1024;

static NEXT_LOG_ID: AtomicU64 = AtomicU64::new(1);

/// The list positions of changed node infos, in order of change, numbered by a
/// sequence that only grows. One log is shared by a cache and all its snapshots
/// (appending never copies it); a snapshot remembers the sequence it was taken at.
#[derive(Debug)]
pub struct NodeChangeLog {
    id: u64,
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    /// Sequence number of `positions[0]`.
    base: u64,
    positions: Vec<u32>,
}

impl Default for NodeChangeLog {
    fn default() -> Self {
        NodeChangeLog {
            id: NEXT_LOG_ID.fetch_add(1, Ordering::Relaxed),
            inner: Mutex::new(LogInner::default()),
        }
    }
}

impl NodeChangeLog {
    /// A new, empty log with an identity of its own.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// This log's identity: positions are comparable only within one log.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Records that the node info at `pos` changed.
    pub fn record(&self, pos: usize) {
        let mut inner = self.inner.lock();
        if inner.positions.len() >= MAX_LOGGED {
            inner.base += inner.positions.len() as u64;
            inner.positions.clear();
        }
        inner.positions.push(pos as u32);
    }

    /// The sequence number the next change will get.
    pub fn seq(&self) -> u64 {
        let inner = self.inner.lock();
        inner.base + inner.positions.len() as u64
    }

    /// Appends to `out` the positions changed with sequence numbers in
    /// `from..to`. False when the log no longer holds all of them: the caller must
    /// treat every node as changed.
    pub fn changed_between(&self, from: u64, to: u64, out: &mut Vec<u32>) -> bool {
        let inner = self.inner.lock();
        let end = inner.base + inner.positions.len() as u64;
        if from < inner.base || to > end || from > to {
            return false;
        }
        let lo = (from - inner.base) as usize;
        let hi = (to - inner.base) as usize;
        out.extend_from_slice(&inner.positions[lo..hi]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_changes_are_returned_until_dropped() {
        let log = NodeChangeLog::new();
        assert_eq!(log.seq(), 0);
        log.record(3);
        log.record(7);
        let mid = log.seq();
        log.record(3);
        let mut out = Vec::new();
        assert!(log.changed_between(0, mid, &mut out));
        assert_eq!(out, vec![3, 7]);
        out.clear();
        assert!(log.changed_between(mid, log.seq(), &mut out));
        assert_eq!(out, vec![3]);
        // A range beyond what was logged is refused.
        assert!(!log.changed_between(0, log.seq() + 1, &mut out));
        for i in 0..MAX_LOGGED {
            log.record(i);
        }
        // The first changes were dropped to keep the log bounded.
        out.clear();
        assert!(!log.changed_between(0, log.seq(), &mut out));
        let seq = log.seq();
        log.record(1);
        assert!(log.changed_between(seq, log.seq(), &mut out));
        assert_eq!(out, vec![1]);
        assert_ne!(log.id(), NodeChangeLog::new().id());
    }
}
