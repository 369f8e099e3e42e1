//! The clock controllers read time from, injectable so that tests control it
//! (upstream's `k8s.io/utils/clock`).
//!
//! One trait answers both questions a controller asks: the wall-clock time to stamp
//! on objects and compare with their timestamps ([`Clock::now`], a
//! [`Timestamp`] as k8s-openapi's `Time` holds), and a monotonic instant to measure
//! elapsed time that no wall-clock step can disturb ([`Clock::instant`], used by the
//! expectations' expiry). Controller shells ask their configured clock once per sync
//! and hand `now` to their pure cores as a value; cores never read a clock.
//!
//! [`RealClock`] is the system's; [`FakeClock`] only moves when a test sets or
//! advances it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;

    /// The current monotonic instant, for measuring elapsed time.
    fn instant(&self) -> Instant;
}

/// A shared clock, as controller configurations hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock: [`Timestamp::now`] for wall time, tokio's monotonic clock for
/// instants (so a test runtime with paused time controls them too; outside a
/// runtime it is `std::time::Instant::now()`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl RealClock {
    /// The real clock, shared.
    pub fn shared() -> SharedClock {
        Arc::new(RealClock)
    }
}

impl Clock for RealClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn instant(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[derive(Debug, Clone, Copy)]
struct FakeTime {
    wall: Timestamp,
    instant: Instant,
}

/// A clock that only moves when told to, for tests. Clones share the same time, so
/// a test keeps one handle and gives another to the controller.
#[derive(Clone)]
pub struct FakeClock {
    time: Arc<Mutex<FakeTime>>,
}

impl FakeClock {
    /// A fake clock whose wall time is `at`.
    pub fn new(at: Timestamp) -> Self {
        Self {
            time: Arc::new(Mutex::new(FakeTime {
                wall: at,
                instant: Instant::now(),
            })),
        }
    }

    /// This clock, shared as a controller configuration holds it (the same time as
    /// `self`).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Moves both the wall time and the monotonic instant forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.time.lock();
        t.wall = t
            .wall
            .saturating_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        t.instant += by;
    }

    /// Sets the wall time to `at`. The monotonic instant moves forward by the same
    /// amount when `at` is later, and stays where it is when `at` is earlier: a
    /// monotonic clock never goes back.
    pub fn set(&self, at: Timestamp) {
        let mut t = self.time.lock();
        if let Ok(forward) = Duration::try_from(at.duration_since(t.wall)) {
            t.instant += forward;
        }
        t.wall = at;
    }
}

impl Default for FakeClock {
    /// A fake clock starting at the real current time.
    fn default() -> Self {
        Self::new(Timestamp::now())
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeClock")
            .field("now", &self.time.lock().wall)
            .finish()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        self.time.lock().wall
    }

    fn instant(&self) -> Instant {
        self.time.lock().instant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn a_fake_clock_stands_still_until_advanced() {
        let clock = FakeClock::new(at(0));
        let start = clock.instant();
        assert_eq!(clock.now(), at(0));
        assert_eq!(clock.now(), at(0), "reading does not move it");
        clock.advance(Duration::from_millis(90_500));
        assert_eq!(clock.now(), at(90) + SignedDuration::from_millis(500));
        assert_eq!(clock.instant() - start, Duration::from_millis(90_500));
    }

    #[test]
    fn setting_moves_the_wall_time_and_never_the_instant_back() {
        let clock = FakeClock::new(at(100));
        let start = clock.instant();
        clock.set(at(160));
        assert_eq!(clock.now(), at(160));
        assert_eq!(clock.instant() - start, Duration::from_secs(60));
        clock.set(at(10));
        assert_eq!(clock.now(), at(10));
        assert_eq!(clock.instant() - start, Duration::from_secs(60));
    }

    #[test]
    fn clones_and_shared_handles_see_the_same_time() {
        let clock = FakeClock::new(at(0));
        let shared: SharedClock = clock.shared();
        clock.advance(Duration::from_secs(5));
        assert_eq!(shared.now(), at(5));
        assert_eq!(shared.instant(), clock.instant());
    }

    #[test]
    fn the_real_clock_moves_forward() {
        let clock = RealClock;
        let (a, i) = (clock.now(), clock.instant());
        assert!(a > at(0));
        assert!(clock.instant() >= i);
        assert!(clock.now() >= a);
    }
}
