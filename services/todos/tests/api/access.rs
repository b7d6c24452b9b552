//! A user sees and changes only their own todos; an administrator, everyone's.

use switchboard::BusError;
use switchboard::proto::todos::v1::{
    CompleteTodoRequest, CreateTodoRequest, DeleteTodoRequest, GetTodoRequest,
    ListTodosByOwnerRequest, ListTodosByOwnersRequest, TodoDeleted, complete_todo_reply,
    delete_todo_reply, get_todo_reply,
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

    // Nothing bob tried changed ada's todos.
    let unchanged = app
        .todos
        .list_by_owner(ListTodosByOwnerRequest {
            owner_id: "ada".into(),
            page: None,
        })
        .await
        .expect("ada lists her todos");
    assert_eq!(unchanged.todos, vec![todo], "still one open todo");
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
        .await
        .expect("the owner reads her todo");
    assert_eq!(found, get_todo_reply::Outcome::Found(todo.clone()));

    let done = app
        .todos
        .complete(CompleteTodoRequest {
            id: todo.id.clone(),
        })
        .await
        .expect("the owner completes her todo");
    let done = match done {
        complete_todo_reply::Outcome::Completed(done) => done,
        other => panic!("expected the completed todo, got {other:?}"),
    };
    assert_eq!(
        (done.id.as_str(), done.owner_id.as_str()),
        (todo.id.as_str(), "ada")
    );
    assert!(done.completed && done.completed_at.is_some(), "{done:?}");

    let listed = app
        .todos
        .list_by_owner(ListTodosByOwnerRequest {
            owner_id: "ada".into(),
            page: None,
        })
        .await
        .expect("the owner lists her todos");
    assert_eq!(listed.todos, vec![done]);

    let deleted = app
        .todos
        .delete(DeleteTodoRequest {
            id: todo.id.clone(),
        })
        .await
        .expect("the owner deletes her todo");
    assert_eq!(
        deleted,
        delete_todo_reply::Outcome::Deleted(TodoDeleted { id: todo.id })
    );
}

#[tokio::test]
async fn an_administrator_may_act_on_anyones_todos() {
    let app = spawn_app().await;
    let todo = app.create_todo("ada", "hers").await;

    let found = app
        .admin
        .get(GetTodoRequest {
            id: todo.id.clone(),
        })
        .await
        .expect("an administrator reads ada's todo");

    assert_eq!(found, get_todo_reply::Outcome::Found(todo));
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
