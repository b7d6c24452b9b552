//! The `users` service: owns user accounts (`proto/users/v1/users.proto`).
//!
//! - [`build`]: the service from settings, as an [`Application`] that runs until shutdown;
//! - [`define`]: its store indexes and its definition;
//! - `handlers/`: one file per rpc, behind [`handlers::Users`], the `UsersHandler`;
//! - [`email`]: the validated email address type;
//! - [`record`]: the stored document, which is not the wire type.

pub mod email;
pub mod handlers;
pub mod record;

use std::sync::Arc;

use switchboard::ServiceDefinition;
use switchboard::proto::users::v1::{users_rpc, users_service};
use switchboard::service::ServiceSettings;
use switchboard::service::StartError;
use switchboard::store::{Collection, Store, StoreError};

pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = users_rpc::SERVICE;
/// The collection user records live in.
pub const COLLECTION: &str = "users";

/// Starts the `users` service with `settings`.
pub async fn build(settings: ServiceSettings) -> Result<Application, StartError> {
    Application::build(SERVICE, &settings, define).await
}

/// Prepares `store` (its indexes) and the service definition over it.
pub async fn define(store: Arc<dyn Store>) -> Result<ServiceDefinition, StoreError> {
    let users = Collection::new(store, COLLECTION);
    users.ensure_index("email", true).await?;
    Ok(users_service(handlers::Users::new(users)).version(env!("CARGO_PKG_VERSION")))
}
