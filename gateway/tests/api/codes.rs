//! Every request the gateway refuses as a whole (400) says why in `extensions.code`.

use serde_json::json;

use crate::helpers::{Reply, TestSystem, admin, http, spawn_system};

async fn post(system: &TestSystem, body: &str) -> Reply {
    http(
        "POST",
        &system.url("/graphql"),
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), format!("Bearer {}", admin())),
        ],
        body.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn every_refused_request_carries_a_code() {
    let system = spawn_system().await;
    let user = "query($id: String!) { user(id: $id) { __typename } }";
    let cases = [
        ("invalid JSON", "{not json".to_string(), "BAD_REQUEST"),
        ("not a request", "42".to_string(), "BAD_REQUEST"),
        (
            "a batch",
            json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string(),
            "BATCH_NOT_SUPPORTED",
        ),
        (
            "a syntax error",
            json!({ "query": "{ users { " }).to_string(),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "an unknown field",
            json!({ "query": "{ nothingHere }" }).to_string(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a variable of the wrong type",
            json!({ "query": user, "variables": { "id": [1, 2] } }).to_string(),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a missing required variable",
            json!({ "query": user, "variables": {} }).to_string(),
            "BAD_USER_INPUT",
        ),
        (
            "a required variable that is null",
            json!({ "query": user, "variables": { "id": null } }).to_string(),
            "BAD_USER_INPUT",
        ),
        (
            "variables that are not an object",
            json!({ "query": user, "variables": [1] }).to_string(),
            "BAD_REQUEST",
        ),
        (
            "an unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }).to_string(),
            "BAD_REQUEST",
        ),
    ];

    for (case, body, code) in cases {
        let reply = post(&system, &body).await;

        assert_eq!(reply.status, 400, "{case}: {}", reply.body);
        assert_eq!(
            reply.content_type, "application/graphql-response+json",
            "{case}"
        );
        assert_eq!(reply.error_codes(), [code], "{case}: {}", reply.body);
    }
    let ordinary = system
        .graphql("{ users { page { next } } }", json!({}), Some(&admin()))
        .await;
    assert_eq!(ordinary.status, 200, "{}", ordinary.body);
}
