//! GraphQL over HTTP per its specification, and the operations endpoints.

use serde_json::json;
use switchboard::proto::todos::v1::todos_rpc;

use crate::helpers::{Options, admin, http, spawn_system, spawn_system_with};

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn get_runs_queries_but_never_mutations() {
    let system = spawn_system().await;
    let auth = vec![("Authorization".to_string(), format!("Bearer {}", admin()))];

    let query = http(
        "GET",
        &system.url(&format!(
            "/graphql?query={}",
            encode("{ users { page { next } } }")
        )),
        auth.clone(),
        Vec::new(),
    )
    .await;
    let mutation = http(
        "GET",
        &system.url(&format!(
            "/graphql?query={}",
            encode("mutation { createUser(email: \"a@example.org\", displayName: \"A\") { __typename } }")
        )),
        auth,
        Vec::new(),
    )
    .await;

    assert_eq!(query.status, 200, "{}", query.body);
    assert_eq!(query.content_type, "application/graphql-response+json");
    assert_eq!(query.json()["data"]["users"]["page"]["next"], "");
    assert_eq!(mutation.status, 405);
    assert_eq!(mutation.header("allow"), Some("POST"));
}

#[tokio::test]
async fn malformed_and_invalid_requests_get_400_and_legacy_clients_get_json() {
    let system = spawn_system().await;
    let json_headers = vec![("Content-Type".to_string(), "application/json".to_string())];

    let not_json = http(
        "POST",
        &system.url("/graphql"),
        json_headers.clone(),
        b"{not json".to_vec(),
    )
    .await;
    let bad_syntax = system.graphql("{ users { ", json!({}), None).await;
    let unknown_field = system.graphql("{ nothingHere }", json!({}), None).await;
    let mut legacy_headers = json_headers.clone();
    legacy_headers.push(("Accept".into(), "application/json".into()));
    let legacy = http(
        "POST",
        &system.url("/graphql"),
        legacy_headers,
        json!({ "query": "{ nothingHere }" })
            .to_string()
            .into_bytes(),
    )
    .await;
    let wrong_type = http(
        "POST",
        &system.url("/graphql"),
        vec![("Content-Type".into(), "text/plain".into())],
        b"{ users }".to_vec(),
    )
    .await;

    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.error_codes(), ["BAD_REQUEST"]);
    assert_eq!(bad_syntax.status, 400);
    assert_eq!(unknown_field.status, 400);
    assert_eq!(
        unknown_field.content_type,
        "application/graphql-response+json"
    );
    assert_eq!(
        legacy.status, 200,
        "application/json clients get 200 with errors"
    );
    assert_eq!(legacy.content_type, "application/json");
    assert_eq!(wrong_type.status, 415);
}

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    let system = spawn_system().await;

    let page = http(
        "GET",
        &system.url("/graphql"),
        vec![("Accept".into(), "text/html".into())],
        Vec::new(),
    )
    .await;

    assert_eq!(page.status, 200);
    assert!(page.body.to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let mut system = spawn_system().await;
    // Ready means every service of a GraphQL field answers: the booking flow's too.
    system.start_booking_services().await;
    system
        .graphql("{ users { page { next } } }", json!({}), Some(&admin()))
        .await;
    // Named in the document only (no `operationName`): the name is still its label.
    system
        .graphql(
            "query NamedInTheDocument { users { page { next } } }",
            json!({}),
            Some(&admin()),
        )
        .await;

    let health = http("GET", &system.url("/healthz"), vec![], vec![]).await;
    let ready = http("GET", &system.url("/readyz"), vec![], vec![]).await;
    let metrics = http("GET", &system.url("/metrics"), vec![], vec![]).await;
    system.stop_todos().await;
    let not_ready = http("GET", &system.url("/readyz"), vec![], vec![]).await;

    assert_eq!(health.status, 200);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        metrics.body.contains("graphql_requests_total"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("operation=\"NamedInTheDocument\""),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("graphql_request_duration_seconds_bucket")
    );
    assert_eq!(not_ready.status, 503);
    let missing = not_ready.json()["missing"].clone();
    assert!(
        missing
            .as_array()
            .is_some_and(|m| m.iter().any(|s| s == todos_rpc::LIST_BY_OWNER.subject)),
        "{missing}"
    );
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let system = spawn_system_with(Options {
        introspection: false,
        ..Options::default()
    })
    .await;

    let reply = system
        .graphql("{ __schema { types { name } } }", json!({}), None)
        .await;

    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.error_codes(),
        ["GRAPHQL_VALIDATION_FAILED"],
        "{}",
        reply.body
    );
    let message = reply.json()["errors"][0]["message"].clone();
    assert!(
        message.as_str().is_some_and(|m| m.contains("__schema")),
        "the refusal names the introspection field: {message}"
    );
    assert!(reply.json()["data"].is_null(), "{}", reply.body);
    let ordinary = system
        .graphql("{ users { page { next } } }", json!({}), Some(&admin()))
        .await;
    assert_eq!(ordinary.status, 200);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let system = spawn_system_with(Options {
        cors_origins: vec!["https://app.example.org".into()],
        ..Options::default()
    })
    .await;
    let preflight = |origin: &str| {
        vec![
            ("Origin".to_string(), origin.to_string()),
            (
                "Access-Control-Request-Method".to_string(),
                "POST".to_string(),
            ),
            (
                "Access-Control-Request-Headers".to_string(),
                "authorization,content-type".to_string(),
            ),
        ]
    };

    let allowed = http(
        "OPTIONS",
        &system.url("/graphql"),
        preflight("https://app.example.org"),
        vec![],
    )
    .await;
    let refused = http(
        "OPTIONS",
        &system.url("/graphql"),
        preflight("https://evil.example.org"),
        vec![],
    )
    .await;

    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
    assert_eq!(refused.header("access-control-allow-origin"), None);
}
