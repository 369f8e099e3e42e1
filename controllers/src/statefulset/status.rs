//! The status a sync writes (upstream `updateStatefulSetStatus`,
//! `completeRollingUpdate` and `inconsistentStatus`). Pure.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};

use super::identity::replicas;

/// Upstream `completeRollingUpdate`: once every replica is updated and ready
/// under `RollingUpdate`, the update revision becomes the current one.
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let want = replicas(set);
    if rolling
        && status.updated_replicas.unwrap_or(0) == want
        && status.ready_replicas.unwrap_or(0) == want
        && status.replicas == want
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}

/// Upstream `inconsistentStatus` negated: whether writing `candidate` over the
/// set's status changes nothing upstream would write for (a newer observed
/// generation, or any count or revision). The collision count alone is not
/// written, as upstream.
pub fn unchanged(current: &StatefulSet, candidate: &StatefulSet) -> bool {
    let empty = StatefulSetStatus::default();
    let a = current.status.as_ref().unwrap_or(&empty);
    let b = candidate.status.as_ref().unwrap_or(&empty);
    let n = |v: Option<i32>| v.unwrap_or(0);
    !(b.observed_generation.unwrap_or(0) > a.observed_generation.unwrap_or(0)
        || b.replicas != a.replicas
        || n(b.current_replicas) != n(a.current_replicas)
        || n(b.ready_replicas) != n(a.ready_replicas)
        || n(b.updated_replicas) != n(a.updated_replicas)
        || b.current_revision != a.current_revision
        || n(b.available_replicas) != n(a.available_replicas)
        || b.update_revision != a.update_revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statefulset::testing::{on_delete, set};

    fn status(replicas: i32, ready: i32, updated: i32) -> StatefulSetStatus {
        StatefulSetStatus {
            replicas,
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            current_replicas: Some(replicas - updated),
            current_revision: Some("web-1".into()),
            update_revision: Some("web-2".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_rolling_update_completes_when_all_are_updated_and_ready() {
        let s = set("web", 3);
        let mut st = status(3, 3, 3);
        complete_rolling_update(&s, &mut st);
        assert_eq!(st.current_revision.as_deref(), Some("web-2"));
        assert_eq!(st.current_replicas, Some(3));
        for (r, ready, upd) in [(3, 2, 3), (3, 3, 2), (2, 2, 2)] {
            let mut st = status(r, ready, upd);
            complete_rolling_update(&s, &mut st);
            assert_eq!(
                st.current_revision.as_deref(),
                Some("web-1"),
                "{r} {ready} {upd}"
            );
        }
        let mut st = status(3, 3, 3);
        complete_rolling_update(&on_delete(set("web", 3)), &mut st);
        assert_eq!(st.current_revision.as_deref(), Some("web-1"));
    }

    #[test]
    fn only_counts_revisions_and_newer_generations_are_written() {
        let mut a = set("web", 3);
        a.status = Some(status(3, 3, 3));
        let mut b = a.clone();
        b.status.as_mut().unwrap().collision_count = Some(1);
        assert!(unchanged(&a, &b));
        b.status.as_mut().unwrap().available_replicas = Some(2);
        assert!(!unchanged(&a, &b));
        let mut c = a.clone();
        c.status.as_mut().unwrap().observed_generation = Some(2);
        assert!(!unchanged(&a, &c));
    }
}
