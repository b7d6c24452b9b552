//! Many bookings at once, repeats with one idempotency key, and two replicas over one
//! store: a show never counts more seats than it has, and its counts always equal what
//! its reservations hold.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use switchboard::CallOptions;
use switchboard::proto::tickets::v1::{
    ConfirmSeatsRequest, ReleaseSeatsRequest, TicketsClient, confirm_seats_reply,
    release_seats_reply, reserve_seats_reply,
};

use crate::helpers::{LONG_HOLD, reserve_request, spawn_app, start_service};

/// Tallies reserve outcomes by kind.
fn tally(outcomes: &[reserve_seats_reply::Outcome]) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for outcome in outcomes {
        let kind = match outcome {
            reserve_seats_reply::Outcome::Reserved(_) => "reserved",
            reserve_seats_reply::Outcome::SoldOut(_) => "sold_out",
            reserve_seats_reply::Outcome::NotFound(_) => "not_found",
            reserve_seats_reply::Outcome::Closed(_) => "closed",
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

async fn reserve_many(
    saga: &TicketsClient,
    show: &str,
    bookings: std::ops::Range<u32>,
) -> Vec<reserve_seats_reply::Outcome> {
    let calls = bookings.map(|n| {
        let saga = saga.clone();
        let request = reserve_request(&format!("booking-{n:03}"), show, 1);
        async move { saga.reserve(request).await.expect("reserve answers") }
    });
    join_all(calls).await
}

#[tokio::test]
async fn fifty_concurrent_reserves_of_a_twenty_seat_show_hold_exactly_twenty() {
    let app = spawn_app().await;
    let show = app.create_show(20).await;

    let outcomes = reserve_many(&app.saga, &show.id, 0..50).await;

    let counts = tally(&outcomes);
    assert_eq!(counts.get("reserved"), Some(&20), "{counts:?}");
    assert_eq!(counts.get("sold_out"), Some(&30), "{counts:?}");
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (20, 0));
}

#[tokio::test]
async fn two_replicas_over_one_store_never_oversell() {
    let app = spawn_app().await;
    let replica = start_service(
        &app.server,
        app.dir.path(),
        LONG_HOLD,
        Duration::from_secs(2),
    )
    .await;
    let show = app.create_show(15).await;

    let outcomes = reserve_many(&app.saga, &show.id, 0..40).await;

    let counts = tally(&outcomes);
    assert_eq!(counts.get("reserved"), Some(&15), "{counts:?}");
    assert_eq!(counts.get("sold_out"), Some(&25), "{counts:?}");
    assert_eq!(app.show(&show.id).await.reserved, 15);

    // Every holder lets go at once, across both replicas: every seat comes back.
    let held: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            reserve_seats_reply::Outcome::Reserved(r) => Some(r.booking_id.clone()),
            _ => None,
        })
        .collect();
    let releases = held.iter().map(|booking| {
        app.saga.release(ReleaseSeatsRequest {
            booking_id: booking.clone(),
        })
    });
    for released in join_all(releases).await {
        assert!(
            matches!(released, Ok(release_seats_reply::Outcome::Released(_))),
            "{released:?}"
        );
    }
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, 0));
    drop(replica);
}

#[tokio::test]
async fn a_confirm_racing_a_release_of_one_booking_settles_it_once() {
    let app = spawn_app().await;
    let show = app.create_show(30).await;
    let bookings: Vec<String> = (0..10).map(|n| format!("race-{n}")).collect();
    for booking in &bookings {
        app.reserved(booking, &show.id, 3).await;
    }

    let races = bookings.iter().map(|booking| {
        let confirm = app.saga.confirm(ConfirmSeatsRequest {
            booking_id: booking.clone(),
        });
        let release = app.saga.release(ReleaseSeatsRequest {
            booking_id: booking.clone(),
        });
        async move { tokio::join!(confirm, release) }
    });
    let mut sold = 0;
    for (confirm, release) in join_all(races).await {
        match (confirm.expect("confirm"), release.expect("release")) {
            // The confirm came first: the release finds the sale.
            (
                confirm_seats_reply::Outcome::Confirmed(c),
                release_seats_reply::Outcome::AlreadyConfirmed(r),
            ) => {
                assert_eq!(c, r);
                sold += 3;
            }
            // The release came first: nothing is sold.
            (
                confirm_seats_reply::Outcome::Closed(_),
                release_seats_reply::Outcome::Released(_),
            ) => {}
            other => panic!("one booking settled two ways: {other:?}"),
        }
    }
    let after = app.show(&show.id).await;
    assert_eq!((after.reserved, after.sold), (0, sold));
}

#[tokio::test]
async fn a_reserve_repeated_with_one_idempotency_key_holds_seats_once() {
    let app = spawn_app().await;
    let show = app.create_show(10).await;
    let send = || {
        app.saga.reserve_with(
            reserve_request("keyed", &show.id, 4),
            CallOptions::default().idempotency_key("reserve-keyed-1"),
        )
    };

    let (first, concurrent) = tokio::join!(send(), send());
    let later = send().await;

    let first = first.expect("reserve");
    assert!(
        matches!(first, reserve_seats_reply::Outcome::Reserved(_)),
        "{first:?}"
    );
    assert_eq!(concurrent.expect("the concurrent repeat"), first);
    assert_eq!(later.expect("the later repeat"), first);
    let after = app.show(&show.id).await;
    assert_eq!(after.reserved, 4, "held once");
}
