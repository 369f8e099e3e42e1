//! Upstream's `absentOwnerCache`: a small LRU of owners known to be gone, so
//! dependents of a deleted owner do not each GET it again.

use std::collections::{BTreeMap, HashMap};

/// An owner as a dependent names it, plus the namespace it was looked up in
/// (upstream's `objectReference`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerKey {
    /// `apiVersion` of the owner reference.
    pub api_version: String,
    /// `kind` of the owner reference.
    pub kind: String,
    /// Namespace looked in (`None` for cluster-scoped owners).
    pub namespace: Option<String>,
    /// Name of the owner.
    pub name: String,
    /// UID of the owner.
    pub uid: String,
}

/// A bounded least-recently-used set of absent owners (upstream sizes it 500).
#[derive(Debug)]
pub struct AbsentOwnerCache {
    capacity: usize,
    clock: u64,
    stamps: HashMap<OwnerKey, u64>,
    by_age: BTreeMap<u64, OwnerKey>,
}

impl AbsentOwnerCache {
    /// An empty cache holding at most `capacity` owners (at least one).
    pub fn new(capacity: usize) -> Self {
        AbsentOwnerCache {
            capacity: capacity.max(1),
            clock: 0,
            stamps: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    fn touch(&mut self, key: OwnerKey) {
        self.clock += 1;
        if let Some(old) = self.stamps.insert(key.clone(), self.clock) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.clock, key);
    }

    /// Remember `key` as absent, evicting the least recently used entry when full.
    pub fn add(&mut self, key: OwnerKey) {
        self.touch(key);
        while self.stamps.len() > self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.stamps.remove(&oldest);
        }
    }

    /// Whether `key` is known absent (and mark it recently used).
    pub fn contains(&mut self, key: &OwnerKey) -> bool {
        if self.stamps.contains_key(key) {
            self.touch(key.clone());
            true
        } else {
            false
        }
    }

    /// Number of owners remembered.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uid: &str) -> OwnerKey {
        OwnerKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: format!("n-{uid}"),
            uid: uid.into(),
        }
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = AbsentOwnerCache::new(2);
        c.add(key("a"));
        c.add(key("b"));
        assert!(c.contains(&key("a"))); // a is now more recent than b
        c.add(key("c"));
        assert_eq!(c.len(), 2);
        assert!(c.contains(&key("a")));
        assert!(!c.contains(&key("b")));
        assert!(c.contains(&key("c")));
    }

    #[test]
    fn same_uid_in_other_namespace_is_another_owner() {
        let mut c = AbsentOwnerCache::new(10);
        c.add(key("a"));
        let mut other = key("a");
        other.namespace = Some("kube-system".into());
        assert!(!c.contains(&other));
        c.add(key("a"));
        assert_eq!(c.len(), 1, "re-adding does not duplicate");
    }
}
