//! Work-queue metrics with client-go's names (`workqueue_*`), labelled by queue `name`,
//! as `k8s.io/component-base/metrics/prometheus/workqueue` registers them.
//!
//! The metric vectors are process-wide statics registered once in
//! [`crate::metrics::registry`]; each named queue holds its own labelled children.
//! `workqueue_depth` is the exception: it is read from the queues when scraped (see
//! [`super::depth`]).

use std::sync::OnceLock;

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
};

/// How often a named queue refreshes `workqueue_unfinished_work_seconds` and
/// `workqueue_longest_running_processor_seconds`, as client-go's
/// `defaultUnfinishedWorkUpdatePeriod`.
pub const UNFINISHED_WORK_UPDATE_PERIOD: std::time::Duration =
    std::time::Duration::from_millis(500);

const SUBSYSTEM: &str = "workqueue";
const LABEL: &str = "name";

struct Vecs {
    adds: IntCounterVec,
    queue_duration: HistogramVec,
    work_duration: HistogramVec,
    unfinished_work: GaugeVec,
    longest_running: GaugeVec,
    retries: IntCounterVec,
}

/// Buckets of client-go's latency histograms: `ExponentialBuckets(10e-9, 10, 10)`,
/// 10 ns to 10 s.
fn buckets() -> Vec<f64> {
    (0..10).map(|i| 10e-9 * 10f64.powi(i)).collect()
}

fn vecs() -> &'static Vecs {
    static VECS: OnceLock<Vecs> = OnceLock::new();
    VECS.get_or_init(|| {
        let opts = |name: &str, help: &str| Opts::new(name, help).subsystem(SUBSYSTEM);
        let hist = |name: &str, help: &str| {
            HistogramOpts::new(name, help)
                .subsystem(SUBSYSTEM)
                .buckets(buckets())
        };
        // The options are constants, so construction cannot fail; should it ever,
        // the queue records into an unregistered vector rather than panicking.
        Vecs {
            adds: crate::metrics::register(
                IntCounterVec::new(
                    opts("adds_total", "Total number of adds handled by workqueue"),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            queue_duration: crate::metrics::register(
                HistogramVec::new(
                    hist(
                        "queue_duration_seconds",
                        "How long in seconds an item stays in workqueue before being requested.",
                    ),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            work_duration: crate::metrics::register(
                HistogramVec::new(
                    hist(
                        "work_duration_seconds",
                        "How long in seconds processing an item from workqueue takes.",
                    ),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            unfinished_work: crate::metrics::register(
                GaugeVec::new(
                    opts(
                        "unfinished_work_seconds",
                        "How many seconds of work has done that is in progress and hasn't been \
                         observed by work_duration. Large values indicate stuck threads. One can \
                         deduce the number of stuck threads by observing the rate at which this \
                         increases.",
                    ),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            longest_running: crate::metrics::register(
                GaugeVec::new(
                    opts(
                        "longest_running_processor_seconds",
                        "How many seconds has the longest running processor for workqueue been \
                         running.",
                    ),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            retries: crate::metrics::register(
                IntCounterVec::new(
                    opts(
                        "retries_total",
                        "Total number of retries handled by workqueue",
                    ),
                    &[LABEL],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
        }
    })
}

/// Only reached if the constant metric options above were invalid: a programming error
/// caught by this module's tests.
#[cold]
fn unreachable_metric<M>() -> M {
    unreachable!("work-queue metric options are constant and valid")
}

/// The metrics of one named queue: the labelled children of the shared vectors.
#[derive(Clone)]
pub(crate) struct QueueMetrics {
    pub(crate) adds: IntCounter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    pub(crate) unfinished_work: Gauge,
    pub(crate) longest_running: Gauge,
    pub(crate) retries: IntCounter,
}

impl QueueMetrics {
    /// The metrics labelled `name="<name>"`. Queues sharing a name share metrics, as in
    /// client-go.
    pub(crate) fn new(name: &str) -> Self {
        let v = vecs();
        let l = &[name];
        Self {
            adds: v.adds.with_label_values(l),
            queue_duration: v.queue_duration.with_label_values(l),
            work_duration: v.work_duration.with_label_values(l),
            unfinished_work: v.unfinished_work.with_label_values(l),
            longest_running: v.longest_running.with_label_values(l),
            retries: v.retries.with_label_values(l),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Reading a queue's metrics back from the process registry.

    use prometheus::proto::{Metric, MetricFamily, MetricType};

    fn find(families: &[MetricFamily], family: &str, queue: &str) -> Option<(MetricType, Metric)> {
        let f = families.iter().find(|f| f.name() == family)?;
        let m = f.get_metric().iter().find(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "name" && l.value() == queue)
        })?;
        Some((f.get_field_type(), m.clone()))
    }

    /// The value of counter or gauge `family` for queue `queue`, if it exists.
    pub(crate) fn value(family: &str, queue: &str) -> Option<f64> {
        let families = crate::metrics::registry().gather();
        let (kind, m) = find(&families, family, queue)?;
        match kind {
            MetricType::COUNTER => Some(m.get_counter().get_value()),
            _ => Some(m.get_gauge().get_value()),
        }
    }

    /// `(sample count, sample sum)` of histogram `family` for queue `queue`.
    pub(crate) fn histogram(family: &str, queue: &str) -> Option<(u64, f64)> {
        let families = crate::metrics::registry().gather();
        let (_, m) = find(&families, family, queue)?;
        let h = m.get_histogram();
        Some((h.get_sample_count(), h.get_sample_sum()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_client_go() {
        let b = buckets();
        assert_eq!(b.len(), 10);
        assert!((b[0] - 1e-8).abs() < 1e-20);
        assert!((b[9] - 10.0).abs() < 1e-9);
    }

    use std::sync::Arc;

    use super::super::depth::{self, DepthSource};

    struct Depth2;

    impl DepthSource for Depth2 {
        fn depth(&self) -> i64 {
            2
        }
    }

    #[test]
    fn every_family_is_registered_under_client_go_names() {
        let m = QueueMetrics::new("metrics-names-test");
        m.adds.inc();
        m.retries.inc();
        // `workqueue_depth` is read from live queues (see `super::depth`).
        let queue: Arc<dyn DepthSource> = Arc::new(Depth2);
        depth::watch("metrics-names-test".into(), Arc::downgrade(&queue));
        m.queue_duration.observe(0.5);
        m.work_duration.observe(0.25);
        m.unfinished_work.set(1.5);
        m.longest_running.set(1.0);
        let text = crate::metrics::render();
        for family in [
            "workqueue_depth",
            "workqueue_adds_total",
            "workqueue_queue_duration_seconds",
            "workqueue_work_duration_seconds",
            "workqueue_retries_total",
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing from:\n{text}"
            );
        }
        assert!(text.contains("workqueue_depth{name=\"metrics-names-test\"} 2"));
        let bucket = |le: &str| {
            format!(
                "workqueue_queue_duration_seconds_bucket{{name=\"metrics-names-test\",le=\"{le}\"}}"
            )
        };
        assert!(text.contains(&format!("{} 0", bucket("0.00000001"))));
        assert!(text.contains(&format!("{} 0", bucket("0.1"))));
        assert!(text.contains(&format!("{} 1", bucket("1"))));
        assert!(text.contains(&format!("{} 1", bucket("10"))));
    }
}
