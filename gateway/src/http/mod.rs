//! The HTTP surface: GraphQL over HTTP (`POST`/`GET /graphql`), GraphQL over WebSocket
//! (`/graphql/ws`, `graphql-transport-ws`), GraphiQL, `/healthz`, `/readyz`, `/metrics`;
//! with `GATEWAY_WEB_DIR`, the web client at `/` ([`web`]); with `GATEWAY_DEV_TOKENS`,
//! `POST /dev/token`.

mod auth;
mod graphql;
mod ops;
pub mod web;
mod ws;

use std::sync::Arc;

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use axum::middleware;
use axum::routing::{get, post};
use switchboard::Bus;
use switchboard::auth::{Caller, TokenVerifier};
use switchboard::bus::TraceContext;
use switchboard::telemetry::{propagation, spans};
use tokio::sync::{Semaphore, watch};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

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
/// The response header with the request's trace context (W3C Trace Context Level 2).
pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");
/// The response header with the request's bare trace id.
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");

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
    let mut router = Router::new()
        .route(GRAPHQL_PATH, get(graphql::get).post(graphql::post))
        .route(WEBSOCKET_PATH, get(ws::upgrade))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(switchboard::admin::metrics));
    if state.settings.dev_tokens {
        if state.settings.auth.hs256_secret.is_some() {
            tracing::warn!(
                path = web::DEV_TOKEN_PATH,
                "development tokens are enabled: anyone can sign in as anyone"
            );
            router = router.route(
                web::DEV_TOKEN_PATH,
                post(web::dev_token).layer(DefaultBodyLimit::max(web::MAX_DEV_TOKEN_BODY)),
            );
        } else {
            tracing::error!("development tokens need JWT_HS256_SECRET; not serving them");
        }
    }
    if let Some(dir) = &state.settings.web_dir {
        let site = Arc::new(web::Site::new(dir, state.settings.graphiql));
        router = router.fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let site = site.clone();
            async move { site.serve(&method, &uri, &headers).await }
        });
    }
    router
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn(trace_headers))
        .layer(cors)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_status),
        )
        .with_state(state)
}

/// The SERVER span of an HTTP request to the GraphQL paths (the probes and `/metrics` are
/// not traced: a trace per scrape would bury the users' traces). It continues the client's
/// trace when the request has a well-formed `traceparent`; otherwise a trace starts here.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let path = request.uri().path();
    if path != GRAPHQL_PATH && path != WEBSOCKET_PATH {
        return tracing::Span::none();
    }
    let method = request.method().as_str();
    let span = switchboard::failable_span!(
        "http",
        "otel.name" = format!("{method} {path}"),
        "otel.kind" = "server",
        "http.request.method" = method,
        "http.route" = path,
        "url.path" = path,
        "http.response.status_code" = tracing::field::Empty,
    );
    if let Some(trace) = auth::trace_context(request.headers()) {
        propagation::continue_from(&span, &trace);
    }
    span
}

/// Records the response status on the request's span; a 5xx marks it failed (a 4xx is the
/// client's failure, not the server's, by the HTTP conventions).
fn record_status(response: &axum::response::Response, _: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        spans::failed(span, status.as_str());
    }
}

/// The response header naming the trace of the request, so a user can look it up:
/// `traceresponse` (W3C Trace Context Level 2: `00-<trace id>-<span id>-<flags>`) and the
/// bare trace id in `X-Trace-Id`, for pasting into a trace viewer.
async fn trace_headers(request: Request<Body>, next: middleware::Next) -> axum::response::Response {
    let span = tracing::Span::current();
    let mut response = next.run(request).await;
    let ids = propagation::traceparent(&span).zip(propagation::trace_id(&span));
    if let Some((traceparent, trace_id)) = ids {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&traceparent) {
            headers.insert(TRACERESPONSE, value);
        }
        if let Ok(value) = HeaderValue::from_str(&trace_id) {
            headers.insert(TRACE_ID, value);
        }
    }
    response
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
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
            HeaderName::from_static("baggage"),
        ])
        .expose_headers([TRACERESPONSE, TRACE_ID]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}
