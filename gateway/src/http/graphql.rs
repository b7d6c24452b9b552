//! GraphQL over HTTP, as its specification describes: `POST` with a JSON body, `GET` with
//! query parameters (queries only: a mutation gets 405).
//!
//! The answer is `application/graphql-response+json` or `application/json`, whichever the
//! `Accept` header ranks higher (quality values count; at equal quality an exact name
//! beats a wildcard, and of the two names `graphql-response+json` wins). `*/*`,
//! `application/*`, no `Accept` and an `Accept` naming neither get `application/json`, the
//! legacy default the `graphql-http` audits ask for. Both say `charset=utf-8`.
//!
//! The status depends on what went wrong and on that media type:
//! - not a well-formed GraphQL-over-HTTP request (the body is not JSON or not a request, a
//!   batch, `variables` not an object, no `query`) or a malformed `Idempotency-Key`: 400;
//! - a well-formed request refused before it runs (the document does not parse or
//!   validate, breaks a limit, selects no operation, or its variables do not coerce): 400
//!   with `graphql-response+json`, 200 with `application/json`;
//! - out of time: 504 with `graphql-response+json`, 200 with `application/json`;
//! - an operation that ran: 200, with `data` (`null` if every field failed) beside the
//!   field errors.
//!
//! A response to a request that did not run has `errors` and no `data` entry at all. Every
//! error carries `extensions.code`. A bad token gets 401 before any of this (`auth.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::{AppState, auth};
use crate::limits;
use crate::schema::relations::Loaders;

/// The media type of the GraphQL-over-HTTP specification.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// The legacy media type.
const JSON: &str = "application/json";

/// The media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/graphql-response+json`: statuses say how the request fared.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed request, whatever its errors.
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// Why a request did not run, which decides its status (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not a well-formed GraphQL-over-HTTP request, or a malformed `Idempotency-Key`.
    Malformed,
    /// A well-formed request that raised a GraphQL request error before it ran.
    RequestError,
    /// The request took too long.
    Timeout,
}

impl Refusal {
    fn status(self, media: Media) -> StatusCode {
        match (self, media) {
            (Refusal::Malformed, _) => StatusCode::BAD_REQUEST,
            (_, Media::Json) => StatusCode::OK,
            (Refusal::RequestError, Media::GraphqlResponse) => StatusCode::BAD_REQUEST,
            (Refusal::Timeout, Media::GraphqlResponse) => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

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
            Refusal::Malformed,
            "BATCH_NOT_SUPPORTED",
            "batched requests (a JSON array) are not supported; send one request per POST".into(),
        );
    }
    // serde_json refuses JSON nested deeper than 128 levels before recursing further, so
    // no body can overflow the stack here; `limits::admit` bounds the variables tighter.
    match serde_json::from_slice::<PostBody>(&body) {
        Ok(body) => execute(&state, &headers, body.into_request(), false).await,
        Err(error) => request_error(
            &headers,
            Refusal::Malformed,
            "BAD_REQUEST",
            format!("the body is not a GraphQL request: {error}"),
        ),
    }
}

/// A `POST` body. async-graphql's own `Request` would take a body without `query` (a typo
/// like `qeury`) for an empty document; here `query` is required, so such a body is not a
/// well-formed request (400) rather than a document that does not parse.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostBody {
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Variables,
    #[serde(default)]
    extensions: async_graphql::Extensions,
}

