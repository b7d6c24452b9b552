//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard::telemetry::metrics_handle;

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

/// `GET /metrics`: Prometheus text format.
pub async fn metrics() -> Response {
    match metrics_handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
