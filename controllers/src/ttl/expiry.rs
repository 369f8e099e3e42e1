//! When a finished Job's time to live runs out (upstream `needsCleanup`,
//! `jobFinishTime` and `timeLeft`).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;

/// A finished Job whose finish time cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// The finishing condition has no `lastTransitionTime`.
    #[error("unable to find the time when the Job {0} finished")]
    NoFinishTime(String),
}

/// What [`time_left`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Not a Job to clean up: unfinished, no TTL, or already being deleted.
    NotApplicable,
    /// Expired at this time: delete it.
    Expired(Timestamp),
    /// Expires after this long: look again then.
    Remaining(Duration),
}

/// The time the Job finished: its True `Complete` or `Failed` condition's
/// `lastTransitionTime`. `Ok(None)` for an unfinished Job.
pub fn finish_time(job: &Job) -> Result<Option<Timestamp>, ExpiryError> {
    let finished = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        });
    let Some(c) = finished else {
        return Ok(None);
    };
    match &c.last_transition_time {
        Some(t) => Ok(Some(t.0)),
        None => Err(ExpiryError::NoFinishTime(format!(
            "{}/{}",
            job.metadata.namespace.as_deref().unwrap_or_default(),
            job.metadata.name.as_deref().unwrap_or_default()
        ))),
    }
}

/// Whether `job` is due for deletion at `now` (upstream `processTTL`).
pub fn time_left(job: &Job, now: Timestamp) -> Result<Ttl, ExpiryError> {
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    let (Some(ttl), None) = (ttl, &job.metadata.deletion_timestamp) else {
        return Ok(Ttl::NotApplicable);
    };
    let Some(finished) = finish_time(job)? else {
        return Ok(Ttl::NotApplicable);
    };
    let expire_at = finished
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .unwrap_or(Timestamp::MAX);
    let remaining = expire_at.duration_since(now);
    if remaining.is_negative() || remaining.is_zero() {
        Ok(Ttl::Expired(expire_at))
    } else {
        Ok(Ttl::Remaining(remaining.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn job(ttl: Option<i32>, condition: Option<(&str, &str, Option<&str>)>) -> Job {
        let mut j = Job::default();
        j.metadata.name = Some("pi".into());
        j.metadata.namespace = Some("default".into());
        j.spec = Some(JobSpec {
            ttl_seconds_after_finished: ttl,
            ..JobSpec::default()
        });
        j.status = Some(JobStatus {
            conditions: condition.map(|(t, s, at)| {
                vec![JobCondition {
                    type_: t.into(),
                    status: s.into(),
                    last_transition_time: at.map(|a| Time(ts(a))),
                    ..JobCondition::default()
                }]
            }),
            ..JobStatus::default()
        });
        j
    }

    const FINISHED: &str = "2024-01-01T10:00:00Z";

    #[test]
    fn a_finished_job_expires_ttl_seconds_after_its_condition() {
        let j = job(Some(100), Some(("Complete", "True", Some(FINISHED))));
        assert_eq!(
            time_left(&j, ts("2024-01-01T10:00:40Z")),
            Ok(Ttl::Remaining(Duration::from_secs(60)))
        );
        assert_eq!(
            time_left(&j, ts("2024-01-01T10:01:40Z")),
            Ok(Ttl::Expired(ts("2024-01-01T10:01:40Z")))
        );
        // A failed Job too; TTL 0 is due at once.
        let j = job(Some(0), Some(("Failed", "True", Some(FINISHED))));
        assert_eq!(time_left(&j, ts(FINISHED)), Ok(Ttl::Expired(ts(FINISHED))));
    }

    #[test]
    fn unfinished_untimed_or_deleting_jobs_are_left_alone() {
        let now = ts("2025-01-01T00:00:00Z");
        for j in [
            job(Some(1), None),
            job(Some(1), Some(("Complete", "False", Some(FINISHED)))),
            job(
                Some(1),
                Some(("SuccessCriteriaMet", "True", Some(FINISHED))),
            ),
            job(None, Some(("Complete", "True", Some(FINISHED)))),
        ] {
            assert_eq!(time_left(&j, now), Ok(Ttl::NotApplicable), "{j:?}");
        }
        let mut deleting = job(Some(1), Some(("Complete", "True", Some(FINISHED))));
        deleting.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(time_left(&deleting, now), Ok(Ttl::NotApplicable));
    }

    #[test]
    fn a_finish_without_a_time_is_an_error() {
        let j = job(Some(1), Some(("Complete", "True", None)));
        assert_eq!(
            time_left(&j, ts(FINISHED)),
            Err(ExpiryError::NoFinishTime("default/pi".into()))
        );
    }
}
