//! The HTTP surface: GraphQL over HTTP (`POST`/`GET /graphql`), GraphQL over WebSocket
//! (`/graphql/ws`, `graphql-transport-ws`), GraphiQL, `/healthz`, `/readyz`, `/metrics`.

mod auth;
mod graphql;
mod ops;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use std::time::SystemTime;

use switchboard::Bus;
use switchboard::auth::{Caller, TokenVerifier};
use switchboard::bus::TraceContext;
use tokio::sync::{Semaphore, watch};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

use crate::dispatch::RequestScope;
use crate::readiness::Readiness;
use crate::schema::GatewaySchema;
use crate::settings::GatewaySettings;

/// The path GraphQL is served at.
pub const GRAPHQL_PATH: &str = "/graphql";
/// The path GraphQL over WebSocket is served at.
pub const WEBSOCKET_PATH: &str = "/graphql/ws";
/// The request header that makes a mutation safe to retry (IETF httpapi draft).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What every HTTP handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The schema and its routes.
    pub schema: Arc<GatewaySchema>,
    /// The bus requests go out on.
    pub bus: Bus,
    /// Verifies bearer tokens; `None` refuses every token.
    pub verifier: Option<Arc<dyn TokenVerifier>>,
    /// The settings.
    pub settings: Arc<GatewaySettings>,
    /// Whether every subject the schema needs is served.
    pub readiness: Arc<Readiness>,
    /// One permit per open WebSocket, `max_websockets` in all.
    pub websockets: Arc<Semaphore>,
    /// Becomes true when the gateway starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The scope of bus requests for `caller`: with `per_request`, one deadline for the whole
    /// HTTP request; otherwise (a WebSocket connection) the timeout applies to each bus
    /// request from when it is sent.
    pub fn scope(
        &self,
        caller: Caller,
        token: Option<String>,
        trace: Option<TraceContext>,
        per_request: bool,
        idempotency_key: Option<String>,
    ) -> Arc<RequestScope> {
        let timeout = self.settings.request_timeout;
        Arc::new(RequestScope {
            bus: self.bus.clone(),
            caller,
            token,
            trace,
            deadline: per_request.then(|| SystemTime::now() + timeout),
            timeout,
            idempotency_key,
        })
    }
}

/// The router with every route and layer.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.settings.cors_origins);
    Router::new()
        .route(GRAPHQL_PATH, get(graphql::get).post(graphql::post))
        .route(WEBSOCKET_PATH, get(ws::upgrade))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(switchboard::admin::metrics))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(cors)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// CORS for the configured origins; with none configured, browsers only allow same-origin.
fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            IDEMPOTENCY_KEY,
        ]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}
