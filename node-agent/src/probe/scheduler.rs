//! All probes of an agent run from one task: a timer wheel (`DelayQueue`) holds each
//! probe's next run, attempts run concurrently in the same task, and a probe is due
//! again one period after its attempt finished (never two attempts of one probe at a
//! time, as the kubelet's per-probe worker). A probe belongs to one container instance
//! (its `group`); its [`ProbeHost`] says whether it may run and receives its results.
//!
//! As the kubelet's worker: the first attempt comes after `initialDelaySeconds`;
//! liveness and readiness wait until the startup probe succeeded, which also runs the
//! readiness probe at once; a settled liveness or startup failure ends the probe (the
//! container is killed and its successor gets new probes); errors resolving a probe
//! (e.g. an unknown named port) are reported and do not count toward thresholds.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::time::{DelayQueue, delay_queue};

use super::{ExecContext, Outcome, ProbeAction, ProbeKind, ProbeTiming, Thresholds, run};

/// Whether a probe may run now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Run an attempt.
    Probe,
    /// Not now (e.g. the startup probe has not succeeded yet): look again next period.
    Wait,
    /// Never again (the container instance is gone or being stopped).
    Stop,
}

/// The container instance a probe belongs to.
pub trait ProbeHost: Send + Sync {
    /// Whether the probe of `kind` may run now.
    fn gate(&self, kind: ProbeKind) -> Gate;
    /// A result settled by the thresholds.
    fn settle(&self, kind: ProbeKind, success: bool);
    /// One attempt failed, passed with a warning, or could not run: the kubelet's
    /// `Unhealthy` / `ProbeWarning` event (`reason`, `message`).
    fn report(&self, kind: ProbeKind, reason: &str, message: String);
}

/// One probe of one container instance.
pub struct ProbeJob {
    /// Which probe.
    pub kind: ProbeKind,
    /// The container instance (probes of one instance share it).
    pub group: u64,
    /// What it does, or why it cannot run.
    pub action: Result<ProbeAction, String>,
    /// Environment and directory for `exec`.
    pub exec: ExecContext,
    /// Timing and thresholds.
    pub timing: ProbeTiming,
    /// When the container started.
    pub started: Instant,
    /// Where results go.
    pub host: Arc<dyn ProbeHost>,
}

/// A handle to add probes to the agent's probe task.
#[derive(Clone)]
pub struct Prober {
    tx: mpsc::UnboundedSender<ProbeJob>,
}

impl Prober {
    /// Starts the probe task; it runs until `shutdown` is cancelled or every handle is
    /// dropped.
    pub fn start(shutdown: CancellationToken) -> (Prober, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Prober { tx }, tokio::spawn(run_probes(rx, shutdown)))
    }

    /// Schedules `job`'s first attempt.
    pub fn add(&self, job: ProbeJob) {
        if self.tx.send(job).is_err() {
            tracing::debug!("probe task stopped; probe dropped");
        }
    }
}

struct Entry {
    job: ProbeJob,
    thresholds: Thresholds,
    key: Option<delay_queue::Key>,
}

#[derive(Default)]
struct Probes {
    queue: DelayQueue<u64>,
    entries: HashMap<u64, Entry>,
    by_group: HashMap<(u64, ProbeKind), u64>,
    next_id: u64,
}

impl Probes {
    fn add(&mut self, job: ProbeJob) {
        let id = self.next_id;
        self.next_id += 1;
        let first = (job.started + job.timing.initial_delay).max(Instant::now());
        let key = self.queue.insert_at(id, first);
        self.by_group.insert((job.group, job.kind), id);
        self.entries.insert(
            id,
            Entry {
                job,
                thresholds: Thresholds::default(),
                key: Some(key),
            },
        );
    }

    fn remove(&mut self, id: u64) {
        if let Some(e) = self.entries.remove(&id) {
            if let Some(key) = e.key {
                self.queue.remove(&key);
            }
            self.by_group.remove(&(e.job.group, e.job.kind));
        }
    }

    fn again(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.key = Some(self.queue.insert(id, e.job.timing.period));
        }
    }

    /// Runs `group`'s readiness probe now (respecting its initial delay).
    fn trigger_readiness(&mut self, group: u64) {
        let Some(id) = self.by_group.get(&(group, ProbeKind::Readiness)).copied() else {
            return;
        };
        if let Some(e) = self.entries.get(&id)
            && let Some(key) = &e.key
        {
            let due = (e.job.started + e.job.timing.initial_delay).max(Instant::now());
            self.queue.reset_at(key, due);
        }
    }
}

type Attempt = std::pin::Pin<Box<dyn std::future::Future<Output = (u64, Outcome)> + Send>>;

