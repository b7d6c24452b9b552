//! The GraphQL gateway: one HTTP endpoint for web clients, resolved by typed requests over
//! the bus. It holds generic machinery only — the schema comes from the proto files.
//!
//! - [`schema`]: the GraphQL schema built from the descriptors (root fields, types,
//!   relations batched with DataLoader, value conversion);
//! - [`dispatch`]: sending a field's rpc for a request, and failures as GraphQL errors;
//! - [`http`]: the axum router — GraphQL over HTTP and WebSocket, health, metrics;
//! - [`limits`]: depth, complexity, alias and root-field limits;
//! - [`readiness`]: whether every subject the schema needs is served;
//! - [`settings`]: `GATEWAY_*` configuration.

pub mod dispatch;
pub mod http;
pub mod limits;
pub mod readiness;
pub mod schema;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use switchboard::{Bus, BusError};
use tokio::net::TcpListener;

use crate::http::AppState;
use crate::readiness::Readiness;
use crate::schema::{GatewaySchema, SchemaBuildError, SchemaOptions};
use crate::settings::GatewaySettings;

/// The name the gateway uses on the bus (`Sb-Sender`).
pub const SENDER: &str = "gateway";

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS could not be reached.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The schema could not be built from the contracts.
    #[error(transparent)]
    Schema(#[from] SchemaBuildError),
    /// The token verification keys could not be loaded.
    #[error(transparent)]
    Auth(#[from] switchboard::auth::AuthError),
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// A gateway bound to its address, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
}

impl Application {
    /// Connects to NATS and builds the schema of every contract in `switchboard::proto`.
    pub async fn build(settings: GatewaySettings) -> Result<Self, StartError> {
        let bus = Bus::connect(&settings.bus, SENDER).await?;
        Self::build_with(settings, bus, switchboard::proto::DESCRIPTOR_SET).await
    }

    /// Builds on an existing bus from an encoded descriptor set (tests pass one with
    /// test-only contracts). Binds `settings.addr` (port 0 picks a free port).
    pub async fn build_with(
        settings: GatewaySettings,
        bus: Bus,
        descriptors: &[u8],
    ) -> Result<Self, StartError> {
        let schema = GatewaySchema::from_descriptor_set(
            descriptors,
            &SchemaOptions {
                limits: settings.limits,
                introspection: settings.introspection,
            },
        )?;
        let verifier = settings.auth.verifier().await?;
        let readiness = Readiness::new(schema.required_subjects());
        let report = readiness.check(bus.nats()).await;
        if !report.missing.is_empty() {
            tracing::warn!(missing = ?report.missing, "subjects the schema needs are not served yet");
        }
        switchboard::telemetry::metrics_handle();
        let listener = TcpListener::bind(settings.addr).await?;
        let local_addr = listener.local_addr()?;
        tracing::info!(%local_addr, fields = schema.routes.len(), "gateway listening");
        let state = AppState {
            schema: Arc::new(schema),
            bus,
            verifier,
            settings: Arc::new(settings),
            readiness: Arc::new(readiness),
        };
        Ok(Self {
            listener,
            router: http::router(state),
            local_addr,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
