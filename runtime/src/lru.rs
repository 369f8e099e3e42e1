//! A bounded map that forgets its least recently used entry first: the
//! `groupcache/lru` cache that client-go's event correlator keeps its caches in and
//! k8s.io/utils' `lru.Cache` that the garbage collector remembers absent owners in.
//!
//! ```
//! use capstan_runtime::lru::Lru;
//!
//! let mut seen = Lru::new(2);
//! seen.insert("a", 1);
//! seen.insert("b", 2);
//! assert_eq!(seen.get(&"a"), Some(&1)); // "a" is now the most recently used
//! seen.insert("c", 3); // full: "b", the least recently used, goes
//! assert!(seen.contains(&"a") && !seen.contains(&"b") && seen.contains(&"c"));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map of at most `capacity` entries; reading or writing an entry makes it the most
/// recently used, and inserting into a full map evicts the least recently used one.
/// Every operation is O(log n).
#[derive(Debug)]
pub struct Lru<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    /// Entries by the tick of their last use, oldest first.
    by_use: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty map holding at most `capacity` (at least one) entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most entries the map holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.get_mut(key).map(|v| &*v)
    }

    /// The entry for `key`, marked as just used.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        let (value, used) = self.entries.get_mut(key)?;
        if let Some(k) = self.by_use.remove(used) {
            self.by_use.insert(tick, k);
        }
        *used = tick;
        Some(value)
    }

    /// Marks `key` as used at a new tick, making room for it first if it is new and
    /// the map is full; returns the tick. The caller puts the entry in `entries`.
    fn touch(&mut self, key: &K) -> u64 {
        self.tick += 1;
        if let Some((_, used)) = self.entries.get(key) {
            self.by_use.remove(used);
        } else if self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.by_use.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.by_use.insert(self.tick, key.clone());
        self.tick
    }

    /// The entry for `key`, made by `make` if there is none (evicting the least
    /// recently used entry if the map is full), marked as just used.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let tick = self.touch(&key);
        let slot = self.entries.entry(key).or_insert_with(|| (make(), tick));
        slot.1 = tick;
        &mut slot.0
    }

    /// Sets the entry for `key`, marked as just used, evicting the least recently used
    /// entry if the map is full and `key` is new.
    pub fn insert(&mut self, key: K, value: V) {
        let tick = self.touch(&key);
        self.entries.insert(key, (value, tick));
    }

    /// Whether `key` has an entry (without marking it used).
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Removes the entry for `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, used) = self.entries.remove(key)?;
        self.by_use.remove(&used);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_forgets_the_least_recently_used_entry() {
        let mut lru = Lru::new(3);
        lru.insert("a", 1);
        lru.insert("b", 2);
        lru.insert("c", 3);
        // Reading "a" makes "b" the oldest.
        assert_eq!(lru.get_mut(&"a").copied(), Some(1));
        lru.insert("d", 4);
        assert_eq!(lru.len(), 3);
        assert!(!lru.contains(&"b"));
        assert!(lru.contains(&"a") && lru.contains(&"c") && lru.contains(&"d"));
        // Overwriting an entry neither grows the map nor evicts another.
        lru.insert("c", 30);
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get_mut(&"c").copied(), Some(30));
        lru.insert("e", 5);
        assert!(!lru.contains(&"a"), "a was the least recently used");
        // get_or_insert_with keeps an existing value and makes a missing one.
        *lru.get_or_insert_with("d", || 0) += 1;
        assert_eq!(lru.get_or_insert_with("f", || 6), &mut 6);
        assert_eq!(lru.len(), 3);
        assert!(!lru.contains(&"c") && lru.get_mut(&"d") == Some(&mut 5));
    }

    #[test]
    fn get_marks_used_and_remove_frees_a_slot() {
        let mut lru = Lru::new(2);
        assert!(lru.is_empty());
        lru.insert(1, "one");
        lru.insert(2, "two");
        assert_eq!(lru.get(&1), Some(&"one"));
        assert_eq!(lru.remove(&2), Some("two"));
        assert_eq!(lru.remove(&2), None);
        lru.insert(3, "three");
        assert_eq!(lru.len(), 2, "the removed entry made room");
        assert!(lru.contains(&1) && lru.contains(&3));
        lru.insert(4, "four");
        assert!(!lru.contains(&1), "1 was used before 3 was inserted");
        assert_eq!(lru.capacity(), 2);
    }

    #[test]
    fn a_missing_key_is_none_and_changes_nothing() {
        let mut lru: Lru<u32, u32> = Lru::new(2);
        assert!(lru.get_mut(&7).is_none());
        lru.insert(1, 1);
        lru.insert(2, 2);
        assert!(lru.get_mut(&7).is_none());
        lru.insert(3, 3);
        assert!(!lru.contains(&1) && lru.contains(&2) && lru.contains(&3));
    }
}
