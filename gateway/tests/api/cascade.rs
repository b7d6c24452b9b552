//! The cascade: `deleteUser` commits the deletion with a `UserDeleted` event, and todos,
//! consuming it, deletes that user's todos — now, or once it is back if it was down.

use serde_json::json;

use crate::helpers::{PATIENCE, TestSystem, admin, spawn_system};

/// How many todos `owner` has, read as an administrator.
async fn todo_count(system: &TestSystem, owner: &str) -> usize {
    let reply = system
        .graphql(
            "query($o: ID!) { todos(ownerId: $o) { nodes { id } } }",
            json!({ "o": owner }),
            Some(&admin()),
        )
        .await;
    reply.json()["data"]["todos"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no todos list: {}", reply.body))
        .len()
}

/// Deletes `user` through the gateway and checks that the deletion itself answered.
async fn delete_user(system: &TestSystem, user: &str) {
    let reply = system
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) { __typename ... on UserDeleted { id } } }",
            json!({ "id": user }),
            Some(&admin()),
        )
        .await;
    assert_eq!(
        reply.json()["data"]["deleteUser"],
        json!({ "__typename": "UserDeleted", "id": user }),
        "{}",
        reply.body
    );
}

/// Waits until `owner` has no todos left.
async fn until_no_todos(system: &TestSystem, owner: &str) {
    switchboard::testing::eventually(PATIENCE, || async {
        (todo_count(system, owner).await == 0).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the todos of deleted user {owner} were not deleted"));
}

#[tokio::test]
async fn deleting_a_user_deletes_their_todos_and_nobody_elses() {
    let system = spawn_system().await;
    let user = system.create_user("cascade@example.com").await;
    let bystander = system.create_user("bystander@example.com").await;
    for n in 0..3 {
        system.create_todo(&user, &format!("todo {n}")).await;
    }
    system.create_todo(&bystander, "kept").await;
    assert_eq!(todo_count(&system, &user).await, 3);

    delete_user(&system, &user).await;

    until_no_todos(&system, &user).await;
    assert_eq!(
        todo_count(&system, &bystander).await,
        1,
        "another user's todos must survive the cascade"
    );
}

#[tokio::test]
async fn todos_catches_up_on_users_deleted_while_it_was_down() {
    let mut system = spawn_system().await;
    let user = system.create_user("away@example.com").await;
    for n in 0..2 {
        system.create_todo(&user, &format!("todo {n}")).await;
    }
    system.stop_todos().await;

    // The deletion does not wait for the services that react to it.
    delete_user(&system, &user).await;

    system.start_todos().await;
    until_no_todos(&system, &user).await;
}
