//! `apps/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{
    age_column, col, name, name_column, obj_age, workload_cells, workload_columns,
};
use super::format::{format_label_selector, format_labels};

pub(super) fn deployment_columns() -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "string",
            "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
        ),
        col(
            "Available",
            "string",
            "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
    ];
    columns.extend(workload_columns(Some("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.")));
    columns
}

/// The `READY` cell of Deployments and StatefulSets: ready replicas of the desired.
fn ready_of_desired(o: &Value) -> Value {
    json!(format!(
        "{}/{}",
        int_at(o, &["status", "readyReplicas"]),
        int_at(o, &["spec", "replicas"])
    ))
}

pub(super) fn deployment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(o),
        ready_of_desired(o),
        json!(int_at(o, &["status", "updatedReplicas"])),
        json!(int_at(o, &["status", "availableReplicas"])),
    ];
    cells.extend(workload_cells(
        o,
        at(o, &["spec"]),
        Some(format_label_selector),
        now,
    ));
    cells
}

pub(super) fn replicaset_columns() -> Vec<PrinterColumn> {
    replicated_columns(
        "Replicas is the number of desired pods.",
        "Replicas is the most recently observed number of non-terminating pods.",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        "Selector is a label query over pods that should match the replica count.",
    )
}

/// `NAME DESIRED CURRENT READY AGE` (wide: `CONTAINERS IMAGES SELECTOR`), the columns of
/// ReplicaSets and ReplicationControllers, with the kind's descriptions.
pub(super) fn replicated_columns(
    desired: &str,
    current: &str,
    ready: &str,
    selector: &str,
) -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col("Desired", "integer", desired),
        col("Current", "integer", current),
        col("Ready", "integer", ready),
    ];
    columns.extend(workload_columns(Some(selector)));
    columns
}

pub(super) fn replicaset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replicated_cells(o, format_label_selector, now)
}

/// The cells of a ReplicaSet's or ReplicationController's row: desired, current and
/// ready replicas, then the workload cells with `spec.selector` printed by `selector`.
pub(super) fn replicated_cells(
    o: &Value,
    selector: fn(&Value) -> String,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut cells = vec![
        name(o),
        json!(int_at(o, &["spec", "replicas"])),
        json!(int_at(o, &["status", "replicas"])),
        json!(int_at(o, &["status", "readyReplicas"])),
    ];
    cells.extend(workload_cells(o, at(o, &["spec"]), Some(selector), now));
    cells
}

pub(super) fn statefulset_columns() -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col("Ready", "string", "Number of the pod with ready state"),
    ];
    columns.extend(workload_columns(None));
    columns
}

pub(super) fn statefulset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![name(o), ready_of_desired(o)];
    cells.extend(workload_cells(o, at(o, &["spec"]), None, now));
    cells
}

pub(super) fn daemonset_columns() -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col(
            "Desired",
            "integer",
            "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
        ),
        col(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
        ),
        col(
            "Up-to-date",
            "integer",
            "The total number of nodes that are running updated daemon pod",
        ),
        col(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        ),
        col(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
    ];
    columns.extend(workload_columns(Some(
        "A label query over pods that are managed by the daemon set.",
    )));
    columns
}

pub(super) fn daemonset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(o),
        json!(int_at(o, &["status", "desiredNumberScheduled"])),
        json!(int_at(o, &["status", "currentNumberScheduled"])),
        json!(int_at(o, &["status", "numberReady"])),
        json!(int_at(o, &["status", "updatedNumberScheduled"])),
        json!(int_at(o, &["status", "numberAvailable"])),
        json!(format_labels(at(
            o,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
    ];
    cells.extend(workload_cells(
        o,
        at(o, &["spec"]),
        Some(format_label_selector),
        now,
    ));
    cells
}

pub(super) fn revision_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Controller", "string", "Controller of the object"),
        col(
            "Revision",
            "string",
            "Revision indicates the revision of the state represented by Data.",
        ),
        age_column(),
    ]
}

