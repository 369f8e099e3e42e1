//! Keys waiting to be added after a delay, as the waiting heap of client-go's
//! `delaying_queue.go`: one entry per key, and when a key is waiting twice the earliest
//! deadline wins.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use tokio::time::Instant;

/// A heap entry. Entries whose deadline no longer matches `Delays::deadlines` are stale
/// (the key's deadline was moved earlier) and skipped when popped.
struct Waiting<T> {
    deadline: Instant,
    /// Insertion order, so keys with equal deadlines come out first-in first-out.
    seq: u64,
    key: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Waiting<T> {}
impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Waiting<T> {
    /// Reversed, so the max-heap pops the earliest deadline.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

/// The keys waiting for their deadline.
pub(crate) struct Delays<T> {
    heap: BinaryHeap<Waiting<T>>,
    /// The current deadline of every waiting key.
    deadlines: HashMap<T, Instant>,
    seq: u64,
}

impl<T: Clone + Eq + Hash> Delays<T> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            deadlines: HashMap::new(),
            seq: 0,
        }
    }

    /// Makes `key` wait until `deadline`, unless it already waits for an earlier one.
    /// Returns true when this became the earliest deadline of all, so the timer must be
    /// re-armed.
    pub(crate) fn insert(&mut self, key: T, deadline: Instant) -> bool {
        match self.deadlines.get_mut(&key) {
            Some(existing) if *existing <= deadline => return false,
            Some(existing) => *existing = deadline,
            None => {
                self.deadlines.insert(key.clone(), deadline);
            }
        }
        self.seq += 1;
        let earliest = self.next_deadline().is_none_or(|next| deadline < next);
        self.heap.push(Waiting {
            deadline,
            seq: self.seq,
            key,
        });
        earliest
    }

    /// Removes the keys whose deadline is at or before `now`, earliest first, into `out`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<T>) {
        while let Some(top) = self.heap.peek() {
            if top.deadline > now {
                break;
            }
            let Some(w) = self.heap.pop() else { break };
            if self.deadlines.get(&w.key) == Some(&w.deadline) {
                self.deadlines.remove(&w.key);
                out.push(w.key);
            }
        }
        self.drop_stale_top();
    }

    /// The earliest deadline of a waiting key.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|w| w.deadline)
    }

    /// Number of keys waiting.
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Forgets every waiting key (on shut down).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.deadlines.clear();
    }

    /// Pops stale entries off the top so `next_deadline` is a real key's deadline.
    fn drop_stale_top(&mut self) {
        while let Some(top) = self.heap.peek() {
            if self.deadlines.get(&top.key) == Some(&top.deadline) {
                break;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn earliest_deadline_wins_and_order_is_by_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Delays::new();
        assert!(d.insert("a", t0 + s(10)));
        assert!(!d.insert("b", t0 + s(20)));
        // A later deadline for a waiting key is ignored…
        assert!(!d.insert("a", t0 + s(30)));
        // …an earlier one replaces it.
        assert!(d.insert("b", t0 + s(5)));
        assert_eq!(d.len(), 2);
        assert_eq!(d.next_deadline(), Some(t0 + s(5)));

        let mut out = Vec::new();
        d.take_due(t0 + s(4), &mut out);
        assert!(out.is_empty());
        d.take_due(t0 + s(5), &mut out);
        assert_eq!(out, vec!["b"]);
        // b's stale entry at 20 s must not fire again.
        d.take_due(t0 + s(25), &mut out);
        assert_eq!(out, vec!["b", "a"]);
        assert_eq!(d.len(), 0);
        assert_eq!(d.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn equal_deadlines_come_out_in_insertion_order() {
        let t = Instant::now() + Duration::from_secs(1);
        let mut d = Delays::new();
        for k in ["x", "y", "z"] {
            d.insert(k, t);
        }
        let mut out = Vec::new();
        d.take_due(t, &mut out);
        assert_eq!(out, vec!["x", "y", "z"]);
    }
}
