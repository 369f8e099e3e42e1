//! `scheduling.k8s.io/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};

pub(super) fn priorityclass_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Value",
            "integer",
            "value represents the integer value of this priority class.",
        ),
        col(
            "Global-Default",
            "boolean",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
        ),
        age_column(),
        col(
            "PreemptionPolicy",
            "string",
            "preemptionPolicy is the Policy for preempting pods with lower priority.",
        ),
    ]
}

pub(super) fn priorityclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let policy = match str_at(o, &["preemptionPolicy"]) {
        "" => "PreemptLowerPriority",
        p => p,
    };
    vec![
        name(o),
        json!(int_at(o, &["value"])),
        json!(at(o, &["globalDefault"]).as_bool().unwrap_or(false)),
        obj_age(o, now),
        json!(policy),
    ]
}

/// `kubectl get priorityclasses`.
pub(crate) const PRIORITY_CLASS: TablePrinter = TablePrinter {
    columns: priorityclass_columns,
    cells: priorityclass_cells,
    row_conditions: None,
};
