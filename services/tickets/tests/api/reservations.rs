//! Reserve, Release and Confirm, one booking at a time: what each answers in every state a
//! reservation can be in, and what the show counts afterwards.

use switchboard::BusError;
use switchboard::proto::tickets::v1::{
    ConfirmSeatsRequest, ReleaseSeatsRequest, ReservationClosed, ReservationState, ShowNotFound,
    SoldOut, confirm_seats_reply, release_seats_reply, reserve_seats_reply,
};

use crate::helpers::{reserve_request, spawn_app};

fn state(reservation: &switchboard::proto::tickets::v1::Reservation) -> ReservationState {
    reservation.state()
}

fn closed_state(outcome: &ReservationClosed) -> ReservationState {
    outcome
        .reservation
        .as_ref()
        .expect("a closed outcome carries the reservation")
        .state()
}

#[tokio::test]
async fn reserving_holds_seats_and_a_repeat_returns_the_same_reservation() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;

    let first = app.reserved("b1", &show.id, 3).await;
    let again = app.reserved("b1", &show.id, 3).await;

    assert_eq!(
        (
            first.booking_id.as_str(),
            first.show_id.as_str(),
            first.seats
        ),
        ("b1", show.id.as_str(), 3)
    );
    assert_eq!(state(&first), ReservationState::Held);
    assert_eq!(first.price_cents, 2500, "the show's price when reserved");
    assert!(first.expires_at.is_some());
    assert_eq!(
        again, first,
        "the repeat answers with the first reservation"
    );
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (3, 0), "held once");
}

#[tokio::test]
async fn more_seats_than_are_left_is_sold_out_and_holds_nothing() {
    let app = spawn_app().await;
    let show = app.create_show(5).await;
    app.reserved("b1", &show.id, 4).await;

    let refused = app.reserve("b2", &show.id, 2).await;

    assert_eq!(
        refused,
        reserve_seats_reply::Outcome::SoldOut(SoldOut {
            show_id: show.id.clone(),
            requested: 2,
            available: 1,
        })
    );
    assert_eq!(app.show(&show.id).await.reserved, 4);
    // Nothing was stored for b2: it may still take the seat that is left.
    app.reserved("b2", &show.id, 1).await;
    assert_eq!(app.show(&show.id).await.reserved, 5);
}

#[tokio::test]
async fn reserving_on_an_unknown_show_is_not_found() {
    let app = spawn_app().await;

    let outcome = app.reserve("b1", "no-such-show", 1).await;

    assert_eq!(
        outcome,
        reserve_seats_reply::Outcome::NotFound(ShowNotFound {
            id: "no-such-show".into()
        })
    );
}

#[tokio::test]
async fn seat_counts_outside_one_to_ten_are_refused_with_400() {
    let app = spawn_app().await;
    let show = app.create_show(50).await;

    for seats in [0, 11] {
        match app
            .saga
            .reserve(reserve_request("b1", &show.id, seats))
            .await
        {
            Err(BusError::Service {
                code: 400, details, ..
            }) => assert_eq!(details[0].field, "seats"),
            other => panic!("{seats} seats: expected 400, got {other:?}"),
        }
    }
    assert_eq!(app.show(&show.id).await.reserved, 0);
}

#[tokio::test]
async fn only_the_saga_or_an_administrator_moves_seats() {
    let app = spawn_app().await;
    let show = app.create_show(5).await;

    let reserve = app.user.reserve(reserve_request("b1", &show.id, 1)).await;
    let release = app
        .user
        .release(ReleaseSeatsRequest {
            booking_id: "b1".into(),
        })
        .await;
    let confirm = app
        .user
        .confirm(ConfirmSeatsRequest {
            booking_id: "b1".into(),
        })
        .await;

    for (result, rpc) in [
        (reserve.map(|_| ()), "reserve"),
        (release.map(|_| ()), "release"),
        (confirm.map(|_| ()), "confirm"),
    ] {
        assert!(
            matches!(result, Err(BusError::Service { code: 403, .. })),
            "{rpc}: {result:?}"
        );
    }
    let by_admin = app
        .admin
        .reserve(reserve_request("b1", &show.id, 1))
        .await
        .expect("an administrator reserves");
    assert!(matches!(
        by_admin,
        reserve_seats_reply::Outcome::Reserved(_)
    ));
}

