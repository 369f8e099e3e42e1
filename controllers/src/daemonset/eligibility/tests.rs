//! The eligibility table: taints × tolerations × node selectors and affinity ×
//! cordoned nodes, as upstream's `TestNodeShouldRunDaemonPod` tables.

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
};

use super::*;
use crate::daemonset::testing::*;

fn verdict(should_run: bool, should_continue_running: bool) -> Eligibility {
    Eligibility {
        should_run,
        should_continue_running,
    }
}

fn required(key: &str, op: &str, values: &[&str]) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: key.into(),
                        operator: op.into(),
                        values: Some(values.iter().map(|v| v.to_string()).collect()),
                    }]),
                    match_fields: None,
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn taints_tolerations_selectors_and_affinity_decide_each_node() {
    struct Case {
        what: &'static str,
        taints: Vec<(&'static str, &'static str)>,
        tolerations: Vec<Toleration>,
        selector: Option<(&'static str, &'static str)>,
        affinity: Option<Affinity>,
        node_label: Option<(&'static str, &'static str)>,
        host_network: bool,
        want: Eligibility,
    }
    let case = |what| Case {
        what,
        taints: vec![],
        tolerations: vec![],
        selector: None,
        affinity: None,
        node_label: None,
        host_network: false,
        want: verdict(true, true),
    };
    let cases = vec![
        case("a plain node runs the pod"),
        Case {
            taints: vec![("dedicated", "NoSchedule")],
            want: verdict(false, true),
            ..case("an untolerated NoSchedule taint: no new pod, the old one stays")
        },
        Case {
            taints: vec![("dedicated", "NoExecute")],
            want: verdict(false, false),
            ..case("an untolerated NoExecute taint evicts")
        },
        Case {
            taints: vec![("dedicated", "PreferNoSchedule")],
            ..case("PreferNoSchedule is not a filter")
        },
        Case {
            taints: vec![("dedicated", "NoExecute")],
            tolerations: vec![tolerate("dedicated", Some("NoExecute"))],
            ..case("a tolerated NoExecute taint")
        },
        Case {
            taints: vec![("dedicated", "NoSchedule"), ("other", "NoExecute")],
            tolerations: vec![tolerate("dedicated", None)],
            want: verdict(false, false),
            ..case("one tolerated and one untolerated taint")
        },
        Case {
            taints: vec![(TAINT_NODE_UNSCHEDULABLE, "NoSchedule")],
            ..case("a cordoned node still runs daemon pods")
        },
        Case {
            taints: vec![
                (TAINT_NODE_NOT_READY, "NoExecute"),
                (TAINT_NODE_UNREACHABLE, "NoExecute"),
                (TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
                (TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
                (TAINT_NODE_PID_PRESSURE, "NoSchedule"),
            ],
            ..case("not-ready, unreachable and pressured nodes are tolerated")
        },
        Case {
            taints: vec![(TAINT_NODE_NETWORK_UNAVAILABLE, "NoSchedule")],
            want: verdict(false, true),
            ..case("network-unavailable stops pods on the pod network")
        },
        Case {
            taints: vec![(TAINT_NODE_NETWORK_UNAVAILABLE, "NoSchedule")],
            host_network: true,
            ..case("host-network pods tolerate network-unavailable")
        },
        Case {
            selector: Some(("disk", "ssd")),
            want: verdict(false, false),
            ..case("a nodeSelector the node does not match")
        },
        Case {
            selector: Some(("disk", "ssd")),
            node_label: Some(("disk", "ssd")),
            ..case("a nodeSelector the node matches")
        },
        Case {
            affinity: Some(required("zone", "In", &["a"])),
            node_label: Some(("zone", "b")),
            want: verdict(false, false),
            ..case("required node affinity not met")
        },
        Case {
            affinity: Some(required("zone", "In", &["a", "b"])),
            node_label: Some(("zone", "b")),
            ..case("required node affinity met")
        },
        Case {
            affinity: Some(required("zone", "In", &["a"])),
            node_label: Some(("zone", "b")),
            taints: vec![("dedicated", "NoExecute")],
            tolerations: vec![tolerate("dedicated", None)],
            want: verdict(false, false),
            ..case("tolerations do not override affinity")
        },
    ];
    for c in cases {
        let mut ds = daemonset("agent", "v1");
        {
            let spec = ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
            spec.tolerations = Some(c.tolerations.clone());
            spec.node_selector = c.selector.map(|(k, v)| labels(&[(k, v)]));
            spec.affinity = c.affinity.clone();
            spec.host_network = Some(c.host_network);
        }
        let mut n = node("n1");
        for (k, e) in &c.taints {
            taint(&mut n, k, e);
        }
        if let Some((k, v)) = c.node_label {
            n.metadata
                .labels
                .get_or_insert_default()
                .insert(k.into(), v.into());
        }
        assert_eq!(node_should_run_daemon_pod(&n, &ds), c.want, "{}", c.what);
    }
}

#[test]
fn a_template_naming_another_node_runs_nowhere_else() {
    let mut ds = daemonset("agent", "v1");
    ds.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .node_name = Some("n2".into());
    assert_eq!(
        node_should_run_daemon_pod(&node("n1"), &ds),
        verdict(false, false)
    );
    assert_eq!(
        node_should_run_daemon_pod(&node("n2"), &ds),
        verdict(true, true)
    );
}

#[test]
fn daemon_tolerations_are_added_once_and_network_only_for_host_network() {
    let mut spec = PodSpec::default();
    add_daemon_tolerations(&mut spec);
    add_daemon_tolerations(&mut spec);
    let keys: Vec<(String, String)> = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| (t.key.clone().unwrap(), t.effect.clone().unwrap()))
        .collect();
    let want: Vec<(String, String)> = [
        (TAINT_NODE_NOT_READY, "NoExecute"),
        (TAINT_NODE_UNREACHABLE, "NoExecute"),
        (TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
        (TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
        (TAINT_NODE_PID_PRESSURE, "NoSchedule"),
        (TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
    ]
    .iter()
    .map(|(k, e)| (k.to_string(), e.to_string()))
    .collect();
    assert_eq!(keys, want);
    let mut host = PodSpec {
        host_network: Some(true),
        ..Default::default()
    };
    add_daemon_tolerations(&mut host);
    assert!(
        host.tolerations
            .iter()
            .flatten()
            .any(|t| t.key.as_deref() == Some(TAINT_NODE_NETWORK_UNAVAILABLE))
    );
}

#[test]
fn the_target_node_is_the_binding_or_the_affinity_term() {
    let ds = daemonset("agent", "v1");
    let bound = pending_pod(&ds, "a", "n1", HASH, 0);
    assert_eq!(target_node_name(&bound), Some("n1"));
    let waiting = unscheduled_pod(&ds, "b", "n2", HASH, 0);
    assert_eq!(target_node_name(&waiting), Some("n2"));
    let mut stray = waiting.clone();
    stray.spec.as_mut().unwrap().affinity = None;
    assert_eq!(target_node_name(&stray), None);
}
