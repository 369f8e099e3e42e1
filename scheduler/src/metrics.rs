//! kube-scheduler's metrics, with upstream names, labels and buckets
//! (`pkg/scheduler/metrics`), registered in capstan-runtime's registry.

use std::sync::{Arc, OnceLock, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
};

use crate::queue::SchedulingQueue;

/// `result` label value of a successful attempt.
pub const SCHEDULED: &str = "scheduled";
/// `result` label value when no node fits.
pub const UNSCHEDULABLE: &str = "unschedulable";
/// `result` label value on errors.
pub const ERROR: &str = "error";

/// The scheduler's metrics.
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    /// `scheduler_schedule_attempts_total{result, profile}`.
    pub schedule_attempts: IntCounterVec,
    /// `scheduler_scheduling_attempt_duration_seconds{result, profile}`.
    pub scheduling_attempt_duration: HistogramVec,
    /// `scheduler_pod_scheduling_attempts`: attempts until a pod is scheduled.
    pub pod_scheduling_attempts: Histogram,
    /// `scheduler_pod_scheduling_sli_duration_seconds{attempts}`: first attempt to bound.
    pub pod_scheduling_sli_duration: HistogramVec,
    /// `scheduler_preemption_attempts_total`.
    pub preemption_attempts: IntCounter,
    /// `scheduler_preemption_victims`: victims per successful preemption.
    pub preemption_victims: Histogram,
}

fn exponential(start: f64, factor: f64, count: usize) -> Vec<f64> {
    // Parameters are constants below; the prometheus helper only fails on bad ones.
    prometheus::exponential_buckets(start, factor, count).unwrap_or_default()
}

impl SchedulerMetrics {
    fn build() -> Result<Self, prometheus::Error> {
        Ok(SchedulerMetrics {
            schedule_attempts: IntCounterVec::new(
                Opts::new(
                    "scheduler_schedule_attempts_total",
                    "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
                ),
                &["result", "profile"],
            )?,
            scheduling_attempt_duration: HistogramVec::new(
                HistogramOpts::new(
                    "scheduler_scheduling_attempt_duration_seconds",
                    "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                )
                .buckets(exponential(0.001, 2.0, 15)),
                &["result", "profile"],
            )?,
            pod_scheduling_attempts: Histogram::with_opts(
                HistogramOpts::new(
                    "scheduler_pod_scheduling_attempts",
                    "Number of attempts to successfully schedule a pod.",
                )
                .buckets(exponential(1.0, 2.0, 5)),
            )?,
            pod_scheduling_sli_duration: HistogramVec::new(
                HistogramOpts::new(
                    "scheduler_pod_scheduling_sli_duration_seconds",
                    "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might involve multiple scheduling attempts.",
                )
                .buckets(exponential(0.01, 2.0, 20)),
                &["attempts"],
            )?,
            preemption_attempts: IntCounter::new(
                "scheduler_preemption_attempts_total",
                "Total preemption attempts in the cluster till now",
            )?,
            preemption_victims: Histogram::with_opts(
                HistogramOpts::new("scheduler_preemption_victims", "Number of selected preemption victims")
                    .buckets(exponential(1.0, 2.0, 7)),
            )?,
        })
    }

    /// The process-wide instance, registered once in capstan-runtime's registry
    /// (`None` only if the constant metric options were malformed).
    pub fn global() -> Option<&'static SchedulerMetrics> {
        static METRICS: OnceLock<Option<SchedulerMetrics>> = OnceLock::new();
        METRICS
            .get_or_init(|| match Self::build() {
                Ok(m) => {
                    capstan_runtime::metrics::register(m.schedule_attempts.clone());
                    capstan_runtime::metrics::register(m.scheduling_attempt_duration.clone());
                    capstan_runtime::metrics::register(m.pod_scheduling_attempts.clone());
                    capstan_runtime::metrics::register(m.pod_scheduling_sli_duration.clone());
                    capstan_runtime::metrics::register(m.preemption_attempts.clone());
                    capstan_runtime::metrics::register(m.preemption_victims.clone());
                    Some(m)
                }
                Err(e) => {
                    tracing::error!(error = %e, "building scheduler metrics");
                    None
                }
            })
            .as_ref()
    }
}

/// `scheduler_pending_pods{queue}` read from the queue at scrape time.
#[derive(Clone)]
pub struct PendingPodsCollector {
    queue: Weak<SchedulingQueue>,
    gauge: IntGaugeVec,
}

impl PendingPodsCollector {
    /// A collector over `queue` (held weakly).
    pub fn new(queue: &Arc<SchedulingQueue>) -> Result<Self, prometheus::Error> {
        Ok(PendingPodsCollector {
            queue: Arc::downgrade(queue),
            gauge: IntGaugeVec::new(
                Opts::new(
                    "scheduler_pending_pods",
                    "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated.",
                ),
                &["queue"],
            )?,
        })
    }

    /// Registers it in capstan-runtime's registry.
    pub fn register(self) {
        capstan_runtime::metrics::register(self);
    }
}

impl Collector for PendingPodsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(q) = self.queue.upgrade() {
            let p = q.pending_pods();
            for (label, v) in [
                ("active", p.active),
                ("backoff", p.backoff),
                ("unschedulable", p.unschedulable),
                ("gated", p.gated),
            ] {
                self.gauge.with_label_values(&[label]).set(v as i64);
            }
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResolvedProfile;
    use crate::framework::{Framework, StaticLister};
    use crate::queue::QueueConfig;
    use crate::testing::PodBuilder;

    #[test]
    fn metrics_have_upstream_names_and_pending_pods_reads_the_queue() {
        let m = SchedulerMetrics::global().unwrap();
        m.schedule_attempts
            .with_label_values(&[SCHEDULED, "capstan-scheduler"])
            .inc();
        m.scheduling_attempt_duration
            .with_label_values(&[SCHEDULED, "capstan-scheduler"])
            .observe(0.002);
        let fw = Framework::new(
            &ResolvedProfile::default_for("s"),
            Arc::new(StaticLister::default()),
        )
        .unwrap();
        let q = Arc::new(SchedulingQueue::new(
            QueueConfig::default(),
            fw.events_to_register().clone(),
        ));
        q.add(PodBuilder::new("a").build());
        q.add(PodBuilder::new("b").build());
        let c = PendingPodsCollector::new(&q).unwrap();
        let fams = c.collect();
        let active = fams[0]
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "active"))
            .map(|m| m.get_gauge().get_value());
        assert_eq!(active, Some(2.0));
        let text = capstan_runtime::metrics::render();
        assert!(text.contains("scheduler_schedule_attempts_total{profile=\"capstan-scheduler\",result=\"scheduled\"}"), "{text}");
        assert!(text.contains(
            "scheduler_scheduling_attempt_duration_seconds_bucket{profile=\"capstan-scheduler\",result=\"scheduled\",le=\"0.002\"}"
        ), "{text}");
    }
}
