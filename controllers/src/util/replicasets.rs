//! ReplicaSet accessors and the orderings of `pkg/controller/controller_utils.go`.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::jiff::Timestamp;

/// `spec.replicas`, defaulted to 1 as the API server defaults it.
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    crate::replicaset::ReplicaSetLike::replicas(rs)
}

/// `status.replicas` (0 without a status).
pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// `status.readyReplicas` (0 when unset).
pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// `status.availableReplicas` (0 when unset).
pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `metadata.name` (empty when unset).
pub fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

/// `metadata.creationTimestamp`, if set.
pub fn created(rs: &ReplicaSet) -> Option<Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// True for ReplicaSets with `spec.replicas > 0` (upstream `FilterActiveReplicaSets`).
pub fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

/// Oldest first, ties by name (upstream `ReplicaSetsByCreationTimestamp`; an unset
/// timestamp is the zero time, i.e. oldest).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| name(a).cmp(name(b)))
}

/// Larger first, ties oldest first (upstream `ReplicaSetsBySizeOlder`, used when
/// scaling down).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Larger first, ties newest first (upstream `ReplicaSetsBySizeNewer`, used when
/// scaling up).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Sum of `spec.replicas` (upstream `GetReplicaCountForReplicaSets`).
pub fn sum_spec<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(spec_replicas).sum()
}

/// Sum of `status.replicas` (upstream `GetActualReplicaCountForReplicaSets`).
pub fn sum_actual<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(status_replicas).sum()
}

/// Sum of `status.readyReplicas`.
pub fn sum_ready<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(ready_replicas).sum()
}

/// Sum of `status.availableReplicas`.
pub fn sum_available<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(available_replicas).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::{at, rs};

    #[test]
    fn size_orderings_break_ties_by_age_in_the_scaling_direction() {
        let old = rs("old", 5, at(1));
        let new = rs("new", 5, at(2));
        let big = rs("big", 7, at(3));
        let mut v = [&old, &new, &big];
        v.sort_by(|a, b| by_size_older(a, b));
        assert_eq!(
            v.iter().map(|r| name(r)).collect::<Vec<_>>(),
            ["big", "old", "new"]
        );
        v.sort_by(|a, b| by_size_newer(a, b));
        assert_eq!(
            v.iter().map(|r| name(r)).collect::<Vec<_>>(),
            ["big", "new", "old"]
        );
        v.sort_by(|a, b| by_creation(a, b));
        assert_eq!(
            v.iter().map(|r| name(r)).collect::<Vec<_>>(),
            ["old", "new", "big"]
        );
    }
}
