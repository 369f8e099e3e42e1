//! Pods of a node that is not Ready: upstream `MarkPodsNotReady` sets each one's
//! `Ready` condition `False` (reason and message kept, transition time `now` when
//! the status changes, as `UpdatePodCondition`), so Services stop sending them
//! traffic before anything else happens. Pods without a `Ready` condition are left
//! alone.

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The status `pod` (bound to `node`) gets, or `None` when it is not on `node`,
/// has no `Ready` condition or already has it `False`.
pub fn not_ready_status(pod: &Pod, node: &str, now: Timestamp) -> Option<PodStatus> {
    if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
        return None;
    }
    let mut status = pod.status.clone()?;
    let ready = status
        .conditions
        .as_mut()?
        .iter_mut()
        .find(|c| c.type_ == "Ready")?;
    if ready.status == "False" {
        return None;
    }
    ready.status = "False".to_string();
    ready.last_transition_time = Some(Time(now));
    Some(status)
}

/// Whether `pod` has a `Ready` condition that is not `False` (it would be written).
pub fn needs_marking(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status != "False")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::testing::at;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec};

    fn pod(node: &str, ready: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                conditions: Some(
                    [
                        Some(PodCondition {
                            type_: "ContainersReady".into(),
                            status: "True".into(),
                            ..Default::default()
                        }),
                        ready.map(|s| PodCondition {
                            type_: "Ready".into(),
                            status: s.into(),
                            reason: None,
                            last_transition_time: Some(Time(at(0))),
                            ..Default::default()
                        }),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_pods_of_the_node_turn_not_ready() {
        let status = not_ready_status(&pod("n1", Some("True")), "n1", at(9)).expect("written");
        let conditions = status.conditions.unwrap();
        let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.last_transition_time, Some(Time(at(9))));
        // Only Ready changes (upstream leaves ContainersReady to the kubelet).
        assert_eq!(conditions[0].status, "True");
        assert!(needs_marking(&pod("n1", Some("True"))));
    }

    #[test]
    fn pods_elsewhere_without_ready_or_already_not_ready_are_left_alone() {
        assert_eq!(
            not_ready_status(&pod("n2", Some("True")), "n1", at(9)),
            None
        );
        assert_eq!(not_ready_status(&pod("n1", None), "n1", at(9)), None);
        assert_eq!(
            not_ready_status(&pod("n1", Some("False")), "n1", at(9)),
            None
        );
        assert!(!needs_marking(&pod("n1", Some("False"))));
        assert!(!needs_marking(&pod("n1", None)));
    }
}
