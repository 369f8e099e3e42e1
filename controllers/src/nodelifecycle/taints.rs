//! The node lifecycle controller's taints, as upstream:
//!
//! - NoSchedule (`doNoScheduleTaintingPass`): one taint per condition in a bad state
//!   (`Ready` `False` → `not-ready`, `Unknown` → `unreachable`, `MemoryPressure`,
//!   `DiskPressure`, `PIDPressure`, `NetworkUnavailable` `True` → their keys) and
//!   `unschedulable` for a cordoned node. Only NoSchedule taints with those keys are
//!   the controller's: it adds and removes them and never touches another taint.
//! - NoExecute (`processTaintBaseEviction`): `not-ready` for `Ready=False`,
//!   `unreachable` for `Ready=Unknown`, mutually exclusive (one is swapped for the
//!   other at once, without the zone's rate limit); a new one is queued in its zone's
//!   rate-limited tainter; a Ready node loses both.
//!
//! Taint identity is key and effect (upstream `MatchTaint`); added taints carry
//! `timeAdded` (upstream `SwapNodeControllerTaint`).

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// `node.kubernetes.io/not-ready`: the node's `Ready` condition is `False`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`: the node's `Ready` condition is `Unknown`.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/unschedulable`: the node is cordoned.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/memory-pressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/disk-pressure`.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/network-unavailable`.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// `node.kubernetes.io/pid-pressure`.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";

/// `NoSchedule`.
pub const NO_SCHEDULE: &str = "NoSchedule";
/// `NoExecute`.
pub const NO_EXECUTE: &str = "NoExecute";

/// Upstream `nodeConditionToTaintKeyStatusMap`: the taint key a condition in a
/// given status stands for.
pub fn condition_taint_key(condition_type: &str, status: &str) -> Option<&'static str> {
    match (condition_type, status) {
        ("Ready", "False") => Some(TAINT_NOT_READY),
        ("Ready", "Unknown") => Some(TAINT_UNREACHABLE),
        ("MemoryPressure", "True") => Some(TAINT_MEMORY_PRESSURE),
        ("DiskPressure", "True") => Some(TAINT_DISK_PRESSURE),
        ("NetworkUnavailable", "True") => Some(TAINT_NETWORK_UNAVAILABLE),
        ("PIDPressure", "True") => Some(TAINT_PID_PRESSURE),
        _ => None,
    }
}

/// Whether `key` is one of the condition taints (upstream `taintKeyToNodeConditionMap`).
fn is_condition_taint_key(key: &str) -> bool {
    [
        TAINT_NOT_READY,
        TAINT_UNREACHABLE,
        TAINT_MEMORY_PRESSURE,
        TAINT_DISK_PRESSURE,
        TAINT_NETWORK_UNAVAILABLE,
        TAINT_PID_PRESSURE,
    ]
    .contains(&key)
}

/// A taint template: `key`, no value, `effect`, no time.
pub fn template(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_string(),
        value: None,
        effect: effect.to_string(),
        time_added: None,
    }
}

fn matches(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// The node's taints (empty when none).
pub fn taints_of(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

/// Whether `node` has a taint matching `t` (key and effect).
pub fn has_taint(node: &Node, t: &Taint) -> bool {
    taints_of(node).iter().any(|have| matches(have, t))
}

/// Upstream `doNoScheduleTaintingPass`'s decision: the NoSchedule taints to add and
/// to remove so the node's condition and unschedulable taints say what its status
/// and `spec.unschedulable` say.
pub fn no_schedule_diff(node: &Node) -> (Vec<Taint>, Vec<Taint>) {
    let mut wanted: Vec<Taint> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| condition_taint_key(&c.type_, &c.status))
        .map(|key| template(key, NO_SCHEDULE))
        .collect();
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        wanted.push(template(TAINT_UNSCHEDULABLE, NO_SCHEDULE));
    }
    let managed: Vec<&Taint> = taints_of(node)
        .iter()
        .filter(|t| {
            t.effect == NO_SCHEDULE
                && (t.key == TAINT_UNSCHEDULABLE || is_condition_taint_key(&t.key))
        })
        .collect();
    let add = wanted
        .iter()
        .filter(|w| !managed.iter().any(|m| matches(m, w)))
        .cloned()
        .collect();
    let remove = managed
        .iter()
        .filter(|m| !wanted.iter().any(|w| matches(m, w)))
        .map(|t| (*t).clone())
        .collect();
    (add, remove)
}

