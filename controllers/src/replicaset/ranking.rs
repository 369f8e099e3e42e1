//! Which pods to delete first when a ReplicaSet has too many: upstream's
//! `ActivePodsWithRanks` ordering (`pkg/controller/controller_utils.go`) with the
//! `LogarithmicScaleDown` time comparison, and `getPodsToDelete` /
//! `getPodsRankedByRelatedPodsOnSameNode` (`pkg/controller/replicaset/replica_set.go`).

use std::collections::HashMap;

use capstan_labels::Selector;
use capstan_runtime::ownership::controller_of;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::owner::ReplicaSetLike;
use crate::util::pod;
use crate::util::sort::sort_by_less;
use crate::util::time::nanos_between;

/// A pod with its co-location rank: the number of active related pods (pods of
/// ReplicaSets with the same controller, the pod's own included) on its node.
#[derive(Debug, Clone, Copy)]
pub struct RankedPod<'a> {
    /// The candidate pod.
    pub pod: &'a Pod,
    /// Active related pods on the same node.
    pub rank: usize,
}

fn phase_ordinal(p: &Pod) -> u8 {
    // Upstream's podPhaseToOrdinal: Pending 0, Unknown 1, Running 2; other phases
    // are missing from the map and read as 0.
    match pod::phase(p) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// `floor(log2(now - t))` in nanoseconds, `-1` when `t` is not before `now`
/// (upstream `logarithmicRankDiff`'s per-time rank).
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d = nanos_between(now, t);
    if d > 0 {
        // floor(log2(d)) for an integer d > 0 is its bit length minus one; Go
        // computes it through float64, which agrees except within float rounding of
        // powers of two (sub-nanosecond at these magnitudes).
        i64::from(127 - (d as u128).leading_zeros()) // d > 0 fits u128
    } else {
        -1
    }
}

/// Upstream's `afterOrZero`: a zero (unset) time sorts first, then later first.
fn after_or_zero(t1: Option<Timestamp>, t2: Option<Timestamp>) -> bool {
    match (t1, t2) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// The facts the ranking compares, extracted once per pod so sorting thousands
/// of pods does not re-scan conditions and annotations on every comparison.
#[derive(Debug, Clone)]
struct Keys<'a> {
    ranked: RankedPod<'a>,
    unassigned: bool,
    node: &'a str,
    phase: u8,
    ready: bool,
    cost: i32,
    ready_since: Option<Timestamp>,
    ready_log: Option<i64>,
    restarts: i32,
    created: Option<Timestamp>,
    created_log: Option<i64>,
    uid: &'a str,
}

impl<'a> Keys<'a> {
    fn of(ranked: RankedPod<'a>, now: Option<Timestamp>) -> Self {
        let p = ranked.pod;
        let node = pod::node_name(p);
        let ready_since = pod::ready_since(p);
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let log = |t: Option<Timestamp>| Some(log_rank(t?, now?));
        Self {
            ranked,
            unassigned: node.is_empty(),
            node,
            phase: phase_ordinal(p),
            ready: pod::is_ready(p),
            cost: pod::deletion_cost(p),
            ready_since,
            ready_log: log(ready_since),
            restarts: pod::max_container_restarts(p),
            created,
            created_log: log(created),
            uid: p.metadata.uid.as_deref().unwrap_or(""),
        }
    }
}

/// Compares two times in log2 buckets relative to `now` (`r1`, `r2` are their
/// buckets when `now` and both times are known); `Some(less)` when they decide,
/// as upstream's rules 6 and 8 with `LogarithmicScaleDown` on.
fn log_scaled_less(
    t1: Option<Timestamp>,
    t2: Option<Timestamp>,
    r1: Option<i64>,
    r2: Option<i64>,
    uid1: &str,
    uid2: &str,
) -> Option<bool> {
    if t1 == t2 {
        return None;
    }
    match (r1, r2) {
        (Some(r1), Some(r2)) if r1 == r2 => Some(uid1 < uid2),
        (Some(r1), Some(r2)) => Some(r1 < r2),
        _ => Some(after_or_zero(t1, t2)),
    }
}

