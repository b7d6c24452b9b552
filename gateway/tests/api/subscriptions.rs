//! GraphQL subscriptions from events, over a real WebSocket: `todoChanged` delivers a
//! user's own todo changes as todos announces them, refuses strangers, ends with
//! `UNAUTHENTICATED` when the token expires, and lets go of its NATS subscription as soon
//! as the client does.

use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::todos::v1::todos_events;
use switchboard::settings::Secret;

use crate::helpers::{PATIENCE, SECRET, TestSystem, admin, hs_auth, spawn_system, token};
use crate::websocket::{Socket, codes, connect, connect_as, next_message, text};

const TODO_CHANGED: &str = "subscription($o: ID) { todoChanged(ownerId: $o) { id ownerId change todo { title completed } } }";

/// Starts `todoChanged` as operation `id` with `owner` as its argument.
async fn subscribe(socket: &mut Socket, id: &str, owner: Option<&str>) {
    socket
        .send(text(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": TODO_CHANGED, "variables": { "o": owner } },
        })))
        .await
        .expect("sends subscribe");
}

/// Waits until the gateway holds `count` subscriptions on todos' change events.
async fn until_subscribers(system: &TestSystem, count: usize) {
    switchboard::testing::eventually(PATIENCE, || async {
        (system.subscribers(todos_events::TODO_CHANGED.subject) == count).then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "expected {count} subscriptions, the server holds {}",
            system.subscribers(todos_events::TODO_CHANGED.subject)
        )
    });
}

/// The payload of the next `next` message of operation `id`.
async fn next_payload(socket: &mut Socket, id: &str) -> Value {
    let message = next_message(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    message["payload"].clone()
}

#[tokio::test]
async fn todo_changed_delivers_the_subscribers_own_changes_only() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let bob = system.create_user("bob@example.org").await;
    let mut socket = connect(&system, &token(&ada, &[])).await;
    subscribe(&mut socket, "1", None).await;
    until_subscribers(&system, 1).await;

    // Bob's change comes first: a subscription that did not filter would deliver it.
    system.create_todo(&bob, "bob's").await;
    let todo = system.create_todo(&ada, "ada's").await;

    let payload = next_payload(&mut socket, "1").await;
    assert_eq!(
        payload["data"]["todoChanged"],
        json!({
            "id": todo,
            "ownerId": ada,
            "change": "CREATED",
            "todo": { "title": "ada's", "completed": false },
        }),
        "{payload}"
    );

    // Deleting Ada deletes her todos, and she hears of it while her token is valid.
    let deleted = system
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) { __typename } }",
            json!({ "id": ada }),
            Some(&admin()),
        )
        .await;
    assert_eq!(
        deleted.json()["data"]["deleteUser"]["__typename"],
        "UserDeleted"
    );
    let payload = next_payload(&mut socket, "1").await;
    assert_eq!(
        payload["data"]["todoChanged"],
        json!({ "id": todo, "ownerId": ada, "change": "DELETED", "todo": null }),
        "{payload}"
    );
}

#[tokio::test]
async fn todo_changed_needs_a_token_and_is_a_users_own() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let bob = system.create_user("bob@example.org").await;

    let mut anonymous = connect_as(&system, None).await;
    subscribe(&mut anonymous, "1", Some(&ada)).await;
    let refused = next_payload(&mut anonymous, "1").await;
    assert_eq!(codes(&refused), ["UNAUTHENTICATED"], "{refused}");

    let mut nosy = connect(&system, &token(&bob, &[])).await;
    subscribe(&mut nosy, "1", Some(&ada)).await;
    let refused = next_payload(&mut nosy, "1").await;
    assert_eq!(codes(&refused), ["FORBIDDEN"], "{refused}");
    assert_eq!(system.subscribers(todos_events::TODO_CHANGED.subject), 0);

    // An administrator may follow anyone.
    let mut operator = connect(&system, &token("root", &[ADMIN_ROLE])).await;
    subscribe(&mut operator, "1", Some(&ada)).await;
    until_subscribers(&system, 1).await;
    system.create_todo(&bob, "not followed").await;
    let todo = system.create_todo(&ada, "followed").await;
    let payload = next_payload(&mut operator, "1").await;
    assert_eq!(payload["data"]["todoChanged"]["id"], todo, "{payload}");
}

#[tokio::test]
async fn the_subscription_ends_with_unauthenticated_when_its_token_expires() {
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    let short = switchboard::auth::sign_hs256(
        &Secret::new(SECRET),
        &hs_auth(),
        &ada,
        &[],
        Duration::from_secs(3),
    )
    .expect("a token");
    let mut socket = connect(&system, &short).await;
    subscribe(&mut socket, "1", None).await;
    until_subscribers(&system, 1).await;

    // No event comes: what arrives is the expiry, as an error the client can read, then
    // the end of the operation.
    let expired = next_payload(&mut socket, "1").await;
    assert_eq!(codes(&expired), ["UNAUTHENTICATED"], "{expired}");
    let complete = next_message(&mut socket).await;
    assert_eq!(complete["type"], "complete", "{complete}");
    assert_eq!(complete["id"], "1", "{complete}");
    until_subscribers(&system, 0).await;
}

#[tokio::test]
async fn clients_that_go_away_leave_no_nats_subscription_behind() {
    const CYCLES: usize = 1000;
    let system = spawn_system().await;
    let ada = system.create_user("ada@example.org").await;
    // Valid for longer than the test may take on a loaded machine (`token` gives a minute).
    let ada_token = switchboard::auth::sign_hs256(
        &Secret::new(SECRET),
        &hs_auth(),
        &ada,
        &[],
        Duration::from_secs(3600),
    )
    .expect("a token");
    for cycle in 0..CYCLES {
        let mut socket = connect(&system, &ada_token).await;
        subscribe(&mut socket, "1", None).await;
        until_subscribers(&system, 1).await;
        if cycle % 2 == 0 {
            // A clean goodbye…
            socket.close(None).await.expect("closes");
        }
        // …or the connection simply dropped.
        drop(socket);
        until_subscribers(&system, 0).await;
    }
}
