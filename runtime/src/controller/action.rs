//! What a reconcile asks the runner to do with its key afterwards.

use std::time::Duration;

/// The outcome of a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The key is done: its rate-limiter history is forgotten and it is not requeued.
    Done,
    /// Requeue the key after this delay (and forget its failure history), as
    /// `queue.AddAfter` does for a controller that must look again later (e.g. to observe
    /// `minReadySeconds`).
    RequeueAfter(Duration),
    /// Requeue the key with the queue's rate limiter, keeping its failure history.
    RequeueRateLimited,
}

impl Action {
    /// Requeue after `delay`.
    pub fn requeue_after(delay: Duration) -> Self {
        Action::RequeueAfter(delay)
    }
}
