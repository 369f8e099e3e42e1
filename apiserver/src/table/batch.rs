//! `batch/v1` tables.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, int_at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{col, condition_status, name, name_column, workload_cells, workload_columns};
use super::format::{age, format_label_selector, human_duration, or_none, parse_time};

pub(super) fn job_columns() -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col("Status", "string", "Status of the job."),
        col(
            "Completions",
            "string",
            "The desired number of successfully finished pods the job should be run with.",
        ),
        col("Duration", "string", "Time required to complete the job."),
    ];
    columns.extend(workload_columns(Some(
        "A label query over pods that should match the pod count.",
    )));
    columns
}

pub(super) fn job_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(o, &["status", "succeeded"]);
    let completions = match at(o, &["spec", "completions"]).as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = at(o, &["spec", "parallelism"]).as_i64().unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = at(o, &["status", "startTime"])
        .as_str()
        .and_then(parse_time);
    let completion = at(o, &["status", "completionTime"])
        .as_str()
        .and_then(parse_time);
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(done)) => human_duration(done - st),
    };
    let conditions = array_at(o, &["status", "conditions"]);
    let has = |t: &str| condition_status(conditions, t) == Some("True");
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if at(o, &["metadata", "deletionTimestamp"]).is_string() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let mut cells = vec![name(o), json!(status), json!(completions), json!(duration)];
    cells.extend(workload_cells(
        o,
        at(o, &["spec"]),
        Some(format_label_selector),
        now,
    ));
    cells
}

pub(super) fn cronjob_columns() -> Vec<PrinterColumn> {
    let mut columns = vec![
        name_column(),
        col(
            "Schedule",
            "string",
            "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        ),
        col(
            "Timezone",
            "string",
            "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
        ),
        col(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
        ),
        col(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        col(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
    ];
    columns.extend(workload_columns(Some(
        "A label query over pods that should match the pod count.",
    )));
    columns
}

pub(super) fn cronjob_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let suspend = match at(o, &["spec", "suspend"]).as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = match at(o, &["status", "lastScheduleTime"]).as_str() {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let job_spec = at(o, &["spec", "jobTemplate", "spec"]);
    let mut cells = vec![
        name(o),
        json!(str_at(o, &["spec", "schedule"])),
        json!(or_none(str_at(o, &["spec", "timeZone"]))),
        json!(suspend),
        json!(array_at(o, &["status", "active"]).len()),
        json!(last),
    ];
    cells.extend(workload_cells(
        o,
        job_spec,
        Some(format_label_selector),
        now,
    ));
    cells
}

/// `kubectl get jobs`.
pub(crate) const JOB: TablePrinter = TablePrinter {
    columns: job_columns,
    cells: job_cells,
    row_conditions: None,
};

/// `kubectl get cronjobs`.
pub(crate) const CRON_JOB: TablePrinter = TablePrinter {
    columns: cronjob_columns,
    cells: cronjob_cells,
    row_conditions: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::testing::{ago, cells, headers, table};

    #[test]
    fn job_and_cronjob_tables() {
        let job = json!({"metadata": {"name": "pi", "creationTimestamp": ago(600)},
            "spec": {"completions": 3, "parallelism": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}},
            "status": {"succeeded": 3, "startTime": ago(500), "completionTime": ago(300),
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let t = table("batch", "jobs", job);
        assert_eq!(
            headers(&t),
            ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        );
        assert_eq!(
            cells(&t)[..5],
            [
                json!("pi"),
                json!("Complete"),
                json!("3/3"),
                json!("3m20s"),
                json!("10m")
            ]
        );
        let running = json!({"metadata": {"name": "w", "creationTimestamp": ago(60)},
            "spec": {"parallelism": 2}, "status": {"startTime": ago(30)}});
        let t = table("batch", "jobs", running);
        assert_eq!(
            cells(&t)[1..4],
            [json!("Running"), json!("0/1 of 2"), json!("30s")]
        );

        let cj = json!({"metadata": {"name": "nightly", "creationTimestamp": ago(7200)},
            "spec": {"schedule": "0 0 * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
            "status": {"active": [{"name": "x"}]}});
        let t = table("batch", "cronjobs", cj);
        assert_eq!(
            headers(&t),
            [
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE"
            ]
        );
        assert_eq!(
            cells(&t)[..7],
            [
                json!("nightly"),
                json!("0 0 * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("<none>"),
                json!("120m")
            ]
        );
    }
}
