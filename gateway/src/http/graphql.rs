//! GraphQL over HTTP, as its specification describes: `POST` with a JSON body, `GET` with
//! query parameters (queries only, never mutations), answers in
//! `application/graphql-response+json` (or `application/json` for clients that only
//! accept that). A request that cannot run at all (malformed, invalid, over a limit) gets
//! 400 with `graphql-response+json`; partial results get 200.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tracing::Instrument as _;

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
    // A JSON array would be a batch of requests: refused by name, so clients learn why.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return request_error(
            &headers,
            "BATCH_NOT_SUPPORTED",
            "batched requests (a JSON array) are not supported; send one request per POST".into(),
        );
    }
    // serde_json refuses JSON nested deeper than 128 levels before recursing further, so
    // no body can overflow the stack here; `limits::admit` bounds the variables tighter.
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
            Ok(value @ serde_json::Value::Object(_)) => {
                request = request.variables(Variables::from_json(value));
            }
            Ok(_) => {
                return request_error(
                    &headers,
                    "BAD_REQUEST",
                    "`variables` must be a JSON object".into(),
                );
            }
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
    mut request: async_graphql::Request,
    via_get: bool,
) -> Response {
    let started = Instant::now();
    let mut operation = operation_label(request.operation_name.as_deref());
    // Admitted here rather than only in the schema extension: the operation's type must
    // be known before it runs (GET never runs mutations; idempotency keys only go with
    // them), and nothing may parse the text before its nesting is bounded.
    let limits = &state.settings.limits;
    if let Err(error) = limits::admit(&mut request, limits) {
        record(&operation, "rejected", started);
        return refuse(headers, error, StatusCode::BAD_REQUEST);
    }
    let key_header = idempotency_key(headers);
    let operation_name = request.operation_name.clone();
    let mut operation_type = "query";
    let (is_mutation, single_root_field) = match request.parsed_query() {
        Ok(document) => match limits::selected_operation(document, operation_name.as_deref()) {
            Some(op) => {
                operation_type = crate::operation::type_name(op.ty);
                // A document naming its only operation names the request, `operationName`
                // or not (metrics label and span name).
                let named = crate::operation::name(document, operation_name.as_deref());
                operation = operation_label(named.as_deref());
                let is_mutation = op.ty == OperationType::Mutation;
                // Counting root fields expands fragments: done only for a keyed mutation.
                let single = is_mutation
                    && matches!(key_header, Ok(Some(_)))
                    && limits::root_fields(document, op, limits).is_ok_and(|n| n == 1);
                (is_mutation, single)
            }
            None => (false, false),
        },
        // `admit` stored the parsed document, so this does not happen.
        Err(error) => return refuse(headers, error, StatusCode::BAD_REQUEST),
    };
    if via_get && is_mutation {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "mutations must be sent with POST",
        )
            .into_response();
    }
    let idempotency_key = match key_header {
        Ok(None) => None,
        Ok(Some(key)) if single_root_field => Some(key),
        Ok(Some(_)) => {
            return request_error(
                headers,
                INVALID_IDEMPOTENCY_KEY,
                "an Idempotency-Key is accepted only on a mutation with one root field".into(),
            );
        }
        Err(why) => return request_error(headers, INVALID_IDEMPOTENCY_KEY, why.into()),
    };
    let scope = match auth::scope(state, headers, idempotency_key).await {
        Ok(scope) => scope,
        Err(refusal) => {
            record(&operation, "unauthenticated", started);
            return refusal;
        }
    };
    let span = crate::operation::span(operation_type, &operation);
    let loaders = Loaders::new(&state.schema.relations, scope.clone());
    let request = request
        .data(scope)
        .data(loaders)
        .data(state.readiness.clone());
    let executed = tokio::time::timeout(
        state.settings.request_timeout,
        state.schema.schema.execute(request),
    )
    .instrument(span.clone())
    .await;
    match &executed {
        Ok(response) => crate::operation::record_outcome(&span, response),
        Err(_) => switchboard::telemetry::spans::failed(&span, "TIMEOUT"),
    }
    let response = match executed {
        Ok(response) => response,
        Err(_) => {
            record(&operation, "timeout", started);
            return request_error(headers, "TIMEOUT", "the request took too long".into());
        }
    };
    let outcome = if response.errors.is_empty() {
        "ok"
    } else if !response.http_headers.contains_key(limits::EXECUTED) {
        "rejected"
    } else {
        "partial"
    };
    record(&operation, outcome, started);
    respond(headers, response)
}

/// The code of a refused `Idempotency-Key`.
const INVALID_IDEMPOTENCY_KEY: &str = "INVALID_IDEMPOTENCY_KEY";
/// The longest idempotency key accepted (UUIDs and ULIDs are far shorter).
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's `Idempotency-Key`: absent, or one value of 1 to 255 visible ASCII
/// characters. The draft defines it as a structured-field string (`"…"`); the quotes are
/// optional here, since many clients send the bare key.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let mut values = headers.get_all(super::IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one Idempotency-Key header");
    }
    let bytes = value.as_bytes();
    let key = match bytes {
        [b'"', inner @ .., b'"'] => inner,
        _ => bytes,
    };
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err("an Idempotency-Key must be 1 to 255 characters long");
    }
    if !key.iter().all(|b| b.is_ascii_graphic() && *b != b'"') {
        return Err("an Idempotency-Key must be visible ASCII characters");
    }
    Ok(std::str::from_utf8(key).ok().map(str::to_string))
}

/// Serialises `response` in the media type the client accepts, with the status the
/// GraphQL-over-HTTP specification gives it.
fn respond(headers: &HeaderMap, mut response: async_graphql::Response) -> Response {
    let media = media_type(headers);
    // An executed operation whose fields all failed also has `data: null`; it was not
    // refused, so it gets 200 like any partial result.
    let executed = response.http_headers.remove(limits::EXECUTED).is_some();
    let failed_whole =
        !executed && !response.errors.is_empty() && response.data == async_graphql::Value::Null;
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

/// A response for a request that could not run, with `extensions.code = code`: 504 for
/// `TIMEOUT`, else 400.
fn request_error(headers: &HeaderMap, code: &'static str, message: String) -> Response {
    let status = if code == "TIMEOUT" {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::BAD_REQUEST
    };
    refuse(headers, limits::coded_error(code, message), status)
}

/// A response carrying `error` alone, with `status` whatever the media type.
fn refuse(headers: &HeaderMap, error: ServerError, status: StatusCode) -> Response {
    let mut response = respond(headers, async_graphql::Response::from_errors(vec![error]));
    *response.status_mut() = status;
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
