//! The `todos` service: owns todo items (`proto/todos/v1/todos.proto`).
//!
//! - [`Application`]: builds the service from settings and runs it until shutdown;
//! - `handlers/`: one file per rpc, behind [`handlers::Todos`], the `TodosHandler`;
//! - [`record`]: the stored document, which is not the wire type.

pub mod handlers;
pub mod record;

use std::future::Future;
use std::sync::Arc;

use switchboard::proto::todos::v1::{todos_rpc, todos_service};
use switchboard::service::{RunningService, RuntimeError, StartError};
use switchboard::settings::ServiceSettings;
use switchboard::store::{self, Collection, Store};
use switchboard::{Bus, ServiceRuntime};

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = todos_rpc::SERVICE;
/// The collection todo records live in.
pub const COLLECTION: &str = "todos";

/// A started `todos` service.
pub struct Application {
    running: RunningService,
}

impl Application {
    /// Connects to NATS, opens the store named by the settings and starts serving.
    pub async fn build(settings: ServiceSettings) -> Result<Self, StartError> {
        let bus = Bus::connect(&settings.bus, SERVICE).await?;
        let store = store::open(&settings.store_url).await?;
        Self::build_with(bus, store, &settings).await
    }

    /// Starts serving on an existing bus and store (what tests use).
    pub async fn build_with(
        bus: Bus,
        store: Arc<dyn Store>,
        settings: &ServiceSettings,
    ) -> Result<Self, StartError> {
        let todos = Collection::new(store.clone(), COLLECTION);
        todos.ensure_index("owner_id", false).await?;
        let definition =
            todos_service(handlers::Todos::new(todos)).version(env!("CARGO_PKG_VERSION"));
        let running = ServiceRuntime::new(definition, bus, store, settings.runtime.clone())
            .verifier(settings.auth.verifier().await?)
            .start()
            .await?;
        Ok(Self { running })
    }

    /// This instance's id in the NATS Services API.
    pub fn id(&self) -> &str {
        self.running.id()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        self.running.run_until_stopped(shutdown).await
    }
}
