//! Cron schedules as the CronJob controller reads them: upstream parses
//! `spec.schedule` with `robfig/cron/v3`'s `ParseStandard` and asks the result
//! for the next activation after a time; this module does both the same way.
//!
//! - five fields: minute (0–59), hour (0–23), day of month (1–31), month (1–12
//!   or `jan`–`dec`), day of week (0–6 or `sun`–`sat`), names case-insensitive;
//!   each field a comma-separated list of `*`/`?`, `n`, `a-b`, with an optional
//!   `/step` (`a/step` runs from `a` to the field's maximum);
//! - the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`,
//!   `@daily`/`@midnight`, `@hourly` and `@every <duration>`;
//! - a leading `CRON_TZ=<zone>` or `TZ=<zone>` (the API server refuses it on new
//!   objects; an old object may still carry it);
//! - day of month and day of week: when either field is a plain `*` (or `?`),
//!   both must match, otherwise either may;
//! - [`Schedule::next`] walks months, days, hours and minutes in the schedule's
//!   time zone as robfig's `SpecSchedule.Next` does, so across a DST change a
//!   time that does not exist that day is skipped and a repeated one runs twice.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};

/// Errors of parsing a schedule; the message is robfig's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule is empty.
    #[error("empty spec string")]
    Empty,
    /// Not five fields.
    #[error("expected exactly 5 fields, found {found}: {spec}")]
    FieldCount {
        /// How many fields there were.
        found: usize,
        /// The fields.
        spec: String,
    },
    /// A `@descriptor` that is not one of the known ones.
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    /// `CRON_TZ=`/`TZ=` named a zone the time zone database does not have.
    #[error("provided bad location {0}: unknown time zone {0}")]
    Location(String),
    /// `@every` with a duration Go's `time.ParseDuration` would refuse.
    #[error("failed to parse duration {0}")]
    Duration(String),
    /// A field element that is neither a number nor a name of the field.
    #[error("failed to parse int from {0}")]
    Int(String),
    /// A range starting below the field's minimum.
    #[error("beginning of range ({start}) below minimum ({min}): {expr}")]
    BelowMinimum {
        /// The range's start.
        start: u32,
        /// The field's minimum.
        min: u32,
        /// The field element.
        expr: String,
    },
    /// A range ending above the field's maximum.
    #[error("end of range ({end}) above maximum ({max}): {expr}")]
    AboveMaximum {
        /// The range's end.
        end: u32,
        /// The field's maximum.
        max: u32,
        /// The field element.
        expr: String,
    },
    /// A range whose start is after its end.
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    Backwards {
        /// The range's start.
        start: u32,
        /// The range's end.
        end: u32,
        /// The field element.
        expr: String,
    },
    /// A step of zero.
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
    /// More than one `-` in a range.
    #[error("too many hyphens: {0}")]
    Hyphens(String),
    /// More than one `/` in a field element.
    #[error("too many slashes: {0}")]
    Slashes(String),
}

/// Set in a field's bits when the field was `*` or `?` (robfig's `starBit`).
const STAR: u64 = 1 << 63;

/// One of the five fields: its bounds and names.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
/// Month names, `jan` being 1.
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Day names, `sun` being 0.
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// The activation times of a five-field schedule, one bit per allowed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

/// Bits `min..=max` and the star bit: the whole field.
const fn all(b: &Bounds) -> u64 {
    bits(b.min, b.max, 1) | STAR
}

/// Bits `start..=end` every `step`.
const fn bits(start: u32, end: u32, step: u32) -> u64 {
    let mut out = 0u64;
    let mut i = start;
    while i <= end {
        out |= 1 << i;
        i += step;
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Fields(Fields),
    /// `@every`: a constant delay, whole seconds.
    Every(Duration),
}

/// A parsed schedule with the time zone its fields are read in.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
    tz: TimeZone,
}

impl Schedule {
    /// Parses `spec` (robfig's `ParseStandard`), reading its fields in `tz`
    /// unless the spec names its own zone with `CRON_TZ=`/`TZ=`.
    pub fn parse(spec: &str, tz: TimeZone) -> Result<Self, ScheduleError> {
        let mut spec = spec.trim();
        if spec.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let mut tz = tz;
        if let Some(rest) = spec
            .strip_prefix("CRON_TZ=")
            .or_else(|| spec.strip_prefix("TZ="))
        {
            let (name, after) = rest.split_once(' ').unwrap_or((rest, ""));
            tz = TimeZone::get(name).map_err(|_| ScheduleError::Location(name.to_string()))?;
            spec = after.trim();
        }
        let kind = if spec.starts_with('@') {
            descriptor(spec)?
        } else {
            let f: Vec<&str> = spec.split_whitespace().collect();
            if f.len() != 5 {
                return Err(ScheduleError::FieldCount {
                    found: f.len(),
                    spec: spec.to_string(),
                });
            }
            Kind::Fields(Fields {
                minute: field(f[0], &MINUTES)?,
                hour: field(f[1], &HOURS)?,
                dom: field(f[2], &DOM)?,
                month: field(f[3], &MONTHS)?,
                dow: field(f[4], &DOW)?,
            })
        };
        Ok(Self { kind, tz })
    }

