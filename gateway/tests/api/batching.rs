//! Relations are batched: no N+1 bus requests, whatever the number of parents.

use serde_json::json;

use crate::helpers::{admin, spawn_system};

#[tokio::test]
async fn fifty_todos_with_their_owners_cost_one_users_request() {
    let system = spawn_system().await;
    let mut owners = Vec::new();
    for n in 0..10 {
        owners.push(system.create_user(&format!("owner{n}@example.org")).await);
    }
    for n in 0..50 {
        system
            .create_todo(&owners[n % owners.len()], &format!("todo {n}"))
            .await;
    }
    let get_many_before = system.requests_served("users", "GetMany").await;
    let by_owners_before = system.requests_served("todos", "ListByOwners").await;

    let reply = system
        .graphql(
            "{ users(first: 100) { nodes { id todos { title owner { id email } } } } }",
            json!({}),
            Some(&admin()),
        )
        .await;

    assert!(reply.error_codes().is_empty(), "{}", reply.body);
    let users = reply.json()["data"]["users"]["nodes"]
        .as_array()
        .cloned()
        .expect("users");
    let todos: Vec<_> = users
        .iter()
        .flat_map(|u| u["todos"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(todos.len(), 50);
    for user in &users {
        for todo in user["todos"].as_array().expect("todos") {
            assert_eq!(
                todo["owner"]["id"], user["id"],
                "each owner resolves to its user"
            );
        }
    }
    assert_eq!(
        system.requests_served("users", "GetMany").await - get_many_before,
        1
    );
    assert_eq!(
        system.requests_served("todos", "ListByOwners").await - by_owners_before,
        1
    );
}
