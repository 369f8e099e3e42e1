//! `kubectl get resourcequotas` (`printResourceQuota`): each limited resource as
//! `name: used/hard`, limits in their own column.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::at;
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};

fn columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        age_column(),
        col(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
    ]
}

/// A quantity as `Quantity.String()` prints it (`0` when absent).
fn quantity(v: &Value) -> String {
    v.as_str()
        .and_then(|s| capstan_quota::Quantity::parse(s).ok())
        .unwrap_or_default()
        .to_string()
}

fn cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    let used = at(o, &["status", "used"]);
    let mut hard: Vec<(&String, &Value)> = at(o, &["status", "hard"])
        .as_object()
        .into_iter()
        .flatten()
        .collect();
    hard.sort_unstable_by_key(|(k, _)| *k);
    for (resource, hard) in hard {
        let cell = format!(
            "{resource}: {}/{}",
            quantity(&used[resource]),
            quantity(hard)
        );
        match resource.split_once('.') {
            Some(("limits", _)) => limits.push(cell),
            _ => requests.push(cell),
        }
    }
    vec![
        name(o),
        obj_age(o, now),
        json!(requests.join(", ")),
        json!(limits.join(", ")),
    ]
}

/// `kubectl get resourcequotas`.
pub(crate) const RESOURCE_QUOTA: TablePrinter = TablePrinter {
    columns,
    cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_resources_print_used_over_hard_with_limits_apart() {
        let q = json!({
            "metadata": {"name": "q"},
            "status": {
                "hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi"},
                "used": {"pods": "1", "limits.memory": "512Mi"}
            }
        });
        let row = cells(&q, Utc::now());
        assert_eq!(row[2], json!("pods: 1/2, requests.cpu: 0/1"));
        assert_eq!(row[3], json!("limits.memory: 512Mi/1Gi"));
    }
}
