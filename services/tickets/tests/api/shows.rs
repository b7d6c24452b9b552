//! Shows: administrators put them on sale, anyone signed in reads and lists them.

use switchboard::BusError;
use switchboard::auth::SERVICE_ROLE;
use switchboard::proto::switchboard::v1::PageRequest;
use switchboard::proto::tickets::v1::{
    CreateShowRequest, GetShowRequest, ListShowsRequest, ShowNotFound, TicketsClient,
    get_show_reply,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_administrator_puts_a_show_on_sale_and_anyone_signed_in_reads_it() {
    let app = spawn_app().await;

    let show = app.create_show(120).await;
    let found = app
        .user
        .get_show(GetShowRequest {
            id: show.id.clone(),
        })
        .await
        .expect("get_show");

    assert_eq!(
        (
            show.name.as_str(),
            show.capacity,
            show.reserved,
            show.sold,
            show.price_cents
        ),
        ("The Tempest", 120, 0, 0, 2500)
    );
    assert!(show.created_at.is_some() && !show.id.is_empty());
    assert_eq!(found, get_show_reply::Outcome::Found(show));
}

#[tokio::test]
async fn anyone_signed_in_lists_the_shows_one_page_at_a_time() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for capacity in [10, 20, 30] {
        created.push(app.create_show(capacity).await);
    }
    created.sort_by(|a, b| a.id.cmp(&b.id));
    let page = |after: &str| ListShowsRequest {
        page: Some(PageRequest {
            limit: 2,
            after: after.into(),
        }),
    };

    let first = app.user.list_shows(page("")).await.expect("list_shows");
    let next = first.page.clone().unwrap_or_default().next;
    let second = app.user.list_shows(page(&next)).await.expect("list_shows");
    let anonymous = TicketsClient::new(app.bus.clone())
        .list_shows(page(""))
        .await;

    assert_eq!(first.shows, created[..2]);
    assert_eq!(next, created[1].id, "the cursor is the last id of the page");
    assert_eq!(second.shows, created[2..]);
    assert_eq!(second.page.unwrap_or_default().next, "", "the last page");
    assert!(
        matches!(anonymous, Err(BusError::Unauthorized { .. })),
        "{anonymous:?}"
    );
}

#[tokio::test]
async fn an_unknown_show_is_not_found() {
    let app = spawn_app().await;

    let found = app
        .user
        .get_show(GetShowRequest { id: "nope".into() })
        .await
        .expect("get_show");

    assert_eq!(
        found,
        get_show_reply::Outcome::NotFound(ShowNotFound { id: "nope".into() })
    );
}

#[tokio::test]
async fn only_administrators_put_shows_on_sale() {
    let app = spawn_app().await;
    let request = || CreateShowRequest {
        name: "Hamlet".into(),
        capacity: 10,
        price_cents: 100,
    };

    let by_user = app.user.create_show(request()).await;
    let by_saga = app.saga.create_show(request()).await;
    let anonymous = TicketsClient::new(app.bus.clone())
        .create_show(request())
        .await;

    for (result, who) in [(by_user, "a user"), (by_saga, SERVICE_ROLE)] {
        assert!(
            matches!(result, Err(BusError::Service { code: 403, .. })),
            "{who}: {result:?}"
        );
    }
    assert!(
        matches!(anonymous, Err(BusError::Unauthorized { .. })),
        "{anonymous:?}"
    );
}

#[tokio::test]
async fn anonymous_callers_cannot_read_shows() {
    let app = spawn_app().await;
    let show = app.create_show(5).await;

    let result = TicketsClient::new(app.bus.clone())
        .get_show(GetShowRequest { id: show.id })
        .await;

    assert!(
        matches!(result, Err(BusError::Unauthorized { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn invalid_shows_are_refused_with_400_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("  ".to_string(), 10, "name"),
        ("x".repeat(201), 10, "name"),
        ("Macbeth".to_string(), 0, "capacity"),
        ("Macbeth".to_string(), 1_000_001, "capacity"),
    ];

    for (name, capacity, field) in cases {
        let result = app
            .admin
            .create_show(CreateShowRequest {
                name,
                capacity,
                price_cents: 100,
            })
            .await;
        match result {
            Err(BusError::Service {
                code: 400, details, ..
            }) => assert_eq!(details[0].field, field),
            other => panic!("expected 400 on {field}, got {other:?}"),
        }
    }
    let longest = app
        .admin
        .create_show(CreateShowRequest {
            name: "é".repeat(200),
            capacity: 1_000_000,
            price_cents: 0,
        })
        .await;
    assert!(
        longest.is_ok(),
        "the bounds themselves are accepted: {longest:?}"
    );
}
