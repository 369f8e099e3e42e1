//! `batch/v1`: Jobs and CronJobs (and their job templates).

use serde_json::{Value, json};

use crate::field_error::FieldError;
use crate::json::{at, str_at};

use super::rules::{validate_immutable, validate_nonnegative};
use super::workloads::{validate_selector_and_template, validate_template};

fn validate_job_spec(spec_owner: &Value, spec_path: &[&str], errs: &mut Vec<FieldError>) {
    let base = spec_path.join(".");
    let spec = at(spec_owner, spec_path);
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        validate_nonnegative(at(spec, &[f]), &format!("{base}.{f}"), errs);
    }
    if let Some(ads) = at(spec, &["activeDeadlineSeconds"]).as_i64()
        && ads <= 0
    {
        errs.push(FieldError::invalid(
            &format!("{base}.activeDeadlineSeconds"),
            json!(ads),
            "must be greater than or equal to 0",
        ));
    }
    let mode = str_at(spec, &["completionMode"]);
    if !mode.is_empty() && mode != "NonIndexed" && mode != "Indexed" {
        errs.push(FieldError::not_supported(
            &format!("{base}.completionMode"),
            json!(mode),
            &["NonIndexed", "Indexed"],
        ));
    }
    if mode == "Indexed" && at(spec, &["completions"]).is_null() {
        errs.push(FieldError::required(
            &format!("{base}.completions"),
            "when completion mode is Indexed",
        ));
    }
    let template_path: Vec<&str> = spec_path.iter().copied().chain(["template"]).collect();
    validate_template(
        spec_owner,
        &template_path,
        &["OnFailure", "Never"],
        "Job",
        errs,
    );
}

pub(crate) fn validate_job(new: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_job_spec(new, &["spec"], errs);
    validate_selector_and_template(new, "job", &["spec", "template"], errs);
    if let Some(old) = old {
        validate_immutable(new, old, &["spec", "selector"], errs);
        validate_immutable(new, old, &["spec", "completionMode"], errs);
        validate_immutable(new, old, &["spec", "podFailurePolicy"], errs);
        // Completions may change only for Indexed Jobs together with parallelism.
        let indexed = str_at(new, &["spec", "completionMode"]) == "Indexed";
        let completions_changed =
            at(new, &["spec", "completions"]) != at(old, &["spec", "completions"]);
        if completions_changed
            && !(indexed && at(new, &["spec", "completions"]) == at(new, &["spec", "parallelism"]))
        {
            errs.push(FieldError::invalid(
                "spec.completions",
                at(new, &["spec", "completions"]).clone(),
                "field is immutable",
            ));
        }
        // The template is immutable, except for scheduling directives of a suspended Job
        // that has not started.
        let new_t = at(new, &["spec", "template"]);
        let old_t = at(old, &["spec", "template"]);
        if new_t != old_t {
            let suspended = at(new, &["spec", "suspend"]).as_bool() == Some(true)
                && at(old, &["status", "startTime"]).is_null();
            let strip = |t: &Value| -> Value {
                let mut t = t.clone();
                if let Some(spec) = t.get_mut("spec").and_then(|s| s.as_object_mut()) {
                    for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                        spec.remove(f);
                    }
                }
                if let Some(meta) = t.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    meta.remove("labels");
                    meta.remove("annotations");
                }
                t
            };
            if !(suspended && strip(new_t) == strip(old_t)) {
                errs.push(FieldError::invalid(
                    "spec.template",
                    new_t.clone(),
                    "field is immutable",
                ));
            }
        }
    }
}

/// Whether `schedule` is a cron expression the CronJob controller accepts: five fields
/// or a `@descriptor`, optionally prefixed with `CRON_TZ=`/`TZ=`.
pub fn valid_cron_schedule(schedule: &str) -> bool {
    let trimmed = schedule.trim();
    if trimmed.is_empty() {
        return false;
    }
    if let Some(d) = trimmed.strip_prefix('@') {
        return matches!(
            d,
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly"
        ) || d.starts_with("every ");
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    if fields.len() != 5 {
        return false;
    }
    fields.iter().all(|f| {
        f.split(',').all(|part| {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            let step_ok = step.is_none_or(|st| st.parse::<u32>().is_ok_and(|n| n > 0));
            let range_ok = range == "*"
                || range == "?"
                || range
                    .split('-')
                    .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric()));
            step_ok && range_ok
        })
    })
}

