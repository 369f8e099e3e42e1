//! `workqueue_depth`, read from the named queues when the registry is scraped.
//!
//! client-go keeps the depth in a gauge incremented by `Add` and decremented by `Get`.
//! Here the adding thread and the workers usually run on different cores, and a gauge
//! they both write moves its cache line between them twice per key: a cost of the same
//! order as the rest of the queue's work (issue 19). So each named queue counts its
//! depth in its own state, under the lock it takes anyway, and this collector sums the
//! live queues of each name when scraped. What is exported is the same: per name, the
//! keys added and not yet handed out (queued, or added again while processing), summed
//! over the queues sharing the name. A name whose queues are all dropped is no longer
//! exported.

use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

/// A named queue whose depth the collector reads.
pub(crate) trait DepthSource: Send + Sync {
    /// Keys added and not yet handed out.
    fn depth(&self) -> i64;
}

type Sources = Vec<(Arc<str>, Weak<dyn DepthSource>)>;

/// The registered `workqueue_depth` collector.
#[derive(Clone)]
struct DepthCollector {
    /// Holds the descriptor; filled afresh, under `sources`' lock, on each scrape.
    gauges: IntGaugeVec,
    sources: Arc<Mutex<Sources>>,
}

impl Collector for DepthCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut sources = self.sources.lock();
        sources.retain(|(_, queue)| queue.strong_count() > 0);
        self.gauges.reset();
        for (name, queue) in sources.iter() {
            if let Some(queue) = queue.upgrade() {
                self.gauges.with_label_values(&[&**name]).add(queue.depth());
            }
        }
        self.gauges.collect()
    }
}

fn collector() -> &'static DepthCollector {
    static COLLECTOR: OnceLock<DepthCollector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let opts = Opts::new("depth", "Current depth of workqueue").subsystem("workqueue");
        // The options are constant, so construction cannot fail.
        let gauges = IntGaugeVec::new(opts, &["name"])
            .unwrap_or_else(|_| unreachable!("workqueue_depth options are constant and valid"));
        crate::metrics::register(DepthCollector {
            gauges,
            sources: Arc::default(),
        })
    })
}

/// Exports the depth of `queue` under `workqueue_depth{name="<name>"}` while it lives.
pub(crate) fn watch(name: Arc<str>, queue: Weak<dyn DepthSource>) {
    let mut sources = collector().sources.lock();
    sources.retain(|(_, queue)| queue.strong_count() > 0);
    sources.push((name, queue));
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(i64);

    impl DepthSource for Fixed {
        fn depth(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn sums_live_queues_by_name_and_forgets_dropped_ones() {
        let a: Arc<dyn DepthSource> = Arc::new(Fixed(2));
        let b: Arc<dyn DepthSource> = Arc::new(Fixed(3));
        watch("depth-test".into(), Arc::downgrade(&a));
        watch("depth-test".into(), Arc::downgrade(&b));
        let line = "workqueue_depth{name=\"depth-test\"}";
        assert!(crate::metrics::render().contains(&format!("{line} 5")));
        drop(b);
        assert!(crate::metrics::render().contains(&format!("{line} 2")));
        drop(a);
        assert!(!crate::metrics::render().contains(line));
    }
}
