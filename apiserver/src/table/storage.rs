//! `storage.k8s.io/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name_column, obj_age};

pub(super) fn storageclass_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Provisioner",
            "string",
            "provisioner indicates the type of the provisioner.",
        ),
        col(
            "ReclaimPolicy",
            "string",
            "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
        ),
        col(
            "VolumeBindingMode",
            "string",
            "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "string",
            "allowVolumeExpansion shows whether the storage class allow volume expand.",
        ),
        age_column(),
    ]
}

pub(super) fn storageclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let annotations = at(o, &["metadata", "annotations"]);
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| annotations.get(*k).and_then(|v| v.as_str()) == Some("true"));
    let mut nm = str_at(o, &["metadata", "name"]).to_string();
    if is_default {
        nm.push_str(" (default)");
    }
    let reclaim = match str_at(o, &["reclaimPolicy"]) {
        "" => "Delete",
        r => r,
    };
    let binding = match str_at(o, &["volumeBindingMode"]) {
        "" => "Immediate",
        b => b,
    };
    vec![
        json!(nm),
        json!(str_at(o, &["provisioner"])),
        json!(reclaim),
        json!(binding),
        json!(at(o, &["allowVolumeExpansion"]).as_bool().unwrap_or(false)),
        obj_age(o, now),
    ]
}

/// `kubectl get storageclasses`.
pub(crate) const STORAGE_CLASS: TablePrinter = TablePrinter {
    columns: storageclass_columns,
    cells: storageclass_cells,
    row_conditions: None,
};
