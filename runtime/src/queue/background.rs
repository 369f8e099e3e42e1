//! The two tasks a queue runs beside its workers: the timer that adds delayed keys when
//! their deadline passes (client-go's `waitingLoop`), and, for named queues, the
//! refresh of the unfinished-work gauges (client-go's `updateUnfinishedWorkLoop`).
//!
//! Both hold only a weak reference to the queue: they end when the queue shuts down or
//! when its last handle is dropped.

use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::{MissedTickBehavior, sleep_until};

use super::metrics::UNFINISHED_WORK_UPDATE_PERIOD;
use super::work_queue::Inner;

/// Adds delayed keys to the queue at their deadline. `wake` is notified when a key gets
/// an earlier deadline than the one slept for, on shut down, and when the queue is
/// dropped.
pub(crate) async fn delay_timer<T>(queue: Weak<Inner<T>>, wake: Arc<Notify>)
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    let mut due = Vec::new();
    loop {
        // Created before looking at the deadlines: a notify_one in between leaves a
        // permit this future consumes, so no wake-up is lost.
        let notified = wake.notified();
        let next = {
            let Some(inner) = queue.upgrade() else { return };
            if inner.is_shutting_down() {
                return;
            }
            inner.fire_due(&mut due)
        };
        match next {
            Some(deadline) => {
                let mut notified = pin!(notified);
                tokio::select! {
                    _ = sleep_until(deadline) => {}
                    _ = &mut notified => {}
                }
            }
            None => notified.await,
        }
    }
}

/// Refreshes `workqueue_unfinished_work_seconds` and
/// `workqueue_longest_running_processor_seconds` every
/// [`UNFINISHED_WORK_UPDATE_PERIOD`] until the queue shuts down.
pub(crate) async fn unfinished_work<T>(queue: Weak<Inner<T>>)
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    let mut ticks = tokio::time::interval(UNFINISHED_WORK_UPDATE_PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = queue.upgrade() else { return };
        if inner.is_shutting_down() {
            return;
        }
        inner.update_unfinished_work();
    }
}
