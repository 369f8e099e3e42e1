//! `apiregistration.k8s.io/v1` tables (APIServices), as kube-aggregator's
//! `ConvertToTable` renders them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};

fn api_service_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Service",
            "string",
            "The reference to the service that hosts this API endpoint.",
        ),
        col("Available", "string", "Whether this service is available."),
        age_column(),
    ]
}

/// `Local`, or the service as `namespace/name`; the `Available` condition's status, with
/// its reason when it is not `True`.
fn api_service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service = match at(o, &["spec", "service"]) {
        s if s.is_object() => format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"])),
        _ => "Local".to_string(),
    };
    let available = array_at(o, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
        .map_or_else(
            || "Unknown".to_string(),
            |c| match (str_at(c, &["status"]), str_at(c, &["reason"])) {
                ("True", _) => "True".to_string(),
                (status, "") => status.to_string(),
                (status, reason) => format!("{status} ({reason})"),
            },
        );
    vec![name(o), json!(service), json!(available), obj_age(o, now)]
}

/// `kubectl get apiservices`.
pub(crate) const API_SERVICE: TablePrinter = TablePrinter {
    columns: api_service_columns,
    cells: api_service_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_remote_rows() {
        let now = Utc::now();
        let local = json!({"metadata": {"name": "v1.apps"},
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
        assert_eq!(
            api_service_cells(&local, now)[..3],
            [json!("v1.apps"), json!("Local"), json!("True")]
        );
        let remote = json!({"metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"service": {"name": "metrics-server", "namespace": "kube-system"}},
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "ServiceNotFound"}]}});
        assert_eq!(
            api_service_cells(&remote, now)[1..3],
            [
                json!("kube-system/metrics-server"),
                json!("False (ServiceNotFound)")
            ]
        );
        let unjudged = json!({"metadata": {"name": "v1.x"}, "spec": {"service": {"name": "s", "namespace": "n"}}});
        assert_eq!(api_service_cells(&unjudged, now)[2], json!("Unknown"));
        let names: Vec<String> = api_service_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Service", "Available", "Age"]);
    }
}
