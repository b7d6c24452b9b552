//! `users.v1.create`: outcomes, validation and idempotency.

use switchboard::proto::users::v1::create_user_reply::Outcome;
use switchboard::{BusError, CallOptions};

use crate::helpers::{create_request, spawn_app};

#[tokio::test]
async fn create_registers_a_user_with_a_normalised_email() {
    let app = spawn_app().await;

    let user = app.create_user("  Ada@Example.ORG ").await;

    assert_eq!(user.email, "ada@example.org");
    assert_eq!(user.display_name, "Ada");
    assert!(
        uuid::Uuid::parse_str(&user.id).is_ok(),
        "ids are UUIDs: {}",
        user.id
    );
    assert!(user.created_at.is_some());
    assert_eq!(app.stored_users().await, 1);
}

#[tokio::test]
async fn a_taken_email_is_an_outcome_not_an_error() {
    let app = spawn_app().await;
    app.create_user("ada@example.org").await;

    let again = app.users.create(create_request("ADA@example.org")).await;

    match again.expect("the call succeeds") {
        Outcome::EmailTaken(taken) => assert_eq!(taken.email, "ada@example.org"),
        other => panic!("expected email_taken, got {other:?}"),
    }
    assert_eq!(app.stored_users().await, 1);
}

#[tokio::test]
async fn an_invalid_email_is_refused_with_400_naming_the_field() {
    let app = spawn_app().await;

    let result = app.users.create(create_request("not-an-address")).await;

    match result {
        Err(BusError::Service {
            code: 400,
            message,
            details,
            ..
        }) => {
            assert!(message.starts_with("email:"), "{message}");
            assert_eq!(details[0].field, "email");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    assert_eq!(app.stored_users().await, 0, "nothing half-written");
}

#[tokio::test]
async fn the_same_idempotency_key_creates_one_user_and_replays_the_reply() {
    let app = spawn_app().await;
    let keyed = || CallOptions::default().idempotency_key("signup-1");

    let first = app
        .users
        .create_with(create_request("ada@example.org"), keyed())
        .await;
    let again = app
        .users
        .create_with(create_request("ada@example.org"), keyed())
        .await;

    let first = first.expect("first call");
    assert!(matches!(first, Outcome::Created(_)), "{first:?}");
    assert_eq!(
        again.expect("repeat"),
        first,
        "the repeat gets the first reply, not email_taken"
    );
    assert_eq!(app.stored_users().await, 1);
}

#[tokio::test]
async fn the_idempotent_reply_survives_a_restart_of_the_service() {
    let mut app = spawn_app().await;
    let keyed = || CallOptions::default().idempotency_key("signup-2");
    let first = app
        .users
        .create_with(create_request("ada@example.org"), keyed())
        .await
        .expect("first call");

    app.stop().await;
    app.app = Some(app.start_instance().await);
    let again = app
        .users
        .create_with(create_request("ada@example.org"), keyed())
        .await
        .expect("repeat after restart");

    assert_eq!(again, first);
    assert_eq!(app.stored_users().await, 1);
}
