//! The booking flow through the gateway: `createBooking` over HTTP answers PENDING at once,
//! and a real WebSocket client following `bookingProgress` sees the booking move on until
//! it ends, CONFIRMED or CANCELLED with the reason.

use futures::SinkExt;
use serde_json::{Value, json};
use switchboard::proto::billing::v1::{BillingClient, Faults, SetFaultsRequest};

use crate::helpers::{TestSystem, admin, spawn_system, token};
use crate::websocket::{connect, next_message, text};

const PROGRESS: &str =
    "subscription($id: ID!) { bookingProgress(id: $id) { id status reason amountCents } }";

/// Makes billing answer slowly (so a follower sees each step) and decline `decline_rate`.
async fn set_billing(system: &TestSystem, decline_rate: f64) {
    BillingClient::new(system.bus.with_bearer_token(&admin()))
        .set_faults(SetFaultsRequest {
            faults: Some(Faults {
                decline_rate,
                latency_ms: 300,
                overloaded: false,
            }),
        })
        .await
        .expect("billing takes the faults");
}

/// A show with 10 seats at 12.50, created by an administrator; its id.
async fn create_show(system: &TestSystem) -> String {
    let reply = system
        .graphql(
            "mutation { createShow(name: \"Revue\", capacity: 10, priceCents: \"1250\") { ... on Show { id } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    reply.json()["data"]["createShow"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no show: {}", reply.body))
        .to_owned()
}

/// Books 2 seats of `show` as `user` over HTTP; the booking as answered.
async fn create_booking(system: &TestSystem, user: &str, show: &str) -> Value {
    let reply = system
        .graphql(
            "mutation($show: ID!) { createBooking(showId: $show, seats: 2) { ... on Booking { id status } } }",
            json!({ "show": show }),
            Some(&token(user, &[])),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["data"]["createBooking"].clone()
}

/// Follows booking `id` as `user` over WebSocket; every state received, in order.
async fn follow(system: &TestSystem, user: &str, id: &str) -> Vec<Value> {
    let mut socket = connect(system, &token(user, &[])).await;
    socket
        .send(text(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": PROGRESS, "variables": { "id": id } },
        })))
        .await
        .expect("sends subscribe");
    let mut states = Vec::new();
    loop {
        let message = next_message(&mut socket).await;
        match message["type"].as_str() {
            Some("next") => {
                assert!(message["payload"]["errors"].is_null(), "{message}");
                states.push(message["payload"]["data"]["bookingProgress"].clone());
            }
            Some("complete") => return states,
            _ => panic!("unexpected message: {message}"),
        }
    }
}

#[tokio::test]
async fn a_websocket_client_follows_a_booking_to_confirmed() {
    let mut system = spawn_system().await;
    system.start_booking_services().await;
    set_billing(&system, 0.0).await;
    let show = create_show(&system).await;

    let booking = create_booking(&system, "ada", &show).await;
    assert_eq!(booking["status"], "PENDING", "{booking}");
    let id = booking["id"].as_str().expect("an id");

    let states = follow(&system, "ada", id).await;
    let statuses: Vec<&str> = states.iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(statuses.last(), Some(&"CONFIRMED"), "{states:?}");
    assert!(statuses.contains(&"CHARGED"), "{statuses:?}");
    assert_eq!(
        states.last().map(|s| s["amountCents"].clone()),
        Some(json!("2500"))
    );
}

#[tokio::test]
async fn a_websocket_client_follows_a_declined_booking_to_cancelled_with_the_reason() {
    let mut system = spawn_system().await;
    system.start_booking_services().await;
    set_billing(&system, 1.0).await;
    let show = create_show(&system).await;
    let booking = create_booking(&system, "bob", &show).await;
    let id = booking["id"].as_str().expect("an id");

    let states = follow(&system, "bob", id).await;
    let last = states.last().expect("at least one state");
    assert_eq!(last["status"], "CANCELLED", "{states:?}");
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("payment declined")),
        "{last}"
    );

    // Another user may not follow it.
    let mut socket = connect(&system, &token("mallory", &[])).await;
    socket
        .send(text(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": PROGRESS, "variables": { "id": id } },
        })))
        .await
        .expect("sends subscribe");
    let message = next_message(&mut socket).await;
    let code = match message["type"].as_str() {
        Some("error") => message["payload"][0]["extensions"]["code"].clone(),
        _ => message["payload"]["errors"][0]["extensions"]["code"].clone(),
    };
    assert_eq!(code, "FORBIDDEN", "{message}");
}