    /// The schedule's time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The first activation strictly after `after`, `None` when there is none
    /// in the next five years (robfig's zero time: e.g. `0 0 30 2 *`).
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(d) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole.checked_add(SignedDuration::try_from(*d).ok()?).ok()
            }
            Kind::Fields(f) => next_of(f, &self.tz, after),
        }
    }
}

/// The `@` descriptors robfig knows.
fn descriptor(spec: &str) -> Result<Kind, ScheduleError> {
    let fields = |minute, hour, dom, month, dow| {
        Ok(Kind::Fields(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
        }))
    };
    match spec {
        "@yearly" | "@annually" => fields(1, 1, 1 << 1, 1 << 1, all(&DOW)),
        "@monthly" => fields(1, 1, 1 << 1, all(&MONTHS), all(&DOW)),
        "@weekly" => fields(1, 1, all(&DOM), all(&MONTHS), 1),
        "@daily" | "@midnight" => fields(1, 1, all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => fields(1, all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => match spec.strip_prefix("@every ") {
            Some(d) => {
                let d = go_duration(d.trim()).ok_or_else(|| ScheduleError::Duration(d.into()))?;
                // robfig's `Every`: at least a second, whole seconds.
                let d = d.max(Duration::from_secs(1));
                Ok(Kind::Every(Duration::from_secs(d.as_secs())))
            }
            None => Err(ScheduleError::Descriptor(spec.to_string())),
        },
    }
}

/// The duration of `@every` (`1h30m`, `90s`, `1.5h`: Go's `time.ParseDuration`
/// forms, read by jiff's friendly duration format), never negative.
fn go_duration(s: &str) -> Option<Duration> {
    let d: SignedDuration = s.parse().ok()?;
    Duration::try_from(d).ok()
}

/// One field: a comma-separated list of ranges.
fn field(expr: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    expr.split(',')
        .try_fold(0u64, |acc, part| Ok(acc | range(part, b)?))
}

/// One element of a field (robfig's `getRange`).
fn range(expr: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let mut extra = 0;
    let (start, mut end) = if matches!(low_and_high[0], "*" | "?") {
        extra = STAR;
        (b.min, b.max)
    } else {
        let start = int_or_name(low_and_high[0], b)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, int_or_name(low_and_high[1], b)?),
            _ => return Err(ScheduleError::Hyphens(expr.to_string())),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(ScheduleError::Slashes(expr.to_string())),
    };
    let expr = expr.to_string();
    if start < b.min {
        return Err(ScheduleError::BelowMinimum {
            start,
            min: b.min,
            expr,
        });
    }
    if end > b.max {
        return Err(ScheduleError::AboveMaximum {
            end,
            max: b.max,
            expr,
        });
    }
    if start > end {
        return Err(ScheduleError::Backwards { start, end, expr });
    }
    if step == 0 {
        return Err(ScheduleError::ZeroStep(expr));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, ScheduleError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        // Months count from 1, days of the week from 0.
        return Ok(u32::try_from(i).unwrap_or(0) + b.min);
    }
    int(s)
}

fn int(s: &str) -> Result<u32, ScheduleError> {
    s.parse::<u32>()
        .map_err(|_| ScheduleError::Int(s.to_string()))
}

fn has(bits: u64, value: i8) -> bool {
    u32::try_from(value).is_ok_and(|v| v < 63 && bits & (1 << v) != 0)
}