#[tokio::test]
async fn release_gives_the_seats_back_and_closes_the_booking() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;
    app.reserved("b1", &show.id, 3).await;

    let released = match app.release("b1").await {
        release_seats_reply::Outcome::Released(r) => r,
        other => panic!("{other:?}"),
    };
    let again = app.release("b1").await;
    let late = app.reserve("b1", &show.id, 3).await;

    assert_eq!(state(&released), ReservationState::Released);
    assert_eq!(released.seats, 3);
    assert_eq!(
        again,
        release_seats_reply::Outcome::Released(released.clone()),
        "releasing twice changes nothing"
    );
    match late {
        reserve_seats_reply::Outcome::Closed(closed) => {
            assert_eq!(closed.reservation, Some(released));
        }
        other => panic!("a released booking reserves nothing: {other:?}"),
    }
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, 0));
}

#[tokio::test]
async fn releasing_an_unknown_booking_leaves_a_tombstone_that_refuses_a_late_reserve() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;

    let released = match app.release("ghost").await {
        release_seats_reply::Outcome::Released(r) => r,
        other => panic!("{other:?}"),
    };
    let late = app.reserve("ghost", &show.id, 2).await;

    assert_eq!(state(&released), ReservationState::Released);
    assert_eq!((released.booking_id.as_str(), released.seats), ("ghost", 0));
    match late {
        reserve_seats_reply::Outcome::Closed(closed) => {
            assert_eq!(closed_state(&closed), ReservationState::Released);
        }
        other => panic!("a reserve after the release must be refused: {other:?}"),
    }
    assert_eq!(app.show(&show.id).await.reserved, 0);
}

#[tokio::test]
async fn confirm_sells_the_held_seats_for_good() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;
    let held = app.reserved("b1", &show.id, 2).await;

    let confirmed = match app.confirm("b1").await {
        confirm_seats_reply::Outcome::Confirmed(r) => r,
        other => panic!("{other:?}"),
    };
    let again = app.confirm("b1").await;
    let release = app.release("b1").await;
    let reserve = app.reserve("b1", &show.id, 2).await;

    assert_eq!(state(&confirmed), ReservationState::Confirmed);
    assert_eq!(
        (confirmed.seats, confirmed.price_cents),
        (held.seats, held.price_cents)
    );
    assert_eq!(
        again,
        confirm_seats_reply::Outcome::Confirmed(confirmed.clone())
    );
    assert_eq!(
        release,
        release_seats_reply::Outcome::AlreadyConfirmed(confirmed.clone()),
        "a sale is not undone by a release"
    );
    assert_eq!(
        reserve,
        reserve_seats_reply::Outcome::Reserved(confirmed),
        "a repeated reserve of a sold booking answers with it"
    );
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, 2));
}

#[tokio::test]
async fn confirm_after_release_or_without_a_reservation_is_closed() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;
    app.reserved("b1", &show.id, 2).await;
    app.release("b1").await;

    let after_release = app.confirm("b1").await;
    let never_reserved = app.confirm("b2").await;
    let late_reserve = app.reserve("b2", &show.id, 1).await;

    match after_release {
        confirm_seats_reply::Outcome::Closed(closed) => {
            assert_eq!(closed_state(&closed), ReservationState::Released);
        }
        other => panic!("{other:?}"),
    }
    match never_reserved {
        confirm_seats_reply::Outcome::Closed(closed) => {
            assert_eq!(closed_state(&closed), ReservationState::Released);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(late_reserve, reserve_seats_reply::Outcome::Closed(_)),
        "{late_reserve:?}"
    );
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, 0));
}
