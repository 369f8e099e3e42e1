//! Custom resources' tables: a CRD version's `additionalPrinterColumns`, evaluated with
//! [`super::json_path`], as the apiextensions table convertor does.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::kinds::PrinterColumn;

use super::columns::name;
use super::format::{human_duration, parse_time};
use super::json_path::eval_json_path;

pub(super) fn custom_cells(cols: &[PrinterColumn], obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![name(obj)];
    for c in cols {
        let found = eval_json_path(&c.json_path, obj);
        let Some(value) = found.first() else {
            cells.push(Value::Null);
            continue;
        };
        cells.push(cell_for_json_value(&c.type_, value, now));
    }
    cells
}

/// The apiextensions table convertor's `cellForJSONValue`: a cell of the column's type, or
/// `null` when the value does not fit.
pub(super) fn cell_for_json_value(type_: &str, value: &Value, now: DateTime<Utc>) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(|f| Value::from(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => json!(b),
        ("string", Value::String(s)) => json!(s),
        // jsonpath prints non-string values as text in string columns.
        ("string", other) => json!(other.to_string()),
        ("date", Value::String(s)) => match parse_time(s) {
            Some(t) => json!(human_duration(now - t)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, now};

    use crate::kinds::testing::{widget, widget_custom};
    use crate::kinds::{CustomKind, KindInfo, Subresource};
    use crate::table::columns::col_full;
    use crate::table::{TableOptions, to_table};

    fn widget_kind(cols: Vec<PrinterColumn>) -> KindInfo {
        let custom = CustomKind {
            printer_columns: cols,
            ..widget_custom()
        };
        KindInfo {
            subresources: vec![Subresource::Status],
            ..widget("v1", custom)
        }
    }

    #[test]
    fn custom_resource_default_columns_are_name_and_age() {
        let k = widget_kind(vec![]);
        let obj = json!({"metadata": {"name": "w1", "creationTimestamp": ago(90)}});
        let t = to_table(&k, &[obj], TableOptions::default(), now());
        assert_eq!(headers(&t), ["NAME", "AGE"]);
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(cells(&t), vec![json!("w1"), json!("90s")]);
    }

    #[test]
    fn custom_resource_printer_columns_use_json_path() {
        let cols = vec![
            col_full("Replicas", "integer", "", "", 0, ".spec.replicas"),
            col_full("Phase", "string", "", "", 0, ".status.phase"),
            col_full("First", "string", "", "", 0, ".spec.items[0].name"),
            col_full("All", "string", "", "", 1, ".spec.items[*].name"),
            col_full("Ready", "boolean", "", "", 0, ".status.ready"),
            col_full("Ratio", "number", "", "", 0, ".status.ratio"),
            col_full("Started", "date", "", "", 0, ".status.started"),
            col_full(
                "Label",
                "string",
                "",
                "",
                0,
                ".metadata.labels.app\\.kubernetes\\.io/name",
            ),
            col_full("Missing", "string", "", "", 0, ".spec.nope"),
            col_full("Obj", "string", "", "", 0, ".spec.nested"),
        ];
        let k = widget_kind(cols);
        let obj = json!({"metadata": {"name": "w1", "labels": {"app.kubernetes.io/name": "demo"}},
            "spec": {"replicas": 3.0, "items": [{"name": "a"}, {"name": "b"}], "nested": {"x": 1}},
            "status": {"phase": "Ready", "ready": true, "ratio": 2, "started": ago(400)}});
        let t = to_table(&k, &[obj], TableOptions::default(), now());
        assert_eq!(
            headers(&t),
            [
                "NAME", "REPLICAS", "PHASE", "FIRST", "READY", "RATIO", "STARTED", "LABEL",
                "MISSING", "OBJ"
            ]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("w1"),
                json!(3),
                json!("Ready"),
                json!("a"),
                json!("a"),
                json!(true),
                json!(2.0),
                json!("6m40s"),
                json!("demo"),
                Value::Null,
                json!("{\"x\":1}")
            ]
        );
    }
}
