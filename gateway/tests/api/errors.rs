//! Failures as GraphQL errors with `extensions.code`; partial data; nothing internal leaks.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Options, admin, spawn_system, spawn_system_with, token};

#[tokio::test]
async fn another_users_todos_are_forbidden() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let bob = system.create_user("bob@example.org").await;
    system.create_todo(&ada, "private").await;

    let reply = system
        .graphql(
            "query($owner: ID!) { todos(ownerId: $owner) { nodes { title } } }",
            json!({ "owner": ada }),
            Some(&token(&bob, &[])),
        )
        .await;

    assert_eq!(reply.error_codes(), ["FORBIDDEN"], "{}", reply.body);
    assert_eq!(reply.json()["data"]["todos"], json!(null));
}

#[tokio::test]
async fn deleting_a_user_without_the_admin_role_is_forbidden() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let query = "mutation($id: ID!) { deleteUser(id: $id) { __typename } }";

    let as_ada = system
        .graphql(query, json!({ "id": ada }), Some(&token(&ada, &[])))
        .await;
    let as_admin = system
        .graphql(query, json!({ "id": ada }), Some(&admin()))
        .await;

    assert_eq!(as_ada.error_codes(), ["FORBIDDEN"], "{}", as_ada.body);
    assert_eq!(
        as_admin.json()["data"]["deleteUser"]["__typename"],
        "UserDeleted"
    );
}

#[tokio::test]
async fn anonymous_requests_reach_only_public_fields() {
    let system = spawn_system().await;

    let reply = system
        .graphql(
            "{ users { nodes { id } } probeEcho(text: \"public\") { ... on Echoed { text } } }",
            json!({}),
            None,
        )
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.error_codes(), ["UNAUTHENTICATED"], "{}", reply.body);
    let data = &reply.json()["data"];
    assert_eq!(data["users"], json!(null));
    assert_eq!(data["probeEcho"]["text"], "public");
}

#[tokio::test]
async fn invalid_input_is_bad_user_input_with_the_services_message() {
    let system = spawn_system().await;

    let reply = system
        .graphql(
            "mutation { createUser(email: \"not-an-address\", displayName: \"X\") { __typename } }",
            json!({}),
            None,
        )
        .await;

    assert_eq!(reply.error_codes(), ["BAD_USER_INPUT"], "{}", reply.body);
    assert!(
        reply.json()["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("email:"))
    );
}

#[tokio::test]
async fn a_stopped_service_is_unavailable_quickly_and_other_fields_still_resolve() {
    let mut system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    system.stop_todos().await;
    let started = Instant::now();

    let reply = system
        .graphql(
            "query($id: ID!) { user(id: $id) { ... on User { email } } todos(ownerId: $id) { nodes { id } } }",
            json!({ "id": ada }),
            Some(&token(&ada, &[])),
        )
        .await;

    let elapsed = started.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.error_codes(), ["UNAVAILABLE"], "{}", reply.body);
    assert_eq!(reply.json()["data"]["user"]["email"], "ada@example.org");
    assert_eq!(reply.json()["data"]["todos"], json!(null));
    let message = reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!message.contains("todos.v1"), "no subject leaks: {message}");
    assert!(
        elapsed < Duration::from_secs(2),
        "took {elapsed:?} against a 10 s deadline"
    );
}

fn probe(text: &str) -> String {
    format!(
        "{{ probeEcho(text: {}) {{ ... on Echoed {{ text }} }} }}",
        json!(text)
    )
}

#[tokio::test]
async fn each_service_failure_has_its_code_and_no_internals() {
    let system = spawn_system().await;
    let panicking = "{ probeEcho(text: \"x\", panic: true) { __typename } }".to_string();
    let cases = [
        (probe("not-found"), "NOT_FOUND"),
        (probe("conflict"), "CONFLICT"),
        (probe("internal"), "INTERNAL"),
        (panicking, "INTERNAL"),
        (probe("leak"), "NOT_FOUND"),
    ];

    for (query, code) in cases {
        let reply = system.graphql(&query, json!({}), None).await;

        assert_eq!(reply.status, 200, "a field error: {}", reply.body);
        assert_eq!(reply.error_codes(), [code], "{}", reply.body);
        assert_eq!(reply.json()["data"]["probeEcho"], json!(null));
        let message = reply.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for internal in ["probe.v1", "users.v1", "row 7", "/var/lib", "panic"] {
            assert!(!message.contains(internal), "{internal} leaks: {message}");
        }
    }
    let ordinary = system.graphql(&probe("hello"), json!({}), None).await;
    assert_eq!(ordinary.json()["data"]["probeEcho"]["text"], "hello");
}

#[tokio::test]
async fn a_service_that_does_not_answer_in_time_is_a_timeout() {
    let system = spawn_system_with(Options {
        request_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;

    // The probe holds `block` requests at a gate this test never opens.
    let reply = system.graphql(&probe("block"), json!({}), None).await;

    // The bus deadline and the whole request's timeout are the same instant: whichever
    // fires first decides between a field error (200) and a refused request (504).
    assert!(matches!(reply.status, 200 | 504), "{}", reply.body);
    assert_eq!(reply.error_codes(), ["TIMEOUT"], "{}", reply.body);
    let ordinary = system.graphql(&probe("hello"), json!({}), None).await;
    assert_eq!(ordinary.json()["data"]["probeEcho"]["text"], "hello");
}

#[tokio::test]
async fn a_service_at_its_bound_of_requests_is_overloaded() {
    let system = spawn_system_with(Options {
        probe_max_in_flight: 1,
        ..Options::default()
    })
    .await;
    let held = {
        let url = system.url("/graphql");
        let body = json!({ "query": probe("block") }).to_string().into_bytes();
        tokio::spawn(async move {
            crate::helpers::http(
                "POST",
                &url,
                vec![("Content-Type".into(), "application/json".into())],
                body,
            )
            .await
        })
    };
    system.probe.wait_for_entered(1).await;

    let reply = system.graphql(&probe("hello"), json!({}), None).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.error_codes(), ["OVERLOADED"], "{}", reply.body);
    system.probe.open_gate();
    held.await.expect("the held request completes");
    let ordinary = system.graphql(&probe("hello"), json!({}), None).await;
    assert_eq!(ordinary.json()["data"]["probeEcho"]["text"], "hello");
}
