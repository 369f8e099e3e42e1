//! Pods' table: `READY`, `STATUS` and `RESTARTS` computed as kubectl's `printPod`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, condition_status, name, name_column, obj_age, wide};
use super::format::{human_duration, or_none, parse_time};

pub(super) fn pod_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        age_column(),
        wide(
            "IP",
            "string",
            "podIP is the IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        wide(
            "Node",
            "string",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
        ),
        wide(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
        ),
        wide(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ]
}

pub(super) fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The `READY`, `STATUS`, `RESTARTS` cells, computed exactly as kubectl's `printPod`.
pub(super) fn pod_status_cells(pod: &Value, now: DateTime<Utc>) -> (String, String, String) {
    let spec = at(pod, &["spec"]);
    let status = at(pod, &["status"]);
    let conditions = array_at(status, &["conditions"]);
    let init_specs = array_at(spec, &["initContainers"]);
    let is_restartable = |name: &str| {
        init_specs
            .iter()
            .find(|c| str_at(c, &["name"]) == name)
            .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
    };
    let mut total = array_at(spec, &["containers"]).len();
    total += init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let phase = str_at(status, &["phase"]);
    let mut reason = phase.to_string();
    if !str_at(status, &["reason"]).is_empty() {
        reason = str_at(status, &["reason"]).to_string();
    }
    if conditions.iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".into();
    }
    let finished = |c: &Value| {
        at(c, &["lastState", "terminated", "finishedAt"])
            .as_str()
            .and_then(parse_time)
    };

    let init_statuses = array_at(status, &["initContainerStatuses"]);
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += int_at(c, &["restartCount"]);
        last_restart = later(last_restart, finished(c));
        let restartable = is_restartable(str_at(c, &["name"]));
        if restartable {
            sidecar_restarts += int_at(c, &["restartCount"]);
            last_sidecar_restart = later(last_sidecar_restart, finished(c));
        }
        let terminated = at(c, &["state", "terminated"]);
        let waiting = at(c, &["state", "waiting"]);
        if terminated.is_object() && int_at(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if restartable && at(c, &["started"]).as_bool() == Some(true) {
            if at(c, &["ready"]).as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        if terminated.is_object() {
            let r = str_at(terminated, &["reason"]);
            reason = if r.is_empty() {
                if int_at(terminated, &["signal"]) != 0 {
                    format!("Init:Signal:{}", int_at(terminated, &["signal"]))
                } else {
                    format!("Init:ExitCode:{}", int_at(terminated, &["exitCode"]))
                }
            } else {
                format!("Init:{r}")
            };
        } else if waiting.is_object()
            && !str_at(waiting, &["reason"]).is_empty()
            && str_at(waiting, &["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", str_at(waiting, &["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_status(conditions, "Initialized") == Some("True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in array_at(status, &["containerStatuses"]).iter().rev() {
            restarts += int_at(c, &["restartCount"]);
            last_restart = later(last_restart, finished(c));
            let terminated = at(c, &["state", "terminated"]);
            let waiting = at(c, &["state", "waiting"]);
            if waiting.is_object() && !str_at(waiting, &["reason"]).is_empty() {
                reason = str_at(waiting, &["reason"]).to_string();
            } else if terminated.is_object() && !str_at(terminated, &["reason"]).is_empty() {
                reason = str_at(terminated, &["reason"]).to_string();
            } else if terminated.is_object() {
                reason = if int_at(terminated, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(terminated, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(terminated, &["exitCode"]))
                };
            } else if at(c, &["ready"]).as_bool() == Some(true)
                && at(c, &["state", "running"]).is_object()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_status(conditions, "Ready") == Some("True") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_string();
    if deleting && str_at(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_text)
}

pub(super) fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (ready, reason, restarts) = pod_status_cells(pod, now);
    let status = at(pod, &["status"]);
    let mut ip = String::new();
    if let Some(first) = array_at(status, &["podIPs"]).first() {
        ip = str_at(first, &["ip"]).to_string();
    }
    if ip.is_empty() {
        ip = str_at(status, &["podIP"]).to_string();
    }
    let gates = array_at(pod, &["spec", "readinessGates"]);
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = array_at(status, &["conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| condition_status(conditions, str_at(g, &["conditionType"])) == Some("True"))
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name(pod),
        json!(ready),
        json!(reason),
        json!(restarts),
        obj_age(pod, now),
        json!(or_none(&ip)),
        json!(or_none(str_at(pod, &["spec", "nodeName"]))),
        json!(or_none(str_at(status, &["nominatedNodeName"]))),
        json!(readiness),
    ]
}

/// The `Completed` condition kube-apiserver's printer sets on a finished Pod's row.
fn pod_row_conditions(obj: &Value) -> Option<Value> {
    match str_at(obj, &["status", "phase"]) {
        "Succeeded" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."
        }])),
        "Failed" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed",
            "message": "The pod failed."
        }])),
        _ => None,
    }
}

/// `kubectl get pods`.
pub(crate) const POD: TablePrinter = TablePrinter {
    columns: pod_columns,
    cells: pod_cells,
    row_conditions: Some(pod_row_conditions),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, now, running_pod, table};

    #[test]
    fn pod_table_has_kubectl_columns_and_cells() {
        let t = table("", "pods", running_pod());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(headers(&t), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
        let wide: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 1)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(wide, ["IP", "Node", "Nominated Node", "Readiness Gates"]);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            cells(&t),
            vec![
                json!("web-1"),
                json!("2/2"),
                json!("Running"),
                json!("2 (2m ago)"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let obj = &t["rows"][0]["object"];
        assert_eq!(obj["kind"], "PartialObjectMetadata");
        assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(obj["metadata"]["name"], "web-1");
        assert!(obj.get("spec").is_none());
    }

    fn pod_status(pod: Value) -> (String, String, String) {
        pod_status_cells(&pod, now())
    }

    #[test]
    fn pod_status_reasons_follow_print_pod() {
        // Waiting container reason wins.
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "a", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            pod_status(p),
            ("0/1".into(), "CrashLoopBackOff".into(), "4".into())
        );
        // Terminated without reason → ExitCode / Signal.
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_status(p).1, "ExitCode:3");
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}});
        assert_eq!(pod_status(p).1, "Signal:9");
        // Status reason overrides phase (e.g. Evicted).
        let p = json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}});
        assert_eq!(pod_status(p).1, "Evicted");
        // Pending pod with no statuses.
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        assert_eq!(pod_status(p), ("0/1".into(), "Pending".into(), "0".into()));
        // Scheduling gated.
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(pod_status(p).1, "SchedulingGated");
    }

    #[test]
    fn pod_init_containers_show_progress() {
        let p = json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}}]}});
        assert_eq!(pod_status(p).1, "Init:1/2");
        let p = json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(
            pod_status(p),
            ("0/1".into(), "Init:CrashLoopBackOff".into(), "3".into())
        );
        let p = json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 2}}}]}});
        assert_eq!(pod_status(p).1, "Init:ExitCode:2");
        // A started sidecar (restartable init container) counts as a container.
        let p = json!({"spec": {"initContainers": [{"name": "side", "restartPolicy": "Always"}],
                                "containers": [{"name": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "side", "started": true, "ready": true, "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}});
        assert_eq!(pod_status(p).0, "2/2");
    }

    #[test]
    fn pod_terminating_and_completed_rows() {
        let mut p = running_pod();
        p["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(pod_status(p).1, "Terminating");
        let p = json!({"metadata": {"deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(pod_status(p.clone()).1, "Completed");
        let t = table("", "pods", p);
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
    }
}
