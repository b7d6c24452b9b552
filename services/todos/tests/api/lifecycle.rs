//! One todo from creation to deletion, and one owner's list.

use switchboard::BusError;
use switchboard::proto::switchboard::v1::PageRequest;
use switchboard::proto::todos::v1::{
    CompleteTodoRequest, CreateTodoRequest, DeleteTodoRequest, GetTodoRequest,
    ListTodosByOwnerRequest, complete_todo_reply, delete_todo_reply, get_todo_reply,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_todo_is_created_open_and_found_by_id() {
    let app = spawn_app().await;

    let todo = app.create_todo("ada", "  write the notes ").await;
    let found = app
        .todos
        .get(GetTodoRequest {
            id: todo.id.clone(),
        })
        .await;

    assert_eq!(todo.title, "write the notes");
    assert_eq!(todo.owner_id, "ada");
    assert!(!todo.completed && todo.completed_at.is_none());
    assert_eq!(found.expect("get"), get_todo_reply::Outcome::Found(todo));
}

#[tokio::test]
async fn completing_is_idempotent() {
    let app = spawn_app().await;
    let todo = app.create_todo("ada", "ship it").await;

    let first = app
        .todos
        .complete(CompleteTodoRequest {
            id: todo.id.clone(),
        })
        .await;
    let again = app
        .todos
        .complete(CompleteTodoRequest {
            id: todo.id.clone(),
        })
        .await;

    let first = match first.expect("complete") {
        complete_todo_reply::Outcome::Completed(done) => done,
        other => panic!("{other:?}"),
    };
    assert!(first.completed && first.completed_at.is_some());
    assert_eq!(
        again.expect("complete"),
        complete_todo_reply::Outcome::Completed(first)
    );
    let missing = app
        .todos
        .complete(CompleteTodoRequest { id: "nope".into() })
        .await;
    assert!(matches!(
        missing.expect("complete"),
        complete_todo_reply::Outcome::NotFound(_)
    ));
}

#[tokio::test]
async fn delete_removes_a_todo_once() {
    let app = spawn_app().await;
    let todo = app.create_todo("ada", "tidy up").await;

    let first = app
        .todos
        .delete(DeleteTodoRequest {
            id: todo.id.clone(),
        })
        .await;
    let second = app
        .todos
        .delete(DeleteTodoRequest {
            id: todo.id.clone(),
        })
        .await;
    let gone = app.todos.get(GetTodoRequest { id: todo.id }).await;

    assert!(matches!(
        first.expect("delete"),
        delete_todo_reply::Outcome::Deleted(_)
    ));
    assert!(matches!(
        second.expect("delete"),
        delete_todo_reply::Outcome::NotFound(_)
    ));
    assert!(matches!(
        gone.expect("get"),
        get_todo_reply::Outcome::NotFound(_)
    ));
}

#[tokio::test]
async fn list_by_owner_pages_through_only_that_owners_todos() {
    let app = spawn_app().await;
    let mut mine = Vec::new();
    for n in 0..5 {
        mine.push(app.create_todo("ada", &format!("task {n}")).await.id);
        app.create_todo("bob", &format!("other {n}")).await;
    }

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = app
            .todos
            .list_by_owner(ListTodosByOwnerRequest {
                owner_id: "ada".into(),
                page: Some(PageRequest {
                    limit: 2,
                    after: after.clone(),
                }),
            })
            .await
            .expect("list");
        seen.extend(page.todos.into_iter().map(|t| t.id));
        after = page.page.expect("page info").next;
        if after.is_empty() {
            break;
        }
    }

    assert_eq!(seen, mine);
}

#[tokio::test]
async fn invalid_input_is_refused_with_400() {
    let app = spawn_app().await;

    let empty_title = app
        .todos
        .create(CreateTodoRequest {
            owner_id: "ada".into(),
            title: "   ".into(),
        })
        .await;
    let no_owner = app
        .todos
        .create(CreateTodoRequest {
            owner_id: String::new(),
            title: "x".into(),
        })
        .await;

    for (result, field) in [(empty_title, "title"), (no_owner, "owner_id")] {
        match result {
            Err(BusError::Service {
                code: 400, details, ..
            }) => assert_eq!(details[0].field, field),
            other => panic!("expected 400 on {field}, got {other:?}"),
        }
    }
}
