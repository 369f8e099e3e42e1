//! A node's health as the controller tracks it, upstream's `nodeHealthData` and
//! `tryUpdateNodeHealth`: when the controller last *saw* the node alive (its
//! `probeTimestamp`: a new `Ready` heartbeat time in its status, or a renewed
//! Lease in `kube-node-lease`), and, once that is older than the grace period
//! (`--node-monitor-grace-period`, or `--node-startup-grace-period` for a node that
//! never posted a `Ready` condition), the status that marks the kubelet's conditions
//! `Unknown`.
//!
//! Times are the controller's clock: a node's own timestamps are compared only with
//! themselves (did the heartbeat change?), never with `now`, so a skewed node clock
//! does not matter (as upstream).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::util::time::add;

/// `Ready`.
pub const NODE_READY: &str = "Ready";
/// The conditions the controller sets `Unknown` (upstream leaves
/// `NetworkUnavailable` alone: the network plugin owns it).
pub const KUBELET_CONDITIONS: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
/// Reason of a condition the kubelet stopped reporting.
pub const REASON_NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";
/// Its message.
pub const MESSAGE_NODE_STATUS_UNKNOWN: &str = "Kubelet stopped posting node status.";
/// Reason of a condition the kubelet never reported.
pub const REASON_NODE_STATUS_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
/// Its message.
pub const MESSAGE_NODE_STATUS_NEVER_UPDATED: &str = "Kubelet never posted node status.";

/// What the controller remembers of a node between passes (upstream `nodeHealthData`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHealth {
    /// The `Ready` condition of the status last seen (or written).
    pub ready: Option<NodeCondition>,
    /// When the node was last seen alive (controller clock).
    pub probe_timestamp: Timestamp,
    /// When its `Ready` condition last changed (controller clock).
    pub ready_transition_timestamp: Timestamp,
    /// The `renewTime` of its Lease last seen.
    pub lease_renew_time: Option<Timestamp>,
}

/// The grace periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriods {
    /// `--node-monitor-grace-period`.
    pub monitor: Duration,
    /// `--node-startup-grace-period` (a node without a `Ready` condition).
    pub startup: Duration,
}

/// One pass's view of a node (upstream `tryUpdateNodeHealth`'s results).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The health to remember if no status is written.
    pub health: NodeHealth,
    /// The grace period that applied.
    pub grace_period: Duration,
    /// The `Ready` condition as the node had it (a made-up `Unknown` one stamped at
    /// its creation when it has none).
    pub observed_ready: NodeCondition,
    /// The `Ready` condition after this pass (`Unknown` once the grace period ran
    /// out); `None` when the node never had one and still has none.
    pub current_ready: Option<NodeCondition>,
    /// The conditions to write when the `Ready` condition changed.
    pub write: Option<Vec<NodeCondition>>,
}

impl Observation {
    /// The health to remember once [`Observation::write`] is stored: the new
    /// `Ready` condition, its transition now.
    pub fn health_after_write(&self, now: Timestamp) -> NodeHealth {
        NodeHealth {
            ready: self.current_ready.clone(),
            probe_timestamp: self.health.probe_timestamp,
            ready_transition_timestamp: now,
            lease_renew_time: self.health.lease_renew_time,
        }
    }
}

/// The condition of `type_` among `conditions`.
pub fn condition<'a>(conditions: &'a [NodeCondition], type_: &str) -> Option<&'a NodeCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn conditions_of(node: &Node) -> &[NodeCondition] {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
}

/// The `Ready` condition of `node`.
pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    condition(conditions_of(node), NODE_READY)
}

fn fresh(ready: Option<&NodeCondition>, now: Timestamp) -> NodeHealth {
    NodeHealth {
        ready: ready.cloned(),
        probe_timestamp: now,
        ready_transition_timestamp: now,
        lease_renew_time: None,
    }
}

