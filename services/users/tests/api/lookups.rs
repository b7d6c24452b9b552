//! `get`, `get_many`, `list` and `delete`: typed round trips.

use std::collections::BTreeSet;

use switchboard::proto::switchboard::v1::PageRequest;
use switchboard::proto::users::v1::{
    DeleteUserRequest, GetUserRequest, GetUsersRequest, ListUsersRequest, delete_user_reply,
    get_user_reply,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn get_finds_a_user_or_says_not_found() {
    let app = spawn_app().await;
    let ada = app.create_user("ada@example.org").await;

    let found = app.users.get(GetUserRequest { id: ada.id.clone() }).await;
    let missing = app
        .users
        .get(GetUserRequest {
            id: "nobody".into(),
        })
        .await;

    assert_eq!(found.expect("get"), get_user_reply::Outcome::Found(ada));
    assert!(
        matches!(missing.expect("get"), get_user_reply::Outcome::NotFound(n) if n.id == "nobody")
    );
}

#[tokio::test]
async fn get_many_returns_the_known_users_in_one_request() {
    let app = spawn_app().await;
    let ada = app.create_user("ada@example.org").await;
    let bob = app.create_user("bob@example.org").await;

    let reply = app
        .users
        .get_many(GetUsersRequest {
            ids: vec![
                bob.id.clone(),
                "unknown".into(),
                ada.id.clone(),
                bob.id.clone(),
            ],
        })
        .await
        .expect("get_many");

    let ids: BTreeSet<String> = reply.users.into_iter().map(|u| u.id).collect();
    assert_eq!(ids, BTreeSet::from([ada.id, bob.id]));
}

#[tokio::test]
async fn list_pages_through_every_user_in_id_order() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(app.create_user(&format!("user{n}@example.org")).await.id);
    }

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = app
            .users
            .list(ListUsersRequest {
                page: Some(PageRequest {
                    limit: 2,
                    after: after.clone(),
                }),
            })
            .await
            .expect("list");
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.id));
        after = page.page.expect("page info").next;
        if after.is_empty() {
            break;
        }
    }

    assert_eq!(seen, created, "UUID v7 ids list in creation order");
}

#[tokio::test]
async fn delete_removes_a_user_once() {
    let app = spawn_app().await;
    let ada = app.create_user("ada@example.org").await;

    let first = app
        .users
        .delete(DeleteUserRequest { id: ada.id.clone() })
        .await;
    let second = app
        .users
        .delete(DeleteUserRequest { id: ada.id.clone() })
        .await;

    assert!(
        matches!(first.expect("delete"), delete_user_reply::Outcome::Deleted(d) if d.id == ada.id)
    );
    assert!(matches!(
        second.expect("delete"),
        delete_user_reply::Outcome::NotFound(_)
    ));
    assert_eq!(app.stored_users().await, 0);
}
