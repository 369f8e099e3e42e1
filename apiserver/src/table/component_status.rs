//! `v1` ComponentStatus tables, as kube-apiserver's `printComponentStatus` renders them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{col, name, name_column};

fn component_status_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col("Status", "string", "Status of the component conditions"),
        col("Message", "string", "Message of the component conditions"),
        col("Error", "string", "Error of the component conditions"),
    ]
}

/// `Healthy`/`Unhealthy` from the `Healthy` condition (`Unknown` without one), with its
/// message and error.
fn component_status_cells(o: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let healthy = array_at(o, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if str_at(c, &["status"]) == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            str_at(c, &["message"]),
            str_at(c, &["error"]),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(o), json!(status), json!(message), json!(error)]
}

/// `kubectl get componentstatuses`.
pub(crate) const COMPONENT_STATUS: TablePrinter = TablePrinter {
    columns: component_status_columns,
    cells: component_status_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_healthy_condition() {
        let now = Utc::now();
        let ok = json!({"metadata": {"name": "etcd-0"},
            "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]});
        assert_eq!(
            component_status_cells(&ok, now),
            [json!("etcd-0"), json!("Healthy"), json!("ok"), json!("")]
        );
        let down = json!({"metadata": {"name": "scheduler"},
            "conditions": [{"type": "Healthy", "status": "False", "error": "gone"}]});
        assert_eq!(
            component_status_cells(&down, now)[1..],
            [json!("Unhealthy"), json!(""), json!("gone")]
        );
        let unknown = json!({"metadata": {"name": "x"}});
        assert_eq!(component_status_cells(&unknown, now)[1], json!("Unknown"));
    }
}