fn less_keys(a: &Keys<'_>, b: &Keys<'_>) -> bool {
    if a.node != b.node && (a.unassigned || b.unassigned) {
        return a.unassigned;
    }
    if a.phase != b.phase {
        return a.phase < b.phase;
    }
    if a.ready != b.ready {
        return !a.ready;
    }
    if a.cost != b.cost {
        return a.cost < b.cost;
    }
    if a.ranked.rank != b.ranked.rank {
        return a.ranked.rank > b.ranked.rank;
    }
    if a.ready
        && b.ready
        && let Some(less) = log_scaled_less(
            a.ready_since,
            b.ready_since,
            a.ready_log,
            b.ready_log,
            a.uid,
            b.uid,
        )
    {
        return less;
    }
    if a.restarts != b.restarts {
        return a.restarts > b.restarts;
    }
    log_scaled_less(
        a.created,
        b.created,
        a.created_log,
        b.created_log,
        a.uid,
        b.uid,
    )
    .unwrap_or(false)
}

/// True when `a` should be deleted before `b` (upstream `ActivePodsWithRanks.Less`):
///
/// 1. unassigned before assigned;
/// 2. `Pending` before `Unknown` before `Running`;
/// 3. not ready before ready;
/// 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
/// 5. higher co-location rank first (more related pods on the same node);
/// 6. both ready: more recently ready first (log2 buckets of the time since
///    `now`, ties in a bucket broken by UID; a missing time first);
/// 7. more container restarts first;
/// 8. newer first (creation time in log2 buckets, ties by UID).
///
/// With `now == None` the time comparisons are exact (no buckets).
pub fn less(a: RankedPod<'_>, b: RankedPod<'_>, now: Option<Timestamp>) -> bool {
    less_keys(&Keys::of(a, now), &Keys::of(b, now))
}

/// The pods related to `rs` for co-location ranking (upstream
/// `getIndirectlyRelatedPods`): the pods (from `pods`, same namespace) matching
/// the selector of any ReplicaSet in `replica_sets` that has the same controller
/// as `rs` — for a Deployment, the pods of all its ReplicaSets — each once. A
/// ReplicaSet without a controller has no related pods (every rank is then 0),
/// as upstream.
pub fn related_pods<'a, R: ReplicaSetLike>(
    rs: &R,
    replica_sets: &[R],
    pods: &[&'a Pod],
) -> Vec<&'a Pod> {
    let controller = |r: &R| controller_of(r).map(|o| o.uid.clone());
    let Some(owner) = controller(rs) else {
        return Vec::new();
    };
    let ns = rs.meta().namespace.as_deref();
    let mut seen = std::collections::HashSet::new();
    let mut related = Vec::new();
    for sibling in replica_sets
        .iter()
        .filter(|r| r.meta().namespace.as_deref() == ns && controller(r).as_ref() == Some(&owner))
    {
        let Ok(matcher) = Selector::from_label_selector(sibling.pod_selector().as_deref()) else {
            continue;
        };
        for p in pods {
            if p.metadata.namespace.as_deref() == ns
                && matcher.matches(&p.metadata.labels)
                && seen.insert(p.metadata.uid.clone().unwrap_or_default())
            {
                related.push(*p);
            }
        }
    }
    related
}

/// Ranks `pods` by co-location: for each, the number of active pods among
/// `related` on the same node (upstream `getPodsRankedByRelatedPodsOnSameNode`;
/// `related` should include `pods`).
pub fn rank_by_related_pods_on_same_node<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
) -> Vec<RankedPod<'a>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| pod::is_active(p)) {
        *on_node.entry(pod::node_name(p)).or_default() += 1;
    }
    pods.iter()
        .map(|p| RankedPod {
            pod: p,
            rank: on_node.get(pod::node_name(p)).copied().unwrap_or(0),
        })
        .collect()
}

/// Sorts active pods the first to delete first, by upstream's plain
/// `ActivePods` order (the Job controller's): [`less`]'s rules without
/// co-location ranks or deletion costs, times compared exactly.
pub fn sort_active_pods<'a>(pods: &mut [&'a Pod]) {
    let keys: Vec<Keys<'a>> = pods
        .iter()
        .map(|p| {
            let mut k = Keys::of(RankedPod { pod: p, rank: 0 }, None);
            k.cost = 0;
            k
        })
        .collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    sort_by_less(&mut order, &|a: &usize, b: &usize| {
        less_keys(&keys[*a], &keys[*b])
    });
    let sorted: Vec<&'a Pod> = order.iter().map(|i| keys[*i].ranked.pod).collect();
    pods.copy_from_slice(&sorted);
}

/// Sorts ranked pods, the first to delete first.
pub fn sort_for_deletion(pods: &mut [RankedPod<'_>], now: Option<Timestamp>) {
    let keys: Vec<Keys<'_>> = pods.iter().map(|r| Keys::of(*r, now)).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    sort_by_less(&mut order, &|a: &usize, b: &usize| {
        less_keys(&keys[*a], &keys[*b])
    });
    for (slot, i) in pods.iter_mut().zip(order) {
        *slot = keys[i].ranked;
    }
}

