//! The `todos` service: owns todo items (`proto/todos/v1/todos.proto`).
//!
//! - [`build`]: the service from settings, as an [`Application`] that runs until shutdown;
//! - [`define`]: its store indexes and its definition;
//! - `handlers/`: one file per rpc, behind [`handlers::Todos`], the `TodosHandler`;
//! - [`record`]: the stored document, which is not the wire type.

pub mod handlers;
pub mod record;

use std::sync::Arc;

use switchboard::ServiceDefinition;
use switchboard::proto::todos::v1::{todos_rpc, todos_service};
use switchboard::service::ServiceSettings;
use switchboard::service::StartError;
use switchboard::store::{Collection, Store, StoreError};

pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = todos_rpc::SERVICE;
/// The collection todo records live in.
pub const COLLECTION: &str = "todos";

/// Starts the `todos` service with `settings`.
pub async fn build(settings: ServiceSettings) -> Result<Application, StartError> {
    Application::build(SERVICE, &settings, define).await
}

/// Prepares `store` (its indexes) and the service definition over it.
pub async fn define(store: Arc<dyn Store>) -> Result<ServiceDefinition, StoreError> {
    let todos = Collection::new(store, COLLECTION);
    todos.ensure_index("owner_id", false).await?;
    Ok(todos_service(handlers::Todos::new(todos)).version(env!("CARGO_PKG_VERSION")))
}
