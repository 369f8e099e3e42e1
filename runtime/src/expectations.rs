//! Expectations: what a controller is waiting to observe in its informer cache before
//! it trusts that cache again, as kube-controller-manager's `ControllerExpectations`
//! (`pkg/controller/controller_utils.go`).
//!
//! A controller that creates 3 pods for a ReplicaSet calls
//! [`ControllerExpectations::expect_creations`]`(key, 3)` *before* issuing the creates;
//! the pod informer's add handler calls [`ControllerExpectations::creation_observed`]
//! for the owning ReplicaSet's key; the sync function skips the "how many pods are
//! missing" computation until [`ControllerExpectations::satisfied_expectations`] says
//! the cache has caught up. Expectations that are never fulfilled (a lost watch event,
//! a create that failed without the controller lowering its expectations) expire after
//! [`EXPECTATIONS_TIMEOUT`], so a controller can never wedge forever.
//!
//! [`UidTrackingExpectations`] adds upstream's `UIDTrackingControllerExpectations`:
//! deletions are tracked by the deleted object's key, so an object observed as deleted
//! twice (once when its `deletionTimestamp` is set, again when it is removed) is
//! counted once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ObjectKey;
use crate::clock::{Clock, RealClock};

/// How long expectations stay in force without being fulfilled before
/// [`ControllerExpectations::satisfied_expectations`] reports them satisfied anyway
/// (upstream `ExpectationsTimeout`, 5 minutes).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The outstanding creations and deletions one controller (one key) waits for, as
/// upstream's `ControlleeExpectations`. Counts may go negative when more events than
/// expected are observed; any value `<= 0` counts as fulfilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlleeExpectations {
    /// Creations still expected.
    pub add: i64,
    /// Deletions still expected.
    pub del: i64,
    /// When these expectations were set (raising or lowering does not move it).
    pub timestamp: Instant,
}

impl ControlleeExpectations {
    /// True when neither creations nor deletions are outstanding.
    pub fn fulfilled(&self) -> bool {
        self.add <= 0 && self.del <= 0
    }

    /// True when more than [`EXPECTATIONS_TIMEOUT`] passed since they were set.
    pub fn is_expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.timestamp) > EXPECTATIONS_TIMEOUT
    }
}

/// Per-controller-key expectations of creations and deletions (upstream
/// `ControllerExpectations`). Thread-safe; share it between the event handlers and
/// the workers behind an `Arc`.
///
/// `K` is the controller's key type, [`ObjectKey`] by default.
pub struct ControllerExpectations<K = ObjectKey> {
    entries: Mutex<HashMap<K, ControlleeExpectations>>,
    clock: Arc<dyn Clock>,
}

impl<K> fmt::Debug for ControllerExpectations<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerExpectations")
            .field("keys", &self.entries.lock().len())
            .finish()
    }
}

impl<K: Eq + Hash + Clone> Default for ControllerExpectations<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone> ControllerExpectations<K> {
    /// Empty expectations on the [`RealClock`].
    pub fn new() -> Self {
        Self::with_clock(Arc::new(RealClock))
    }

    /// Empty expectations on the given clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The expectations recorded for `key`, if any.
    pub fn get_expectations(&self, key: &K) -> Option<ControlleeExpectations> {
        self.entries.lock().get(key).copied()
    }

    /// True when the controller for `key` may trust its cache and sync: its
    /// expectations are fulfilled, have expired, or were never set (a new controller,
    /// or one whose expectations were deleted).
    pub fn satisfied_expectations(&self, key: &K) -> bool {
        let Some(exp) = self.get_expectations(key) else {
            return true;
        };
        if exp.fulfilled() {
            true
        } else if exp.is_expired(self.clock.instant()) {
            tracing::debug!(
                add = exp.add,
                del = exp.del,
                "controller expectations expired"
            );
            true
        } else {
            tracing::trace!(
                add = exp.add,
                del = exp.del,
                "controller still waiting on expectations"
            );
            false
        }
    }