async fn run_probes(mut rx: mpsc::UnboundedReceiver<ProbeJob>, shutdown: CancellationToken) {
    let mut probes = Probes::default();
    let mut running: FuturesUnordered<Attempt> = FuturesUnordered::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            job = rx.recv() => match job {
                Some(job) => probes.add(job),
                None => return,
            },
            Some(expired) = probes.queue.next(), if !probes.queue.is_empty() => {
                let id = expired.into_inner();
                let Some(entry) = probes.entries.get_mut(&id) else { continue };
                entry.key = None;
                let kind = entry.job.kind;
                match entry.job.host.gate(kind) {
                    Gate::Stop => probes.remove(id),
                    Gate::Wait => probes.again(id),
                    Gate::Probe => match &entry.job.action {
                        Err(err) => {
                            entry.job.host.report(
                                kind,
                                "Unhealthy",
                                format!("{kind} probe errored and resulted in unknown state: {err}"),
                            );
                            probes.again(id);
                        }
                        Ok(action) => {
                            let (action, timeout, exec) =
                                (action.clone(), entry.job.timing.timeout, entry.job.exec.clone());
                            running.push(Box::pin(async move {
                                (id, run(&action, timeout, &exec).await)
                            }));
                        }
                    },
                }
            }
            Some((id, outcome)) = running.next(), if !running.is_empty() => {
                let Some(entry) = probes.entries.get_mut(&id) else { continue };
                let (kind, group) = (entry.job.kind, entry.job.group);
                match &outcome {
                    Outcome::Failure(output) => entry.job.host.report(
                        kind,
                        "Unhealthy",
                        format!("{kind} probe failed: {output}"),
                    ),
                    Outcome::Warning(output) => entry.job.host.report(
                        kind,
                        "ProbeWarning",
                        format!("{kind} probe warning: {output}"),
                    ),
                    Outcome::Success => {}
                }
                let timing = entry.job.timing;
                match entry.thresholds.observe(outcome.passed(), &timing) {
                    Some(result) => {
                        entry.job.host.settle(kind, result);
                        match (kind, result) {
                            (ProbeKind::Liveness | ProbeKind::Startup, false) => {
                                entry.thresholds.reset();
                                probes.remove(id);
                            }
                            (ProbeKind::Startup, true) => {
                                probes.remove(id);
                                probes.trigger_readiness(group);
                            }
                            _ => probes.again(id),
                        }
                    }
                    None => probes.again(id),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct Host {
        started: Mutex<Option<bool>>,
        settled: Mutex<Vec<(ProbeKind, bool)>>,
        reports: Mutex<Vec<String>>,
    }

    impl ProbeHost for Host {
        fn gate(&self, kind: ProbeKind) -> Gate {
            match kind {
                ProbeKind::Startup => Gate::Probe,
                _ if *self.started.lock() == Some(true) => Gate::Probe,
                _ => Gate::Wait,
            }
        }
        fn settle(&self, kind: ProbeKind, success: bool) {
            if kind == ProbeKind::Startup {
                *self.started.lock() = Some(success);
            }
            self.settled.lock().push((kind, success));
        }
        fn report(&self, _: ProbeKind, reason: &str, message: String) {
            self.reports.lock().push(format!("{reason}: {message}"));
        }
    }

    fn job(
        kind: ProbeKind,
        command: &str,
        period_ms: u64,
        failure_threshold: u32,
        host: Arc<Host>,
    ) -> ProbeJob {
        ProbeJob {
            kind,
            group: 1,
            action: Ok(ProbeAction::Exec(vec![
                "sh".into(),
                "-c".into(),
                command.into(),
            ])),
            exec: ExecContext {
                env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
                cwd: std::env::temp_dir(),
            },
            timing: ProbeTiming {
                initial_delay: Duration::ZERO,
                period: Duration::from_millis(period_ms),
                timeout: Duration::from_secs(10),
                success_threshold: 1,
                failure_threshold,
            },
            started: Instant::now(),
            host,
        }
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn startup_gates_readiness_and_liveness_failures_settle_once() {
        let stop = CancellationToken::new();
        let (prober, task) = Prober::start(stop.clone());
        let host = Arc::new(Host::default());
        // Readiness would run every hour: it only runs early because startup succeeded.
        prober.add(job(
            ProbeKind::Readiness,
            "exit 0",
            3_600_000,
            3,
            host.clone(),
        ));
        prober.add(job(ProbeKind::Startup, "exit 0", 10, 3, host.clone()));
        prober.add(job(
            ProbeKind::Liveness,
            "echo sick; exit 1",
            10,
            3,
            host.clone(),
        ));
        until("startup, readiness and liveness settled", || {
            let s = host.settled.lock();
            s.contains(&(ProbeKind::Startup, true))
                && s.contains(&(ProbeKind::Readiness, true))
                && s.contains(&(ProbeKind::Liveness, false))
        })
        .await;
        let settled = host.settled.lock().clone();
        let startup = settled
            .iter()
            .position(|s| *s == (ProbeKind::Startup, true));
        let ready = settled
            .iter()
            .position(|s| *s == (ProbeKind::Readiness, true));
        assert!(startup < ready, "readiness ran after startup: {settled:?}");
        // Three failed attempts before the failure settled, then the probe stopped.
        let reports = host.reports.lock().clone();
        assert_eq!(
            reports,
            vec!["Unhealthy: Liveness probe failed: sick\n"; 3],
            "liveness stops after its settled failure"
        );
        assert_eq!(
            settled
                .iter()
                .filter(|s| s.0 == ProbeKind::Liveness)
                .count(),
            1
        );
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn probe_errors_are_reported_and_do_not_count() {
        let stop = CancellationToken::new();
        let (prober, task) = Prober::start(stop.clone());
        let host = Arc::new(Host::default());
        *host.started.lock() = Some(true);
        let mut j = job(ProbeKind::Readiness, "exit 1", 10, 1, host.clone());
        j.action = Err("couldn't find port: http in app".into());
        prober.add(j);
        until("an errored attempt reported", || {
            !host.reports.lock().is_empty()
        })
        .await;
        assert!(host.settled.lock().is_empty(), "errors do not count");
        assert_eq!(
            host.reports.lock()[0],
            "Unhealthy: Readiness probe errored and resulted in unknown state: couldn't find port: http in app"
        );
        stop.cancel();
        task.await.unwrap();
    }
}
