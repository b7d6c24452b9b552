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
            "mutation($id: ID!) { completeTodo(id: $id) { __typename ... on Todo { completed completedAt } } }",
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
            r#"query($id: ID!) {
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
async fn lists_are_cursor_connections_paged_with_first_and_after() {
    let system = spawn_system().await;
    for n in 0..3 {
        system.create_user(&format!("u{n}@example.org")).await;
    }

    let reply = system
        .graphql(
            "{ users(first: 2) { edges { cursor node { id email } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            Some(&admin()),
        )
        .await;

    let page = &reply.json()["data"]["users"];
    let edges = page["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 2, "{}", reply.body);
    for edge in edges {
        assert_eq!(edge["cursor"], edge["node"]["id"], "{}", reply.body);
    }
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{}", reply.body);
    let end = &page["pageInfo"]["endCursor"];
    assert_eq!(end, &edges[1]["cursor"], "{}", reply.body);

    // The next page starts after the end cursor and holds the third user, last.
    let next = system
        .graphql(
            "query($after: String) { users(first: 2, after: $after) { nodes { id email } pageInfo { hasNextPage endCursor } } }",
            json!({ "after": end }),
            Some(&admin()),
        )
        .await;
    let page = &next.json()["data"]["users"];
    let nodes = page["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{}", next.body);
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{}", next.body);
    assert_eq!(
        page["pageInfo"]["endCursor"], nodes[0]["id"],
        "{}",
        next.body
    );
    let mut emails: Vec<&str> = edges
        .iter()
        .map(|e| &e["node"]["email"])
        .chain(nodes.iter().map(|n| &n["email"]))
        .filter_map(|e| e.as_str())
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        ["u0@example.org", "u1@example.org", "u2@example.org"]
    );
}
