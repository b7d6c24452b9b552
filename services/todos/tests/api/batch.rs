//! `list_by_owners`: many owners' todos in one request.

use switchboard::BusError;
use switchboard::proto::todos::v1::ListTodosByOwnersRequest;

use crate::helpers::spawn_app;

#[tokio::test]
async fn one_request_lists_the_todos_of_many_owners_in_request_order() {
    let app = spawn_app().await;
    for n in 0..3 {
        app.create_todo("ada", &format!("ada {n}")).await;
    }
    app.create_todo("bob", "bob 0").await;

    let reply = app
        .admin
        .list_by_owners(ListTodosByOwnersRequest {
            owner_ids: vec!["bob".into(), "carol".into(), "ada".into()],
            limit_per_owner: 2,
        })
        .await
        .expect("list_by_owners");

    let summary: Vec<(String, usize, bool)> = reply
        .owners
        .iter()
        .map(|o| (o.owner_id.clone(), o.todos.len(), o.truncated))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bob".to_string(), 1, false),
            ("carol".to_string(), 0, false),
            ("ada".to_string(), 2, true),
        ]
    );
    assert!(reply.owners[2].todos.iter().all(|t| t.owner_id == "ada"));
}

#[tokio::test]
async fn too_many_owners_are_refused() {
    let app = spawn_app().await;

    let result = app
        .admin
        .list_by_owners(ListTodosByOwnersRequest {
            owner_ids: (0..1001).map(|n| n.to_string()).collect(),
            limit_per_owner: 0,
        })
        .await;

    assert!(
        matches!(result, Err(BusError::Service { code: 400, .. })),
        "{result:?}"
    );
}