/// Whether the day of `t` matches (robfig's `dayMatches`).
fn day_matches(f: &Fields, t: &Zoned) -> bool {
    let dom = has(f.dom, t.day());
    let dow = has(f.dow, t.weekday().to_sunday_zero_offset());
    if f.dom & STAR != 0 || f.dow & STAR != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

/// The local wall-clock time `dt` in `tz` (Go's `time.Date`: a time in a gap
/// moves forward, one in a fold takes the earlier instant).
fn at(dt: DateTime, tz: &TimeZone) -> Option<Zoned> {
    dt.to_zoned(tz.clone()).ok()
}

/// Absolute-time addition.
fn plus(t: &Zoned, d: SignedDuration) -> Option<Zoned> {
    t.checked_add(d).ok()
}

/// robfig's `SpecSchedule.Next` over the five fields (seconds always 0).
fn next_of(f: &Fields, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    // The earliest possible time: the next whole second.
    let mut t = Timestamp::from_second(after.as_second().checked_add(1)?)
        .ok()?
        .to_zoned(tz.clone());
    let mut added = false;
    let year_limit = t.year() + 5;
    'wrap: loop {
        if t.year() > year_limit {
            return None;
        }
        while !has(f.month, t.month()) {
            if !added {
                added = true;
                t = at(
                    t.date()
                        .first_of_month()
                        .to_datetime(jiff::civil::Time::midnight()),
                    tz,
                )?;
            }
            t = t.checked_add(1.month()).ok()?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(f, &t) {
            if !added {
                added = true;
                t = at(t.date().to_datetime(jiff::civil::Time::midnight()), tz)?;
            }
            t = t.checked_add(1.day()).ok()?;
            // A day starting at 23:00 or 01:00 local because of a DST change.
            let h = i64::from(t.hour());
            if h != 0 {
                t = if h > 12 {
                    plus(&t, SignedDuration::from_hours(24 - h))?
                } else {
                    plus(&t, SignedDuration::from_hours(-h))?
                };
            }
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(f.hour, t.hour()) {
            if !added {
                added = true;
                t = at(t.date().at(t.hour(), 0, 0, 0), tz)?;
            }
            t = plus(&t, SignedDuration::from_hours(1))?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(f.minute, t.minute()) {
            if !added {
                added = true;
                t = truncate(&t, 60)?;
            }
            t = plus(&t, SignedDuration::from_mins(1))?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        // Seconds: only 0.
        while t.second() != 0 {
            if !added {
                added = true;
                t = truncate(&t, 1)?;
            }
            t = plus(&t, SignedDuration::from_secs(1))?;
            if t.second() == 0 {
                continue 'wrap;
            }
        }
        return Some(t.timestamp());
    }
}

/// Go's `Time.Truncate(unit seconds)`: down to a multiple of `unit` since the
/// epoch.
fn truncate(t: &Zoned, unit: i64) -> Option<Zoned> {
    let s = t.timestamp().as_second();
    Timestamp::from_second(s - s.rem_euclid(unit))
        .ok()
        .map(|ts| ts.to_zoned(t.time_zone().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn utc(spec: &str) -> Schedule {
        Schedule::parse(spec, TimeZone::UTC).expect("parses")
    }

    /// The next `n` activations after `from`.
    fn runs(s: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut t = ts(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next(t).expect("a next run");
            out.push(t.to_string());
        }
        out
    }

    #[test]
    fn every_minute_and_steps() {
        assert_eq!(
            runs(&utc("* * * * *"), "2024-01-01T00:00:30Z", 2),
            ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"]
        );
        assert_eq!(
            runs(&utc("*/15 * * * *"), "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-01T00:15:00Z",
                "2024-01-01T00:30:00Z",
                "2024-01-01T00:45:00Z"
            ]
        );
        // `a/step` runs from a to the maximum.
        assert_eq!(
            runs(&utc("50/5 * * * *"), "2024-01-01T00:00:00Z", 3),
            [
                "2024-01-01T00:50:00Z",
                "2024-01-01T00:55:00Z",
                "2024-01-01T01:50:00Z"
            ]
        );
    }

    #[test]
    fn ranges_lists_and_names() {
        // 09:30 on weekdays.
        let s = utc("30 9 * * mon-FRI");
        // 2024-01-05 is a Friday.
        assert_eq!(
            runs(&s, "2024-01-05T10:00:00Z", 2),
            ["2024-01-08T09:30:00Z", "2024-01-09T09:30:00Z"]
        );
        let s = utc("0 0,12 1 jan,Jul *");
        assert_eq!(
            runs(&s, "2024-01-01T06:00:00Z", 3),
            [
                "2024-01-01T12:00:00Z",
                "2024-07-01T00:00:00Z",
                "2024-07-01T12:00:00Z"
            ]
        );
        let s = utc("0 8-18/5 * * *");
        assert_eq!(
            runs(&s, "2024-01-01T00:00:00Z", 4),
            [
                "2024-01-01T08:00:00Z",
                "2024-01-01T13:00:00Z",
                "2024-01-01T18:00:00Z",
                "2024-01-02T08:00:00Z"
            ]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Both restricted: either matches (the 13th, or any Friday).
        let s = utc("0 0 13 * 5");
        assert_eq!(
            runs(&s, "2024-09-01T00:00:00Z", 3),
            [
                "2024-09-06T00:00:00Z",
                "2024-09-13T00:00:00Z",
                "2024-09-20T00:00:00Z"
            ]
        );
        // Day of week `*`: only the day of month counts.
        assert_eq!(
            runs(&utc("0 0 13 * *"), "2024-09-01T00:00:00Z", 1),
            ["2024-09-13T00:00:00Z"]
        );
        // Leap day.
        assert_eq!(
            runs(&utc("0 0 29 2 *"), "2024-03-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00Z"]
        );
        // A day that never comes: no next run (upstream's zero time).
        assert_eq!(utc("0 0 30 2 *").next(ts("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn descriptors() {
        let cases = [
            ("@yearly", "2025-01-01T00:00:00Z"),
            ("@annually", "2025-01-01T00:00:00Z"),
            ("@monthly", "2024-06-01T00:00:00Z"),
            ("@weekly", "2024-05-19T00:00:00Z"),
            ("@daily", "2024-05-16T00:00:00Z"),
            ("@midnight", "2024-05-16T00:00:00Z"),
            ("@hourly", "2024-05-15T11:00:00Z"),
            ("@every 90s", "2024-05-15T10:31:30Z"),
            ("@every 1h30m", "2024-05-15T12:00:00Z"),
        ];
        for (spec, want) in cases {
            assert_eq!(
                runs(&utc(spec), "2024-05-15T10:30:00.5Z", 1),
                [want],
                "{spec}"
            );
        }
    }

    #[test]
    fn errors_are_robfigs() {
        let err = |s: &str| Schedule::parse(s, TimeZone::UTC).expect_err(s).to_string();
        assert_eq!(err(""), "empty spec string");
        assert_eq!(
            err("* * * *"),
            "expected exactly 5 fields, found 4: * * * *"
        );
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert_eq!(
            err("60 * * * *"),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            err("* * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            err("5-1 * * * *"),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("* * * * 7"), "end of range (7) above maximum (6): 7");
        assert_eq!(err("* * * foo *"), "failed to parse int from foo");
        assert_eq!(
            err("CRON_TZ=Mars/Olympus * * * * *"),
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"
        );
    }

    #[test]
    fn a_named_zone_reads_the_fields_in_local_time() {
        let tokyo = TimeZone::get("Asia/Tokyo").expect("zone");
        let s = Schedule::parse("0 9 * * *", tokyo).expect("parses");
        assert_eq!(
            runs(&s, "2024-01-01T00:00:00Z", 1),
            ["2024-01-02T00:00:00Z"],
            "09:00 in Tokyo is 00:00 UTC"
        );
        // CRON_TZ= in the spec wins over the given zone.
        let s = Schedule::parse("CRON_TZ=Asia/Tokyo 0 9 * * *", TimeZone::UTC).expect("parses");
        assert_eq!(
            runs(&s, "2024-01-01T00:00:00Z", 1),
            ["2024-01-02T00:00:00Z"]
        );
    }

    #[test]
    fn spring_forward_skips_the_missing_hour() {
        // America/New_York: 2024-03-10 02:00 EST jumps to 03:00 EDT.
        let ny = TimeZone::get("America/New_York").expect("zone");
        let s = Schedule::parse("30 2 * * *", ny.clone()).expect("parses");
        assert_eq!(
            runs(&s, "2024-03-09T05:00:00Z", 2),
            // 02:30 EST on the 9th; no 02:30 on the 10th; 02:30 EDT on the 11th.
            ["2024-03-09T07:30:00Z", "2024-03-11T06:30:00Z"]
        );
        // A daily job at 09:00 local keeps 09:00 local across the change.
        let s = Schedule::parse("0 9 * * *", ny).expect("parses");
        assert_eq!(
            runs(&s, "2024-03-09T00:00:00Z", 2),
            ["2024-03-09T14:00:00Z", "2024-03-10T13:00:00Z"]
        );
    }

    #[test]
    fn fall_back_runs_the_repeated_time_twice() {
        // America/New_York: 2024-11-03 02:00 EDT goes back to 01:00 EST.
        let ny = TimeZone::get("America/New_York").expect("zone");
        let s = Schedule::parse("30 1 * * *", ny.clone()).expect("parses");
        assert_eq!(
            runs(&s, "2024-11-03T04:00:00Z", 3),
            [
                "2024-11-03T05:30:00Z",
                "2024-11-03T06:30:00Z",
                "2024-11-04T06:30:00Z"
            ]
        );
        // Hourly schedules follow absolute hours through the change.
        let s = Schedule::parse("0 * * * *", ny).expect("parses");
        assert_eq!(
            runs(&s, "2024-11-03T04:30:00Z", 3),
            [
                "2024-11-03T05:00:00Z",
                "2024-11-03T06:00:00Z",
                "2024-11-03T07:00:00Z"
            ]
        );
    }
}
