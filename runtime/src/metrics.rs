//! The Prometheus registry every capstan-runtime metric is registered in, served by
//! [`crate::health`] on `/metrics`.

use std::sync::OnceLock;

use prometheus::Registry;
pub use prometheus::{HistogramVec, IntCounterVec};

/// The process-wide registry for capstan-runtime's metrics (work queues, controllers,
/// leader election, client rate limiting). Components of one process share it, as
/// client-go's and controller-runtime's global registries are shared.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// Registers `collector` in [`registry`] and returns it; a collector already registered
/// under the same descriptor is kept, so constructing twice is harmless.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    match registry().register(Box::new(collector.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
        Err(err) => tracing::warn!(%err, "could not register metric"),
    }
    collector
}

/// A counter vector with constant `name`, `help` and `labels`, registered in
/// [`registry`]: how a component (a controller, the scheduler) declares a metric of
/// its own, usually as a `LazyLock` static, so that `/metrics` serves it beside the
/// runtime's:
///
/// ```
/// use std::sync::LazyLock;
/// use capstan_runtime::metrics::{IntCounterVec, counter_vec};
///
/// static SYNCS: LazyLock<IntCounterVec> = LazyLock::new(|| {
///     counter_vec("example_controller_syncs_total", "The number of syncs", &["result"])
/// });
/// SYNCS.with_label_values(&["success"]).inc();
/// assert!(capstan_runtime::metrics::render().contains("example_controller_syncs_total"));
/// ```
///
/// Declare each metric once: a second vector of the same name is not registered (the
/// first is kept), so what it counts is not served.
///
/// # Panics
///
/// When `name` or `labels` are not valid Prometheus names: pass constants.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        IntCounterVec::new(prometheus::Opts::new(name, help), labels)
            // Callers pass constants: construction cannot fail at run time.
            .expect("valid metric definition"),
    )
}

/// A histogram vector with constant `name`, `help`, `labels` and `buckets`,
/// registered in [`registry`] (see [`counter_vec`]).
///
/// # Panics
///
/// When `name`, `labels` or `buckets` are not valid: pass constants.
pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    register(
        HistogramVec::new(
            prometheus::HistogramOpts::new(name, help).buckets(buckets),
            labels,
        )
        // Callers pass constants: construction cannot fail at run time.
        .expect("valid metric definition"),
    )
}

/// `count` buckets from `start`, each `factor` times the one before (component-base's
/// `ExponentialBuckets`); empty when the arguments are invalid (`start` or `count`
/// not positive, `factor` not above 1).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    prometheus::exponential_buckets(start, factor, count).unwrap_or_default()
}

/// Renders every metric in [`registry`] in the Prometheus text exposition format.
pub fn render() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(err) = encoder.encode(&registry().gather(), &mut buf) {
        tracing::warn!(%err, "could not encode metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_metrics_are_served_with_the_runtimes() {
        let syncs = counter_vec("metrics_test_syncs_total", "Syncs.", &["result"]);
        syncs.with_label_values(&["success"]).inc();
        let seconds = histogram_vec(
            "metrics_test_sync_seconds",
            "Sync time.",
            &["result"],
            exponential_buckets(0.004, 2.0, 15),
        );
        seconds.with_label_values(&["success"]).observe(0.01);
        let text = render();
        assert!(
            text.contains(r#"metrics_test_syncs_total{result="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"metrics_test_sync_seconds_bucket{result="success",le="0.016"} 1"#)
        );
        assert!(
            text.contains(r#"metrics_test_sync_seconds_bucket{result="success",le="0.008"} 0"#)
        );
    }

    #[test]
    fn exponential_buckets_as_component_base() {
        let b = exponential_buckets(0.004, 2.0, 15);
        assert_eq!(b.len(), 15);
        assert_eq!((b[0], b[1], b[14]), (0.004, 0.008, 0.004 * 16384.0));
        assert!(exponential_buckets(0.0, 2.0, 3).is_empty());
    }
}
