//! Holds run out: the expiry worker gives their seats back, and a Confirm that comes too
//! late is refused.

use std::time::{Duration, SystemTime};

use switchboard::proto::tickets::v1::{
    ReservationState, confirm_seats_reply, release_seats_reply, reserve_seats_reply,
};
use switchboard::testing::eventually;

use crate::helpers::{TestApp, spawn_app_with};

/// How long a test waits for the worker to expire a one-second hold.
const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until show `id` counts `reserved` held seats.
async fn wait_for_reserved(app: &TestApp, id: &str, reserved: u32) {
    let reached = eventually(PATIENCE, || async {
        (app.show(id).await.reserved == reserved).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "show {id} still counts {} reserved seats, expected {reserved}",
        app.show(id).await.reserved
    );
}

#[tokio::test]
async fn an_unconfirmed_hold_expires_and_its_seats_go_back_on_sale() {
    let app = spawn_app_with(Duration::from_secs(1), Duration::from_millis(50)).await;
    let show = app.create_show(5).await;
    app.reserved("b1", &show.id, 2).await;
    assert_eq!(app.show(&show.id).await.reserved, 2);

    wait_for_reserved(&app, &show.id, 0).await;

    match app.reserve("b1", &show.id, 2).await {
        reserve_seats_reply::Outcome::Closed(closed) => {
            let expired = closed.reservation.expect("the reservation");
            assert_eq!(expired.state(), ReservationState::Expired);
            assert_eq!(expired.seats, 2);
        }
        other => panic!("an expired booking reserves nothing: {other:?}"),
    }
    assert!(matches!(
        app.confirm("b1").await,
        confirm_seats_reply::Outcome::Closed(_)
    ));
    match app.release("b1").await {
        release_seats_reply::Outcome::Released(r) => {
            assert_eq!(r.state(), ReservationState::Expired, "answered unchanged");
        }
        other => panic!("{other:?}"),
    }
    // The seats are for sale again: all five can be held.
    app.reserved("b2", &show.id, 5).await;
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (5, 0));
}

#[tokio::test]
async fn a_confirmed_reservation_does_not_expire() {
    let app = spawn_app_with(Duration::from_secs(1), Duration::from_millis(50)).await;
    let show = app.create_show(10).await;
    app.reserved("sold", &show.id, 3).await;
    assert!(matches!(
        app.confirm("sold").await,
        confirm_seats_reply::Outcome::Confirmed(_)
    ));
    // A hold made after the sale: once it has expired, the sale has had every chance to.
    app.reserved("held", &show.id, 2).await;

    wait_for_reserved(&app, &show.id, 0).await;

    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, 3));
    match app.confirm("sold").await {
        confirm_seats_reply::Outcome::Confirmed(r) => {
            assert_eq!(r.state(), ReservationState::Confirmed);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn confirming_a_hold_past_its_time_expires_it_instead() {
    // The worker sweeps at start and then not for an hour: the Confirm meets the hold
    // past its time before any sweep does.
    let app = spawn_app_with(Duration::from_secs(1), Duration::from_secs(3600)).await;
    let show = app.create_show(4).await;
    let held = app.reserved("b1", &show.id, 4).await;
    let expires_at = held.expires_at.expect("a hold has an expiry");
    let expires_at = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(expires_at.seconds).expect("after 1970"))
        + Duration::from_nanos(u64::try_from(expires_at.nanos).expect("positive nanos"));

    let passed = eventually(PATIENCE, || async {
        (SystemTime::now() > expires_at).then_some(())
    })
    .await;
    assert!(passed.is_some(), "the hold's time never passed");
    let late = app.confirm("b1").await;

    match late {
        confirm_seats_reply::Outcome::Closed(closed) => {
            let expired = closed.reservation.expect("the reservation");
            assert_eq!(expired.state(), ReservationState::Expired);
        }
        other => panic!("a hold past its time is not sold: {other:?}"),
    }
    let after = app.show(&show.id).await;
    assert_eq!(
        (after.reserved, after.sold),
        (0, 0),
        "the seats are back on sale"
    );
}
