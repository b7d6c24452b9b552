//! Queries and mutations end to end: HTTP → GraphQL → bus → service → store.

use serde_json::json;

use crate::helpers::{admin, spawn_system, token};

#[tokio::test]
async fn a_user_signs_up_adds_todos_and_reads_them_back_with_relations() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let first = system.create_todo(&ada, "write the notes").await;
    system.create_todo(&ada, "ship it").await;

    let done = system
        .graphql(
            "mutation($id: String!) { completeTodo(id: $id) { __typename ... on Todo { completed completedAt } } }",
            json!({ "id": first }),
            Some(&token(&ada, &[])),
        )
        .await;
    assert_eq!(
        done.json()["data"]["completeTodo"]["completed"],
        true,
        "{}",
        done.body
    );

    let reply = system
        .graphql(
            r#"query($id: String!) {
                user(id: $id) {
                    __typename
                    ... on User { email displayName createdAt todos { title completed owner { email } } }
                }
            }"#,
            json!({ "id": ada }),
            Some(&token(&ada, &[])),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.error_codes().is_empty(), "{}", reply.body);
    let user = &reply.json()["data"]["user"];
    assert_eq!(user["__typename"], "User");
    assert_eq!(user["email"], "ada@example.org");
    assert!(
        user["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{user}"
    );
    let todos = user["todos"].as_array().expect("todos");
    assert_eq!(todos.len(), 2);
    assert_eq!(todos[0]["title"], "write the notes");
    assert_eq!(todos[0]["completed"], true);
    assert_eq!(todos[1]["owner"]["email"], "ada@example.org");
}

#[tokio::test]
async fn outcomes_are_union_members() {
    let system = spawn_system().await;
    system.create_user("ada@example.org").await;

    let again = system
        .graphql(
            r#"mutation { createUser(email: "ADA@example.org", displayName: "Ada") {
                __typename ... on EmailTaken { email } ... on User { id } } }"#,
            json!({}),
            None,
        )
        .await;
    let missing = system
        .graphql(
            r#"{ user(id: "nobody") { __typename ... on UserNotFound { id } } }"#,
            json!({}),
            Some(&admin()),
        )
        .await;

    assert_eq!(
        again.json()["data"]["createUser"],
        json!({ "__typename": "EmailTaken", "email": "ada@example.org" })
    );
    assert_eq!(
        missing.json()["data"]["user"],
        json!({ "__typename": "UserNotFound", "id": "nobody" })
    );
}

#[tokio::test]
async fn paging_arguments_are_input_objects() {
    let system = spawn_system().await;
    for n in 0..3 {
        system.create_user(&format!("u{n}@example.org")).await;
    }

    let reply = system
        .graphql(
            "{ users(page: { limit: 2 }) { users { email } page { next } } }",
            json!({}),
            Some(&admin()),
        )
        .await;

    let page = &reply.json()["data"]["users"];
    assert_eq!(
        page["users"].as_array().map(Vec::len),
        Some(2),
        "{}",
        reply.body
    );
    assert!(page["page"]["next"].as_str().is_some_and(|n| !n.is_empty()));
}
