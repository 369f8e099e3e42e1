//! Upstream's `absentOwnerCache`: owners known to be gone, so dependents of a
//! deleted owner do not each GET it again. A [`Lru`] of [`OwnerKey`]s; looking an
//! owner up with [`Lru::get`] marks it recently used, as upstream's `Has` does.

use capstan_runtime::lru::Lru;

/// How many absent owners upstream remembers.
pub const ABSENT_OWNER_CACHE_SIZE: usize = 500;

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

/// The owners known to be absent.
pub type AbsentOwnerCache = Lru<OwnerKey, ()>;

/// An empty cache of upstream's size.
pub fn absent_owner_cache() -> AbsentOwnerCache {
    Lru::new(ABSENT_OWNER_CACHE_SIZE)
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
        c.insert(key("a"), ());
        c.insert(key("b"), ());
        assert!(c.get(&key("a")).is_some()); // a is now more recent than b
        c.insert(key("c"), ());
        assert_eq!(c.len(), 2);
        assert!(c.get(&key("a")).is_some());
        assert!(c.get(&key("b")).is_none());
        assert!(c.get(&key("c")).is_some());
    }

    #[test]
    fn same_uid_in_other_namespace_is_another_owner() {
        let mut c = absent_owner_cache();
        c.insert(key("a"), ());
        let mut other = key("a");
        other.namespace = Some("kube-system".into());
        assert!(c.get(&other).is_none());
        c.insert(key("a"), ());
        assert_eq!(c.len(), 1, "re-adding does not duplicate");
        assert_eq!(c.capacity(), 500);
    }
}
