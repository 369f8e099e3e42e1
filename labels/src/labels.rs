//! What a selector matches against: anything that can look a label up by key
//! (`labels.Labels`). Implemented for the label maps objects carry, for label pair
//! lists, and for an optional set (absent labels are an empty set), so matching never
//! copies or allocates.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A set of labels a selector can be matched against.
pub trait Labels {
    /// The value of the label `key`, `None` when the set has no such label.
    fn lookup(&self, key: &str) -> Option<&str>;
}

impl<T: Labels + ?Sized> Labels for &T {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        (**self).lookup(key)
    }
}

/// Absent labels (`metadata.labels` unset) are the empty set.
impl<T: Labels> Labels for Option<T> {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_ref().and_then(|l| l.lookup(key))
    }
}

impl Labels for BTreeMap<String, String> {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A list of `(key, value)` pairs, searched in order (the first pair with the key
/// wins).
impl<K: AsRef<str>, V: AsRef<str>> Labels for [(K, V)] {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Labels for Vec<(K, V)> {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_slice().lookup(key)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Labels for [(K, V); N] {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_slice().lookup(key)
    }
}
