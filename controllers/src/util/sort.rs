//! A stable merge sort driven by a "less" predicate, like Go's `sort.Sort`.
//!
//! Upstream's pod ranking (`ActivePodsWithRanks.Less`) is not a strict weak order in
//! every corner (log-scale time buckets fall back to UIDs, exact ties fall through
//! to later rules), which Go tolerates. Rust's `sort_by` may panic on such
//! comparators, so the rankings sort with this routine, which never panics and
//! gives the same result as any correct sort whenever the predicate is consistent.

/// Sorts `items` stably so that `less(a, b)` puts `a` before `b`.
pub fn sort_by_less<T: Clone>(items: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = items.len();
    if n < 2 {
        return;
    }
    if n <= 16 {
        // Insertion sort: stable, moves an item left while it is less than its
        // predecessor.
        for i in 1..n {
            let mut j = i;
            while j > 0 && less(&items[j], &items[j - 1]) {
                items.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mid = n / 2;
    sort_by_less(&mut items[..mid], less);
    sort_by_less(&mut items[mid..], less);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        // Take from the right only when strictly less: keeps the sort stable.
        if less(&items[j], &items[i]) {
            merged.push(items[j].clone());
            j += 1;
        } else {
            merged.push(items[i].clone());
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..n]);
    items.clone_from_slice(&merged);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_like_the_standard_library(v in proptest::collection::vec((0u8..20, 0u16..1000), 0..100)) {
            let mut ours = v.clone();
            sort_by_less(&mut ours, &|a: &(u8, u16), b: &(u8, u16)| a.0 < b.0);
            let mut std = v;
            std.sort_by_key(|x| x.0); // stable
            prop_assert_eq!(ours, std);
        }

        #[test]
        fn never_panics_on_inconsistent_predicates(v in proptest::collection::vec(0u32..50, 0..80)) {
            let mut ours = v.clone();
            // Not transitive: "less" when the difference is odd.
            sort_by_less(&mut ours, &|a: &u32, b: &u32| (a ^ b) & 1 == 1 && a < b);
            ours.sort_unstable();
            let mut orig = v;
            orig.sort_unstable();
            prop_assert_eq!(ours, orig);
        }
    }
}
