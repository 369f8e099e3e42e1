//! One simulated container's history as a pure function of time: its instances (each
//! runs a fixed while, then exits with a fixed code) and the restarts between them,
//! behind the kubelet's CrashLoopBackOff ([`lifecycle::restart_delay`]). Computed in
//! closed form once the back-off has settled, so a container that crash-looped for weeks
//! costs no more than one that just started.

use std::time::Duration;

use crate::lifecycle;

/// How a container behaves each time it is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// How long each instance runs before it exits (`None`: until the pod stops).
    pub lasts: Option<Duration>,
    /// The exit code of every instance.
    pub exit_code: i32,
    /// Whether an exit is followed by a restart (the restart policy's verdict on
    /// `exit_code`).
    pub restarts: bool,
}

/// One run of the container, times counted from its first start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    /// How many restarts came before it (its `restartCount`).
    pub number: u32,
    /// When it started.
    pub started: Duration,
    /// When it exits (`None`: it runs until the pod stops).
    pub exits: Option<Duration>,
}

/// Where the container is at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// This instance runs.
    Running(Instance),
    /// This instance exited and the next start is held back until `restart_at`, by the
    /// back-off `backoff` (the kubelet's `CrashLoopBackOff`).
    BackOff {
        /// The instance that exited.
        exited: Instance,
        /// When the next instance starts.
        restart_at: Duration,
        /// The back-off in force.
        backoff: Duration,
    },
    /// This instance exited and nothing restarts it.
    Exited(Instance),
}

/// The container at a given time: its state and the instance before the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moment {
    /// Its state.
    pub state: State,
    /// The instance that ended before the one in `state` (its `lastState`); for a
    /// container in back-off, the instance that just exited.
    pub previous: Option<Instance>,
}

impl Moment {
    /// The container's `restartCount`.
    pub fn restart_count(&self) -> u32 {
        match self.state {
            State::Running(i) | State::Exited(i) => i.number,
            State::BackOff { exited, .. } => exited.number,
        }
    }

    /// When this moment ends: the running instance's exit or the held-back restart.
    pub fn next_change(&self) -> Option<Duration> {
        match self.state {
            State::Running(i) => i.exits,
            State::BackOff { restart_at, .. } => Some(restart_at),
            State::Exited(_) => None,
        }
    }
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn from_nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9: it fits.
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

impl Run {
    /// A container that runs until the pod stops.
    pub const FOREVER: Run = Run {
        lasts: None,
        exit_code: 0,
        restarts: false,
    };