impl PostBody {
    fn into_request(self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query).variables(self.variables);
        request.operation_name = self.operation_name;
        request.extensions = self.extensions;
        request
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
            return super::web::graphiql(&state.settings, &headers).await;
        }
        return request_error(
            &headers,
            Refusal::Malformed,
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
                    Refusal::Malformed,
                    "BAD_REQUEST",
                    "`variables` must be a JSON object".into(),
                );
            }
            Err(error) => {
                return request_error(
                    &headers,
                    Refusal::Malformed,
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
        return refuse(headers, vec![error], Refusal::RequestError);
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
        Err(error) => return refuse(headers, vec![error], Refusal::RequestError),
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
                Refusal::Malformed,
                INVALID_IDEMPOTENCY_KEY,
                "an Idempotency-Key is accepted only on a mutation with one root field".into(),
            );
        }
        Err(why) => {
            return request_error(
                headers,
                Refusal::Malformed,
                INVALID_IDEMPOTENCY_KEY,
                why.into(),
            );
        }
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
            return request_error(
                headers,
                Refusal::Timeout,
                "TIMEOUT",
                "the request took too long".into(),
            );
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
/// GraphQL-over-HTTP specification gives it. A response from an operation that ran keeps its
/// `data`, `null` as it may be (every field failed); any other response with errors is a
/// request refused before it ran.
fn respond(headers: &HeaderMap, mut response: async_graphql::Response) -> Response {
    let executed = response.http_headers.remove(limits::EXECUTED).is_some();
    if !executed && !response.errors.is_empty() {
        return refuse(headers, response.errors, Refusal::RequestError);
    }
    let media = media_type(headers);
    serialised(media, StatusCode::OK, &response)
}

/// The body of a request that did not run: its errors, and no `data` entry at all.
#[derive(serde::Serialize)]
struct Refused {
    errors: Vec<ServerError>,
}

/// A response for a request that did not run, with the one error `extensions.code = code`.
fn request_error(
    headers: &HeaderMap,
    refusal: Refusal,
    code: &'static str,
    message: String,
) -> Response {
    refuse(headers, vec![limits::coded_error(code, message)], refusal)
}

/// A response for a request that did not run because of `errors`.
fn refuse(headers: &HeaderMap, errors: Vec<ServerError>, refusal: Refusal) -> Response {
    let media = media_type(headers);
    serialised(media, refusal.status(media), &Refused { errors })
}

/// `body` as JSON, with `status` and the content type of `media`.
fn serialised(media: Media, status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The media type to answer in: of the two, the one the `Accept` header ranks higher by
/// quality, then by how exactly a range names it; two exact names at equal quality give
/// `graphql-response+json`, two wildcards `application/json`. With no `Accept`, or none
/// accepting either type, the answer is `application/json` (the header is disregarded, as
/// the specification allows).
/// The `Content-Type` of a GraphQL answer to a request with these headers.
pub fn content_type(headers: &HeaderMap) -> &'static str {
    media_type(headers).content_type()
}

fn media_type(headers: &HeaderMap) -> Media {
    // The (specificity, quality) of the most specific range matching each type.
    let mut graphql: Option<(u8, u16)> = None;
    let mut json: Option<(u8, u16)> = None;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for range in ranges {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let Some(quality) = quality(parts) else {
            continue;
        };
        for (ours, best) in [(GRAPHQL_RESPONSE, &mut graphql), (JSON, &mut json)] {
            let Some(specificity) = specificity(name, ours) else {
                continue;
            };
            let better = best.is_none_or(|(known, q)| {
                specificity > known || (specificity == known && quality > q)
            });
            if better {
                *best = Some((specificity, quality));
            }
        }
    }
    let accepted = |best: Option<(u8, u16)>| best.filter(|&(_, quality)| quality > 0);
    match (accepted(graphql), accepted(json)) {
        (Some(_), None) => Media::GraphqlResponse,
        (Some((gs, gq)), Some((js, jq))) => {
            let graphql_first = (gq, gs) > (jq, js) || (gq == jq && gs == js && gs == EXACT);
            if graphql_first {
                Media::GraphqlResponse
            } else {
                Media::Json
            }
        }
        (None, _) => Media::Json,
    }
}

/// The specificity of a media range naming a type exactly.
const EXACT: u8 = 2;

