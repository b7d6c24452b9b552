//! `Idempotency-Key` on mutations: a retry after a lost response gets the first result,
//! and the effect happens once.

use serde_json::{Value, json};

use crate::helpers::{
    Options, Reply, TestSystem, admin, http, spawn_system, spawn_system_with, token,
};

const CREATE_USER: &str = "mutation($email: String!) { createUser(email: $email, displayName: \"Ada\") { __typename ... on User { id email } } }";
const CREATE_TODO: &str = "mutation($owner: ID!, $title: String!) { createTodo(ownerId: $owner, title: $title) { __typename ... on Todo { id title } } }";

async fn post_with_key(
    system: &TestSystem,
    query: &str,
    variables: Value,
    bearer: Option<&str>,
    key: &str,
) -> Reply {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Idempotency-Key".to_string(), key.to_string()),
    ];
    if let Some(bearer) = bearer {
        headers.push(("Authorization".into(), format!("Bearer {bearer}")));
    }
    let body = json!({ "query": query, "variables": variables }).to_string();
    http("POST", &system.url("/graphql"), headers, body.into_bytes()).await
}

async fn emails(system: &TestSystem) -> Vec<String> {
    let reply = system
        .graphql(
            "{ users(first: 100) { nodes { email } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    reply.json()["data"]["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("users: {}", reply.body))
        .iter()
        .map(|u| u["email"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_retried_create_user_returns_the_first_user_and_creates_one() {
    let system = spawn_system().await;
    let key = "\"signup-ada-7f3a\"";

    let first = post_with_key(
        &system,
        CREATE_USER,
        json!({ "email": "ada@example.org" }),
        None,
        key,
    )
    .await;
    // The retry of a client that never saw the first response.
    let retry = post_with_key(
        &system,
        CREATE_USER,
        json!({ "email": "ada@example.org" }),
        None,
        key,
    )
    .await;
    let other = post_with_key(
        &system,
        CREATE_USER,
        json!({ "email": "bob@example.org" }),
        None,
        key,
    )
    .await;

    let user = &first.json()["data"]["createUser"];
    assert_eq!(user["__typename"], "User", "{}", first.body);
    assert_eq!(
        retry.json()["data"]["createUser"],
        *user,
        "the retry gets the first result, not EmailTaken: {}",
        retry.body
    );
    assert_eq!(other.error_codes(), ["CONFLICT"], "{}", other.body);
    assert_eq!(other.json()["data"]["createUser"], Value::Null);
    assert_eq!(emails(&system).await, ["ada@example.org"]);
}

#[tokio::test]
async fn a_retried_create_todo_returns_the_first_todo_and_creates_one() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let bearer = token(&ada, &[]);
    let variables = json!({ "owner": ada, "title": "write the notes" });

    let first = post_with_key(
        &system,
        CREATE_TODO,
        variables.clone(),
        Some(&bearer),
        "todo-1",
    )
    .await;
    let retry = post_with_key(&system, CREATE_TODO, variables, Some(&bearer), "todo-1").await;
    let changed = post_with_key(
        &system,
        CREATE_TODO,
        json!({ "owner": ada, "title": "something else" }),
        Some(&bearer),
        "todo-1",
    )
    .await;

    let todo = &first.json()["data"]["createTodo"];
    assert_eq!(todo["__typename"], "Todo", "{}", first.body);
    assert_eq!(retry.json()["data"]["createTodo"], *todo, "{}", retry.body);
    assert_eq!(changed.error_codes(), ["CONFLICT"], "{}", changed.body);
    let listed = system
        .graphql(
            "query($owner: ID!) { todos(ownerId: $owner) { nodes { id } } }",
            json!({ "owner": ada }),
            Some(&bearer),
        )
        .await;
    assert_eq!(
        listed.json()["data"]["todos"]["nodes"],
        json!([{ "id": todo["id"] }]),
        "{}",
        listed.body
    );
}

#[tokio::test]
async fn keys_on_queries_malformed_keys_and_keys_for_several_fields_are_refused() {
    let system = spawn_system().await;
    let both = "mutation { a: createUser(email: \"a@example.org\", displayName: \"A\") { __typename } b: createUser(email: \"b@example.org\", displayName: \"B\") { __typename } }";
    let cases = [
        (
            "{ users { pageInfo { hasNextPage } } }",
            "query-key".to_string(),
        ),
        (CREATE_USER, "has space".to_string()),
        (CREATE_USER, "k".repeat(256)),
        (CREATE_USER, "\"\"".to_string()),
        (both, "two-fields".to_string()),
    ];

    for (query, key) in cases {
        let reply = post_with_key(
            &system,
            query,
            json!({ "email": "c@example.org" }),
            Some(&admin()),
            &key,
        )
        .await;

        assert_eq!(reply.status, 400, "{key}: {}", reply.body);
        assert_eq!(
            reply.error_codes(),
            ["INVALID_IDEMPOTENCY_KEY"],
            "{key}: {}",
            reply.body
        );
    }
    assert!(emails(&system).await.is_empty(), "no refused mutation ran");
    let ordinary = post_with_key(
        &system,
        CREATE_USER,
        json!({ "email": "c@example.org" }),
        None,
        &"k".repeat(255),
    )
    .await;
    assert_eq!(
        ordinary.json()["data"]["createUser"]["__typename"],
        "User",
        "{}",
        ordinary.body
    );
}

#[tokio::test]
async fn browsers_may_send_the_key_across_origins() {
    let system = spawn_system_with(Options {
        cors_origins: vec!["https://app.example.org".into()],
        ..Options::default()
    })
    .await;

    let preflight = http(
        "OPTIONS",
        &system.url("/graphql"),
        vec![
            ("Origin".into(), "https://app.example.org".into()),
            ("Access-Control-Request-Method".into(), "POST".into()),
            (
                "Access-Control-Request-Headers".into(),
                "content-type,idempotency-key".into(),
            ),
        ],
        vec![],
    )
    .await;

    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        allowed.contains("idempotency-key"),
        "{:?}",
        preflight.headers
    );
}