    /// Replaces the expectations for `key` with `add` creations and `del` deletions,
    /// timestamped now (upstream `SetExpectations`).
    pub fn set_expectations(&self, key: &K, add: i64, del: i64) {
        let exp = ControlleeExpectations {
            add,
            del,
            timestamp: self.clock.instant(),
        };
        self.entries.lock().insert(key.clone(), exp);
    }

    /// Expects `adds` creations (and no deletions) for `key`, forgetting what was
    /// expected before.
    pub fn expect_creations(&self, key: &K, adds: i64) {
        self.set_expectations(key, adds, 0);
    }

    /// Expects `dels` deletions (and no creations) for `key`, forgetting what was
    /// expected before.
    pub fn expect_deletions(&self, key: &K, dels: i64) {
        self.set_expectations(key, 0, dels);
    }

    /// Adds `add` creations and `del` deletions to existing expectations for `key`;
    /// does nothing when none are recorded.
    pub fn raise_expectations(&self, key: &K, add: i64, del: i64) {
        if let Some(exp) = self.entries.lock().get_mut(key) {
            exp.add += add;
            exp.del += del;
        }
    }

    /// Subtracts `add` creations and `del` deletions from existing expectations for
    /// `key` (e.g. for creates that failed and will never be observed); does nothing
    /// when none are recorded.
    pub fn lower_expectations(&self, key: &K, add: i64, del: i64) {
        self.raise_expectations(key, -add, -del);
    }

    /// Records that one expected creation was observed.
    pub fn creation_observed(&self, key: &K) {
        self.lower_expectations(key, 1, 0);
    }

    /// Records that one expected deletion was observed.
    pub fn deletion_observed(&self, key: &K) {
        self.lower_expectations(key, 0, 1);
    }

    /// Forgets the expectations for `key` (the controller object was deleted).
    pub fn delete_expectations(&self, key: &K) {
        self.entries.lock().remove(key);
    }
}

/// Expectations whose deletions are tracked by the deleted objects' keys (upstream
/// `UIDTrackingControllerExpectations`), so that the same deletion observed twice —
/// as an update setting `deletionTimestamp`, then as the delete itself — lowers the
/// count once. Creations are counted as in [`ControllerExpectations`].
pub struct UidTrackingExpectations<K = ObjectKey> {
    inner: ControllerExpectations<K>,
    /// Keys of the objects whose deletion each controller still waits for. Held while
    /// the inner expectations are changed, so the two stay consistent.
    uids: Mutex<HashMap<K, HashSet<String>>>,
}

