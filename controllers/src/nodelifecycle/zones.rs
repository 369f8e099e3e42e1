//! Zones and their disruption states, as upstream's `ComputeZoneState`,
//! `handleDisruption` and `setLimiterInZone`: each zone's NoExecute tainter runs at
//! `--node-eviction-rate` while the zone is healthy, at `--secondary-node-eviction-rate`
//! (or not at all in a cluster of at most `--large-cluster-size-threshold` nodes) when
//! at least `--unhealthy-zone-threshold` of its nodes (and more than 2) are not
//! Ready, and at the healthy rate again when the whole zone is down, unless every
//! zone is: then the controller assumes it is the one cut off, stops tainting and
//! takes the NoExecute taints off every node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

/// `topology.kubernetes.io/zone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// `topology.kubernetes.io/region`.
pub const LABEL_TOPOLOGY_REGION: &str = "topology.kubernetes.io/region";
/// The deprecated `failure-domain.beta.kubernetes.io/zone`, preferred when set (as
/// upstream's `GetZoneKey`).
pub const LABEL_FAILURE_DOMAIN_BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
/// The deprecated `failure-domain.beta.kubernetes.io/region`.
pub const LABEL_FAILURE_DOMAIN_BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";
/// Nodes carrying this label are left out of zone health
/// (`node.kubernetes.io/exclude-disruption`).
pub const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The zone of `node` (upstream `GetZoneKey`): `region:\0:zone`, or `""` without
/// either label.
pub fn zone_key(node: &Node) -> String {
    let Some(labels) = node.metadata.labels.as_ref() else {
        return String::new();
    };
    let zone = labels
        .get(LABEL_FAILURE_DOMAIN_BETA_ZONE)
        .or_else(|| labels.get(LABEL_TOPOLOGY_ZONE))
        .map(String::as_str)
        .unwrap_or("");
    let region = labels
        .get(LABEL_FAILURE_DOMAIN_BETA_REGION)
        .or_else(|| labels.get(LABEL_TOPOLOGY_REGION))
        .map(String::as_str)
        .unwrap_or("");
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Whether `node` is left out of its zone's health (upstream
/// `isNodeExcludedFromDisruptionChecks`).
pub fn excluded_from_disruption_checks(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(LABEL_EXCLUDE_DISRUPTION))
}

/// A zone's state (upstream `ZoneState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Seen for the first time this pass.
    Initial,
    /// Healthy enough: the normal rate.
    Normal,
    /// No node of the zone is Ready.
    FullDisruption,
    /// More than 2 and at least the threshold of its nodes are not Ready.
    PartialDisruption,
}

/// The not-Ready count of a zone and its state (upstream `ComputeZoneState`), given
/// the `Ready` status of each of its nodes (`None`: no Ready condition).
pub fn compute_zone_state(ready: &[Option<&str>], unhealthy_threshold: f64) -> (usize, ZoneState) {
    let ready_nodes = ready.iter().filter(|s| **s == Some("True")).count();
    let not_ready = ready.len() - ready_nodes;
    let state = if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / ready.len() as f64 >= unhealthy_threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (not_ready, state)
}

