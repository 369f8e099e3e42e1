//! `v1` ComponentStatuses: the health of the control plane's components, computed on
//! every read as upstream's `componentstatus` storage probes them. Upstream asks each
//! component's `/healthz`; here the scheduler and the controller manager are judged by
//! the Leases they hold when they run with leader election (healthy while a Lease is held
//! and renewed within its duration), and the store (`etcd-0`) by answering a read. Pure:
//! the caller reads the Leases and probes the store.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{at, str_at};

/// The namespace of the components' election Leases.
pub const LEASE_NAMESPACE: &str = "kube-system";

/// A component judged by its election Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectedComponent {
    /// The ComponentStatus name (`scheduler`).
    pub name: &'static str,
    /// The Leases it may hold, in the order they are reported: upstream's name (what
    /// kube-scheduler uses, and capstan's binaries with `--leader-elect-resource-name`
    /// set to it) and capstan's default.
    pub leases: &'static [&'static str],
}

/// The components upstream reports besides the store, in the order they are listed.
pub const ELECTED_COMPONENTS: &[ElectedComponent] = &[
    ElectedComponent {
        name: "scheduler",
        leases: &["kube-scheduler", "capstan-scheduler"],
    },
    ElectedComponent {
        name: "controller-manager",
        leases: &["kube-controller-manager", "capstan-controller-manager"],
    },
];

/// The ComponentStatus name of the store.
pub const STORE_COMPONENT: &str = "etcd-0";

/// The message of a healthy component, as upstream's probes report it.
pub const HEALTHY_MESSAGE: &str = "ok";

/// The outcome of one probe.
pub type Health = Result<(), String>;

/// Whether `component` is running: a Lease of it (from `leases`, the Leases of
/// [`LEASE_NAMESPACE`]) is held and was renewed within its duration at `now`; otherwise
/// why not, naming the Lease.
pub fn elected_health(
    component: &ElectedComponent,
    leases: &[Value],
    now: DateTime<Utc>,
) -> Health {
    let mut first_problem = None;
    for name in component.leases {
        let Some(lease) = leases
            .iter()
            .find(|l| str_at(l, &["metadata", "name"]) == *name)
        else {
            continue;
        };
        match lease_health(lease, now) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| {
        let names: Vec<String> = component
            .leases
            .iter()
            .map(|l| format!("{LEASE_NAMESPACE}/{l}"))
            .collect();
        format!(
            "no Lease {}: the {} is not running with leader election",
            names.join(" or "),
            component.name
        )
    }))
}

/// Whether one election Lease is held and fresh at `now`.
fn lease_health(lease: &Value, now: DateTime<Utc>) -> Health {
    let name = format!("{LEASE_NAMESPACE}/{}", str_at(lease, &["metadata", "name"]));
    let holder = str_at(lease, &["spec", "holderIdentity"]);
    if holder.is_empty() {
        return Err(format!("Lease {name} is not held"));
    }
    let duration = at(lease, &["spec", "leaseDurationSeconds"])
        .as_i64()
        .unwrap_or(0);
    let renewed = ["renewTime", "acquireTime"]
        .iter()
        .find_map(|f| at(lease, &["spec", f]).as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(renewed) = renewed else {
        return Err(format!("Lease {name} held by {holder:?} was never renewed"));
    };
    if renewed + chrono::Duration::seconds(duration) > now {
        return Ok(());
    }
    Err(format!(
        "Lease {name} held by {holder:?} expired: last renewed at {}, lease duration {duration}s",
        renewed.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    ))
}

/// A ComponentStatus as upstream writes it: no metadata but its name (and Go's `null`
/// creation time), one `Healthy` condition.
pub fn component_status(name: &str, health: &Health) -> Value {
    let condition = match health {
        Ok(()) => json!({"type": "Healthy", "status": "True", "message": HEALTHY_MESSAGE}),
        Err(e) => json!({"type": "Healthy", "status": "False", "error": e}),
    };
    json!({
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null},
        "conditions": [condition],
    })
}

/// Every ComponentStatus: the elected components judged from `leases` at `now`, then
/// the store with the outcome of its probe.
pub fn component_statuses(leases: &[Value], store: &Health, now: DateTime<Utc>) -> Vec<Value> {
    let mut out: Vec<Value> = ELECTED_COMPONENTS
        .iter()
        .map(|c| component_status(c.name, &elected_health(c, leases, now)))
        .collect();
    out.push(component_status(STORE_COMPONENT, store));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:01:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn lease(name: &str, holder: &str, renewed: &str, duration: i64) -> Value {
        json!({"metadata": {"name": name, "namespace": "kube-system"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                        "renewTime": renewed}})
    }

    fn conditions(statuses: &[Value], name: &str) -> Value {
        statuses
            .iter()
            .find(|s| s["metadata"]["name"] == name)
            .unwrap()["conditions"][0]
            .clone()
    }

    #[test]
    fn a_held_fresh_lease_is_healthy() {
        let leases = [
            lease(
                "capstan-scheduler",
                "host_1",
                "2025-01-01T00:00:50.000000Z",
                15,
            ),
            lease(
                "kube-controller-manager",
                "host_2",
                "2025-01-01T00:00:59.500000Z",
                15,
            ),
        ];
        let all = component_statuses(&leases, &Ok(()), now());
        let names: Vec<&str> = all
            .iter()
            .map(|s| s["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["scheduler", "controller-manager", "etcd-0"]);
        for name in names {
            assert_eq!(
                conditions(&all, name),
                json!({"type": "Healthy", "status": "True", "message": "ok"}),
                "{name}"
            );
        }
        assert_eq!(all[0]["metadata"]["creationTimestamp"], Value::Null);
    }

    #[test]
    fn missing_released_and_expired_leases_are_unhealthy_and_say_why() {
        let scheduler = &ELECTED_COMPONENTS[0];
        assert_eq!(
            elected_health(scheduler, &[], now()),
            Err("no Lease kube-system/kube-scheduler or kube-system/capstan-scheduler: the scheduler is not running with leader election".into())
        );
        let released = [lease("capstan-scheduler", "", "2025-01-01T00:00:59Z", 1)];
        assert_eq!(
            elected_health(scheduler, &released, now()),
            Err("Lease kube-system/capstan-scheduler is not held".into())
        );
        let expired = [lease(
            "kube-scheduler",
            "host_1",
            "2025-01-01T00:00:40Z",
            15,
        )];
        let e = elected_health(scheduler, &expired, now()).unwrap_err();
        assert_eq!(
            e,
            "Lease kube-system/kube-scheduler held by \"host_1\" expired: last renewed at 2025-01-01T00:00:40.000000Z, lease duration 15s"
        );
        let status = component_status("scheduler", &Err(e.clone()));
        assert_eq!(
            status["conditions"][0],
            json!({"type": "Healthy", "status": "False", "error": e})
        );
        // Another of its Leases that is fresh makes it healthy.
        let both = [
            expired[0].clone(),
            lease("capstan-scheduler", "host_2", "2025-01-01T00:00:58Z", 15),
        ];
        assert_eq!(elected_health(scheduler, &both, now()), Ok(()));
    }
}