impl<K> fmt::Debug for UidTrackingExpectations<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UidTrackingExpectations")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<K: Eq + Hash + Clone + fmt::Display> Default for UidTrackingExpectations<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone + fmt::Display> UidTrackingExpectations<K> {
    /// Empty expectations on the [`RealClock`].
    pub fn new() -> Self {
        Self::with_clock(Arc::new(RealClock))
    }

    /// Empty expectations on the given clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: ControllerExpectations::with_clock(clock),
            uids: Mutex::new(HashMap::new()),
        }
    }

    /// The keys of the objects whose deletion `key` still waits for.
    pub fn get_uids(&self, key: &K) -> Option<HashSet<String>> {
        self.uids.lock().get(key).cloned()
    }

    /// Expects the deletion of exactly the objects in `deleted_keys` (typically
    /// `namespace/name` of pods) for `key`, replacing any earlier expectations (and
    /// logging when unobserved deletions are clobbered, as upstream).
    pub fn expect_deletions<I, S>(&self, key: &K, deleted_keys: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let expected: HashSet<String> = deleted_keys.into_iter().map(Into::into).collect();
        let mut uids = self.uids.lock();
        if let Some(existing) = uids.get(key).filter(|s| !s.is_empty()) {
            tracing::error!(controller = %key, keys = ?existing, "clobbering existing delete keys");
        }
        let count = i64::try_from(expected.len()).unwrap_or(i64::MAX);
        uids.insert(key.clone(), expected);
        self.inner.expect_deletions(key, count);
    }

    /// Records that the object `deleted_key` was observed deleted; lowers the count
    /// only the first time, and only when that object's deletion was expected.
    pub fn deletion_observed(&self, key: &K, deleted_key: &str) {
        let mut uids = self.uids.lock();
        if let Some(set) = uids.get_mut(key)
            && set.remove(deleted_key)
        {
            tracing::trace!(controller = %key, deleted = deleted_key, "expected deletion observed");
            self.inner.deletion_observed(key);
        }
    }

    /// Forgets all expectations, counts and tracked keys, for `key`.
    pub fn delete_expectations(&self, key: &K) {
        let mut uids = self.uids.lock();
        self.inner.delete_expectations(key);
        uids.remove(key);
    }

    /// See [`ControllerExpectations::satisfied_expectations`].
    pub fn satisfied_expectations(&self, key: &K) -> bool {
        self.inner.satisfied_expectations(key)
    }

    /// See [`ControllerExpectations::get_expectations`].
    pub fn get_expectations(&self, key: &K) -> Option<ControlleeExpectations> {
        self.inner.get_expectations(key)
    }

    /// See [`ControllerExpectations::expect_creations`]. Like upstream, this replaces
    /// the counts (deletions expected become 0) but leaves tracked keys in place.
    pub fn expect_creations(&self, key: &K, adds: i64) {
        self.inner.expect_creations(key, adds);
    }

    /// See [`ControllerExpectations::creation_observed`].
    pub fn creation_observed(&self, key: &K) {
        self.inner.creation_observed(key);
    }

    /// See [`ControllerExpectations::raise_expectations`].
    pub fn raise_expectations(&self, key: &K, add: i64, del: i64) {
        self.inner.raise_expectations(key, add, del);
    }

    /// See [`ControllerExpectations::lower_expectations`].
    pub fn lower_expectations(&self, key: &K, add: i64, del: i64) {
        self.inner.lower_expectations(key, add, del);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    fn fixture() -> (FakeClock, ControllerExpectations<ObjectKey>, ObjectKey) {
        let clock = FakeClock::default();
        let exp = ControllerExpectations::with_clock(Arc::new(clock.clone()));
        (clock, exp, ObjectKey::namespaced("default", "rs"))
    }

    #[test]
    fn never_set_is_satisfied() {
        let (_, exp, key) = fixture();
        assert!(exp.satisfied_expectations(&key));
        assert_eq!(exp.get_expectations(&key), None);
    }

    #[test]
    fn creations_are_satisfied_only_when_all_observed() {
        let (_, exp, key) = fixture();
        exp.expect_creations(&key, 3);
        for _ in 0..2 {
            assert!(!exp.satisfied_expectations(&key));
            exp.creation_observed(&key);
        }
        assert!(!exp.satisfied_expectations(&key));
        exp.creation_observed(&key);
        assert!(exp.satisfied_expectations(&key));
        // An extra observation (an adoption, say) goes negative and stays satisfied.
        exp.creation_observed(&key);
        assert_eq!(exp.get_expectations(&key).map(|e| e.add), Some(-1));
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn deletions_and_lowering_after_failed_creates() {
        let (_, exp, key) = fixture();
        exp.expect_deletions(&key, 2);
        exp.deletion_observed(&key);
        assert!(!exp.satisfied_expectations(&key));
        exp.deletion_observed(&key);
        assert!(exp.satisfied_expectations(&key));

        // 5 creates issued, 2 failed: the controller lowers by 2 and needs 3 events.
        exp.expect_creations(&key, 5);
        exp.lower_expectations(&key, 2, 0);
        assert_eq!(
            exp.get_expectations(&key).map(|e| (e.add, e.del)),
            Some((3, 0))
        );
        exp.raise_expectations(&key, 1, 1);
        assert_eq!(
            exp.get_expectations(&key).map(|e| (e.add, e.del)),
            Some((4, 1))
        );
    }

    #[test]
    fn raise_and_lower_without_expectations_do_nothing() {
        let (_, exp, key) = fixture();
        exp.raise_expectations(&key, 3, 3);
        exp.lower_expectations(&key, 1, 1);
        exp.creation_observed(&key);
        assert_eq!(exp.get_expectations(&key), None);
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn unfulfilled_expectations_expire_after_five_minutes() {
        let (clock, exp, key) = fixture();
        exp.expect_creations(&key, 1);
        clock.advance(EXPECTATIONS_TIMEOUT);
        assert!(
            !exp.satisfied_expectations(&key),
            "exactly the TTL is not expired"
        );
        clock.advance(Duration::from_millis(1));
        assert!(exp.satisfied_expectations(&key));
        // Setting again restarts the timer.
        exp.expect_creations(&key, 1);
        assert!(!exp.satisfied_expectations(&key));
        // Raising does not restart it.
        clock.advance(EXPECTATIONS_TIMEOUT + Duration::from_secs(1));
        exp.raise_expectations(&key, 1, 0);
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn delete_expectations_forgets_the_key_only() {
        let (_, exp, key) = fixture();
        let other = ObjectKey::namespaced("default", "other");
        exp.expect_creations(&key, 1);
        exp.expect_creations(&other, 1);
        exp.delete_expectations(&key);
        assert!(exp.satisfied_expectations(&key));
        assert!(!exp.satisfied_expectations(&other));
    }

    #[test]
    fn uid_tracking_counts_each_deleted_object_once() {
        let exp: UidTrackingExpectations = UidTrackingExpectations::new();
        let key = ObjectKey::namespaced("default", "rs");
        exp.expect_deletions(&key, ["default/a", "default/b"]);
        assert_eq!(exp.get_expectations(&key).map(|e| e.del), Some(2));
        // Graceful deletion: first the update with deletionTimestamp, then the delete.
        exp.deletion_observed(&key, "default/a");
        exp.deletion_observed(&key, "default/a");
        assert_eq!(exp.get_expectations(&key).map(|e| e.del), Some(1));
        assert!(!exp.satisfied_expectations(&key));
        // A deletion nobody expected does not count.
        exp.deletion_observed(&key, "default/zzz");
        assert!(!exp.satisfied_expectations(&key));
        exp.deletion_observed(&key, "default/b");
        assert!(exp.satisfied_expectations(&key));
        assert_eq!(exp.get_uids(&key).map(|s| s.len()), Some(0));
    }

    #[test]
    fn uid_tracking_duplicate_keys_expect_one_deletion() {
        let exp: UidTrackingExpectations = UidTrackingExpectations::new();
        let key = ObjectKey::namespaced("default", "rs");
        exp.expect_deletions(&key, ["default/a", "default/a"]);
        assert_eq!(exp.get_expectations(&key).map(|e| e.del), Some(1));
        exp.deletion_observed(&key, "default/a");
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn uid_tracking_delete_expectations_clears_keys_and_counts() {
        let exp: UidTrackingExpectations = UidTrackingExpectations::new();
        let key = ObjectKey::namespaced("default", "rs");
        exp.expect_deletions(&key, ["default/a"]);
        exp.delete_expectations(&key);
        assert!(exp.get_uids(&key).is_none());
        assert!(exp.get_expectations(&key).is_none());
        // A late delete event for a forgotten key is harmless.
        exp.deletion_observed(&key, "default/a");
        assert!(exp.satisfied_expectations(&key));
    }

    #[test]
    fn uid_tracking_creations_work_as_plain_counts() {
        let exp: UidTrackingExpectations = UidTrackingExpectations::new();
        let key = ObjectKey::namespaced("default", "rs");
        exp.expect_creations(&key, 1);
        assert!(!exp.satisfied_expectations(&key));
        exp.creation_observed(&key);
        assert!(exp.satisfied_expectations(&key));
    }
}
