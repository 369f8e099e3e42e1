//! Proportional scaling (upstream `scale`, `GetProportion`,
//! `getReplicaSetFraction`): when a Deployment is resized while several of its
//! ReplicaSets have pods (mid-rollout, or paused), the change is spread across
//! them in proportion to their sizes, so that scaling neither hastens nor undoes
//! the rollout.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::revision::{MAX_REPLICAS, annotation_i32};
use super::util::{max_surge, replicas, status};
use crate::util::replicasets::{self as rsu, spec_replicas};

/// How many replicas `rs` should gain (negative: lose) when the Deployment's
/// allowed size changes (upstream `getReplicaSetFraction`): its size scaled by
/// the new `replicas + maxSurge` over the `max-replicas` annotation it was last
/// scaled with (falling back to `status.replicas`), rounded half away from zero.
pub fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let size = spec_replicas(rs);
    if replicas(d) == 0 {
        return -size;
    }
    let max_now = replicas(d) + max_surge(d);
    let before = match annotation_i32(rs, MAX_REPLICAS) {
        Some(v) if v != 0 => v,
        _ => {
            let s = status(d).replicas.unwrap_or(0);
            if s == 0 {
                return 0;
            }
            s
        }
    };
    let new_size = (f64::from(size) * f64::from(max_now)) / f64::from(before);
    (new_size.round() as i32) - size
}

/// The share of `to_add` for `rs` given `added` so far (upstream
/// `GetProportion`): its fraction, but never past what is left to add (or
/// remove).
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// The new sizes of the active ReplicaSets `active` of a rolling Deployment, in
/// the order upstream applies them: largest first (newer first when scaling up,
/// older first when scaling down). The total moves to `replicas + maxSurge`
/// (0 when scaling to zero); rounding leftovers go to the first (largest).
pub fn proportional_sizes<'a>(
    d: &Deployment,
    active: &[&'a ReplicaSet],
) -> Vec<(&'a ReplicaSet, i32)> {
    let mut rss: Vec<&ReplicaSet> = active.to_vec();
    let current = rsu::sum_spec(rss.iter().copied());
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    if to_add > 0 {
        rss.sort_by(|a, b| rsu::by_size_newer(a, b));
    } else if to_add < 0 {
        rss.sort_by(|a, b| rsu::by_size_older(a, b));
    }
    let mut added = 0;
    let mut sizes: Vec<(&ReplicaSet, i32)> = Vec::with_capacity(rss.len());
    for rs in rss {
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push((rs, spec_replicas(rs) + p));
            added += p;
        } else {
            sizes.push((rs, spec_replicas(rs)));
        }
    }
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

