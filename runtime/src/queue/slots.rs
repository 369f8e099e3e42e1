//! An arena of entries addressed by a `u32` index that stays valid until the entry is
//! removed; freed indices are reused.
//!
//! The queue keeps each key's entry here and refers to it by index from its hash index
//! and its ready FIFO, so handing out a ready key reads the entry directly instead of
//! probing a hash table: entries of keys added one after the other sit next to each
//! other, which the CPU prefetches, where a hash table scatters them.

/// Entries addressed by index.
pub(crate) struct Slots<E> {
    entries: Vec<Option<E>>,
    /// Indices of the `None` entries, reused last freed first.
    free: Vec<u32>,
}

impl<E> Slots<E> {
    /// No entries.
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `entry` and returns its index.
    ///
    /// # Panics
    ///
    /// With 2³² entries live at once, which would take hundreds of gigabytes.
    pub(crate) fn insert(&mut self, entry: E) -> u32 {
        if let Some(i) = self.free.pop() {
            self.entries[i as usize] = Some(entry);
            return i;
        }
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 live queue entries");
        self.entries.push(Some(entry));
        i
    }

    /// The entry at `i`, if live.
    pub(crate) fn get(&self, i: u32) -> Option<&E> {
        self.entries.get(i as usize)?.as_ref()
    }

    /// The entry at `i`, if live, to modify.
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut E> {
        self.entries.get_mut(i as usize)?.as_mut()
    }

    /// Removes and returns the entry at `i`, freeing the index.
    pub(crate) fn remove(&mut self, i: u32) -> Option<E> {
        let entry = self.entries.get_mut(i as usize)?.take();
        if entry.is_some() {
            self.free.push(i);
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_stay_valid_and_freed_ones_are_reused() {
        let mut s = Slots::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_ne!(a, b);
        assert_eq!(s.get(a), Some(&"a"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        let c = s.insert("c");
        assert_eq!(c, a, "freed index reused");
        *s.get_mut(b).unwrap() = "b2";
        assert_eq!((s.get(c), s.get(b)), (Some(&"c"), Some(&"b2")));
        assert_eq!(s.get(99), None);
    }
}
