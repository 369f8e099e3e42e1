//! The pure decisions of the taint eviction controller (upstream
//! `getNoExecuteTaints`, `v1helper.GetMatchingTolerations`, `getMinTolerationTime`
//! and the scheduling half of `processPodOnNode`): given a pod's tolerations, its
//! node's `NoExecute` taints, the time and the deletion already scheduled for it,
//! say whether it is deleted now, later, or never.

use std::time::Duration;

use capstan_labels::node::toleration_tolerates;
use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::jiff::Timestamp;

use crate::util::time;

/// The taint effect this controller acts on.
pub const NO_EXECUTE: &str = "NoExecute";

/// The `NoExecute` taints among `taints`, in their order (upstream
/// `getNoExecuteTaints`).
pub fn no_execute_taints(taints: &[Taint]) -> Vec<Taint> {
    taints
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect()
}

/// For each taint, the first toleration tolerating it; `None` when some taint is
/// tolerated by none (upstream `GetMatchingTolerations`: only the first matching
/// toleration of each taint counts towards the toleration time).
pub fn matching_tolerations<'a>(
    taints: &[Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| toleration_tolerates(t, taint)))
        .collect()
}

/// How long a pod may stay on its tainted node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TolerationTime {
    /// Every toleration used is without `tolerationSeconds`: the pod stays.
    Forever,
    /// The smallest `tolerationSeconds` (zero: deleted at once).
    For(Duration),
}

/// The smallest `tolerationSeconds` of the tolerations used (upstream
/// `getMinTolerationTime`): zero when there are none or one is zero or negative,
/// [`TolerationTime::Forever`] when none has `tolerationSeconds`.
pub fn min_toleration_time(used: &[&Toleration]) -> TolerationTime {
    if used.is_empty() {
        return TolerationTime::For(Duration::ZERO);
    }
    let mut min: Option<i64> = None;
    for seconds in used.iter().filter_map(|t| t.toleration_seconds) {
        if seconds <= 0 {
            return TolerationTime::For(Duration::ZERO);
        }
        min = Some(min.map_or(seconds, |m| m.min(seconds)));
    }
    match min {
        None => TolerationTime::Forever,
        Some(s) => TolerationTime::For(Duration::from_secs(s.unsigned_abs())),
    }
}

/// A deletion scheduled for one pod (upstream's `TimedWorker`): counted from
/// `created_at`, due at `fire_at`, for the pod of `uid` only (a pod recreated under
/// the same name is not deleted in its place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// The uid of the pod to delete.
    pub uid: String,
    /// When the controller first saw the pod on its tainted node.
    pub created_at: Timestamp,
    /// When the deletion is due.
    pub fire_at: Timestamp,
}

impl Scheduled {
    /// Whether the deletion is due at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.fire_at <= now
    }

    /// Whether the deletion was due at once when scheduled (upstream starts such
    /// work without a timer, and cancelling it emits no Event).
    pub fn is_immediate(&self) -> bool {
        self.fire_at <= self.created_at
    }
}

/// What to do with a pod on a node with `NoExecute` taints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No deletion (no taints, or every taint tolerated forever): any scheduled
    /// deletion is cancelled.
    Cancel,
    /// The deletion already scheduled stands.
    Keep,
    /// Delete at `at.fire_at` (at once when that is now); `replaces` says a
    /// scheduled deletion is cancelled first.
    Schedule {
        /// The deletion.
        at: Scheduled,
        /// Whether it replaces one already scheduled.
        replaces: bool,
    },
}

