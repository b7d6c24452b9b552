//! The `tickets` service: owns shows and the seats bookings hold on them
//! (`proto/tickets/v1/tickets.proto`).
//!
//! - [`build`]: the service from settings, as an [`Application`] that runs until shutdown;
//! - [`define`]: its store indexes, its definition and its expiry worker;
//! - `handlers/`: one file per rpc, behind [`handlers::Tickets`], the `TicketsHandler`;
//! - [`seats`]: what every change of a reservation shares — the per-show lock, the
//!   transaction that moves seats between a reservation and its show, the retry rule;
//! - [`expiry`]: the background worker that expires holds past their time;
//! - [`record`]: the stored documents, which are not the wire types;
//! - [`settings`]: [`TicketsSettings`], read from the environment.
//!
//! The invariant everything here keeps: the seats a show counts as reserved and sold are
//! the sum of its HELD and CONFIRMED reservations, and never exceed its capacity. Every
//! change of a reservation updates its show in the same transaction, with optimistic
//! version checks on both; one process serializes the changes of one show with a lock,
//! and a change that loses a race with another replica is read and decided again.

pub mod expiry;
pub mod handlers;
pub mod record;
pub mod seats;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use switchboard::ServiceDefinition;
use switchboard::proto::tickets::v1::{tickets_rpc, tickets_service};
use switchboard::service::StartError;
use switchboard::store::{Store, StoreError};

pub use settings::TicketsSettings;
pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = tickets_rpc::SERVICE;

/// Starts the `tickets` service with `settings`.
pub async fn build(settings: TicketsSettings) -> Result<Application, StartError> {
    let (hold, sweep) = (settings.hold, settings.sweep);
    Application::build(SERVICE, &settings.service, move |store| {
        define(store, hold, sweep)
    })
    .await
}

/// Prepares `store` (its indexes) and the service definition over it: reservations are
/// held for `hold`, and the expiry worker looks for holds past their time every `sweep`.
pub async fn define(
    store: Arc<dyn Store>,
    hold: Duration,
    sweep: Duration,
) -> Result<ServiceDefinition, StoreError> {
    let seats = Arc::new(seats::Seats::new(store, hold));
    seats.prepare().await?;
    let worker = seats.clone();
    Ok(tickets_service(handlers::Tickets::new(seats))
        .worker("expire_holds", move |ctx| expiry::run(worker, sweep, ctx))
        .version(env!("CARGO_PKG_VERSION")))
}
