//! A billing that is dead or slow: bookings give up at the saga's deadline, undo what they
//! did (refunding a charge whose outcome is in doubt), and book again once billing is back.

use switchboard::proto::billing::v1::{ChargeState, Faults};
use switchboard::proto::bookings::v1::BookingStatus;

use crate::helpers::spawn_world;

#[tokio::test]
async fn a_dead_billing_cancels_bookings_releases_their_seats_and_they_book_again_after_it_returns()
{
    let mut world = spawn_world().await;
    let show = world.create_show(10, 500).await;
    world.stop_billing().await;

    let booking = world.book(&show.id, 2).await;
    let cancelled = world.settled(&booking.id).await;
    assert_eq!(cancelled.status(), BookingStatus::Cancelled);
    assert!(
        cancelled
            .reason
            .starts_with("charge did not succeed in time"),
        "{cancelled:?}"
    );
    let held = world.show(&show.id).await;
    assert_eq!((held.sold, held.reserved), (0, 0), "the seats are released");

    world.billing = Some(world.start_billing().await);
    let again = world.book(&show.id, 2).await;
    let confirmed = world.settled(&again.id).await;
    assert_eq!(
        confirmed.status(),
        BookingStatus::Confirmed,
        "{confirmed:?}"
    );
    // Nothing reached billing for the cancelled booking, so nothing was charged.
    let charge = world.charge(&booking.id).await;
    assert!(charge.is_none(), "{charge:?}");
}

#[tokio::test]
async fn a_charge_that_answers_too_late_is_refunded_or_voided_when_the_booking_gives_up() {
    let world = spawn_world().await;
    // Every attempt outlives the step's timeout (400 ms) and the saga's deadline (1.5 s):
    // whether billing charged is in doubt when the deadline passes, so the saga refunds
    // to be sure.
    world
        .set_faults(Faults {
            latency_ms: 3000,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(10, 900).await;

    let booking = world.book(&show.id, 1).await;
    let cancelled = world.settled(&booking.id).await;
    assert_eq!(
        cancelled.status(),
        BookingStatus::Cancelled,
        "{cancelled:?}"
    );
    let held = world.show(&show.id).await;
    assert_eq!((held.sold, held.reserved), (0, 0));

    let stored = world.stored(&booking.id).await;
    let undone: Vec<_> = stored
        .history
        .iter()
        .filter(|event| event.outcome == "compensated")
        .map(|event| event.step.as_str())
        .collect();
    assert_eq!(
        undone,
        ["charge", "reserve_seats"],
        "{cancelled:?} {:?}",
        stored.history
    );
    // The late charge either landed and was refunded, or was voided before it landed
    // (and then declined); either way the customer keeps their money.
    let charge = world
        .charge(&booking.id)
        .await
        .expect("the refund leaves a record");
    assert!(
        matches!(charge.state(), ChargeState::Refunded | ChargeState::Voided),
        "{charge:?}"
    );
}
