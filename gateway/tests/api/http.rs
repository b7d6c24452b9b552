//! GraphQL over HTTP per its specification, and the operations endpoints.

use serde_json::json;
use switchboard::proto::todos::v1::todos_rpc;

use crate::helpers::{Options, Reply, TestSystem, admin, http, spawn_system, spawn_system_with};

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
            encode("{ users { pageInfo { hasNextPage } } }")
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
    // No `Accept`: the legacy default.
    assert_eq!(query.content_type, JSON);
    assert_eq!(
        query.json()["data"]["users"]["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(mutation.status, 405);
    assert_eq!(mutation.header("allow"), Some("POST"));
}

/// The content type of answers in the specification's media type.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";
/// The content type of answers in the legacy media type.
const JSON: &str = "application/json; charset=utf-8";

/// POSTs `body` as JSON, with `Accept: accept` (none with `None`).
async fn post_accepting(system: &TestSystem, accept: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
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

#[tokio::test]
async fn malformed_and_invalid_requests_get_the_status_of_their_media_type() {
    let system = spawn_system().await;
    let accepts = [
        Some("application/graphql-response+json"),
        Some("application/graphql-response+json, application/json;q=0.9"),
        Some("application/json"),
        Some("*/*"),
        None,
    ];

    // Not a well-formed GraphQL-over-HTTP request: 400, whatever the client accepts.
    for accept in accepts {
        let not_json = post_accepting(&system, accept, "{not json").await;
        let no_query = post_accepting(&system, accept, r#"{"qeury":"{ __typename }"}"#).await;
        for reply in [not_json, no_query] {
            assert_eq!(reply.status, 400, "{accept:?}: {}", reply.body);
            assert_eq!(reply.error_codes(), ["BAD_REQUEST"], "{}", reply.body);
            assert_eq!(reply.json().get("data"), None, "{}", reply.body);
        }
    }
    // A well-formed request whose document does not parse or validate is not run: 400 with
    // `graphql-response+json`; 200 with `application/json`, which `*/*` and no `Accept`
    // get too, since such a client cannot trust any other status to come from the server.
    let refused = [
        ("{ users { ", "GRAPHQL_PARSE_FAILED"),
        ("{ nothingHere }", "GRAPHQL_VALIDATION_FAILED"),
    ];
    for (query, code) in refused {
        for accept in accepts {
            let body = json!({ "query": query }).to_string();
            let reply = post_accepting(&system, accept, &body).await;

            let media_type = if accept.is_some_and(|a| a.starts_with("application/graphql")) {
                GRAPHQL_RESPONSE
            } else {
                JSON
            };
            let status = if media_type == GRAPHQL_RESPONSE {
                400
            } else {
                200
            };
            assert_eq!(reply.status, status, "{query} {accept:?}: {}", reply.body);
            assert_eq!(reply.content_type, media_type, "{query} {accept:?}");
            assert_eq!(reply.error_codes(), [code], "{}", reply.body);
            assert_eq!(
                reply.json().get("data"),
                None,
                "a request that did not run has no data: {}",
                reply.body
            );
        }
    }
    let wrong_type = http(
        "POST",
        &system.url("/graphql"),
        vec![("Content-Type".into(), "text/plain".into())],
        b"{ users }".to_vec(),
    )
    .await;
    assert_eq!(wrong_type.status, 415);
}

#[tokio::test]
async fn an_operation_that_ran_keeps_its_data_whatever_failed() {
    let system = spawn_system().await;

    // Anonymous: the one field (non-null) is not public, so it fails and takes `data` with
    // it; but the operation ran, so `data` is there, null.
    let body = json!({ "query": "{ users { pageInfo { hasNextPage } } }" }).to_string();
    for accept in [Some("application/graphql-response+json"), None] {
        let reply = post_accepting(&system, accept, &body).await;

        assert_eq!(reply.status, 200, "{accept:?}: {}", reply.body);
        assert_eq!(reply.error_codes(), ["UNAUTHENTICATED"], "{}", reply.body);
        assert_eq!(
            reply.json().get("data"),
            Some(&serde_json::Value::Null),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    // GraphiQL's page comes from the web client's build (`GATEWAY_WEB_DIR`).
    let web = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(web.path().join("index.html"), "<title>client</title>").expect("writes");
    std::fs::write(web.path().join("graphiql.html"), "<title>GraphiQL</title>").expect("writes");
    let system = spawn_system_with(Options {
        web_dir: Some(web.path().to_path_buf()),
        ..Options::default()
    })
    .await;

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
        .graphql(
            "{ users { pageInfo { hasNextPage } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    // Named in the document only (no `operationName`): the name is still its label.
    system
        .graphql(
            "query NamedInTheDocument { users { pageInfo { hasNextPage } } }",
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

    let body = json!({ "query": "{ __schema { types { name } } }" }).to_string();
    let reply = post_accepting(&system, Some("application/graphql-response+json"), &body).await;

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
    assert_eq!(reply.json().get("data"), None, "{}", reply.body);
    let ordinary = system
        .graphql(
            "{ users { pageInfo { hasNextPage } } }",
            json!({}),
            Some(&admin()),
        )
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