/// Upstream `tryUpdateNodeHealth` without I/O: given the node, what was remembered
/// of it, its Lease's `renewTime` and `now`.
pub fn observe(
    node: &Node,
    saved: Option<&NodeHealth>,
    lease_renew_time: Option<Timestamp>,
    now: Timestamp,
    grace: GracePeriods,
) -> Observation {
    let created = node
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let current = ready_condition(node);
    let (observed_ready, grace_period) = match current {
        Some(c) => (c.clone(), grace.monitor),
        None => (
            // Never posted: a made-up Unknown condition stamped at the creation.
            NodeCondition {
                type_: NODE_READY.to_string(),
                status: "Unknown".to_string(),
                last_heartbeat_time: Some(Time(created)),
                last_transition_time: Some(Time(created)),
                ..Default::default()
            },
            grace.startup,
        ),
    };
    let saved_lease = saved.and_then(|h| h.lease_renew_time);
    let mut health = match (saved, current) {
        (None, None) => NodeHealth {
            ready: None,
            probe_timestamp: created,
            ready_transition_timestamp: created,
            lease_renew_time: None,
        },
        (Some(h), None) => {
            if h.ready.is_some() {
                // The Ready condition was removed: start over (as upstream).
                fresh(None, now)
            } else {
                h.clone()
            }
        }
        (None, Some(c)) => fresh(Some(c), now),
        (Some(h), Some(c)) => match &h.ready {
            // Controller restarted with the node already known, or a node that
            // just posted its first Ready condition.
            None => fresh(Some(c), now),
            Some(s) if s.last_heartbeat_time != c.last_heartbeat_time => NodeHealth {
                ready: Some(c.clone()),
                probe_timestamp: now,
                ready_transition_timestamp: if s.last_transition_time != c.last_transition_time {
                    now
                } else {
                    h.ready_transition_timestamp
                },
                lease_renew_time: h.lease_renew_time,
            },
            Some(_) => h.clone(),
        },
    };
    // A renewed Lease always counts as a sign of life.
    if let Some(renewed) = lease_renew_time
        && saved_lease.is_none_or(|s| s < renewed)
    {
        health.lease_renew_time = Some(renewed);
        health.probe_timestamp = now;
    }
    let mut current_ready = current.cloned();
    let mut write = None;
    if now > add(health.probe_timestamp, grace_period) {
        let mut conditions = conditions_of(node).to_vec();
        mark_unknown(&mut conditions, created, now);
        current_ready = condition(&conditions, NODE_READY).cloned();
        if current_ready.as_ref() != Some(&observed_ready) {
            write = Some(conditions);
        }
    }
    Observation {
        health,
        grace_period,
        observed_ready,
        current_ready,
        write,
    }
}

