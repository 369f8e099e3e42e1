//! controller-runtime's reconcile metrics, registered once in the runtime's registry.

use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

use crate::metrics::register;

/// `controller_runtime_reconcile_total{controller, result}`: reconciles by outcome
/// (`success`, `error`, `requeue`, `requeue_after`); a panic counts as `error`, as in
/// controller-runtime.
pub(crate) static RECONCILE_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_total",
                "Total number of reconciliations per controller",
            ),
            &["controller", "result"],
        )
        .expect("static metric definition is valid"),
    )
});

/// `controller_runtime_reconcile_errors_total{controller}`: reconciles that returned an
/// error or panicked.
pub(crate) static RECONCILE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller",
            ),
            &["controller"],
        )
        .expect("static metric definition is valid"),
    )
});

/// `controller_runtime_reconcile_panics_total{controller}`: reconciles that panicked.
pub(crate) static RECONCILE_PANICS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_panics_total",
                "Total number of reconciliation panics per controller",
            ),
            &["controller"],
        )
        .expect("static metric definition is valid"),
    )
});

/// `controller_runtime_reconcile_time_seconds{controller}`: reconcile latency, with
/// controller-runtime's buckets.
pub(crate) static RECONCILE_TIME: LazyLock<HistogramVec> = LazyLock::new(|| {
    let buckets = vec![
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
        0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
        15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
    ];
    register(
        HistogramVec::new(
            HistogramOpts::new(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
            )
            .buckets(buckets),
            &["controller"],
        )
        .expect("static metric definition is valid"),
    )
});

/// `controller_runtime_active_workers{controller}`: workers currently reconciling.
pub(crate) static ACTIVE_WORKERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
            ),
            &["controller"],
        )
        .expect("static metric definition is valid"),
    )
});

/// `controller_runtime_max_concurrent_reconciles{controller}`: the worker count.
pub(crate) static MAX_CONCURRENT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller",
            ),
            &["controller"],
        )
        .expect("static metric definition is valid"),
    )
});
