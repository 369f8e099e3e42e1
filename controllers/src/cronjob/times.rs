//! Which scheduled time a CronJob sync acts on, and when to look again
//! (upstream `mostRecentScheduleTime`, `nextScheduleTime` and
//! `nextScheduleTimeDuration`). Missed times are not replayed: only the most
//! recent unmet one starts a Job, and more than 100 missed ones are worth a
//! warning.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::CronJob;

use super::schedule::Schedule;

/// Upstream `nextScheduleDelta`: requeues land this long after the scheduled
/// time, so that a little clock skew does not wake the sync too early.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// More missed times than this are "too many" (upstream picked 100: more than
/// the 80 hourly runs of a long weekend, less than "lots").
pub const TOO_MANY_MISSED: i64 = 100;

/// How many scheduled times passed unmet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// At most one: the one to start now, if any.
    None,
    /// A few: only the most recent is started.
    Few,
    /// More than [`TOO_MANY_MISSED`]: only the most recent is started, with a
    /// `TooManyMissedTimes` warning.
    Many,
}

/// The schedule does not make sense although it parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimesError {
    /// Two consecutive activations less than a second apart, or none at all
    /// (a day that never comes, such as February 30th).
    #[error("time difference between two schedules is less than 1 second")]
    TooClose,
}

/// What [`most_recent_schedule_time`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MostRecent {
    /// The last scheduled time, or the CronJob's creation (moved up to the
    /// starting deadline when asked).
    pub earliest: Timestamp,
    /// The most recent activation in `(earliest, now]`, if any.
    pub most_recent: Option<Timestamp>,
    /// How many activations passed unmet.
    pub missed: Missed,
}

fn creation(cj: &CronJob) -> Timestamp {
    cj.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

fn secs(d: SignedDuration) -> Duration {
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

/// Upstream `mostRecentScheduleTime`: the latest activation after the last
/// scheduled time (or creation) up to `now`, counting the ones in between by
/// the interval of the first two rather than walking them all.
pub fn most_recent_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    include_starting_deadline: bool,
) -> Result<MostRecent, TimesError> {
    let status = cj.status.as_ref();
    let mut earliest = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .map_or_else(|| creation(cj), |t| t.0);
    let deadline = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds);
    if include_starting_deadline && let Some(d) = deadline {
        let scheduling_deadline = now
            .checked_sub(SignedDuration::from_secs(d))
            .unwrap_or(Timestamp::MIN);
        if scheduling_deadline > earliest {
            earliest = scheduling_deadline;
        }
    }
    let none = |most_recent| MostRecent {
        earliest,
        most_recent,
        missed: Missed::None,
    };
    let Some(t1) = schedule.next(earliest) else {
        return Err(TimesError::TooClose);
    };
    if now < t1 {
        return Ok(none(None));
    }
    let Some(t2) = schedule.next(t1) else {
        return Err(TimesError::TooClose);
    };
    if now < t2 {
        return Ok(none(Some(t1)));
    }
    // Go's `t2.Sub(t1).Round(time.Second)`.
    let between = (secs(t2.duration_since(t1)).as_millis() + 500) / 1000;
    let between = i64::try_from(between).unwrap_or(i64::MAX);
    if between < 1 {
        return Err(TimesError::TooClose);
    }
    let elapsed = i64::try_from(secs(now.duration_since(t1)).as_secs()).unwrap_or(i64::MAX);
    let missed_count = elapsed / between + 1;
    // Start one interval before the estimated first of the recent ones, and let
    // the schedule find the exact times (irregular schedules such as
    // `30 6-16/4 * * 1-5` are not evenly spaced).
    let back = (missed_count - 2).saturating_mul(between);
    let mut t = t1
        .checked_add(SignedDuration::from_secs(back))
        .unwrap_or(Timestamp::MAX);
    let mut most_recent = None;
    while let Some(n) = schedule.next(t) {
        if n > now {
            break;
        }
        most_recent = Some(n);
        t = n;
    }
    let missed = if missed_count > TOO_MANY_MISSED {
        Missed::Many
    } else if missed_count > 1 {
        Missed::Few
    } else {
        Missed::None
    };
    Ok(MostRecent {
        earliest,
        most_recent,
        missed,
    })
}

/// Upstream `nextScheduleTime`: the unmet activation to act on now (within the
/// starting deadline), with how many were missed.
pub fn next_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
) -> Result<Option<(Timestamp, Missed)>, TimesError> {
    let found = most_recent_schedule_time(cj, now, schedule, true)?;
    Ok(found
        .most_recent
        .filter(|t| *t <= now)
        .map(|t| (t, found.missed)))
}

