//! `policy/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{at, int_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};
use super::format::int_or_string;

pub(super) fn pdb_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_column(),
    ]
}

pub(super) fn pdb_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let na = |v: &Value| int_or_string(v).unwrap_or_else(|| "N/A".into());
    vec![
        name(o),
        json!(na(at(o, &["spec", "minAvailable"]))),
        json!(na(at(o, &["spec", "maxUnavailable"]))),
        json!(int_at(o, &["status", "disruptionsAllowed"])),
        obj_age(o, now),
    ]
}

/// `kubectl get poddisruptionbudgets`.
pub(crate) const POD_DISRUPTION_BUDGET: TablePrinter = TablePrinter {
    columns: pdb_columns,
    cells: pdb_cells,
    row_conditions: None,
};