/// `current` with `add` put on (stamped `now`; a taint already there by key and
/// effect is kept as it is) and `remove` taken off, or `None` when that changes
/// nothing. Every other taint stays where it is.
pub fn swap(
    current: &[Taint],
    add: &[Taint],
    remove: &[Taint],
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !remove.iter().any(|r| matches(r, t)) || add.iter().any(|a| matches(a, t)))
        .cloned()
        .collect();
    for a in add {
        if !out.iter().any(|t| matches(t, a)) {
            let mut t = a.clone();
            t.time_added = Some(Time(now));
            out.push(t);
        }
    }
    (out != current).then_some(out)
}

/// What upstream's `processTaintBaseEviction` does with a node, given the status of
/// its observed `Ready` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum NoExecuteStep {
    /// The node has the opposite NoExecute taint: swap it at once (no rate limit).
    SwapNow {
        /// The taint to put on.
        add: Taint,
        /// The taint to take off.
        remove: Taint,
    },
    /// Queue the node in its zone's tainter (first dropping a stale queue entry when
    /// the node lacks the taint).
    MarkForTainting {
        /// Whether the stale entry is dropped first (the node lacks the taint its
        /// status calls for).
        requeue: bool,
    },
    /// Ready: both NoExecute taints go and the node leaves the tainter.
    MarkReachable,
}

/// The NoExecute step for `node` whose observed `Ready` status is `ready`.
pub fn no_execute_step(node: &Node, ready: &str) -> NoExecuteStep {
    let unreachable = template(TAINT_UNREACHABLE, NO_EXECUTE);
    let not_ready = template(TAINT_NOT_READY, NO_EXECUTE);
    match ready {
        "False" if has_taint(node, &unreachable) => NoExecuteStep::SwapNow {
            add: not_ready,
            remove: unreachable,
        },
        "False" => NoExecuteStep::MarkForTainting {
            requeue: !has_taint(node, &not_ready),
        },
        "Unknown" if has_taint(node, &not_ready) => NoExecuteStep::SwapNow {
            add: unreachable,
            remove: not_ready,
        },
        "Unknown" => NoExecuteStep::MarkForTainting {
            requeue: !has_taint(node, &unreachable),
        },
        _ => NoExecuteStep::MarkReachable,
    }
}

/// The NoExecute taint a queued node gets when its turn comes, with the one it
/// excludes (upstream `doNoExecuteTaintingPass`): by its current `Ready` status;
/// `None` when it is Ready again (nothing to do).
pub fn no_execute_taint_for(ready: &str) -> Option<(Taint, Taint)> {
    let unreachable = template(TAINT_UNREACHABLE, NO_EXECUTE);
    let not_ready = template(TAINT_NOT_READY, NO_EXECUTE);
    match ready {
        "False" => Some((not_ready, unreachable)),
        "Unknown" => Some((unreachable, not_ready)),
        _ => None,
    }
}

