//! Background work a service runs beside its endpoints: what a worker is given, and how
//! the runtime starts and stops it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::ServiceCredentials;
use crate::bus::Bus;
use crate::store::Store;

/// A worker with its future's type erased.
type BoxedWorker =
    Box<dyn FnOnce(WorkerContext) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One background worker of a service definition.
pub(crate) struct WorkerDefinition {
    /// Its name, in logs.
    pub(crate) name: &'static str,
    /// What it runs.
    pub(crate) run: BoxedWorker,
}

/// What a worker is given: the service's bus (carrying no caller's token), its store, its
/// own credentials, this replica's name and the stop signal.
#[derive(Clone)]
pub struct WorkerContext {
    pub(crate) service: &'static str,
    pub(crate) bus: Bus,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) credentials: Arc<ServiceCredentials>,
    pub(crate) instance_id: Arc<str>,
    pub(crate) stopped: watch::Receiver<bool>,
}

impl std::fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerContext")
            .field("service", &self.service)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl WorkerContext {
    /// The service's name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The service's bus. Calls carry no token of their own: add
    /// [`Self::credentials`]' token to act as the service.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The service's store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The service's own token.
    pub fn credentials(&self) -> &Arc<ServiceCredentials> {
        &self.credentials
    }

    /// This replica's name among the service's live replicas (`SB_INSTANCE_ID`).
    pub fn instance_id(&self) -> &Arc<str> {
        &self.instance_id
    }

    /// Whether the service is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Completes once the service is stopping (at once if it already is).
    pub async fn stopping(&self) {
        let mut stopped = self.stopped.clone();
        // An error means the runtime is gone, which is a stop too.
        let _ = stopped.wait_for(|stop| *stop).await;
    }
}
