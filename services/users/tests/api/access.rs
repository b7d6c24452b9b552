//! Who may do what: sign-up is open, reading needs a token, deleting needs `admin`.

use switchboard::BusError;
use switchboard::proto::users::v1::{DeleteUserRequest, ListUsersRequest, create_user_reply};

use crate::helpers::{create_request, spawn_app};

#[tokio::test]
async fn anyone_may_sign_up() {
    let app = spawn_app().await;

    let created = app
        .anonymous()
        .create(create_request("new@example.org"))
        .await;

    assert!(
        matches!(created, Ok(create_user_reply::Outcome::Created(_))),
        "{created:?}"
    );
}

#[tokio::test]
async fn reading_without_a_token_is_refused_with_401() {
    let app = spawn_app().await;

    let listed = app.anonymous().list(ListUsersRequest::default()).await;

    assert!(
        matches!(listed, Err(BusError::Unauthorized { .. })),
        "{listed:?}"
    );
}

#[tokio::test]
async fn deleting_needs_the_admin_role() {
    let app = spawn_app().await;
    let ada = app.create_user("ada@example.org").await;

    let by_ada = app
        .client_as(&ada.id)
        .delete(DeleteUserRequest { id: ada.id.clone() })
        .await;

    match by_ada {
        Err(BusError::Service {
            code: 403, message, ..
        }) => assert!(message.contains("admin")),
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(app.stored_users().await, 1);
}

#[tokio::test]
async fn a_forged_token_sent_straight_onto_nats_is_refused() {
    let app = spawn_app().await;
    let forged =
        switchboard::testing::token("not-the-services-secret-at-all-123", "mallory", &["admin"]);
    let client =
        switchboard::proto::users::v1::UsersClient::new(app.bus.with_bearer_token(&forged));

    let result = client.list(ListUsersRequest::default()).await;

    assert!(
        matches!(result, Err(BusError::Unauthorized { .. })),
        "{result:?}"
    );
}