/// The `diff` pods to delete out of `pods` (upstream `getPodsToDelete`): all of
/// them unsorted when `diff >= pods.len()`, otherwise the first `diff` in deletion
/// order, ranked against `related` (see [`related_pods`]).
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let mut ranked = rank_by_related_pods_on_same_node(pods, related);
    sort_for_deletion(&mut ranked, Some(now));
    ranked.into_iter().take(diff).map(|r| r.pod).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, pod, ready_pod, with_restarts};
    use crate::util::time::k8s;
    use k8s_openapi::api::core::v1::PodCondition;

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    fn on(mut p: Pod, node: &str) -> Pod {
        p.spec.get_or_insert_default().node_name = Some(node.into());
        p
    }

    fn phase(mut p: Pod, phase: &str) -> Pod {
        p.status.get_or_insert_default().phase = Some(phase.into());
        p
    }

    fn created(mut p: Pod, t: Timestamp) -> Pod {
        p.metadata.creation_timestamp = Some(k8s(t));
        p
    }

    fn cost(mut p: Pod, c: &str) -> Pod {
        p.metadata
            .annotations
            .get_or_insert_default()
            .insert(pod::POD_DELETION_COST.into(), c.into());
        p
    }

    fn not_ready(mut p: Pod) -> Pod {
        p.status.get_or_insert_default().conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            ..Default::default()
        }]);
        p
    }

    /// Sorts `pods` (each ranked by co-location among themselves) and returns the
    /// names in deletion order.
    fn order(pods: &[Pod], now: Timestamp) -> Vec<String> {
        let refs: Vec<&Pod> = pods.iter().collect();
        let mut ranked = rank_by_related_pods_on_same_node(&refs, &refs);
        sort_for_deletion(&mut ranked, Some(now));
        ranked
            .iter()
            .map(|r| r.pod.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn each_rule_decides_in_upstream_order() {
        let now = at(100_000);
        // Modelled on TestSortingActivePods: one pod per rule, listed in the order
        // they must come out, shuffled on input.
        let unscheduled = pod("unscheduled");
        let pending = phase(on(pod("pending"), "n1"), "Pending");
        let unknown = phase(on(pod("unknown"), "n1"), "Unknown");
        let running_not_ready = not_ready(phase(on(pod("running-not-ready"), "n1"), "Running"));
        let ready_low_cost = cost(on(ready_pod("ready-low-cost", at(0)), "n2"), "-10");
        let ready_doubled = created(on(ready_pod("ready-doubled-a", at(0)), "n3"), at(99_000));
        let ready_doubled_b = on(ready_pod("ready-doubled-b", at(0)), "n3");
        let recently_ready = on(ready_pod("recently-ready", at(99_990)), "n4");
        let restarts = with_restarts(on(ready_pod("restarts", at(10)), "n5"), 3);
        let newer = created(on(ready_pod("newer", at(10)), "n6"), at(99_000));
        let oldest = created(on(ready_pod("oldest", at(10)), "n7"), at(0));
        let input = vec![
            oldest.clone(),
            restarts.clone(),
            ready_doubled_b.clone(),
            unknown.clone(),
            ready_low_cost.clone(),
            newer.clone(),
            pending.clone(),
            recently_ready.clone(),
            unscheduled.clone(),
            running_not_ready.clone(),
            ready_doubled.clone(),
        ];
        let got = order(&input, now);
        assert_eq!(
            got,
            [
                "unscheduled",
                "pending",
                "unknown",
                "running-not-ready",
                "ready-low-cost",
                "ready-doubled-a",
                "ready-doubled-b",
                "recently-ready",
                "restarts",
                "newer",
                "oldest",
            ]
        );
    }

    #[test]
    fn times_in_the_same_log2_bucket_fall_back_to_uid() {
        let now = at(1_000);
        // Ready 100 s and 120 s ago: both in the 2^36..2^37 ns bucket (68.7 s ..
        // 137 s), so the UID decides, not the exact time.
        let a = ready_pod("a", at(900)); // uid-a, ready longer
        let b = ready_pod("b", at(880)); // uid-b
        assert_eq!(order(&[b.clone(), a.clone()], now), ["a", "b"]);
        // Exact comparison (no `now`) prefers the more recently ready one.
        let refs = [&a, &b];
        let mut ranked = rank_by_related_pods_on_same_node(&refs, &refs);
        sort_for_deletion(&mut ranked, None);
        assert_eq!(ranked[0].pod.metadata.name.as_deref(), Some("a"));
        // Different buckets: 10 s vs 500 s ago → the recent one first whatever
        // the UIDs.
        let recent = ready_pod("z-recent", at(990));
        let old = ready_pod("a-old", at(500));
        assert_eq!(order(&[old, recent], now), ["z-recent", "a-old"]);
    }

    #[test]
    fn equal_ready_times_fall_through_to_restarts_and_creation() {
        let now = at(1_000);
        let a = created(ready_pod("a", at(900)), at(100));
        let b = created(ready_pod("b", at(900)), at(800));
        // Same ready second: creation decides (800 is newer, different bucket).
        assert_eq!(order(&[a.clone(), b.clone()], now), ["b", "a"]);
        let a3 = with_restarts(a, 3);
        assert_eq!(order(&[b, a3], now), ["a", "b"]);
    }

    #[test]
    fn missing_times_sort_first() {
        let now = at(1_000);
        let mut no_time = ready_pod("no-time", at(0));
        no_time
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[0]
            .last_transition_time = None;
        let timed = ready_pod("timed", at(999));
        assert_eq!(order(&[timed, no_time], now), ["no-time", "timed"]);
    }

    #[test]
    fn co_location_counts_related_pods_of_sibling_replicasets() {
        let now = at(1_000);
        let mine_n1 = on(ready_pod("mine-n1", at(0)), "n1");
        let mine_n2 = on(ready_pod("mine-n2", at(0)), "n2");
        // Two pods of a sibling RS on n2 make n2 the crowded node.
        let sib1 = on(ready_pod("sib1", at(0)), "n2");
        let sib2 = on(ready_pod("sib2", at(0)), "n2");
        let mut gone = on(ready_pod("gone", at(0)), "n1");
        gone.status.as_mut().unwrap().phase = Some("Failed".into()); // inactive: not counted
        let mine = [&mine_n1, &mine_n2];
        let related = [&mine_n1, &mine_n2, &sib1, &sib2, &gone];
        let del = pods_to_delete(&mine, &related, 1, now);
        assert_eq!(names(&del), ["mine-n2"]);
        let ranks = rank_by_related_pods_on_same_node(&mine, &related);
        assert_eq!(ranks.iter().map(|r| r.rank).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn related_pods_are_those_of_replica_sets_with_the_same_controller() {
        use crate::util::testing::{labels, rs};
        use k8s_openapi::api::apps::v1::ReplicaSet;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let owned = |mut r: ReplicaSet, owner: &str, app: &str| {
            r.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: owner.into(),
                uid: format!("uid-{owner}"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
            r.spec.as_mut().unwrap().selector.match_labels = Some(labels(&[("app", app)]));
            r
        };
        let a = owned(rs("a", 1, at(0)), "d", "v1");
        let b = owned(rs("b", 1, at(0)), "d", "v2");
        let other = owned(rs("c", 1, at(0)), "e", "v3");
        let with_app = |name: &str, app: &str| {
            let mut p = pod(name);
            p.metadata.labels = Some(labels(&[("app", app)]));
            p
        };
        let (p1, p2, p3) = (
            with_app("p1", "v1"),
            with_app("p2", "v2"),
            with_app("p3", "v3"),
        );
        let all = [&p1, &p2, &p3];
        let rss = [a.clone(), b, other];
        assert_eq!(names(&related_pods(&a, &rss, &all)), ["p1", "p2"]);
        let orphan = rs("o", 1, at(0));
        assert!(related_pods(&orphan, &rss, &all).is_empty());
    }

    #[test]
    fn deleting_everything_skips_sorting() {
        let a = ready_pod("a", at(0));
        let b = pod("b");
        let del = pods_to_delete(&[&a, &b], &[&a, &b], 5, at(10));
        assert_eq!(names(&del), ["a", "b"]);
    }

    #[test]
    fn log_rank_is_floor_log2_of_nanoseconds() {
        let now = at(10);
        assert_eq!(log_rank(at(10), now), -1);
        assert_eq!(log_rank(at(11), now), -1);
        // 1 s = 1e9 ns; 2^29 = 536_870_912 <= 1e9 < 2^30.
        assert_eq!(log_rank(at(9), now), 29);
        // 8 s = 8e9 ns; 2^32 = 4.29e9 <= 8e9 < 2^33.
        assert_eq!(log_rank(at(2), now), 32);
    }
}