/// The rates and thresholds of the disruption handling (the flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisruptionPolicy {
    /// `--node-eviction-rate`: nodes tainted per second in a healthy zone.
    pub eviction_qps: f64,
    /// `--secondary-node-eviction-rate`: in an unhealthy zone of a large cluster.
    pub secondary_eviction_qps: f64,
    /// `--unhealthy-zone-threshold`: the not-Ready fraction making a zone unhealthy.
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold`: above this many nodes a zone is large.
    pub large_cluster_threshold: usize,
}

impl DisruptionPolicy {
    /// The rate of a zone of `zone_size` nodes in `state` (upstream
    /// `setLimiterInZone` with `ReducedQPSFunc` and `HealthyQPSFunc`); `None` for
    /// [`ZoneState::Initial`], which sets no limiter.
    pub fn qps(&self, state: ZoneState, zone_size: usize) -> Option<f64> {
        match state {
            ZoneState::Initial => None,
            ZoneState::Normal | ZoneState::FullDisruption => Some(self.eviction_qps),
            ZoneState::PartialDisruption if zone_size > self.large_cluster_threshold => {
                Some(self.secondary_eviction_qps)
            }
            ZoneState::PartialDisruption => Some(0.0),
        }
    }
}

/// What a pass's disruption handling asks of the shell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DisruptionPlan {
    /// New limiter rates by zone.
    pub limiters: BTreeMap<String, f64>,
    /// Every zone just became fully disrupted: take the NoExecute taints off every
    /// node (and their queue entries).
    pub mark_all_reachable: bool,
    /// The cluster left full disruption: every node's probe and ready-transition
    /// timestamps restart now (so none is declared dead for the outage).
    pub reset_probe_timestamps: bool,
}

/// Upstream `handleDisruption`: given the zone states of the previous pass
/// (`states`, updated in place) and this pass's Ready statuses by zone, the limiter
/// changes and cluster-wide actions.
pub fn handle_disruption(
    states: &mut BTreeMap<String, ZoneState>,
    zone_ready: &BTreeMap<String, Vec<Option<&str>>>,
    policy: &DisruptionPolicy,
) -> DisruptionPlan {
    let mut plan = DisruptionPlan::default();
    let mut new_states = BTreeMap::new();
    let mut all_are_fully_disrupted = true;
    for (zone, ready) in zone_ready {
        let (_, state) = compute_zone_state(ready, policy.unhealthy_zone_threshold);
        if state != ZoneState::FullDisruption {
            all_are_fully_disrupted = false;
        }
        new_states.insert(zone.clone(), state);
        states.entry(zone.clone()).or_insert(ZoneState::Initial);
    }
    // Zones without nodes any more are forgotten.
    states.retain(|zone, _| zone_ready.contains_key(zone));
    let all_was_fully_disrupted = states.values().all(|s| *s == ZoneState::FullDisruption);

    if all_are_fully_disrupted && all_was_fully_disrupted {
        return plan;
    }
    if all_are_fully_disrupted {
        // Entering "master disruption mode": every tainter stops.
        plan.mark_all_reachable = true;
        for (zone, state) in states.iter_mut() {
            plan.limiters.insert(zone.clone(), 0.0);
            *state = ZoneState::FullDisruption;
        }
        return plan;
    }
    if all_was_fully_disrupted {
        // Leaving it: every zone gets the limiter of its new state.
        plan.reset_probe_timestamps = true;
        for (zone, state) in states.iter_mut() {
            let new = new_states[zone];
            let size = zone_ready.get(zone).map_or(0, Vec::len);
            if let Some(qps) = policy.qps(new, size) {
                plan.limiters.insert(zone.clone(), qps);
            }
            *state = new;
        }
        return plan;
    }
    for (zone, state) in states.iter_mut() {
        let new = new_states[zone];
        if *state == new {
            continue;
        }
        tracing::info!(zone = %zone.replace('\0', ""), ?new, "zone is now in a new state");
        let size = zone_ready.get(zone).map_or(0, Vec::len);
        if let Some(qps) = policy.qps(new, size) {
            plan.limiters.insert(zone.clone(), qps);
        }
        *state = new;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::labels;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const POLICY: DisruptionPolicy = DisruptionPolicy {
        eviction_qps: 0.1,
        secondary_eviction_qps: 0.01,
        unhealthy_zone_threshold: 0.55,
        large_cluster_threshold: 50,
    };

    fn node(kv: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                labels: Some(labels(kv)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn zone_keys_prefer_the_beta_labels_and_join_region_and_zone() {
        assert_eq!(zone_key(&Node::default()), "");
        assert_eq!(zone_key(&node(&[("other", "x")])), "");
        assert_eq!(
            zone_key(&node(&[
                (LABEL_TOPOLOGY_REGION, "r1"),
                (LABEL_TOPOLOGY_ZONE, "z1")
            ])),
            "r1:\0:z1"
        );
        assert_eq!(
            zone_key(&node(&[
                (LABEL_TOPOLOGY_ZONE, "z1"),
                (LABEL_FAILURE_DOMAIN_BETA_ZONE, "old")
            ])),
            ":\0:old"
        );
        assert!(excluded_from_disruption_checks(&node(&[(
            LABEL_EXCLUDE_DISRUPTION,
            ""
        )])));
        assert!(!excluded_from_disruption_checks(&node(&[])));
    }

    #[test]
    fn zone_states_follow_upstreams_thresholds() {
        let t = Some("True");
        let f = Some("False");
        let u = Some("Unknown");
        let table: &[(&str, Vec<Option<&str>>, usize, ZoneState)] = &[
            ("all ready", vec![t, t, t], 0, ZoneState::Normal),
            ("none ready", vec![u, f, None], 3, ZoneState::FullDisruption),
            ("one of one down", vec![u], 1, ZoneState::FullDisruption),
            (
                "2 of 3 down: not more than 2",
                vec![t, u, u],
                2,
                ZoneState::Normal,
            ),
            (
                "3 of 5 down: 0.6 >= 0.55",
                vec![t, t, u, u, f],
                3,
                ZoneState::PartialDisruption,
            ),
            (
                "3 of 6 down: 0.5 < 0.55",
                vec![t, t, t, u, u, f],
                3,
                ZoneState::Normal,
            ),
            ("empty", vec![], 0, ZoneState::Normal),
        ];
        for (case, ready, not_ready, state) in table {
            assert_eq!(
                compute_zone_state(ready, 0.55),
                (*not_ready, *state),
                "{case}"
            );
        }
    }

    #[test]
    fn unhealthy_zones_slow_down_or_stop_by_cluster_size() {
        assert_eq!(POLICY.qps(ZoneState::Normal, 3), Some(0.1));
        assert_eq!(POLICY.qps(ZoneState::FullDisruption, 3), Some(0.1));
        assert_eq!(POLICY.qps(ZoneState::PartialDisruption, 50), Some(0.0));
        assert_eq!(POLICY.qps(ZoneState::PartialDisruption, 51), Some(0.01));
        assert_eq!(POLICY.qps(ZoneState::Initial, 51), None);
    }

    fn zones(
        entries: &[(&str, Vec<Option<&'static str>>)],
    ) -> BTreeMap<String, Vec<Option<&'static str>>> {
        entries
            .iter()
            .map(|(z, r)| (z.to_string(), r.clone()))
            .collect()
    }

    #[test]
    fn disruption_handling_moves_zone_limiters_as_upstream() {
        let (t, u) = (Some("True"), Some("Unknown"));
        let mut states = BTreeMap::new();
        // First pass: zones seen for the first time get the limiter of their state.
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![t, t]), ("b", vec![t, t, t, t, t])]),
            &POLICY,
        );
        assert_eq!(
            plan.limiters,
            BTreeMap::from([("a".into(), 0.1), ("b".into(), 0.1)])
        );
        assert!(!plan.mark_all_reachable && !plan.reset_probe_timestamps);
        // b becomes partially disrupted (small cluster: tainting stops there).
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![t, t]), ("b", vec![t, t, u, u, u])]),
            &POLICY,
        );
        assert_eq!(plan.limiters, BTreeMap::from([("b".into(), 0.0)]));
        assert_eq!(states["b"], ZoneState::PartialDisruption);
        // a is fully down, b still partially: a keeps the healthy rate.
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![u, u]), ("b", vec![t, t, u, u, u])]),
            &POLICY,
        );
        assert_eq!(plan.limiters, BTreeMap::from([("a".into(), 0.1)]));
        // Every zone down: the controller stops tainting and untaints everything.
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![u, u]), ("b", vec![u, u, u, u, u])]),
            &POLICY,
        );
        assert!(plan.mark_all_reachable);
        assert_eq!(
            plan.limiters,
            BTreeMap::from([("a".into(), 0.0), ("b".into(), 0.0)])
        );
        // Still all down: nothing changes.
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![u, u]), ("b", vec![u, u, u, u, u])]),
            &POLICY,
        );
        assert_eq!(plan, DisruptionPlan::default());
        // One node back: probe timestamps restart, each zone gets its state's rate.
        let plan = handle_disruption(
            &mut states,
            &zones(&[("a", vec![t, u]), ("b", vec![u, u, u, u, u])]),
            &POLICY,
        );
        assert!(plan.reset_probe_timestamps && !plan.mark_all_reachable);
        assert_eq!(
            plan.limiters,
            BTreeMap::from([("a".into(), 0.1), ("b".into(), 0.1)])
        );
        assert_eq!(states["a"], ZoneState::Normal);
        assert_eq!(states["b"], ZoneState::FullDisruption);
        // A zone whose nodes are gone is forgotten.
        handle_disruption(&mut states, &zones(&[("a", vec![t, t])]), &POLICY);
        assert!(!states.contains_key("b"));
    }
}