pub(super) fn revision_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = array_at(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| at(r, &["controller"]).as_bool() == Some(true))
        .map(|r| {
            let api_version = str_at(r, &["apiVersion"]);
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = str_at(r, &["kind"]).to_ascii_lowercase();
            let group_kind = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{group_kind}/{}", str_at(r, &["name"]))
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        name(o),
        json!(controller),
        json!(int_at(o, &["revision"])),
        obj_age(o, now),
    ]
}

/// `kubectl get deployments`.
pub(crate) const DEPLOYMENT: TablePrinter = TablePrinter {
    columns: deployment_columns,
    cells: deployment_cells,
    row_conditions: None,
};

/// `kubectl get replicasets`.
pub(crate) const REPLICA_SET: TablePrinter = TablePrinter {
    columns: replicaset_columns,
    cells: replicaset_cells,
    row_conditions: None,
};

/// `kubectl get statefulsets`.
pub(crate) const STATEFUL_SET: TablePrinter = TablePrinter {
    columns: statefulset_columns,
    cells: statefulset_cells,
    row_conditions: None,
};

/// `kubectl get daemonsets`.
pub(crate) const DAEMON_SET: TablePrinter = TablePrinter {
    columns: daemonset_columns,
    cells: daemonset_cells,
    row_conditions: None,
};

/// `kubectl get controllerrevisions`.
pub(crate) const CONTROLLER_REVISION: TablePrinter = TablePrinter {
    columns: revision_columns,
    cells: revision_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, table};

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "creationTimestamp": ago(3 * 86400 + 3600)},
            "spec": {"replicas": 3,
                "selector": {"matchLabels": {"app": "web"},
                             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        })
    }

    #[test]
    fn deployment_table() {
        let t = table("apps", "deployments", deployment());
        assert_eq!(
            headers(&t),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3d1h"),
                json!("nginx,side"),
                json!("nginx:1.25,busybox"),
                json!("app=web,tier in (a,b)")
            ]
        );
    }

    #[test]
    fn workload_tables() {
        let rs = json!({"metadata": {"name": "rs", "creationTimestamp": ago(10)},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": []}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let t = table("apps", "replicasets", rs);
        assert_eq!(headers(&t), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
        assert_eq!(
            cells(&t)[..5],
            [json!("rs"), json!(2), json!(2), json!(1), json!("10s")]
        );

        let rc = json!({"metadata": {"name": "rc", "creationTimestamp": ago(10)},
            "spec": {"replicas": 3, "selector": {"b": "2", "a": "1"},
                     "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let t = table("", "replicationcontrollers", rc);
        assert_eq!(headers(&t), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
        assert_eq!(
            cells(&t),
            [
                json!("rc"),
                json!(3),
                json!(2),
                json!(1),
                json!("10s"),
                json!("c"),
                json!("nginx"),
                json!("a=1,b=2")
            ]
        );

        let sts = json!({"metadata": {"name": "db", "creationTimestamp": ago(10)},
            "spec": {"replicas": 3}, "status": {"readyReplicas": 3}});
        let t = table("apps", "statefulsets", sts);
        assert_eq!(headers(&t), ["NAME", "READY", "AGE"]);
        assert_eq!(cells(&t)[1], json!("3/3"));

        let ds = json!({"metadata": {"name": "agent", "creationTimestamp": ago(10)},
            "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
                       "updatedNumberScheduled": 4, "numberAvailable": 3}});
        let t = table("apps", "daemonsets", ds);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE"
            ]
        );
        assert_eq!(cells(&t)[6], json!("os=linux"));
        assert_eq!(cells(&t)[10], json!("<none>"));

        let rev = json!({"metadata": {"name": "agent-5d", "creationTimestamp": ago(10),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true}]},
            "revision": 2});
        let t = table("apps", "controllerrevisions", rev);
        assert_eq!(headers(&t), ["NAME", "CONTROLLER", "REVISION", "AGE"]);
        assert_eq!(cells(&t)[1], json!("daemonset.apps/agent"));
    }
}
