//! A controller of one work queue, built: its workers over a reconciler and whether
//! the informers it reads have synced. Controllers that need nothing more than that
//! (the volume protection controllers and the PersistentVolume binder, the endpoints
//! controllers, the ServiceAccount controller) hand this to the manager.

use capstan_runtime::controller::{Controller, ControllerError, Reconciler, SyncCheck};

/// A one-queue controller ready to run.
pub struct QueuedController<R: Reconciler> {
    pub(crate) controller: Controller<R>,
    pub(crate) synced: SyncCheck,
}

impl<R: Reconciler> QueuedController<R> {
    /// Wraps `controller`, whose informers have synced when `synced` says so.
    pub fn wrap(controller: Controller<R>, synced: SyncCheck) -> Self {
        Self { controller, synced }
    }

    /// True once the informers it reads have synced.
    pub fn synced_check(&self) -> SyncCheck {
        self.synced.clone()
    }

    /// The work queue (for tests and metrics).
    pub fn queue(&self) -> capstan_runtime::queue::WorkQueue<capstan_runtime::ObjectKey> {
        self.controller.queue()
    }

    /// The reconciler (for tests).
    pub fn reconciler(&self) -> &std::sync::Arc<R> {
        self.controller.reconciler()
    }

    /// Runs the workers until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        self.controller.run(shutdown).await
    }
}
