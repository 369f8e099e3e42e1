//! Upstream `TriggerTimeTracker` (`pkg/controller/util/endpoint`): the time of the
//! earliest change that the coming write of a Service's endpoints publishes, written
//! as `endpoints.kubernetes.io/last-change-trigger-time`. A pod's change time is its
//! `Ready` condition's last transition, the Service's its creation; only times newer
//! than at the previous sync count, and a Service seen for the first time reports its
//! creation.

use std::collections::HashMap;

use capstan_runtime::ObjectKey;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;

use crate::util::pod::ready_condition;

/// What the previous sync of one Service saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerState {
    pods: HashMap<String, Timestamp>,
    service: Option<Timestamp>,
}

fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod)?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// The trigger time of a sync of `service` over `pods` after a sync that saw
/// `previous` (`None`: never synced), and what this sync saw.
pub fn compute_trigger_time(
    previous: Option<&TriggerState>,
    service: &Service,
    pods: &[&Pod],
) -> (Option<Timestamp>, TriggerState) {
    let empty = TriggerState::default();
    let before = previous.unwrap_or(&empty);
    let mut earliest: Option<Timestamp> = None;
    let mut seen = TriggerState::default();
    let mut consider = |t: Timestamp, last: Option<&Timestamp>| {
        if last.is_none_or(|l| t > *l) {
            earliest = Some(earliest.map_or(t, |e| e.min(t)));
        }
    };
    for pod in pods {
        let (Some(t), Some(name)) = (pod_trigger_time(pod), pod.metadata.name.as_ref()) else {
            continue;
        };
        consider(t, before.pods.get(name));
        seen.pods.insert(name.clone(), t);
    }
    seen.service = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if let Some(t) = seen.service {
        consider(t, before.service.as_ref());
    }
    if previous.is_none() {
        return (seen.service, seen);
    }
    (earliest, seen)
}

/// The trigger states of every Service a controller syncs (a Service is synced by one
/// worker at a time, so one lock around the map is enough).
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    states: Mutex<HashMap<ObjectKey, TriggerState>>,
}

impl TriggerTimeTracker {
    /// The trigger time of this sync of `service` (upstream
    /// `ComputeEndpointLastChangeTriggerTime`), remembering what it saw.
    pub fn compute(&self, key: &ObjectKey, service: &Service, pods: &[&Pod]) -> Option<Timestamp> {
        let previous = self.states.lock().get(key).cloned();
        let (time, seen) = compute_trigger_time(previous.as_ref(), service, pods);
        self.states.lock().insert(key.clone(), seen);
        time
    }

    /// Forgets a deleted Service.
    pub fn forget(&self, key: &ObjectKey) {
        self.states.lock().remove(key);
    }
}

/// A trigger time as the annotation writes it (Go's RFC 3339 with nanoseconds,
/// trailing zeros dropped, in UTC).
pub fn format_trigger_time(t: Timestamp) -> String {
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::pods::testing::{service, serving_pod};
    use crate::util::testing::at;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn ready_at(name: &str, secs: i64) -> Pod {
        let mut p = serving_pod(name, "10.0.0.1", true, &[]);
        let conds = p.status.as_mut().unwrap().conditions.as_mut().unwrap();
        conds[0].last_transition_time = Some(Time(at(secs)));
        p
    }

    #[test]
    fn a_new_service_reports_its_creation_then_only_changes() {
        let svc = service(IntOrString::Int(80));
        let (a, b) = (ready_at("a", 10), ready_at("b", 20));
        let (t, seen) = compute_trigger_time(None, &svc, &[&a, &b]);
        assert_eq!(t, Some(at(0)), "first sync: the Service's creation");
        let (t, seen) = compute_trigger_time(Some(&seen), &svc, &[&a, &b]);
        assert_eq!(t, None, "nothing changed");
        let (b2, c) = (ready_at("b", 40), ready_at("c", 30));
        let (t, _) = compute_trigger_time(Some(&seen), &svc, &[&a, &b2, &c]);
        assert_eq!(t, Some(at(30)), "the earliest of the changes");
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(format_trigger_time(at(0)), "2023-11-14T22:13:20Z");
    }
}
