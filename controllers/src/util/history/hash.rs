//! The hashes controllers name things by: upstream's `controller.ComputeHash`
//! (pod-template-hash, and the DaemonSet's `controller-revision-hash`) and
//! `history.HashControllerRevision` (the StatefulSet's revision names), both
//! rendered through apimachinery's `rand.SafeEncodeString`.
//!
//! [`hash_controller_revision`] is upstream's byte for byte: FNV-1 (not 1a) over
//! the revision's data, then the decimal digits of the probe. Given the same data
//! bytes it gives the same name as kube-controller-manager (see the tests, which
//! use upstream's own StatefulSet compatibility fixtures).
//!
//! [`compute_hash`] has upstream's shape — FNV-1a over the template, the collision
//! count mixed in as 8 little-endian bytes, safe-encoded decimal digits — but hashes
//! the template's canonical JSON (fields in a fixed order, nulls and empty lists and
//! maps dropped, see [`crate::util::semantic`]) instead of a `spew` dump of Go
//! structs, whose bytes depend on the Go type layout of each Kubernetes release.
//! The same template always gives the same hash; the values differ from Go's.
//! Nothing reads those values back but equality, so only names differ.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// apimachinery's `rand` alphanumerics without vowels and confusable characters.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32-bit (Go's `fnv.New32a`, which `ComputeHash` uses).
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(FNV32_OFFSET)
    }
}

impl Fnv32a {
    /// Feeds bytes: xor, then multiply.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
        }
    }

    /// The current sum.
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// FNV-1, 32-bit (Go's `fnv.New32`, which `HashControllerRevision` uses).
#[derive(Debug, Clone, Copy)]
pub struct Fnv32(u32);

impl Default for Fnv32 {
    fn default() -> Self {
        Self(FNV32_OFFSET)
    }
}

impl Fnv32 {
    /// Feeds bytes: multiply, then xor.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
            self.0 ^= u32::from(*b);
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

/// Upstream `controller.ComputeHash`: the hash of `template` with the owner's
/// `status.collisionCount` (the Deployment's pod-template-hash, the DaemonSet's
/// revision hash). See the module documentation for how the template is read.
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

/// Upstream `history.HashControllerRevision`: FNV-1 over a revision's data bytes
/// (the stored data in Go's encoding), then the decimal digits of `probe` (the
/// owner's collision count) when given.
pub fn hash_controller_revision(data: &[u8], probe: Option<i32>) -> String {
    let mut h = Fnv32::default();
    h.write(data);
    if let Some(p) = probe {
        h.write(p.to_string().as_bytes());
    }
    safe_encode_string(&h.sum32().to_string())
}

/// The longest owner name kept in a revision name (upstream truncates to 223
/// bytes so that `<prefix>-<hash>` stays within 253).
pub const MAX_REVISION_PREFIX: usize = 223;

/// Upstream `history.ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to
/// [`MAX_REVISION_PREFIX`] bytes.
pub fn controller_revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(MAX_REVISION_PREFIX);
    // Object names are ASCII; stay on a char boundary for anything else.
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::util::testing::template;

    #[test]
    fn fnv_matches_gos_golden_vectors() {
        // Go's hash/fnv golden32 and golden32a tables.
        let cases: [(&str, u32, u32); 4] = [
            ("", 0x811c_9dc5, 0x811c_9dc5),
            ("a", 0x050c_5d7e, 0xe40c_292c),
            ("ab", 0x7077_2d38, 0x4d25_05ca),
            ("abc", 0x439c_2f4b, 0x1a47_e90b),
        ];
        for (input, fnv1, fnv1a) in cases {
            let mut h = Fnv32::default();
            h.write(input.as_bytes());
            assert_eq!(h.sum32(), fnv1, "FNV-1 of {input:?}");
            let mut h = Fnv32a::default();
            h.write(input.as_bytes());
            assert_eq!(h.sum32(), fnv1a, "FNV-1a of {input:?}");
        }
        let mut h = Fnv32a::default();
        h.write(b"foobar");
        assert_eq!(h.sum32(), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_as_upstream() {
        // '0'..'9' are bytes 48..57 → indices 21..26, 0..3.
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
    }

    /// The raw data of the StatefulSet revision in upstream's compatibility test
    /// (`pkg/controller/statefulset/testdata/compatibility_revision_1.33.0.json`),
    /// named `test-c77f6d978` by a 1.33 kube-controller-manager.
    pub(crate) const UPSTREAM_1_33_DATA: &str = r#"{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}"#;

    /// The same template as 1.34 serialises it (`creationTimestamp` omitted), named
    /// `test-776999688b` (`compatibility_revision_1.34.0.json`).
    const UPSTREAM_1_34_DATA: &str = r#"{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}"#;

    #[test]
    fn revision_hashes_match_kube_controller_managers() {
        // StatefulSets hash with their collision count as probe, 0 when unset.
        let cases = [
            (UPSTREAM_1_33_DATA, Some(0), "c77f6d978"),
            (UPSTREAM_1_34_DATA, Some(0), "776999688b"),
        ];
        for (data, probe, want) in cases {
            assert_eq!(hash_controller_revision(data.as_bytes(), probe), want);
        }
        // The probe is hashed as decimal text after the data.
        let bumped = hash_controller_revision(UPSTREAM_1_33_DATA.as_bytes(), Some(1));
        assert_ne!(bumped, "c77f6d978");
        let mut h = Fnv32::default();
        h.write(UPSTREAM_1_33_DATA.as_bytes());
        h.write(b"1");
        assert_eq!(bumped, safe_encode_string(&h.sum32().to_string()));
        assert_ne!(
            hash_controller_revision(UPSTREAM_1_33_DATA.as_bytes(), None),
            "c77f6d978"
        );
    }

    #[test]
    fn revision_names_are_prefix_dash_hash_with_long_prefixes_cut() {
        assert_eq!(
            controller_revision_name("web", "c77f6d978"),
            "web-c77f6d978"
        );
        let long = "a".repeat(300);
        let name = controller_revision_name(&long, "776999688b");
        assert_eq!(name.len(), MAX_REVISION_PREFIX + 1 + 10);
        assert!(name.starts_with(&"a".repeat(MAX_REVISION_PREFIX)));
        assert!(name.ends_with("a-776999688b"));
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
    fn pod_template_hashes_stay_those_capstan_has_been_writing() {
        // Existing ReplicaSets are named with these; a change would orphan them.
        assert_eq!(compute_hash(&template("nginx:1"), None), "79bfd649dc");
        assert_eq!(compute_hash(&template("nginx:1"), Some(1)), "69c66bc686");
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