/// How specifically the media range `range` names `media` (`*/*` 0, `application/*` 1,
/// the type itself [`EXACT`]), or `None` if it does not.
fn specificity(range: &str, media: &str) -> Option<u8> {
    if range.eq_ignore_ascii_case(media) {
        Some(EXACT)
    } else if range.eq_ignore_ascii_case("application/*") {
        Some(1)
    } else if range == "*/*" {
        Some(0)
    } else {
        None
    }
}

/// The quality (in thousandths) among a media range's parameters: 1000 without `q`, `None`
/// if `q` is not a valid quality value (RFC 9110: `0` to `1` with at most three decimals).
fn quality<'a>(parameters: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut quality = 1000;
    for parameter in parameters {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let thousandths = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0'));
        quality = match whole {
            "0" => thousandths,
            "1" if thousandths == 0 => 1000,
            _ => return None,
        };
    }
    Some(quality)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn media_for(accept: &[&str]) -> Media {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(header::ACCEPT, value.parse().expect("a header value"));
        }
        media_type(&headers)
    }

    #[test]
    fn the_media_type_follows_the_accept_header() {
        use Media::{GraphqlResponse, Json};
        let cases: &[(&[&str], Media)] = &[
            (&[], Json),
            (&[""], Json),
            (&["*/*"], Json),
            (&["application/*"], Json),
            (&["text/html"], Json),
            (&["application/json"], Json),
            (&["application/graphql-response+json"], GraphqlResponse),
            (
                &["application/graphql-response+json, application/json;q=0.9"],
                GraphqlResponse,
            ),
            (
                &["application/json, application/graphql-response+json"],
                GraphqlResponse,
            ),
            (
                &["application/json", "application/graphql-response+json"],
                GraphqlResponse,
            ),
            (
                &["application/json;q=1, application/graphql-response+json;q=0.5"],
                Json,
            ),
            (
                &["application/graphql-response+json, */*;q=0.8"],
                GraphqlResponse,
            ),
            (&["application/json; charset=utf-8, */*"], Json),
            (
                &["Application/GraphQL-Response+JSON; Charset=UTF-8"],
                GraphqlResponse,
            ),
            (&["application/json;q=0, */*"], GraphqlResponse),
            (&["application/graphql-response+json;q=0, */*"], Json),
            (
                &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                Json,
            ),
            // An invalid quality leaves its range out.
            (
                &["application/graphql-response+json;q=2, application/json"],
                Json,
            ),
            (
                &["application/graphql-response+json;q=0.1234, application/json"],
                Json,
            ),
        ];
        for (accept, media) in cases {
            assert_eq!(media_for(accept), *media, "Accept: {accept:?}");
        }
    }

    #[test]
    fn qualities_are_read_in_thousandths() {
        let q = |text: &str| quality(text.split(';'));
        assert_eq!(q(""), Some(1000));
        assert_eq!(q("q=1"), Some(1000));
        assert_eq!(q(" Q = 0.5 "), Some(500));
        assert_eq!(q("charset=utf-8;q=0.25"), Some(250));
        assert_eq!(q("q=0.001"), Some(1));
        assert_eq!(q("q=0"), Some(0));
        assert_eq!(q("q=1.000"), Some(1000));
        assert_eq!(q("q=1.5"), None);
        assert_eq!(q("q=x"), None);
        assert_eq!(q("q=0.-1"), None);
    }

    #[test]
    fn refusals_get_their_status_per_media_type() {
        use Media::{GraphqlResponse, Json};
        assert_eq!(Refusal::Malformed.status(Json), StatusCode::BAD_REQUEST);
        assert_eq!(
            Refusal::Malformed.status(GraphqlResponse),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(Refusal::RequestError.status(Json), StatusCode::OK);
        assert_eq!(
            Refusal::RequestError.status(GraphqlResponse),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(Refusal::Timeout.status(Json), StatusCode::OK);
        assert_eq!(
            Refusal::Timeout.status(GraphqlResponse),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
