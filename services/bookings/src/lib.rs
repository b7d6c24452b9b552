//! The `bookings` service: owns bookings and runs the booking saga
//! (`proto/bookings/v1/bookings.proto`).
//!
//! A booking is the record of its saga: `Create` starts the saga in the request's own
//! transaction and answers PENDING at once; the saga then reserves the seats (tickets),
//! charges the customer (billing) and sells the seats (tickets), or undoes what it did.
//!
//! - [`build`] / [`settings`]: the service from settings;
//! - [`define`]: its store indexes, its saga runner and its definition;
//! - [`saga`]: the booking saga's steps and what each transition announces;
//! - [`record`]: the saga's data and the wire form of a booking;
//! - `handlers/`: one file per rpc, behind [`handlers::Bookings`].

pub mod handlers;
pub mod record;
pub mod saga;

use std::sync::Arc;

use switchboard::ServiceDefinition;
use switchboard::proto::bookings::v1::{bookings_rpc, bookings_service};
use switchboard::saga::SagaRunner;
use switchboard::service::{RuntimeSettings, ServiceSettings, StartError};
use switchboard::settings::{Env, SettingsError};
use switchboard::store::{Store, StoreError};

pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = bookings_rpc::SERVICE;
/// The collection bookings (their sagas' records) live in.
pub const COLLECTION: &str = "bookings";

/// Reads the service's settings, refusing a configuration in which the saga could not
/// call tickets and billing as the bookings service.
pub fn settings(env: &Env) -> Result<ServiceSettings, SettingsError> {
    let settings = ServiceSettings::from_env(SERVICE, env)?;
    if settings.runtime.service_token_file.is_none() && settings.auth.hs256_secret.is_none() {
        return Err(SettingsError::Inconsistent(
            "the booking saga calls tickets and billing as the bookings service: set \
             SB_SERVICE_TOKEN_FILE (a token with the `service` role), or JWT_HS256_SECRET \
             in development"
                .into(),
        ));
    }
    Ok(settings)
}

/// Starts the `bookings` service with `settings`.
pub async fn build(settings: ServiceSettings) -> Result<Application, StartError> {
    let runtime = settings.runtime.clone();
    Application::build(SERVICE, &settings, move |store| define(store, runtime)).await
}

/// Prepares `store` and the service definition over it: the handlers and the saga
/// worker share one runner.
pub async fn define(
    store: Arc<dyn Store>,
    runtime: RuntimeSettings,
) -> Result<ServiceDefinition, StoreError> {
    let runner = SagaRunner::new(saga::BookingSaga::new(), store, COLLECTION, &runtime);
    runner.ensure_indexes().await?;
    Ok(bookings_service(handlers::Bookings::new(runner.clone()))
        .worker("booking saga", runner.worker())
        .version(env!("CARGO_PKG_VERSION")))
}