impl super::sync::Sync<'_> {
    /// Upstream `scale`: a single active (or, with none, the newest) ReplicaSet
    /// takes the whole size; a saturated new ReplicaSet lets every old one go to
    /// zero; otherwise a rolling Deployment scales all active ones
    /// proportionally.
    pub(crate) fn scale_proportionally(&mut self, new: Option<usize>, old: &[usize]) {
        let desired = replicas(&self.d);
        if let Some(i) = self.find_active_or_latest(new, old) {
            if spec_replicas(&self.rss[i]) != desired {
                self.scale_and_record(i, desired);
            }
            return;
        }
        if super::util::is_saturated(&self.d, new.map(|i| &self.rss[i])) {
            for i in self.active(old) {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !super::util::is_rolling_update(&self.d) {
            return;
        }
        let active = self.active(&Self::all(old, new));
        let sizes: Vec<(String, i32)> = {
            let refs = self.refs(&active);
            proportional_sizes(&self.d, &refs)
                .into_iter()
                .map(|(rs, n)| (rsu::name(rs).to_string(), n))
                .collect()
        };
        for (name, size) in sizes {
            if let Some(i) = active
                .iter()
                .copied()
                .find(|i| rsu::name(&self.rss[*i]) == name)
            {
                self.scale(i, size);
            }
        }
    }

    /// Upstream `FindActiveOrLatest`: the only active ReplicaSet; with none, the
    /// new one or else the newest old one; `None` with several active.
    fn find_active_or_latest(&self, new: Option<usize>, old: &[usize]) -> Option<usize> {
        if new.is_none() && old.is_empty() {
            return None;
        }
        let mut old_sorted = old.to_vec();
        self.sort_by_creation(&mut old_sorted);
        old_sorted.reverse();
        let active = self.active(&Self::all(&old_sorted, new));
        match active.as_slice() {
            [] => new.or_else(|| old_sorted.first().copied()),
            [one] => Some(*one),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::revision::{DESIRED_REPLICAS, set_replicas_annotations};
    use crate::util::testing::{annotate, at, deployment, rs};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn sized(name: &str, n: i32, created: i64, max: i32) -> ReplicaSet {
        let mut r = rs(name, n, at(created));
        set_replicas_annotations(&mut r, 0, max);
        r
    }

    fn names_sizes(v: &[(&ReplicaSet, i32)]) -> Vec<(String, i32)> {
        v.iter()
            .map(|(r, n)| (rsu::name(r).to_string(), *n))
            .collect()
    }

    #[test]
    fn upstream_acceptance_case_old_8_new_5_scaled_to_30_gives_20_and_13() {
        // 10 replicas, maxSurge 3, maxUnavailable 2, broken new image: the rollout
        // stalls at old 8 / new 5, both last scaled with max-replicas 13.
        let d = deployment(30, IntOrString::Int(3), IntOrString::Int(2));
        let old = sized("old", 8, 0, 13);
        let new = sized("new", 5, 1, 13);
        let sizes = proportional_sizes(&d, &[&new, &old]);
        assert_eq!(
            names_sizes(&sizes),
            [("old".to_string(), 20), ("new".to_string(), 13)]
        );
    }

    #[test]
    fn proportional_cases_from_sync_test() {
        // (replicas, surge, [(name, size, created, max-replicas annotation)]) →
        // expected sizes by name; modelled on TestScale's proportional cases.
        type Case = (
            i32,
            i32,
            Vec<(&'static str, i32, i64, i32)>,
            Vec<(&'static str, i32)>,
        );
        let cases: Vec<Case> = vec![
            // Proportional scaling up: 10 → 20 with surge 0.
            (
                20,
                0,
                vec![("a", 5, 0, 10), ("b", 5, 1, 10)],
                vec![("b", 10), ("a", 10)],
            ),
            // Proportional scaling down: 10 → 5; both round -2.5 to -2 and the
            // leftover -1 goes to the first (older) one.
            (
                5,
                0,
                vec![("a", 5, 0, 10), ("b", 5, 1, 10)],
                vec![("a", 2), ("b", 3)],
            ),
            // Scaling up with leftovers to the largest: 3 RSes 4/3/3 → 12.
            (
                12,
                0,
                vec![("a", 4, 0, 10), ("b", 3, 1, 10), ("c", 3, 2, 10)],
                vec![("a", 5), ("c", 4), ("b", 3)],
            ),
            // Scaling down to zero.
            (
                0,
                0,
                vec![("a", 6, 0, 10), ("b", 4, 1, 10)],
                vec![("a", 0), ("b", 0)],
            ),
            // Surge counts in the allowed size: 10 → 20 with surge 2 (12 → 22).
            (
                20,
                2,
                vec![("a", 6, 0, 12), ("b", 6, 1, 12)],
                vec![("b", 11), ("a", 11)],
            ),
        ];
        for (replicas, surge, rss, want) in cases {
            let d = deployment(replicas, IntOrString::Int(surge), IntOrString::Int(0));
            let owned: Vec<ReplicaSet> = rss
                .iter()
                .map(|(n, s, c, m)| sized(n, *s, *c, *m))
                .collect();
            let refs: Vec<&ReplicaSet> = owned.iter().collect();
            let got = names_sizes(&proportional_sizes(&d, &refs));
            let want: Vec<(String, i32)> = want.iter().map(|(n, s)| (n.to_string(), *s)).collect();
            assert_eq!(got, want, "replicas {replicas} surge {surge} {rss:?}");
            let total: i32 = got.iter().map(|(_, s)| s).sum();
            let allowed = if replicas > 0 { replicas + surge } else { 0 };
            assert_eq!(total, allowed);
        }
    }

    #[test]
    fn missing_annotation_falls_back_to_status_replicas() {
        let mut d = deployment(20, IntOrString::Int(0), IntOrString::Int(1));
        let r = rs("a", 5, at(0));
        assert_eq!(
            replica_set_fraction(&r, &d),
            0,
            "no annotation and no status"
        );
        d.status = Some(Default::default());
        d.status.as_mut().unwrap().replicas = Some(10);
        assert_eq!(replica_set_fraction(&r, &d), 5);
        let r = annotate(r, DESIRED_REPLICAS, "10");
        assert_eq!(replica_set_fraction(&r, &d), 5);
    }

    #[test]
    fn proportions_never_exceed_what_is_left() {
        let d = deployment(100, IntOrString::Int(0), IntOrString::Int(1));
        let r = sized("a", 10, 0, 10);
        assert_eq!(replica_set_fraction(&r, &d), 90);
        assert_eq!(proportion(&r, &d, 50, 10), 40);
        let down = deployment(1, IntOrString::Int(0), IntOrString::Int(1));
        assert_eq!(proportion(&r, &down, -5, -2), -3);
        assert_eq!(proportion(&r, &d, 5, 5), 0);
        assert_eq!(proportion(&rs("z", 0, at(0)), &d, 5, 0), 0);
    }
}
