//! What an informer's store gives upstream for free: after a re-list, objects
//! that were known but are missing from the new list were deleted while the
//! watch was down, and must be reported as deletions.

use std::collections::HashSet;

/// The UIDs one watch has reported, and those seen by the list in progress.
#[derive(Debug, Default)]
pub struct RelistTracker {
    known: HashSet<String>,
    listed: HashSet<String>,
}

impl RelistTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A (re-)list starts.
    pub fn begin(&mut self) {
        self.listed.clear();
    }

    /// An object was reported (by the list or the watch).
    pub fn seen(&mut self, uid: &str) {
        self.known.insert(uid.to_string());
        self.listed.insert(uid.to_string());
    }

    /// An object was reported deleted.
    pub fn deleted(&mut self, uid: &str) {
        self.known.remove(uid);
    }

    /// The list is complete: the UIDs known before but absent from it, which
    /// are forgotten and must be treated as deleted.
    pub fn finish(&mut self) -> Vec<String> {
        let mut gone: Vec<String> = self.known.difference(&self.listed).cloned().collect();
        gone.sort();
        for uid in &gone {
            self.known.remove(uid);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_missing_from_a_relist_are_deleted() {
        let mut t = RelistTracker::new();
        t.begin();
        t.seen("a");
        t.seen("b");
        t.seen("c");
        assert!(t.finish().is_empty(), "first list deletes nothing");
        t.deleted("c"); // a watched delete is not reported again
        t.seen("d"); // a watched add
        t.begin();
        t.seen("b");
        assert_eq!(t.finish(), vec!["a".to_string(), "d".to_string()]);
        // Those are forgotten: the next relist does not report them again.
        t.begin();
        t.seen("b");
        assert!(t.finish().is_empty());
    }
}