    /// Where the container is `t` after its first start; `scale` is the agent's time
    /// scale (it shrinks the back-off; `lasts` is already scaled).
    pub fn at(&self, t: Duration, scale: f64) -> Moment {
        let Some(lasts) = self.lasts else {
            let first = Instance {
                number: 0,
                started: Duration::ZERO,
                exits: None,
            };
            return Moment {
                state: State::Running(first),
                previous: None,
            };
        };
        let instance = |number: u32, started: Duration| Instance {
            number,
            started,
            exits: Some(started + lasts),
        };
        let settled = lifecycle::settled_restart_delay(lasts, scale);
        let mut number = 0u32;
        let mut started = Duration::ZERO;
        let mut previous: Option<Instance> = None;
        loop {
            let current = instance(number, started);
            let exit = started + lasts;
            if t < exit {
                return Moment {
                    state: State::Running(current),
                    previous,
                };
            }
            if !self.restarts {
                return Moment {
                    state: State::Exited(current),
                    previous,
                };
            }
            let restart = number.saturating_add(1);
            let wait = lifecycle::restart_delay(restart, lasts, scale);
            let restart_at = exit + wait;
            if t < restart_at {
                return Moment {
                    state: State::BackOff {
                        exited: current,
                        restart_at,
                        backoff: wait,
                    },
                    previous: Some(current),
                };
            }
            if wait == settled && number > 0 {
                // Every cycle from here on lasts the same: jump to the one holding `t`.
                let period = nanos(lasts + wait).max(1);
                let cycles = (nanos(t - started) / period).max(1);
                let skipped = u32::try_from(cycles - 1).unwrap_or(u32::MAX - number);
                let cycles_u = u128::from(skipped) + 1;
                let new_start = nanos(started) + cycles_u * period;
                number = number.saturating_add(skipped).saturating_add(1);
                previous = Some(instance(number - 1, from_nanos(new_start - period)));
                started = from_nanos(new_start);
                continue;
            }
            previous = Some(current);
            number = restart;
            started = restart_at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn crash_loop(lasts: Duration) -> Run {
        Run {
            lasts: Some(lasts),
            exit_code: 1,
            restarts: true,
        }
    }

    /// Steps through time and records every state change.
    fn history(run: &Run, until: Duration, scale: f64) -> Vec<Moment> {
        let mut seen = Vec::new();
        let mut t = Duration::ZERO;
        loop {
            let m = run.at(t, scale);
            seen.push(m);
            match m.next_change() {
                Some(next) if next <= until => t = next,
                _ => return seen,
            }
        }
    }

    #[test]
    fn a_container_without_an_end_runs_forever() {
        let m = Run::FOREVER.at(S(1_000_000), 1.0);
        assert!(matches!(m.state, State::Running(i) if i.number == 0 && i.exits.is_none()));
        assert_eq!(m.next_change(), None);
    }

    #[test]
    fn a_container_that_does_not_restart_exits_once() {
        let run = Run {
            lasts: Some(S(5)),
            exit_code: 3,
            restarts: false,
        };
        assert!(matches!(run.at(S(4), 1.0).state, State::Running(_)));
        let m = run.at(S(5), 1.0);
        assert_eq!(
            m.state,
            State::Exited(Instance {
                number: 0,
                started: S(0),
                exits: Some(S(5)),
            })
        );
        assert_eq!(m.next_change(), None);
    }

    #[test]
    fn crash_loop_restarts_at_once_then_backs_off_doubling() {
        let run = crash_loop(S(1));
        let h = history(&run, S(1000), 1.0);
        // Instance starts: 0, 1 (at once after the first exit), then 10 s, 20 s, … after
        // each exit up to 300 s.
        let starts: Vec<(u32, u64)> = h
            .iter()
            .filter_map(|m| match m.state {
                State::Running(i) => Some((i.number, i.started.as_secs())),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            [
                (0, 0),
                (1, 1),
                (2, 12),
                (3, 33),
                (4, 74),
                (5, 155),
                (6, 316),
                (7, 617),
                (8, 918)
            ]
        );
        let backoffs: Vec<u64> = h
            .iter()
            .filter_map(|m| match m.state {
                State::BackOff { backoff, .. } => Some(backoff.as_secs()),
                _ => None,
            })
            .collect();
        assert_eq!(backoffs, [10, 20, 40, 80, 160, 300, 300, 300]);
        // In back-off, the restart count is the exited instance's and lastState is it.
        let m = run.at(S(5), 1.0);
        assert_eq!(m.restart_count(), 1);
        assert_eq!(m.previous.map(|p| p.started), Some(S(1)));
        // Running instance 3: lastState is instance 2.
        let m = run.at(S(33), 1.0);
        assert_eq!(m.restart_count(), 3);
        assert_eq!(
            m.previous,
            Some(Instance {
                number: 2,
                started: S(12),
                exits: Some(S(13)),
            })
        );
    }

    /// The instances (start, exit) of a crash loop lived through with the kubelet's
    /// stateful [`lifecycle::Backoff`], each restart as soon as it allows.
    fn lived(lasts: Duration, scale: f64, n: usize) -> Vec<(Duration, Duration)> {
        let base = tokio::time::Instant::now();
        let mut backoff = lifecycle::Backoff::default();
        let mut start = Duration::ZERO;
        let mut out = Vec::new();
        for _ in 0..n {
            let exit = start + lasts;
            out.push((start, exit));
            let exited = base + exit;
            let wait = backoff
                .remaining(exited, exited, scale)
                .map_or(Duration::ZERO, |(w, _)| w);
            start = exit + wait;
            backoff.next(exited, base + start, scale);
        }
        out
    }

    #[test]
    fn the_closed_form_agrees_with_the_lived_back_off() {
        for (lasts, scale) in [(S(1), 1.0), (S(0), 1.0), (S(7), 0.05), (S(700), 1.0)] {
            let lasts = lifecycle::scaled(lasts, scale);
            let run = crash_loop(lasts);
            let instances = lived(lasts, scale, 30);
            for (n, &(start, exit)) in instances.iter().enumerate() {
                let n = n as u32;
                if exit > start {
                    for t in [start, start + (exit - start) / 2] {
                        let m = run.at(t, scale);
                        assert!(
                            matches!(m.state, State::Running(i) if i.number == n && i.started == start),
                            "{m:?} at {t:?} ({lasts:?}, {scale})"
                        );
                    }
                }
                let Some(&(next_start, _)) = instances.get(n as usize + 1) else {
                    continue;
                };
                if next_start > exit {
                    let m = run.at(exit, scale);
                    assert!(
                        matches!(m.state, State::BackOff { exited, restart_at, .. }
                            if exited.number == n && restart_at == next_start),
                        "{m:?} after exit {n} ({lasts:?}, {scale})"
                    );
                    assert_eq!(m.restart_count(), n);
                }
            }
        }
    }

    #[test]
    fn weeks_of_crash_looping_count_every_restart() {
        let run = crash_loop(S(1));
        // After the settled point (instance 7 at 617 s) every cycle is 301 s.
        let t = S(617 + 301 * 10_000 + 5);
        let m = run.at(t, 1.0);
        assert_eq!(m.restart_count(), 10_007);
        assert!(matches!(m.state, State::BackOff { backoff, .. } if backoff == S(300)));
        assert_eq!(m.previous.map(|p| p.number), Some(10_007));
    }

    #[test]
    fn long_runs_restart_at_once() {
        // Each run outlasts 10 minutes: the back-off starts over, restarts are immediate.
        let run = crash_loop(S(601));
        let m = run.at(S(601 * 5 + 3), 1.0);
        assert_eq!(m.restart_count(), 5);
        assert!(matches!(m.state, State::Running(i) if i.started == S(601 * 5)));
    }

    #[test]
    fn time_scale_shrinks_the_back_off() {
        let run = crash_loop(Duration::from_millis(50));
        let m = run.at(Duration::from_millis(120), 0.01);
        // 0–50 ms instance 0, 50–100 ms instance 1, then a 100 ms back-off.
        assert!(matches!(
            m.state,
            State::BackOff { backoff, restart_at, .. }
                if backoff == Duration::from_millis(100) && restart_at == Duration::from_millis(200)
        ));
    }
}
