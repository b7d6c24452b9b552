//! Operations endpoints: liveness and readiness. `/metrics` is the services' own handler,
//! [`switchboard::admin::metrics`], so both render Prometheus text the same way.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: connected to NATS, and every subject the schema sends to is served.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let report = state.readiness.check(state.bus.nats()).await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&report).unwrap_or_default(),
    )
        .into_response()
}
