//! Every request the gateway refuses as a whole says why in `extensions.code`, and has no
//! `data` entry.

use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{PATIENCE, Reply, TestSystem, admin, http, spawn_system};
use crate::websocket::{next_message, text};

/// POSTs `body` as the administrator, with `Accept: accept` (none with `None`).
async fn post(system: &TestSystem, accept: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Authorization".to_string(), format!("Bearer {}", admin())),
    ];
    if let Some(accept) = accept {
        headers.push(("Accept".into(), accept.into()));
    }
    http(
        "POST",
        &system.url("/graphql"),
        headers,
        body.as_bytes().to_vec(),
    )
    .await
}

/// Whether a case is a well-formed GraphQL-over-HTTP request (which only
/// `graphql-response+json` refuses with 400), or not (400 whatever is accepted).
const WELL_FORMED: bool = true;
const MALFORMED: bool = false;

#[tokio::test]
async fn every_refused_request_carries_a_code() {
    let system = spawn_system().await;
    let user = "query($id: ID!) { user(id: $id) { __typename } }";
    let cases = [
        (
            "invalid JSON",
            "{not json".to_string(),
            "BAD_REQUEST",
            MALFORMED,
        ),
        ("not a request", "42".to_string(), "BAD_REQUEST", MALFORMED),
        (
            "no query",
            json!({ "qeury": "{ __typename }" }).to_string(),
            "BAD_REQUEST",
            MALFORMED,
        ),
        (
            "a batch",
            json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string(),
            "BATCH_NOT_SUPPORTED",
            MALFORMED,
        ),
        (
            "a syntax error",
            json!({ "query": "{ users { " }).to_string(),
            "GRAPHQL_PARSE_FAILED",
            WELL_FORMED,
        ),
        (
            "an unknown field",
            json!({ "query": "{ nothingHere }" }).to_string(),
            "GRAPHQL_VALIDATION_FAILED",
            WELL_FORMED,
        ),
        (
            "a variable of the wrong type",
            json!({ "query": user, "variables": { "id": [1, 2] } }).to_string(),
            "GRAPHQL_VALIDATION_FAILED",
            WELL_FORMED,
        ),
        (
            "a missing required variable",
            json!({ "query": user, "variables": {} }).to_string(),
            "BAD_USER_INPUT",
            WELL_FORMED,
        ),
        (
            "a required variable that is null",
            json!({ "query": user, "variables": { "id": null } }).to_string(),
            "BAD_USER_INPUT",
            WELL_FORMED,
        ),
        (
            "variables that are not an object",
            json!({ "query": user, "variables": [1] }).to_string(),
            "BAD_REQUEST",
            MALFORMED,
        ),
        (
            "an unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }).to_string(),
            "BAD_REQUEST",
            WELL_FORMED,
        ),
    ];

    for (case, body, code, well_formed) in cases {
        let strict = post(&system, Some("application/graphql-response+json"), &body).await;
        // No `Accept` is `application/json`: 200 for any well-formed request.
        let legacy = post(&system, None, &body).await;

        assert_eq!(strict.status, 400, "{case}: {}", strict.body);
        assert_eq!(
            strict.content_type, "application/graphql-response+json; charset=utf-8",
            "{case}"
        );
        let legacy_status = if well_formed { 200 } else { 400 };
        assert_eq!(legacy.status, legacy_status, "{case}: {}", legacy.body);
        assert_eq!(
            legacy.content_type, "application/json; charset=utf-8",
            "{case}"
        );
        for reply in [strict, legacy] {
            assert_eq!(reply.error_codes(), [code], "{case}: {}", reply.body);
            assert_eq!(reply.json().get("data"), None, "{case}: {}", reply.body);
        }
    }
    let ordinary = system
        .graphql(
            "{ users { pageInfo { hasNextPage } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    assert_eq!(ordinary.status, 200, "{}", ordinary.body);
}

#[tokio::test]
async fn a_refused_connection_over_the_older_websocket_protocol_carries_a_code() {
    let system = spawn_system().await;
    let url = system.url("/graphql/ws").replace("http://", "ws://");
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-ws".parse().expect("a header value"),
    );
    let (mut socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade is answered in time")
        .expect("upgrades");

    socket
        .send(text(json!({
            "type": "connection_init",
            "payload": { "Authorization": "Bearer not-a-token" },
        })))
        .await
        .expect("sends init");
    let refused = next_message(&mut socket).await;

    assert_eq!(refused["type"], "connection_error", "{refused}");
    assert_eq!(
        refused["payload"]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}
