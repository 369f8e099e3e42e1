//! Time helpers over k8s-openapi's `Time` (a `jiff::Timestamp`).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// `t + d`, saturating at the end of representable time.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// `later - earlier` as a `std::time::Duration`, zero when `later` is not after
/// `earlier`.
pub fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    let d = later.duration_since(earlier);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

/// `later - earlier` in nanoseconds (may be negative), saturating.
pub fn nanos_between(later: Timestamp, earlier: Timestamp) -> i128 {
    later.duration_since(earlier).as_nanos()
}

/// Wraps a timestamp as a k8s `Time`.
pub fn k8s(t: Timestamp) -> Time {
    Time(t)
}