/// Upstream `validateTimeZone`: `spec.timeZone`, when set, names a zone of the
/// IANA database (not `Local`), in the characters such names use.
fn validate_time_zone(new: &Value, errs: &mut Vec<FieldError>) {
    let Some(tz) = at(new, &["spec", "timeZone"]).as_str() else {
        return;
    };
    let invalid = |errs: &mut Vec<FieldError>, msg: &str| {
        errs.push(FieldError::invalid("spec.timeZone", json!(tz), msg));
    };
    if tz.is_empty() {
        return invalid(errs, "timeZone must be nil or non-empty string");
    }
    let valid_part = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    };
    if !tz.split('/').all(valid_part) {
        return invalid(errs, &format!("unknown time zone {tz}"));
    }
    if tz.eq_ignore_ascii_case("Local") {
        // Go loads `Local` (the server's zone); upstream refuses it explicitly.
        return invalid(
            errs,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        );
    }
    if jiff::tz::TimeZone::get(tz).is_err() {
        invalid(errs, &format!("unknown time zone {tz}"));
    }
}

pub(crate) fn validate_cronjob(new: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
    validate_time_zone(new, errs);
    let schedule = str_at(new, &["spec", "schedule"]);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else if schedule.contains("TZ") {
        errs.push(FieldError::invalid(
            "spec.schedule",
            json!(schedule),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    } else if !valid_cron_schedule(schedule) {
        errs.push(FieldError::invalid(
            "spec.schedule",
            json!(schedule),
            &format!("unparseable cron expression: {schedule}"),
        ));
    }
    let cp = str_at(new, &["spec", "concurrencyPolicy"]);
    if !["Allow", "Forbid", "Replace"].contains(&cp) {
        if cp.is_empty() {
            errs.push(FieldError::required("spec.concurrencyPolicy", ""));
        } else {
            errs.push(FieldError::not_supported(
                "spec.concurrencyPolicy",
                json!(cp),
                &["Allow", "Forbid", "Replace"],
            ));
        }
    }
    for f in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        validate_nonnegative(at(new, &["spec", f]), &format!("spec.{f}"), errs);
    }
    validate_job_spec(new, &["spec", "jobTemplate", "spec"], errs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, check_update};

    #[test]
    fn job_and_cronjob_rules() {
        let job = json!({"metadata": {"name": "pi", "namespace": "d", "uid": "u1"},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}});
        assert_eq!(
            check("batch", "jobs", job.clone()),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
            ]
        );
        let mut ok = job.clone();
        ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let mut changed = ok.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        changed["spec"]["completions"] = json!(3);
        changed["spec"]["backoffLimit"] = json!(-1);
        let errs = check_update("batch", "jobs", ok.clone(), changed);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.template: Invalid value:")
                    && e.ends_with("field is immutable")),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"spec.completions: Invalid value: 3: field is immutable".to_string())
        );
        assert!(errs.contains(
            &"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0".to_string()
        ));
        // A suspended job that never started may change scheduling directives.
        let mut suspended = ok.clone();
        suspended["spec"]["suspend"] = json!(true);
        let mut moved = suspended.clone();
        moved["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(check_update("batch", "jobs", suspended, moved).is_empty());

        let cj = |schedule: &str, policy: &str| {
            json!({"metadata": {"name": "c", "namespace": "d"},
            "spec": {"schedule": schedule, "concurrencyPolicy": policy, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}})
        };
        assert_eq!(
            check("batch", "cronjobs", cj("not a cron", "Allow")),
            [
                "spec.schedule: Invalid value: \"not a cron\": unparseable cron expression: not a cron"
            ]
        );
        assert_eq!(
            check("batch", "cronjobs", cj("@daily", "Sometimes")),
            [
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""
            ]
        );
        let zoned = |tz: &str| {
            let mut c = cj("@daily", "Allow");
            c["spec"]["timeZone"] = json!(tz);
            check("batch", "cronjobs", c)
        };
        assert!(zoned("Europe/Berlin").is_empty());
        assert!(zoned("Etc/GMT+5").is_empty());
        assert_eq!(
            zoned("Mars/Olympus"),
            ["spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"]
        );
        assert_eq!(
            zoned("../etc/passwd"),
            ["spec.timeZone: Invalid value: \"../etc/passwd\": unknown time zone ../etc/passwd"]
        );
        assert_eq!(
            zoned("Local"),
            [
                "spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as \
              defined in https://www.iana.org/time-zones"
            ]
        );
        assert!(valid_cron_schedule("0 0 * * MON-FRI"));
        assert!(valid_cron_schedule("*/15 1,2 1-5 JAN *"));
        assert!(!valid_cron_schedule("* * * *"));
        assert!(!valid_cron_schedule("*/0 * * * *"));
    }
}
