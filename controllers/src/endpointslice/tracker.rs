//! Upstream `EndpointSliceTracker`: the generation of every slice this controller
//! wrote, and the slices it deleted, per Service. The informer cache lags the writes;
//! planning over a cache that does not show them yet would create duplicates or undo
//! them, so a Service whose cached slices are older than what was written waits
//! ([`SliceTracker::stale`]), and informer events of slices that only echo this
//! controller's writes do not queue their Service ([`SliceTracker::should_sync`]).

use std::collections::HashMap;

use capstan_runtime::ObjectKey;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use parking_lot::Mutex;

/// What is known of one written slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    /// Written at this generation.
    Generation(i64),
    /// Deleted by this controller; its deletion is yet to be observed.
    DeletionExpected,
}

/// The slices written per Service (keyed by slice uid).
#[derive(Debug, Default)]
pub struct SliceTracker {
    by_service: Mutex<HashMap<ObjectKey, HashMap<String, Tracked>>>,
}

fn uid(slice: &EndpointSlice) -> String {
    slice.metadata.uid.clone().unwrap_or_default()
}

fn generation(slice: &EndpointSlice) -> i64 {
    slice.metadata.generation.unwrap_or_default()
}

impl SliceTracker {
    /// Records a slice as the API server returned it from a create or update.
    pub fn written(&self, service: &ObjectKey, slice: &EndpointSlice) {
        self.by_service
            .lock()
            .entry(service.clone())
            .or_default()
            .insert(uid(slice), Tracked::Generation(generation(slice)));
    }

    /// Records that this controller deleted `slice`.
    pub fn deleted(&self, service: &ObjectKey, slice: &EndpointSlice) {
        self.by_service
            .lock()
            .entry(service.clone())
            .or_default()
            .insert(uid(slice), Tracked::DeletionExpected);
    }

    /// Upstream `StaleSlices`: whether `cached` (the Service's slices in the cache)
    /// lags what was written: a slice older than written or deleted but still there,
    /// or a written slice missing.
    pub fn stale(&self, service: &ObjectKey, cached: &[&EndpointSlice]) -> bool {
        let map = self.by_service.lock();
        let Some(tracked) = map.get(service) else {
            return false;
        };
        let mut present = std::collections::HashSet::new();
        for slice in cached {
            present.insert(uid(slice));
            match tracked.get(&uid(slice)) {
                Some(Tracked::DeletionExpected) => return true,
                Some(Tracked::Generation(g)) if *g > generation(slice) => return true,
                _ => {}
            }
        }
        tracked
            .iter()
            .any(|(u, t)| matches!(t, Tracked::Generation(_)) && !present.contains(u))
    }

    /// Upstream `ShouldSync`: an added or updated slice matters unless it is exactly
    /// what this controller wrote (or older).
    pub fn should_sync(&self, service: &ObjectKey, slice: &EndpointSlice) -> bool {
        match self
            .by_service
            .lock()
            .get(service)
            .and_then(|m| m.get(&uid(slice)))
        {
            Some(Tracked::Generation(g)) => generation(slice) > *g,
            _ => true,
        }
    }

    /// Upstream `HandleDeletion` (after `Has`): forgets a deleted slice; true when the
    /// deletion was not this controller's, so the Service needs a sync.
    pub fn deletion_observed(&self, service: &ObjectKey, slice: &EndpointSlice) -> bool {
        let mut map = self.by_service.lock();
        let Some(tracked) = map.get_mut(service) else {
            return true;
        };
        let was = tracked.remove(&uid(slice));
        if tracked.is_empty() {
            map.remove(service);
        }
        was != Some(Tracked::DeletionExpected)
    }

    /// Forgets a deleted Service.
    pub fn forget(&self, service: &ObjectKey) {
        self.by_service.lock().remove(service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(uid: &str, generation: i64) -> EndpointSlice {
        let mut s = EndpointSlice::default();
        s.metadata.uid = Some(uid.into());
        s.metadata.generation = Some(generation);
        s
    }

    #[test]
    fn a_cache_behind_the_writes_is_stale_until_it_catches_up() {
        let t = SliceTracker::default();
        let svc = ObjectKey::namespaced("default", "web");
        assert!(!t.stale(&svc, &[]));
        t.written(&svc, &slice("a", 1));
        assert!(t.stale(&svc, &[]), "created but not cached yet");
        assert!(!t.stale(&svc, &[&slice("a", 1)]));
        assert!(!t.should_sync(&svc, &slice("a", 1)), "our own write echoed");
        t.written(&svc, &slice("a", 2));
        assert!(t.stale(&svc, &[&slice("a", 1)]));
        assert!(t.should_sync(&svc, &slice("a", 3)), "someone else wrote it");
        t.deleted(&svc, &slice("a", 2));
        assert!(t.stale(&svc, &[&slice("a", 2)]), "deleted but still cached");
        assert!(!t.deletion_observed(&svc, &slice("a", 2)), "our deletion");
        assert!(!t.stale(&svc, &[]));
        assert!(t.deletion_observed(&svc, &slice("b", 1)), "someone else's");
    }
}
