//! The `billing` service: charges customers for bookings and refunds them
//! (`proto/billing/v1/billing.proto`).
//!
//! - [`build`]: the service from settings, as an [`Application`] that runs until shutdown;
//! - [`define`]: its definition, with the faults it starts with;
//! - `handlers/`: one file per rpc, behind [`handlers::Billing`], the `BillingHandler`;
//! - [`faults`]: the misbehaviour injected into Charge on purpose (declines, latency,
//!   overload), for tests and demonstrations;
//! - [`record`]: the stored document, which is not the wire type;
//! - [`settings`]: [`BillingSettings`], read from the environment.
//!
//! A booking has at most one charge record, whose id is the booking's: the store's id
//! uniqueness is what keeps a repeated Charge from charging twice, and a Refund arriving
//! first stores a VOIDED record that declines the late Charge.

pub mod faults;
pub mod handlers;
pub mod record;
pub mod settings;

use std::sync::Arc;

use switchboard::ServiceDefinition;
use switchboard::proto::billing::v1::{billing_rpc, billing_service};
use switchboard::service::StartError;
use switchboard::store::{Collection, Store, StoreError};

pub use faults::Faults;
pub use settings::BillingSettings;
pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = billing_rpc::SERVICE;
/// The collection charge records live in (the record id is the booking id).
pub const COLLECTION: &str = "charges";

/// Starts the `billing` service with `settings`.
pub async fn build(settings: BillingSettings) -> Result<Application, StartError> {
    let (faults, fault_injection) = (settings.faults, settings.fault_injection);
    Application::build(SERVICE, &settings.service, move |store| {
        define(store, faults, fault_injection)
    })
    .await
}

/// The service definition over `store`, injecting `faults` into Charge from the start;
/// `fault_injection` says whether SetFaults may change them.
pub async fn define(
    store: Arc<dyn Store>,
    faults: Faults,
    fault_injection: bool,
) -> Result<ServiceDefinition, StoreError> {
    let charges = Collection::new(store, COLLECTION);
    let handler = handlers::Billing::new(charges, faults, fault_injection);
    Ok(billing_service(handler).version(env!("CARGO_PKG_VERSION")))
}
