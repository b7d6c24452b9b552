//! A user sees and changes only their own todos; an administrator, everyone's.

use switchboard::BusError;
use switchboard::proto::todos::v1::{
    CompleteTodoRequest, CreateTodoRequest, DeleteTodoRequest, GetTodoRequest,
    ListTodosByOwnerRequest, ListTodosByOwnersRequest,
};

use crate::helpers::spawn_app;

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, BusError>, what: &str) {
    assert!(
        matches!(result, Err(BusError::Service { code: 403, .. })),
        "{what}: expected 403, got {result:?}"
    );
}

#[tokio::test]
async fn another_users_todos_are_forbidden() {
    let app = spawn_app().await;
    let todo = app.create_todo("ada", "private").await;
    let bob = app.client_as("bob");

    assert_forbidden(
        bob.get(GetTodoRequest {
            id: todo.id.clone(),
        })
        .await,
        "get",
    );
    assert_forbidden(
        bob.complete(CompleteTodoRequest {
            id: todo.id.clone(),
        })
        .await,
        "complete",
    );
    assert_forbidden(
        bob.delete(DeleteTodoRequest {
            id: todo.id.clone(),
        })
        .await,
        "delete",
    );
    assert_forbidden(
        bob.list_by_owner(ListTodosByOwnerRequest {
            owner_id: "ada".into(),
            page: None,
        })
        .await,
        "list_by_owner",
    );
    assert_forbidden(
        bob.list_by_owners(ListTodosByOwnersRequest {
            owner_ids: vec!["bob".into(), "ada".into()],
            limit_per_owner: 0,
        })
        .await,
        "list_by_owners",
    );
    assert_forbidden(
        bob.create(CreateTodoRequest {
            owner_id: "ada".into(),
            title: "for you".into(),
        })
        .await,
        "create for another",
    );
}

#[tokio::test]
async fn the_owner_may_act_on_their_own_todos() {
    let app = spawn_app().await;
    let todo = app.create_todo("ada", "mine").await;

    let found = app
        .todos
        .get(GetTodoRequest {
            id: todo.id.clone(),
        })
        .await;
    let done = app
        .todos
        .complete(CompleteTodoRequest { id: todo.id })
        .await;

    assert!(found.is_ok() && done.is_ok(), "{found:?} {done:?}");
}

#[tokio::test]
async fn anonymous_callers_are_refused_with_401() {
    let app = spawn_app().await;
    let anonymous = switchboard::proto::todos::v1::TodosClient::new(app.bus.clone());

    let result = anonymous.get(GetTodoRequest { id: "x".into() }).await;

    assert!(
        matches!(result, Err(BusError::Unauthorized { .. })),
        "{result:?}"
    );
}
