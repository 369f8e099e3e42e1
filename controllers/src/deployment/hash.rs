//! The `pod-template-hash` (upstream `controller.ComputeHash`): FNV-1a (32-bit)
//! over a deterministic serialization of the pod template, the collision count
//! mixed in as 8 little-endian bytes when set, and the decimal digits of the sum
//! mapped through apimachinery's `rand.SafeEncodeString` alphabet.
//!
//! Upstream hashes a `spew` deep-print of the Go struct; this hashes the template's
//! canonical JSON (fields in a fixed order, nulls and empty lists/maps dropped, see
//! [`crate::util::semantic`]), so the same template always gives the same hash, but the
//! values differ from Go's.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// apimachinery's `rand` alphanumerics without vowels and confusable characters.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32-bit.
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(0x811c_9dc5)
    }
}

impl Fnv32a {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    /// The current sum.
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// Maps every byte of `s` to `SAFE_ALPHABET[byte % 27]` (upstream
/// `rand.SafeEncodeString`), so that hashes cannot spell words.
pub fn safe_encode_string(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The pod-template-hash of `template` with the Deployment's
/// `status.collisionCount`.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h = Fnv32a::default();
    // Canonical JSON: empty and absent lists/maps hash alike, as they compare
    // equal (`EqualIgnoreHash`).
    let bytes = serde_json::to_vec(&crate::util::semantic::canonical(template)).unwrap_or_default();
    h.write(&bytes);
    if let Some(c) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&buf);
    }
    safe_encode_string(&h.sum32().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::template;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let sum = |s: &str| {
            let mut h = Fnv32a::default();
            h.write(s.as_bytes());
            h.sum32()
        };
        assert_eq!(sum(""), 0x811c_9dc5);
        assert_eq!(sum("a"), 0xe40c_292c);
        assert_eq!(sum("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_as_upstream() {
        // '0'..'9' are bytes 48..57 → indices 21..26, 0..3.
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
    }

    #[test]
    fn same_template_same_hash_and_changes_change_it() {
        let a = compute_hash(&template("nginx:1"), None);
        assert_eq!(a, compute_hash(&template("nginx:1"), None));
        assert_ne!(a, compute_hash(&template("nginx:2"), None));
        let mut empty_lists = template("nginx:1");
        empty_lists.spec.as_mut().unwrap().volumes = Some(vec![]);
        assert_eq!(a, compute_hash(&empty_lists, None));
        assert!(a.len() <= 10 && !a.is_empty());
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn the_collision_count_changes_the_hash() {
        let t = template("nginx:1");
        let none = compute_hash(&t, None);
        let zero = compute_hash(&t, Some(0));
        let one = compute_hash(&t, Some(1));
        assert_ne!(none, zero);
        assert_ne!(zero, one);
        assert_eq!(one, compute_hash(&t, Some(1)));
    }
}