/// The NoExecute taints a reachable node loses (upstream `markNodeAsReachable`).
pub fn reachable_removals() -> [Taint; 2] {
    [
        template(TAINT_UNREACHABLE, NO_EXECUTE),
        template(TAINT_NOT_READY, NO_EXECUTE),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};

    fn node(conditions: &[(&str, &str)], unschedulable: bool, taints: Vec<Taint>) -> Node {
        Node {
            spec: Some(NodeSpec {
                unschedulable: unschedulable.then_some(true),
                taints: Some(taints),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| NodeCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn user(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some("v".into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn keys(ts: &[Taint]) -> Vec<String> {
        ts.iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    }

    #[test]
    fn no_schedule_taints_follow_conditions_and_cordons_only() {
        let healthy = [
            ("Ready", "True"),
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
        ];
        let table: Vec<(&str, Node, Vec<&str>, Vec<&str>)> = vec![
            (
                "healthy, untainted",
                node(&healthy, false, vec![]),
                vec![],
                vec![],
            ),
            (
                "unknown",
                node(&[("Ready", "Unknown")], false, vec![]),
                vec!["node.kubernetes.io/unreachable:NoSchedule"],
                vec![],
            ),
            (
                "false, with a stale unreachable taint and a user's",
                node(
                    &[("Ready", "False")],
                    false,
                    vec![
                        template(TAINT_UNREACHABLE, NO_SCHEDULE),
                        user("dedicated", NO_SCHEDULE),
                        user(TAINT_UNREACHABLE, NO_EXECUTE),
                    ],
                ),
                vec!["node.kubernetes.io/not-ready:NoSchedule"],
                vec!["node.kubernetes.io/unreachable:NoSchedule"],
            ),
            (
                "recovered and cordoned",
                node(&healthy, true, vec![template(TAINT_NOT_READY, NO_SCHEDULE)]),
                vec!["node.kubernetes.io/unschedulable:NoSchedule"],
                vec!["node.kubernetes.io/not-ready:NoSchedule"],
            ),
            (
                "pressures",
                node(
                    &[
                        ("Ready", "True"),
                        ("MemoryPressure", "True"),
                        ("DiskPressure", "True"),
                        ("PIDPressure", "True"),
                        ("NetworkUnavailable", "True"),
                    ],
                    false,
                    vec![],
                ),
                vec![
                    "node.kubernetes.io/memory-pressure:NoSchedule",
                    "node.kubernetes.io/disk-pressure:NoSchedule",
                    "node.kubernetes.io/pid-pressure:NoSchedule",
                    "node.kubernetes.io/network-unavailable:NoSchedule",
                ],
                vec![],
            ),
            (
                "uncordoned",
                node(
                    &healthy,
                    false,
                    vec![template(TAINT_UNSCHEDULABLE, NO_SCHEDULE)],
                ),
                vec![],
                vec!["node.kubernetes.io/unschedulable:NoSchedule"],
            ),
        ];
        for (case, n, add, remove) in table {
            let (a, r) = no_schedule_diff(&n);
            assert_eq!(keys(&a), add, "{case}: add");
            assert_eq!(keys(&r), remove, "{case}: remove");
        }
    }

    #[test]
    fn swapping_touches_only_the_named_taints_and_stamps_new_ones() {
        let now = at(5);
        let mine = template(TAINT_UNREACHABLE, NO_EXECUTE);
        let theirs = user("dedicated", NO_EXECUTE);
        let old = template(TAINT_NOT_READY, NO_EXECUTE);
        let current = vec![theirs.clone(), old.clone()];
        let out = swap(
            &current,
            std::slice::from_ref(&mine),
            std::slice::from_ref(&old),
            now,
        )
        .expect("changes");
        assert_eq!(
            keys(&out),
            vec![
                "dedicated:NoExecute",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        assert_eq!(out[1].time_added, Some(Time(now)));
        assert_eq!(out[0], theirs);
        // Already there: no change, the first timeAdded kept.
        assert_eq!(swap(&out, std::slice::from_ref(&mine), &[], at(9)), None);
        // Removing what is not there changes nothing either.
        assert_eq!(swap(&current[..1], &[], &reachable_removals(), now), None);
    }

    #[test]
    fn no_execute_steps_as_upstreams_taint_based_eviction() {
        let unreachable = template(TAINT_UNREACHABLE, NO_EXECUTE);
        let not_ready = template(TAINT_NOT_READY, NO_EXECUTE);
        let bare = node(&[], false, vec![]);
        let tainted_unreachable = node(&[], false, vec![unreachable.clone()]);
        let tainted_not_ready = node(&[], false, vec![not_ready.clone()]);
        assert_eq!(
            no_execute_step(&bare, "Unknown"),
            NoExecuteStep::MarkForTainting { requeue: true }
        );
        assert_eq!(
            no_execute_step(&tainted_unreachable, "Unknown"),
            NoExecuteStep::MarkForTainting { requeue: false }
        );
        assert_eq!(
            no_execute_step(&tainted_not_ready, "Unknown"),
            NoExecuteStep::SwapNow {
                add: unreachable.clone(),
                remove: not_ready.clone()
            }
        );
        assert_eq!(
            no_execute_step(&tainted_unreachable, "False"),
            NoExecuteStep::SwapNow {
                add: not_ready.clone(),
                remove: unreachable.clone()
            }
        );
        assert_eq!(
            no_execute_step(&bare, "False"),
            NoExecuteStep::MarkForTainting { requeue: true }
        );
        assert_eq!(
            no_execute_step(&tainted_not_ready, "True"),
            NoExecuteStep::MarkReachable
        );
        assert_eq!(
            no_execute_taint_for("Unknown"),
            Some((unreachable.clone(), not_ready.clone()))
        );
        assert_eq!(
            no_execute_taint_for("False"),
            Some((not_ready, unreachable))
        );
        assert_eq!(no_execute_taint_for("True"), None);
    }
}
