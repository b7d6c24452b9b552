//! `List`: administrators only; one booking's notifications or all of them, by id, in
//! pages.

use switchboard::BusError;
use switchboard::auth::SERVICE_ROLE;
use switchboard::proto::notifications::v1::notifications_rpc::{
    SEND_CANCELLATION, SEND_CONFIRMATION,
};
use switchboard::proto::notifications::v1::{
    DeliveryState, ListNotificationsRequest, NotificationsClient,
};
use switchboard::proto::switchboard::v1::PageRequest;

use crate::helpers::{World, booking_id, cancelled, confirmed};

fn everything() -> ListNotificationsRequest {
    ListNotificationsRequest {
        booking_id: String::new(),
        page: None,
    }
}

#[tokio::test]
async fn only_administrators_list_notifications() {
    let world = World::start().await;
    let _app = world.start_notifications(false).await;

    let anonymous = NotificationsClient::new(world.bus.clone())
        .list(everything())
        .await;
    let user = world.notifications_as("ada", &[]).list(everything()).await;
    let service = world
        .notifications_as("bookings", &[SERVICE_ROLE])
        .list(everything())
        .await;
    let admin = world.admin().list(everything()).await;

    assert!(
        matches!(anonymous, Err(BusError::Unauthorized { .. })),
        "{anonymous:?}"
    );
    for (who, result) in [("a user", user), ("a service", service)] {
        assert!(
            matches!(result, Err(BusError::Service { code: 403, .. })),
            "{who}: {result:?}"
        );
    }
    assert!(
        admin
            .expect("an administrator lists")
            .notifications
            .is_empty()
    );
}

#[tokio::test]
async fn list_pages_through_all_notifications_by_id_or_filters_one_booking() {
    let world = World::start().await;
    let _app = world.start_notifications(false).await;
    let ada = world.create_user("ada@example.org", "Ada").await;
    let bookings: Vec<String> = (0..3).map(|_| booking_id()).collect();
    let mut last = 0;
    for booking in &bookings {
        last = world.publish(&confirmed(booking, &ada.id)).await.1;
    }
    let (_, cancellation) = world
        .publish(&cancelled(&bookings[1], &ada.id, "changed plans"))
        .await;
    world.until_handled(SEND_CONFIRMATION, last).await;
    world.until_handled(SEND_CANCELLATION, cancellation).await;

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = world
            .admin()
            .list(ListNotificationsRequest {
                booking_id: String::new(),
                page: Some(PageRequest {
                    limit: 3,
                    after: after.clone(),
                }),
            })
            .await
            .expect("a page");
        assert!(page.notifications.len() <= 3);
        seen.extend(page.notifications);
        after = page.page.expect("page info").next;
        if after.is_empty() {
            break;
        }
    }
    let ids: Vec<&str> = seen.iter().map(|n| n.id.as_str()).collect();
    let mut expected: Vec<String> = bookings
        .iter()
        .map(|b| format!("{b}.confirmed"))
        .chain([format!("{}.cancelled", bookings[1])])
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(seen.iter().all(|n| n.state() == DeliveryState::Recorded));

    let one = world.notifications_of(&bookings[1]).await;
    let ids: Vec<&str> = one.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            format!("{}.cancelled", bookings[1]),
            format!("{}.confirmed", bookings[1])
        ]
    );
}
