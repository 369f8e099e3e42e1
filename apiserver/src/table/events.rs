//! Events' table, the same for `v1` and `events.k8s.io/v1` Events (which name their
//! fields differently).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{NAME_DESC, col, col_full, name, wide};
use super::format::age;

pub(super) fn event_columns() -> Vec<PrinterColumn> {
    vec![
        col(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        col(
            "Type",
            "string",
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        col(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "string", "The object that this event is about."),
        wide(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        ),
        wide(
            "Source",
            "string",
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        col(
            "Message",
            "string",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        col_full("Name", "string", "name", NAME_DESC, 1, ""),
    ]
}

/// The fields the event printer reads, in either Event API.
pub(super) struct EventView<'a> {
    first: Option<&'a str>,
    last: Option<&'a str>,
    event_time: Option<&'a str>,
    series_last: Option<&'a str>,
    series_count: Option<i64>,
    count: i64,
    type_: &'a str,
    reason: &'a str,
    regarding: &'a Value,
    component: &'a str,
    host: &'a str,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

pub(super) fn event_cells(o: &Value, e: EventView<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let micro = |t: Option<&str>| age(t, now);
    let first = if e.first.is_some() {
        age(e.first, now)
    } else {
        micro(e.event_time)
    };
    let mut last = if e.last.is_some() {
        age(e.last, now)
    } else {
        first.clone()
    };
    let mut count = e.count;
    if e.series_last.is_some() || e.series_count.is_some() {
        last = micro(e.series_last);
        count = e.series_count.unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(e.regarding, &["kind"]).to_ascii_lowercase();
    let target_name = str_at(e.regarding, &["name"]);
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let component = if e.component.is_empty() {
        e.reporting_controller
    } else {
        e.component
    };
    let instance = if e.host.is_empty() {
        e.reporting_instance
    } else {
        e.host
    };
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(e.type_),
        json!(e.reason),
        json!(target),
        json!(str_at(e.regarding, &["fieldPath"])),
        json!(source),
        json!(e.message.trim()),
        json!(first),
        json!(count),
        name(o),
    ]
}

pub(super) fn core_event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let view = EventView {
        first: at(o, &["firstTimestamp"]).as_str(),
        last: at(o, &["lastTimestamp"]).as_str(),
        event_time: at(o, &["eventTime"]).as_str(),
        series_last: at(o, &["series", "lastObservedTime"]).as_str(),
        series_count: at(o, &["series", "count"]).as_i64(),
        count: int_at(o, &["count"]),
        type_: str_at(o, &["type"]),
        reason: str_at(o, &["reason"]),
        regarding: at(o, &["involvedObject"]),
        component: str_at(o, &["source", "component"]),
        host: str_at(o, &["source", "host"]),
        reporting_controller: str_at(o, &["reportingComponent"]),
        reporting_instance: str_at(o, &["reportingInstance"]),
        message: str_at(o, &["message"]),
    };
    event_cells(o, view, now)
}

pub(super) fn events_v1_event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let view = EventView {
        first: at(o, &["deprecatedFirstTimestamp"]).as_str(),
        last: at(o, &["deprecatedLastTimestamp"]).as_str(),
        event_time: at(o, &["eventTime"]).as_str(),
        series_last: at(o, &["series", "lastObservedTime"]).as_str(),
        series_count: at(o, &["series", "count"]).as_i64(),
        count: int_at(o, &["deprecatedCount"]),
        type_: str_at(o, &["type"]),
        reason: str_at(o, &["reason"]),
        regarding: at(o, &["regarding"]),
        component: str_at(o, &["deprecatedSource", "component"]),
        host: str_at(o, &["deprecatedSource", "host"]),
        reporting_controller: str_at(o, &["reportingController"]),
        reporting_instance: str_at(o, &["reportingInstance"]),
        message: str_at(o, &["note"]),
    };
    event_cells(o, view, now)
}

/// `kubectl get events` (`v1`).
pub(crate) const CORE_EVENT: TablePrinter = TablePrinter {
    columns: event_columns,
    cells: core_event_cells,
    row_conditions: None,
};

/// `kubectl get events.events.k8s.io`.
pub(crate) const EVENT: TablePrinter = TablePrinter {
    columns: event_columns,
    cells: events_v1_event_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Registry;
    use crate::table::testing::{ago, cells, headers, now, table};
    use crate::table::{TableOptions, to_table};

    #[test]
    fn event_tables_for_both_apis() {
        let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
            "source": {"component": "default-scheduler"}, "message": " Assigned \n",
            "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 4});
        let t = table("", "events", ev);
        assert_eq!(
            headers(&t),
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        );
        assert_eq!(
            cells(&t),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web"),
                json!("spec.containers{a}"),
                json!("default-scheduler"),
                json!("Assigned"),
                json!("10m"),
                json!(4),
                json!("web.1")
            ]
        );
        let ev = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "Failed",
            "regarding": {"kind": "Node", "name": "n1"}, "note": "x", "eventTime": ago(30),
            "reportingController": "capstan", "reportingInstance": "i-1"});
        let k = Registry::with_builtins()
            .lookup("events.k8s.io", "v1", "events")
            .unwrap();
        let t = to_table(&k, &[ev], TableOptions::default(), now());
        let c = cells(&t);
        assert_eq!(c[0], json!("30s"));
        assert_eq!(c[3], json!("node/n1"));
        assert_eq!(c[5], json!("capstan, i-1"));
        assert_eq!(c[8], json!(1));
    }
}