/// The decision for the pod of `uid` with `tolerations` on a node whose `NoExecute`
/// taints are `taints`, at `now`, with `existing` the deletion scheduled for it
/// (upstream `processPodOnNode`/`getPodEvictionDecision`):
///
/// - no taints, or all tolerated forever → [`Decision::Cancel`];
/// - a deletion of this pod already due (it is being carried out or retried) →
///   [`Decision::Keep`]: a re-evaluation never postpones it;
/// - a taint not tolerated, or a toleration time of zero → delete now;
/// - otherwise delete after the smallest `tolerationSeconds`, counted from when
///   the controller first saw the situation: a deletion already scheduled for the
///   same pod keeps its time (upstream keeps the existing worker unless its start
///   lies after `now`, which only a clock stepping back produces).
pub fn decide(
    uid: &str,
    tolerations: &[Toleration],
    taints: &[Taint],
    now: Timestamp,
    existing: Option<&Scheduled>,
) -> Decision {
    if taints.is_empty() {
        return Decision::Cancel;
    }
    let same_pod = existing.filter(|s| s.uid == uid);
    let wait = match matching_tolerations(taints, tolerations) {
        None => Duration::ZERO,
        Some(used) => match min_toleration_time(&used) {
            TolerationTime::Forever => return Decision::Cancel,
            TolerationTime::For(d) => d,
        },
    };
    if same_pod.is_some_and(|s| s.is_due(now)) {
        return Decision::Keep;
    }
    let replaces = existing.is_some();
    if wait.is_zero() {
        return Decision::Schedule {
            at: Scheduled {
                uid: uid.to_string(),
                created_at: now,
                fire_at: now,
            },
            replaces,
        };
    }
    match same_pod {
        Some(s) if s.created_at <= now => Decision::Keep,
        // Upstream: the existing start is kept, the trigger moves to now + wait.
        Some(s) => Decision::Schedule {
            at: Scheduled {
                uid: uid.to_string(),
                created_at: s.created_at,
                fire_at: time::add(now, wait),
            },
            replaces: true,
        },
        None => Decision::Schedule {
            at: Scheduled {
                uid: uid.to_string(),
                created_at: now,
                fire_at: time::add(now, wait),
            },
            replaces,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(key: &str, op: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: None,
            effect: Some(effect.into()),
            toleration_seconds: seconds,
        }
    }

    fn scheduled(uid: &str, created: i64, fire: i64) -> Scheduled {
        Scheduled {
            uid: uid.into(),
            created_at: at(created),
            fire_at: at(fire),
        }
    }

    fn schedule(uid: &str, created: i64, fire: i64, replaces: bool) -> Decision {
        Decision::Schedule {
            at: scheduled(uid, created, fire),
            replaces,
        }
    }

    #[test]
    fn only_no_execute_taints_count() {
        let taints = [
            taint("a", "1", "NoSchedule"),
            taint("b", "2", "NoExecute"),
            taint("c", "3", "PreferNoSchedule"),
            taint("d", "4", "NoExecute"),
        ];
        let keys: Vec<String> = no_execute_taints(&taints)
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, ["b", "d"]);
        assert!(no_execute_taints(&[]).is_empty());
    }

    #[test]
    fn each_taint_uses_its_first_matching_toleration() {
        let taints = [
            taint("dedicated", "x", NO_EXECUTE),
            taint("node.kubernetes.io/unreachable", "", NO_EXECUTE),
        ];
        let forever = tol("dedicated", "Exists", NO_EXECUTE, None);
        let short = tol("dedicated", "Exists", NO_EXECUTE, Some(5));
        let unreachable = tol(
            "node.kubernetes.io/unreachable",
            "Exists",
            NO_EXECUTE,
            Some(300),
        );
        let all = [forever.clone(), short.clone(), unreachable.clone()];
        let used = matching_tolerations(&taints, &all).expect("all tolerated");
        assert_eq!(used, [&forever, &unreachable], "the first match per taint");
        let reversed = [short.clone(), forever, unreachable.clone()];
        assert_eq!(
            matching_tolerations(&taints, &reversed).expect("all tolerated"),
            [&short, &unreachable]
        );
        // One untolerated taint is enough to fail.
        assert_eq!(matching_tolerations(&taints, &[short]), None);
        assert_eq!(matching_tolerations(&taints, &[]), None);
        // Value, effect and the empty key (every taint) as the shared matcher says.
        let wildcard = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert!(matching_tolerations(&taints, std::slice::from_ref(&wildcard)).is_some());
        let wrong_value = Toleration {
            key: Some("dedicated".into()),
            operator: Some("Equal".into()),
            value: Some("y".into()),
            effect: Some(NO_EXECUTE.into()),
            toleration_seconds: None,
        };
        assert_eq!(matching_tolerations(&taints[..1], &[wrong_value]), None);
        let no_schedule_only = tol("dedicated", "Exists", "NoSchedule", None);
        assert_eq!(
            matching_tolerations(&taints[..1], &[no_schedule_only]),
            None
        );
    }

    #[test]
    fn the_smallest_toleration_seconds_wins() {
        let t = |s: Option<i64>| tol("k", "Exists", NO_EXECUTE, s);
        let table: [(&str, Vec<Toleration>, TolerationTime); 6] = [
            ("none used", vec![], TolerationTime::For(Duration::ZERO)),
            (
                "all forever",
                vec![t(None), t(None)],
                TolerationTime::Forever,
            ),
            (
                "the minimum of finite ones",
                vec![t(Some(300)), t(None), t(Some(3))],
                TolerationTime::For(Duration::from_secs(3)),
            ),
            (
                "zero is at once",
                vec![t(Some(300)), t(Some(0))],
                TolerationTime::For(Duration::ZERO),
            ),
            (
                "negative is at once",
                vec![t(Some(-5))],
                TolerationTime::For(Duration::ZERO),
            ),
            (
                "one finite",
                vec![t(Some(300))],
                TolerationTime::For(Duration::from_secs(300)),
            ),
        ];
        for (case, tolerations, want) in table {
            let used: Vec<&Toleration> = tolerations.iter().collect();
            assert_eq!(min_toleration_time(&used), want, "{case}");
        }
    }

    /// A decision case: name, tolerations, taints, the deletion scheduled, the answer.
    type Case<'a> = (
        &'a str,
        &'a [Toleration],
        &'a [Taint],
        Option<Scheduled>,
        Decision,
    );

    #[test]
    fn decisions_follow_upstream_process_pod_on_node() {
        let dedicated: &[Taint] = &[taint("dedicated", "x", NO_EXECUTE)];
        let untainted: &[Taint] = &[];
        let none: &[Toleration] = &[];
        let forever: &[Toleration] = &[tol("dedicated", "Exists", NO_EXECUTE, None)];
        let three: &[Toleration] = &[tol("dedicated", "Exists", NO_EXECUTE, Some(3))];
        let zero: &[Toleration] = &[tol("dedicated", "Exists", NO_EXECUTE, Some(0))];
        let other: &[Toleration] = &[tol("other", "Exists", NO_EXECUTE, None)];
        let now = at(100);
        let table: Vec<Case> = vec![
            ("no taints", none, untainted, None, Decision::Cancel),
            (
                "no taints cancel what was scheduled",
                three,
                untainted,
                Some(scheduled("u", 90, 93)),
                Decision::Cancel,
            ),
            (
                "untolerated: now",
                none,
                dedicated,
                None,
                schedule("u", 100, 100, false),
            ),
            (
                "another key's toleration",
                other,
                dedicated,
                None,
                schedule("u", 100, 100, false),
            ),
            (
                "zero seconds: now",
                zero,
                dedicated,
                None,
                schedule("u", 100, 100, false),
            ),
            (
                "untolerated after a timed deletion: now, replacing it",
                none,
                dedicated,
                Some(scheduled("u", 90, 190)),
                schedule("u", 100, 100, true),
            ),
            (
                "tolerated forever",
                forever,
                dedicated,
                None,
                Decision::Cancel,
            ),
            (
                "forever after a timed deletion cancels it",
                forever,
                dedicated,
                Some(scheduled("u", 90, 93)),
                Decision::Cancel,
            ),
            (
                "finite: later",
                three,
                dedicated,
                None,
                schedule("u", 100, 103, false),
            ),
            (
                "finite again: the first time stands",
                three,
                dedicated,
                Some(scheduled("u", 99, 102)),
                Decision::Keep,
            ),
            (
                "finite, with a longer deletion scheduled earlier: it stands (upstream)",
                three,
                dedicated,
                Some(scheduled("u", 50, 350)),
                Decision::Keep,
            ),
            (
                "a clock stepped back: the start stays, the trigger moves",
                three,
                dedicated,
                Some(scheduled("u", 120, 123)),
                schedule("u", 120, 103, true),
            ),
            (
                "a due deletion is never postponed",
                three,
                dedicated,
                Some(scheduled("u", 90, 100)),
                Decision::Keep,
            ),
            (
                "a due deletion being retried stays when still untolerated",
                none,
                dedicated,
                Some(scheduled("u", 90, 90)),
                Decision::Keep,
            ),
            (
                "a recreated pod (new uid) starts afresh",
                three,
                dedicated,
                Some(scheduled("old", 10, 13)),
                schedule("u", 100, 103, true),
            ),
            (
                "a recreated untolerating pod is deleted now",
                none,
                dedicated,
                Some(scheduled("old", 10, 10)),
                schedule("u", 100, 100, true),
            ),
        ];
        for (case, tolerations, taints, existing, want) in table {
            assert_eq!(
                decide("u", tolerations, taints, now, existing.as_ref()),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn deadlines_are_the_first_sighting_plus_the_smallest_toleration() {
        let taints = [
            taint("dedicated", "x", NO_EXECUTE),
            taint("node.kubernetes.io/unreachable", "", NO_EXECUTE),
        ];
        let tolerations = [
            tol("dedicated", "Exists", NO_EXECUTE, Some(30)),
            tol(
                "node.kubernetes.io/unreachable",
                "Exists",
                NO_EXECUTE,
                Some(300),
            ),
        ];
        let first = decide("u", &tolerations, &taints, at(0), None);
        let Decision::Schedule { at: s, replaces } = first else {
            panic!("scheduled: {first:?}");
        };
        assert!(!replaces);
        assert_eq!((s.created_at, s.fire_at), (at(0), at(30)));
        assert!(!s.is_due(at(29)) && s.is_due(at(30)) && !s.is_immediate());
        // Seen again 20 s later: still due at 30.
        assert_eq!(
            decide("u", &tolerations, &taints, at(20), Some(&s)),
            Decision::Keep
        );
    }
}
