//! Switchboard: services that talk over NATS with protobuf messages.
//!
//! A service writes a `.proto` under `proto/<service>/v1/`, implements the handler trait
//! `build.rs` generates for it, and gets typed clients for its callers, load balancing,
//! retries, deadlines, idempotency, discovery and graceful shutdown without writing any
//! of that again. ARCHITECTURE.md has the map of the whole repository.
//!
//! Modules:
//! - [`proto`]: the generated message types, clients, handler traits and `Rpc` constants;
//! - [`wire`]: header names, error codes and [`Rpc`], the wire vocabulary in one place;
//! - [`naming`]: how subjects are derived from proto names (shared with `build.rs`);
//! - [`contract`]: the proto options and outcome rule, read from descriptors (shared with
//!   `build.rs`);
//! - [`bus`]: the client side — one shared connection, typed calls, retries, typed errors;
//! - [`service`]: the server side — the runtime that serves a generated definition;
//! - [`store`]: the document-store interface and its embedded SQLite implementation;
//! - [`auth`]: caller identity and bearer-token verification;
//! - [`admin`]: the `/healthz`, `/readyz`, `/metrics` listener of service binaries;
//! - [`settings`]: the configuration vocabulary (`Env`, `Secret`, `SettingsError`), a leaf;
//! - [`startup`]: a binary's settings loaded once, logging installed, exit 64 on bad config;
//! - [`telemetry`]: logging and the Prometheus recorder;
//! - [`shutdown`]: the SIGTERM/SIGINT future binaries stop on;
//! - [`testing`]: a real `nats-server` per test, started on a free port.
//!
//! Features keep each crate to the parts it needs: `store` (the store and SQLite),
//! `runtime` (the service runtime and the server side of generated code; implies
//! `store`), `testing` (test support and the test-only contracts). With none, the crate
//! is a bus client: contracts, typed clients, auth, settings, telemetry — what the
//! gateway uses, so it cannot reach a database.

// Generated code names the crate `::switchboard`, also from inside it.
extern crate self as switchboard;

pub mod admin;
pub mod auth;
pub mod bus;
pub mod contract;
pub mod naming;
pub mod proto;
#[cfg(feature = "runtime")]
pub mod saga;
#[cfg(feature = "runtime")]
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod startup;
#[cfg(feature = "store")]
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;

pub use bus::{Bus, BusError, CallOptions};
#[cfg(feature = "runtime")]
pub use service::{Context, EventContext, ServiceDefinition, ServiceError, ServiceRuntime};
/// `tracing`, for [`failable_span!`] in crates that name it through this one.
#[doc(hidden)]
pub use tracing as __tracing;
pub use wire::{ErrorCode, Event, EventConsumer, EventType, Rpc};
