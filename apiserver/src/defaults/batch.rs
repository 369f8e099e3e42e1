//! `batch/v1`: Jobs (with the selector the Job strategy generates) and CronJobs.

use serde_json::{Value, json};

use crate::json::{array_mut, get_mut, is_unset, set_default};

use super::pod::default_template;

/// The label holding a Job's uid on its pods and in its generated selector.
pub(super) const JOB_CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// The label holding a Job's name on its pods.
pub(super) const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

pub(super) const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

pub(super) const LEGACY_JOB_NAME_LABEL: &str = "job-name";

pub(crate) fn default_job(job: &mut Value) {
    if is_unset(job, &["spec", "completions"]) && is_unset(job, &["spec", "parallelism"]) {
        set_default(job, &["spec", "completions"], json!(1));
    }
    set_default(job, &["spec", "parallelism"], json!(1));
    let per_index = !is_unset(job, &["spec", "backoffLimitPerIndex"]);
    set_default(
        job,
        &["spec", "backoffLimit"],
        json!(if per_index { i32::MAX as i64 } else { 6 }),
    );
    set_default(job, &["spec", "completionMode"], json!("NonIndexed"));
    set_default(job, &["spec", "suspend"], json!(false));
    set_default(job, &["spec", "manualSelector"], json!(false));
    let has_failure_policy = !is_unset(job, &["spec", "podFailurePolicy"]);
    if let Some(rules) = get_mut(job, &["spec", "podFailurePolicy", "rules"]) {
        for rule in rules.as_array_mut().into_iter().flatten() {
            for pattern in array_mut(rule, &["onPodConditions"]) {
                set_default(pattern, &["status"], json!("True"));
            }
        }
    }
    set_default(
        job,
        &["spec", "podReplacementPolicy"],
        json!(if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    generate_job_selector(job);
    default_template(job, &["spec", "template"]);
    // Job labels default to the template's labels when the Job has none.
    let template_labels = job.pointer("/spec/template/metadata/labels").cloned();
    if let Some(labels) = template_labels
        && labels.as_object().is_some_and(|l| !l.is_empty())
    {
        let has_labels = job
            .pointer("/metadata/labels")
            .and_then(|l| l.as_object())
            .is_some_and(|l| !l.is_empty());
        if !has_labels && let Some(meta) = job.get_mut("metadata") {
            meta["labels"] = labels;
        }
    }
}

/// The Job strategy's `generateSelector`: unless `manualSelector`, label the template
/// with the Job's name and uid and select on the uid.
pub(super) fn generate_job_selector(job: &mut Value) {
    if job
        .pointer("/spec/manualSelector")
        .and_then(|m| m.as_bool())
        == Some(true)
    {
        return;
    }
    let uid = job
        .pointer("/metadata/uid")
        .and_then(|u| u.as_str())
        .unwrap_or("")
        .to_string();
    let name = job
        .pointer("/metadata/name")
        .and_then(|u| u.as_str())
        .unwrap_or("")
        .to_string();
    if uid.is_empty() {
        return;
    }
    for (label, value) in [
        (LEGACY_JOB_NAME_LABEL, &name),
        (JOB_NAME_LABEL, &name),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (JOB_CONTROLLER_UID_LABEL, &uid),
    ] {
        set_default(
            job,
            &["spec", "template", "metadata", "labels", label],
            json!(value),
        );
    }
    set_default(
        job,
        &["spec", "selector", "matchLabels", JOB_CONTROLLER_UID_LABEL],
        json!(uid),
    );
}

pub(crate) fn default_cronjob(cj: &mut Value) {
    set_default(cj, &["spec", "concurrencyPolicy"], json!("Allow"));
    set_default(cj, &["spec", "suspend"], json!(false));
    set_default(cj, &["spec", "successfulJobsHistoryLimit"], json!(3));
    set_default(cj, &["spec", "failedJobsHistoryLimit"], json!(1));
    default_template(cj, &["spec", "jobTemplate", "spec", "template"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::testing::defaulted;

    #[test]
    fn job_defaults_and_generated_selector() {
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"name": "pi", "uid": "u-1"},
                   "spec": {"template": {"spec": {"restartPolicy": "Never",
                            "containers": [{"name": "pi", "image": "perl"}]}}}}),
        );
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1",
            "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "job-name": "pi"});
        assert_eq!(spec["template"]["metadata"]["labels"], labels);
        assert_eq!(j["metadata"]["labels"], labels);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn job_parallelism_rules_and_manual_selector() {
        // completions unset, parallelism set: completions stays unset (work queue).
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"parallelism": 3}}),
        );
        assert!(j["spec"].get("completions").is_none());
        assert_eq!(j["spec"]["parallelism"], 3);
        // completions set, parallelism unset: parallelism 1.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"completions": 5}}),
        );
        assert_eq!(j["spec"]["parallelism"], 1);
        // Per-index backoff makes the global limit unlimited.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"backoffLimitPerIndex": 1, "completionMode": "Indexed",
                   "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
        );
        assert_eq!(j["spec"]["backoffLimit"], i32::MAX);
        assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(
            j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            "True"
        );
        // A manual selector is left alone.
        let j = defaulted(
            "batch",
            "jobs",
            json!({"metadata": {"uid": "u"}, "spec": {"manualSelector": true,
                   "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}}),
        );
        assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"a": "b"}}));
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"],
            json!({"a": "b"})
        );
    }

    #[test]
    fn cronjob_defaults() {
        let c = defaulted(
            "batch",
            "cronjobs",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}}}}),
        );
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(
            c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
        // SetDefaults_Job does not apply inside a job template.
        assert!(
            c["spec"]["jobTemplate"]["spec"]
                .get("backoffLimit")
                .is_none()
        );
    }
}
