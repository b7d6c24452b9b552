//! Each way a booking ends: confirmed, sold out, declined — and who may see it.

use switchboard::BusError;
use switchboard::proto::billing::v1::{ChargeState, Faults};
use switchboard::proto::bookings::v1::{
    BookingStatus, CreateBookingRequest, GetBookingRequest, get_booking_reply,
};
use switchboard::saga::SagaStatus;

use crate::helpers::spawn_world;

#[tokio::test]
async fn a_booking_answers_pending_at_once_then_is_confirmed_sold_and_charged_once() {
    let world = spawn_world().await;
    let show = world.create_show(10, 1500).await;

    let pending = world.book(&show.id, 2).await;
    assert_eq!(pending.status(), BookingStatus::Pending);
    assert_eq!(pending.user_id, "ada");
    assert_eq!(pending.seats, 2);

    let confirmed = world.settled(&pending.id).await;
    assert_eq!(
        confirmed.status(),
        BookingStatus::Confirmed,
        "{confirmed:?}"
    );
    assert_eq!(confirmed.amount_cents, 3000);
    assert!(confirmed.reason.is_empty());

    let show = world.show(&show.id).await;
    assert_eq!((show.sold, show.reserved), (2, 0));
    let charge = world
        .charge(&pending.id)
        .await
        .expect("the booking is charged");
    assert_eq!(charge.state(), ChargeState::Charged);
    assert_eq!(charge.amount_cents, 3000);
    assert_eq!(charge.customer_id, "ada");

    let stored = world.stored(&pending.id).await;
    assert_eq!(stored.status, SagaStatus::Completed);
    let steps: Vec<_> = stored
        .history
        .iter()
        .map(|event| (event.step.as_str(), event.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve_seats", "done"),
            ("charge", "done"),
            ("confirm_seats", "done")
        ]
    );
}

#[tokio::test]
async fn a_sold_out_show_cancels_the_booking_without_charging() {
    let world = spawn_world().await;
    let show = world.create_show(1, 1000).await;

    let booking = world.book(&show.id, 2).await;
    let cancelled = world.settled(&booking.id).await;
    assert_eq!(cancelled.status(), BookingStatus::Cancelled);
    assert!(cancelled.reason.contains("sold out"), "{cancelled:?}");

    let show = world.show(&show.id).await;
    assert_eq!((show.sold, show.reserved), (0, 0));
    let charge = world.charge(&booking.id).await;
    assert!(charge.is_none(), "billing was never called: {charge:?}");
}

#[tokio::test]
async fn a_declined_card_releases_the_seats_and_cancels_with_the_reason() {
    let world = spawn_world().await;
    world
        .set_faults(Faults {
            decline_rate: 1.0,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(5, 700).await;

    let booking = world.book(&show.id, 3).await;
    let cancelled = world.settled(&booking.id).await;
    assert_eq!(cancelled.status(), BookingStatus::Cancelled);
    assert!(
        cancelled.reason.starts_with("payment declined"),
        "{cancelled:?}"
    );
    assert_eq!(cancelled.amount_cents, 2100);

    let show = world.show(&show.id).await;
    assert_eq!(
        (show.sold, show.reserved),
        (0, 0),
        "the reserved seats were released"
    );
    let stored = world.stored(&booking.id).await;
    let steps: Vec<_> = stored
        .history
        .iter()
        .map(|event| (event.step.as_str(), event.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve_seats", "done"),
            ("charge", "failed"),
            ("reserve_seats", "compensated")
        ],
        "the declined charge is not refunded; the reservation is released"
    );
}

#[tokio::test]
async fn a_booking_is_seen_by_its_owner_and_administrators_only() {
    let world = spawn_world().await;
    let show = world.create_show(4, 100).await;
    let booking = world.book(&show.id, 1).await;

    let request = || GetBookingRequest {
        id: booking.id.clone(),
    };
    let as_admin = world.admin.get(request()).await.expect("an admin reads it");
    assert!(matches!(as_admin, get_booking_reply::Outcome::Found(_)));

    let grace = switchboard::proto::bookings::v1::BookingsClient::new(
        world
            .bus
            .with_bearer_token(&crate::helpers::token("grace", &[])),
    );
    let refused = grace
        .get(request())
        .await
        .expect_err("another user is refused");
    assert!(
        matches!(&refused, BusError::Service { code: 403, .. }),
        "{refused:?}"
    );
    let anonymous = switchboard::proto::bookings::v1::BookingsClient::new(world.bus.clone());
    let refused = anonymous
        .create(CreateBookingRequest {
            show_id: show.id.clone(),
            seats: 1,
        })
        .await
        .expect_err("booking needs a token");
    assert!(
        matches!(refused, BusError::Unauthorized { .. }),
        "{refused:?}"
    );

    let too_many = world
        .ada
        .create(CreateBookingRequest {
            show_id: show.id.clone(),
            seats: 11,
        })
        .await
        .expect_err("more than 10 seats is refused");
    assert!(
        matches!(&too_many, BusError::Service { code: 400, .. }),
        "{too_many:?}"
    );
}
