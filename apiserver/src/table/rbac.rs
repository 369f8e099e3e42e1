//! `rbac.authorization.k8s.io/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age, wide};

pub(super) fn rolebinding_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Role",
            "string",
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        ),
        age_column(),
        wide("Users", "string", "Users in the roleBinding"),
        wide("Groups", "string", "Groups in the roleBinding"),
        wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the roleBinding",
        ),
    ]
}

pub(super) fn rolebinding_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subj in array_at(o, &["subjects"]) {
        match str_at(subj, &["kind"]) {
            "User" => users.push(str_at(subj, &["name"]).to_string()),
            "Group" => groups.push(str_at(subj, &["name"]).to_string()),
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(subj, &["namespace"]),
                str_at(subj, &["name"])
            )),
            _ => {}
        }
    }
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            str_at(o, &["roleRef", "kind"]),
            str_at(o, &["roleRef", "name"])
        )),
        obj_age(o, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

/// `kubectl get rolebindings` and `clusterrolebindings`.
pub(crate) const ROLE_BINDING: TablePrinter = TablePrinter {
    columns: rolebinding_columns,
    cells: rolebinding_cells,
    row_conditions: None,
};