/// Upstream `nextScheduleTimeDuration`: how long until the activation after
/// the most recent one (plus [`NEXT_SCHEDULE_DELTA`]); when the schedule makes
/// no sense, the next activation after `now`. `None` when no activation comes.
pub fn next_schedule_delay(cj: &CronJob, now: Timestamp, schedule: &Schedule) -> Option<Duration> {
    let from = match most_recent_schedule_time(cj, now, schedule, false) {
        Err(_) => now,
        Ok(found) => found.most_recent.unwrap_or(found.earliest),
    };
    let next = schedule.next(from)?;
    let at = next
        .checked_add(SignedDuration::try_from(NEXT_SCHEDULE_DELTA).ok()?)
        .ok()?;
    Some(secs(at.duration_since(now)))
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;
    use k8s_openapi::api::batch::v1::{CronJobSpec, CronJobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn cj(created: &str, last: Option<&str>, deadline: Option<i64>) -> CronJob {
        let mut cj = CronJob::default();
        cj.metadata.creation_timestamp = Some(Time(ts(created)));
        cj.spec = Some(CronJobSpec {
            starting_deadline_seconds: deadline,
            ..CronJobSpec::default()
        });
        cj.status = Some(CronJobStatus {
            last_schedule_time: last.map(|l| Time(ts(l))),
            ..CronJobStatus::default()
        });
        cj
    }

    fn hourly() -> Schedule {
        Schedule::parse("0 * * * *", TimeZone::UTC).expect("parses")
    }

    #[test]
    fn nothing_due_before_the_first_activation() {
        let c = cj("2024-01-01T10:10:00Z", None, None);
        let now = ts("2024-01-01T10:59:00Z");
        assert_eq!(next_schedule_time(&c, now, &hourly()), Ok(None));
        assert_eq!(
            next_schedule_delay(&c, now, &hourly()),
            Some(Duration::from_millis(60_100)),
            "wakes 100 ms after 11:00"
        );
    }

    #[test]
    fn one_due_is_started_without_missing_any() {
        let c = cj("2024-01-01T10:10:00Z", None, None);
        let now = ts("2024-01-01T11:00:05Z");
        assert_eq!(
            next_schedule_time(&c, now, &hourly()),
            Ok(Some((ts("2024-01-01T11:00:00Z"), Missed::None)))
        );
    }

    #[test]
    fn a_few_missed_start_only_the_most_recent() {
        let c = cj("2024-01-01T00:00:00Z", Some("2024-01-01T10:00:00Z"), None);
        let now = ts("2024-01-01T14:30:00Z");
        assert_eq!(
            next_schedule_time(&c, now, &hourly()),
            Ok(Some((ts("2024-01-01T14:00:00Z"), Missed::Few)))
        );
        // After that start (lastScheduleTime 14:00), the next wake is 15:00.
        let started = cj("2024-01-01T00:00:00Z", Some("2024-01-01T14:00:00Z"), None);
        assert_eq!(
            next_schedule_delay(&started, now, &hourly()),
            Some(Duration::from_millis(30 * 60_000 + 100))
        );
    }

    #[test]
    fn more_than_a_hundred_missed_is_too_many() {
        // 101 hourly activations since 10:00 (11:00 .. 15:00 four days later).
        let c = cj("2024-01-01T00:00:00Z", Some("2024-01-01T10:00:00Z"), None);
        let many = ts("2024-01-05T15:00:00Z");
        assert_eq!(
            next_schedule_time(&c, many, &hourly()),
            Ok(Some((many, Missed::Many)))
        );
        // Exactly 100 is not too many.
        let hundred = ts("2024-01-05T14:00:00Z");
        assert_eq!(
            next_schedule_time(&c, hundred, &hourly()),
            Ok(Some((hundred, Missed::Few)))
        );
    }

    #[test]
    fn the_starting_deadline_bounds_what_counts_as_missed() {
        // Two days down, but only the last 10 minutes count: 14:00 is out of reach.
        let c = cj(
            "2024-01-01T00:00:00Z",
            Some("2024-01-01T10:00:00Z"),
            Some(600),
        );
        assert_eq!(
            next_schedule_time(&c, ts("2024-01-03T14:30:00Z"), &hourly()),
            Ok(None)
        );
        // 14:00 within the deadline: started, and nothing else counted as missed.
        assert_eq!(
            next_schedule_time(&c, ts("2024-01-03T14:05:00Z"), &hourly()),
            Ok(Some((ts("2024-01-03T14:00:00Z"), Missed::None)))
        );
    }

    #[test]
    fn irregular_schedules_find_the_exact_most_recent_time() {
        // 06:30, 10:30, 14:30 on weekdays: the count assumes 4 h apart, the
        // schedule finds 10:30 (not 06:30 or 14:30) the next day.
        let s = Schedule::parse("30 6-16/4 * * 1-5", TimeZone::UTC).expect("parses");
        let c = cj("2024-01-01T00:00:00Z", Some("2024-01-02T06:30:00Z"), None);
        assert_eq!(
            next_schedule_time(&c, ts("2024-01-03T12:00:00Z"), &s),
            Ok(Some((ts("2024-01-03T10:30:00Z"), Missed::Few)))
        );
    }

    #[test]
    fn a_schedule_that_never_fires_is_an_error() {
        let s = Schedule::parse("0 0 30 2 *", TimeZone::UTC).expect("parses");
        let c = cj("2024-01-01T00:00:00Z", None, None);
        let now = ts("2024-03-01T00:00:00Z");
        assert_eq!(next_schedule_time(&c, now, &s), Err(TimesError::TooClose));
        assert_eq!(next_schedule_delay(&c, now, &s), None);
    }
}
