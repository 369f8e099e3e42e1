//! An APIService's `Available` condition, as kube-aggregator's availability controllers
//! judge it: a local APIService (no `spec.service`) is always available; one backed by a
//! Service is checked against the Service and its EndpointSlices, and — since this server
//! does not proxy to aggregated API servers — fails the discovery check that upstream
//! makes next. Pure: the caller looks up the Service and slices.

use serde_json::{Value, json};

use crate::json::{array_at, at, int_at, str_at};

/// The condition type.
pub const AVAILABLE: &str = "Available";

/// The port an APIService's service is reached on when it names none.
pub const DEFAULT_SERVICE_PORT: i64 = 443;

/// What the Service of an APIService looks like.
#[derive(Debug, Clone, Copy)]
pub struct Backend<'a> {
    /// The Service, if it exists.
    pub service: Option<&'a Value>,
    /// The EndpointSlices labelled with the Service's name.
    pub slices: &'a [Value],
}

/// `NewLocalAvailableAPIServiceCondition`: a local APIService's condition.
pub fn local_condition(now: &str) -> Value {
    condition(
        "True",
        "Local",
        "Local APIServices are always available",
        now,
    )
}

fn condition(status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": AVAILABLE,
        "status": status,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// The `Available` condition of `apiservice`: local, or judged from its `backend` (the
/// remote availability controller's checks, in its order and words).
pub fn available_condition(apiservice: &Value, backend: Backend<'_>, now: &str) -> Value {
    let svc_ref = at(apiservice, &["spec", "service"]);
    if !svc_ref.is_object() {
        return local_condition(now);
    }
    let name = str_at(svc_ref, &["name"]);
    let namespace = str_at(svc_ref, &["namespace"]);
    let port = at(svc_ref, &["port"])
        .as_i64()
        .unwrap_or(DEFAULT_SERVICE_PORT);
    let false_because = |reason: &str, message: String| condition("False", reason, &message, now);
    let Some(service) = backend.service else {
        return false_because(
            "ServiceNotFound",
            format!("service/{name} in \"{namespace}\" is not present"),
        );
    };
    let service_type = match str_at(service, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    if service_type == "ClusterIP" {
        let Some(service_port) = array_at(service, &["spec", "ports"])
            .iter()
            .find(|p| int_at(p, &["port"]) == port)
        else {
            return false_because(
                "ServicePortError",
                format!("service/{name} in \"{namespace}\" is not listening on port {port}"),
            );
        };
        if backend.slices.is_empty() {
            return false_because(
                "EndpointsNotFound",
                format!("cannot find endpointslices for service/{name} in \"{namespace}\""),
            );
        }
        let port_name = str_at(service_port, &["name"]);
        if !backend.slices.iter().any(|s| serves(s, port_name)) {
            return false_because(
                "MissingEndpoints",
                format!(
                    "endpointslices for service/{name} in \"{namespace}\" have no addresses with port name \"{port_name}\""
                ),
            );
        }
    }
    let version = str_at(apiservice, &["spec", "version"]);
    let path = match str_at(apiservice, &["spec", "group"]) {
        "" => format!("/api/{version}"),
        group => format!("/apis/{group}/{version}"),
    };
    let host = match str_at(service, &["spec", "clusterIP"]) {
        "" | "None" => format!("{name}.{namespace}.svc"),
        ip => ip.to_string(),
    };
    false_because(
        "FailedDiscoveryCheck",
        format!(
            "failing or missing response from https://{host}:{port}{path}: this API server does not proxy to aggregated API servers"
        ),
    )
}

/// `hasAvailableEndpoint`: a slice with a ready (or unknown) endpoint and a port of
/// `port_name`.
fn serves(slice: &Value, port_name: &str) -> bool {
    let ready = array_at(slice, &["endpoints"])
        .iter()
        .any(|e| at(e, &["conditions", "ready"]).as_bool() != Some(false));
    let port = array_at(slice, &["ports"])
        .iter()
        .any(|p| at(p, &["name"]).as_str() == Some(port_name) && at(p, &["port"]).is_number());
    ready && port
}

/// `SetAPIServiceCondition`: `status` with `cond` replacing the condition of its type,
/// keeping the old `lastTransitionTime` when the condition's status did not change.
pub fn with_condition(status: &Value, cond: &Value) -> Value {
    let mut status = if status.is_object() {
        status.clone()
    } else {
        json!({})
    };
    let mut conditions: Vec<Value> = array_at(&status, &["conditions"]).to_vec();
    match conditions
        .iter_mut()
        .find(|c| at(c, &["type"]) == at(cond, &["type"]))
    {
        Some(existing) => {
            let mut next = cond.clone();
            if at(existing, &["status"]) == at(cond, &["status"]) {
                next["lastTransitionTime"] = at(existing, &["lastTransitionTime"]).clone();
            }
            *existing = next;
        }
        None => conditions.push(cond.clone()),
    }
    status["conditions"] = Value::Array(conditions);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-01T00:00:00Z";

    fn remote(port: Option<i64>) -> Value {
        let mut svc = json!({"name": "metrics", "namespace": "kube-system"});
        if let Some(p) = port {
            svc["port"] = json!(p);
        }
        json!({"spec": {"group": "metrics.k8s.io", "version": "v1beta1", "service": svc}})
    }

    fn reason(c: &Value) -> (&str, &str) {
        (str_at(c, &["status"]), str_at(c, &["reason"]))
    }

    #[test]
    fn local_apiservices_are_always_available() {
        let c = available_condition(
            &json!({"spec": {"version": "v1"}}),
            Backend {
                service: None,
                slices: &[],
            },
            NOW,
        );
        assert_eq!(
            c,
            json!({"type": "Available", "status": "True", "lastTransitionTime": NOW,
                   "reason": "Local", "message": "Local APIServices are always available"})
        );
    }

    #[test]
    fn remote_apiservices_are_checked_in_upstreams_order() {
        let api = remote(None);
        let none = Backend {
            service: None,
            slices: &[],
        };
        let c = available_condition(&api, none, NOW);
        assert_eq!(reason(&c), ("False", "ServiceNotFound"));
        assert_eq!(
            c["message"],
            "service/metrics in \"kube-system\" is not present"
        );
        let svc =
            json!({"spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "https", "port": 443}]}});
        let wrong_port = available_condition(
            &remote(Some(8443)),
            Backend {
                service: Some(&svc),
                slices: &[],
            },
            NOW,
        );
        assert_eq!(reason(&wrong_port), ("False", "ServicePortError"));
        assert_eq!(
            wrong_port["message"],
            "service/metrics in \"kube-system\" is not listening on port 8443"
        );
        let c = available_condition(
            &api,
            Backend {
                service: Some(&svc),
                slices: &[],
            },
            NOW,
        );
        assert_eq!(reason(&c), ("False", "EndpointsNotFound"));
        let unready = [
            json!({"endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}],
                              "ports": [{"name": "https", "port": 6443}]}),
        ];
        let c = available_condition(
            &api,
            Backend {
                service: Some(&svc),
                slices: &unready,
            },
            NOW,
        );
        assert_eq!(reason(&c), ("False", "MissingEndpoints"));
        assert_eq!(
            c["message"],
            "endpointslices for service/metrics in \"kube-system\" have no addresses with port name \"https\""
        );
        let ready = [json!({"endpoints": [{"addresses": ["10.0.0.1"]}],
                            "ports": [{"name": "https", "port": 6443}]})];
        let c = available_condition(
            &api,
            Backend {
                service: Some(&svc),
                slices: &ready,
            },
            NOW,
        );
        assert_eq!(reason(&c), ("False", "FailedDiscoveryCheck"));
        assert!(c["message"].as_str().unwrap().starts_with(
            "failing or missing response from https://10.96.0.20:443/apis/metrics.k8s.io/v1beta1: "
        ));
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let first = with_condition(&json!({}), &local_condition("t1"));
        let again = with_condition(&first, &local_condition("t2"));
        assert_eq!(again["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(again["conditions"].as_array().unwrap().len(), 1);
        let lost = condition("False", "ServiceNotFound", "gone", "t3");
        let changed = with_condition(&again, &lost);
        assert_eq!(changed["conditions"][0]["lastTransitionTime"], "t3");
        assert_eq!(changed["conditions"][0]["reason"], "ServiceNotFound");
    }
}