/// Upstream's marking of a silent node: each of [`KUBELET_CONDITIONS`] not yet
/// `Unknown` becomes `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting node
/// status.", transition `now`); one never reported is added as `Unknown`
/// (`NodeStatusNeverUpdated`, heartbeat at the node's creation).
pub fn mark_unknown(conditions: &mut Vec<NodeCondition>, created: Timestamp, now: Timestamp) {
    for type_ in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => conditions.push(NodeCondition {
                type_: type_.to_string(),
                status: "Unknown".to_string(),
                reason: Some(REASON_NODE_STATUS_NEVER_UPDATED.to_string()),
                message: Some(MESSAGE_NODE_STATUS_NEVER_UPDATED.to_string()),
                last_heartbeat_time: Some(Time(created)),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".to_string();
                c.reason = Some(REASON_NODE_STATUS_UNKNOWN.to_string());
                c.message = Some(MESSAGE_NODE_STATUS_UNKNOWN.to_string());
                c.last_transition_time = Some(Time(now));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const GRACE: GracePeriods = GracePeriods {
        monitor: Duration::from_secs(40),
        startup: Duration::from_secs(60),
    };

    fn cond(type_: &str, status: &str, heartbeat: i64, transition: i64) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            last_heartbeat_time: Some(Time(at(heartbeat))),
            last_transition_time: Some(Time(at(transition))),
        }
    }

    fn node(conditions: Vec<NodeCondition>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n".into()),
                creation_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(conditions),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn healthy(heartbeat: i64) -> Node {
        node(
            KUBELET_CONDITIONS
                .iter()
                .map(|t| {
                    cond(
                        t,
                        if *t == "Ready" { "True" } else { "False" },
                        heartbeat,
                        0,
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn a_node_first_seen_is_alive_now() {
        let o = observe(&healthy(1), None, None, at(100), GRACE);
        assert_eq!(o.health.probe_timestamp, at(100));
        assert_eq!(o.grace_period, GRACE.monitor);
        assert_eq!(o.write, None);
        assert_eq!(o.current_ready.unwrap().status, "True");
    }

    #[test]
    fn silence_past_the_grace_period_marks_every_kubelet_condition_unknown() {
        let first = observe(&healthy(1), None, None, at(100), GRACE).health;
        // Same heartbeat, no lease: at 140 (= probe + grace) still fine, after it not.
        let o = observe(&healthy(1), Some(&first), None, at(140), GRACE);
        assert_eq!(o.write, None);
        let o = observe(&healthy(1), Some(&first), None, at(141), GRACE);
        let written = o.write.clone().expect("status written");
        for t in KUBELET_CONDITIONS {
            let c = condition(&written, t).unwrap();
            assert_eq!(c.status, "Unknown", "{t}");
            assert_eq!(c.reason.as_deref(), Some(REASON_NODE_STATUS_UNKNOWN));
            assert_eq!(c.message.as_deref(), Some(MESSAGE_NODE_STATUS_UNKNOWN));
            assert_eq!(c.last_transition_time, Some(Time(at(141))));
            // The kubelet's heartbeat time is kept.
            assert_eq!(c.last_heartbeat_time, Some(Time(at(1))));
        }
        assert_eq!(o.observed_ready.status, "True");
        assert_eq!(o.current_ready.as_ref().unwrap().status, "Unknown");
        let after = o.health_after_write(at(141));
        assert_eq!(after.ready_transition_timestamp, at(141));
        // Next pass over the written node: already Unknown, nothing more to write.
        let marked = node(written);
        let o = observe(&marked, Some(&after), None, at(146), GRACE);
        assert_eq!(o.write, None);
        assert_eq!(o.observed_ready.status, "Unknown");
    }

    #[test]
    fn heartbeats_and_lease_renewals_keep_a_node_alive() {
        let first = observe(&healthy(1), None, Some(at(1)), at(100), GRACE).health;
        // A new status heartbeat counts.
        let o = observe(&healthy(120), Some(&first), Some(at(1)), at(130), GRACE);
        assert_eq!(o.health.probe_timestamp, at(130));
        assert_eq!(
            o.health.ready_transition_timestamp,
            at(100),
            "no transition"
        );
        // A renewed lease counts, the status alone being old.
        let o2 = observe(
            &healthy(120),
            Some(&o.health),
            Some(at(160)),
            at(165),
            GRACE,
        );
        assert_eq!(o2.health.probe_timestamp, at(165));
        let o3 = observe(
            &healthy(120),
            Some(&o2.health),
            Some(at(160)),
            at(205),
            GRACE,
        );
        assert_eq!(o3.write, None);
        let o4 = observe(
            &healthy(120),
            Some(&o3.health),
            Some(at(160)),
            at(206),
            GRACE,
        );
        assert!(o4.write.is_some());
    }

    #[test]
    fn a_ready_transition_moves_the_transition_timestamp() {
        let first = observe(&healthy(1), None, None, at(100), GRACE).health;
        let mut back = healthy(110);
        back.status.as_mut().unwrap().conditions.as_mut().unwrap()[0] =
            cond("Ready", "True", 110, 110);
        let o = observe(&back, Some(&first), None, at(111), GRACE);
        assert_eq!(o.health.ready_transition_timestamp, at(111));
    }

    #[test]
    fn a_node_that_never_posted_gets_the_startup_grace_and_never_updated_conditions() {
        let bare = node(vec![]);
        let o = observe(&bare, None, None, at(60), GRACE);
        assert_eq!(o.grace_period, GRACE.startup);
        assert_eq!(o.health.probe_timestamp, at(0), "creation");
        assert_eq!(o.write, None);
        let o = observe(&bare, Some(&o.health), None, at(61), GRACE);
        let written = o.write.expect("written");
        let ready = condition(&written, "Ready").unwrap();
        assert_eq!(
            ready.reason.as_deref(),
            Some(REASON_NODE_STATUS_NEVER_UPDATED)
        );
        assert_eq!(
            ready.message.as_deref(),
            Some(MESSAGE_NODE_STATUS_NEVER_UPDATED)
        );
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(0))));
        assert_eq!(written.len(), 4);
        // Upstream compares the new Ready with the made-up Unknown one, which has no
        // reason: they differ, so the status is written.
        assert_eq!(o.current_ready.unwrap().status, "Unknown");
    }

    #[test]
    fn network_unavailable_is_left_to_the_network_plugin() {
        let mut conditions = vec![cond("NetworkUnavailable", "False", 1, 0)];
        mark_unknown(&mut conditions, at(0), at(50));
        assert_eq!(
            condition(&conditions, "NetworkUnavailable").unwrap().status,
            "False"
        );
        assert_eq!(conditions.len(), 5);
    }
}
