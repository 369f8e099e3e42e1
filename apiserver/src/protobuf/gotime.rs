//! Go's text forms of instants and durations, as `metav1.Time`, `metav1.MicroTime` and
//! `metav1.Duration` write them in JSON.

use chrono::{DateTime, Utc};

/// `time.Time{}.Unix()`: the seconds Go's zero time has on the wire.
pub const GO_ZERO_UNIX: i64 = -62_135_596_800;

fn instant(seconds: i64, nanos: i64) -> Option<DateTime<Utc>> {
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000))?;
    let nanos = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(seconds, nanos)
}

/// `metav1.Time` in JSON: RFC 3339 in UTC at whole seconds (`2024-05-01T10:00:00Z`);
/// `None` when out of range.
pub fn rfc3339(seconds: i64) -> Option<String> {
    instant(seconds, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `metav1.MicroTime` in JSON: RFC 3339 in UTC with six fractional digits
/// (`2024-05-01T10:00:00.123456Z`, truncated as Go's layout truncates).
pub fn rfc3339_micro(seconds: i64, nanos: i64) -> Option<String> {
    instant(seconds, nanos).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5µs`, `0s`.
pub fn duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (frac, whole) = fraction(u, prec);
        out.push_str(&whole.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, whole) = fraction(u, 9);
        u = whole;
        let secs = u % 60;
        u /= 60;
        if u > 0 {
            let mins = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{mins}m"));
        }
        out.push_str(&format!("{secs}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into its `prec` low decimal digits, written `.ddd` without trailing zeros
/// (nothing when they are all zero), and the rest.
fn fraction(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut significant = false;
    for _ in 0..prec {
        let d = (v % 10) as u8;
        significant |= d != 0;
        if significant {
            digits.push(b'0' + d);
        }
        v /= 10;
    }
    if digits.is_empty() {
        return (String::new(), v);
    }
    digits.push(b'.');
    digits.reverse();
    (String::from_utf8_lossy(&digits).into_owned(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (3_600_000_000_000, "1h0m0s"),
            (-90_000_000_000, "-1m30s"),
            (300_000_000_000, "5m0s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (n, want) in cases {
            assert_eq!(duration(*n), *want, "{n}");
        }
    }

    #[test]
    fn times_as_go_prints_them() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_557_600).unwrap(), "2024-05-01T10:00:00Z");
        assert_eq!(
            rfc3339_micro(1_714_557_600, 123_456_789).unwrap(),
            "2024-05-01T10:00:00.123456Z"
        );
        assert_eq!(
            rfc3339_micro(1_714_557_600, 0).unwrap(),
            "2024-05-01T10:00:00.000000Z"
        );
        assert_eq!(rfc3339(GO_ZERO_UNIX).unwrap(), "0001-01-01T00:00:00Z");
    }
}
