//! GraphQL over HTTP, as its specification describes: `POST` with a JSON body, `GET` with
//! query parameters (queries only, never mutations), answers in
//! `application/graphql-response+json` (or `application/json` for clients that only
//! accept that). A request that cannot run at all (malformed, invalid, over a limit) gets
//! 400 with `graphql-response+json`; partial results get 200.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{ErrorExtensionValues, ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, GRAPHQL_PATH, WEBSOCKET_PATH, auth};
use crate::limits;
use crate::schema::relations::Loaders;

/// The media type of the GraphQL-over-HTTP specification.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// The legacy media type.
const JSON: &str = "application/json";

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(JSON) || v.starts_with("application/graphql+json"));
    if !json_body {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST bodies must be application/json",
        )
            .into_response();
    }
    match serde_json::from_slice::<async_graphql::Request>(&body) {
        Ok(request) => execute(&state, &headers, request, false).await,
        Err(error) => request_error(
            &headers,
            "BAD_REQUEST",
            format!("the body is not a GraphQL request: {error}"),
        ),
    }
}

/// `GET /graphql`: GraphiQL for browsers, else a query from the URL.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(query) = params.get("query") else {
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        if browser && state.settings.graphiql {
            return Html(
                async_graphql::http::GraphiQLSource::build()
                    .endpoint(GRAPHQL_PATH)
                    .subscription_endpoint(WEBSOCKET_PATH)
                    .finish(),
            )
            .into_response();
        }
        return request_error(
            &headers,
            "BAD_REQUEST",
            "the `query` parameter is missing".into(),
        );
    };
    let mut request = async_graphql::Request::new(query.clone());
    if let Some(name) = params.get("operationName").filter(|n| !n.is_empty()) {
        request = request.operation_name(name.clone());
    }
    if let Some(variables) = params.get("variables").filter(|v| !v.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(variables) {
            Ok(value) => request = request.variables(Variables::from_json(value)),
            Err(error) => {
                return request_error(
                    &headers,
                    "BAD_REQUEST",
                    format!("`variables` is not JSON: {error}"),
                );
            }
        }
    }
    execute(&state, &headers, request, true).await
}

/// Runs `request` for the caller the headers prove, within the request timeout.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    via_get: bool,
) -> Response {
    let started = Instant::now();
    let operation = operation_label(request.operation_name.as_deref());
    if via_get && is_mutation(&request) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "mutations must be sent with POST",
        )
            .into_response();
    }
    let scope = match auth::scope(state, headers).await {
        Ok(scope) => scope,
        Err(refusal) => {
            record(&operation, "unauthenticated", started);
            return refusal;
        }
    };
    let loaders = Loaders::new(&state.schema.relations, scope.clone());
    let request = request
        .data(scope)
        .data(loaders)
        .data(state.readiness.clone());
    let response = match tokio::time::timeout(
        state.settings.request_timeout,
        state.schema.schema.execute(request),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => {
            record(&operation, "timeout", started);
            return request_error(headers, "TIMEOUT", "the request took too long".into());
        }
    };
    let outcome = if response.errors.is_empty() {
        "ok"
    } else if response.data == async_graphql::Value::Null {
        "rejected"
    } else {
        "partial"
    };
    record(&operation, outcome, started);
    respond(headers, response)
}

/// Whether the operation a request would run is a mutation (unparseable ones are left
/// for execution to report).
fn is_mutation(request: &async_graphql::Request) -> bool {
    async_graphql::parser::parse_query(&request.query)
        .ok()
        .and_then(|document| {
            limits::selected_operation(&document, request.operation_name.as_deref())
                .map(|op| op.ty == OperationType::Mutation)
        })
        .unwrap_or(false)
}

/// Serialises `response` in the media type the client accepts, with the status the
/// GraphQL-over-HTTP specification gives it.
fn respond(headers: &HeaderMap, response: async_graphql::Response) -> Response {
    let media = media_type(headers);
    let failed_whole = !response.errors.is_empty() && response.data == async_graphql::Value::Null;
    let status = if failed_whole && media == GRAPHQL_RESPONSE {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_string(&response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A response for a request that could not run, with `extensions.code = code`.
fn request_error(headers: &HeaderMap, code: &'static str, message: String) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    let mut response = respond(headers, async_graphql::Response::from_errors(vec![error]));
    if code == "TIMEOUT" {
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    } else {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `application/graphql-response+json` unless the client accepts only `application/json`.
fn media_type(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains(GRAPHQL_RESPONSE) || accept.is_empty() || accept.contains("*/*") {
        GRAPHQL_RESPONSE
    } else if accept.contains(JSON) {
        JSON
    } else {
        GRAPHQL_RESPONSE
    }
}

/// The operation name as a metrics label: client-chosen names are kept when short and
/// plain, so a hostile client cannot explode the label set.
fn operation_label(name: Option<&str>) -> Arc<str> {
    match name {
        None => Arc::from("anonymous"),
        Some(name)
            if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Arc::from(name)
        }
        Some(_) => Arc::from("other"),
    }
}

fn record(operation: &Arc<str>, outcome: &'static str, started: Instant) {
    metrics::counter!(
        "graphql_requests_total",
        "operation" => operation.to_string(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "graphql_request_duration_seconds",
        "operation" => operation.to_string()
    )
    .record(started.elapsed().as_secs_f64());
}
