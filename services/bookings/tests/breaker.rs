//! An overloaded billing opens the bookings service's circuit breaker: bookings cancel at
//! the saga's deadline and release their seats, and once billing recovers the breaker
//! closes and bookings are confirmed again. A test binary of its own, because metrics are
//! process-wide and this one reads the breaker's.

#[path = "api/helpers.rs"]
#[allow(dead_code)] // the other tests' helpers
mod helpers;

use switchboard::proto::billing::v1::{Faults, billing_rpc};
use switchboard::proto::bookings::v1::BookingStatus;
use switchboard::testing::eventually;

use helpers::{PATIENCE, spawn_world};

/// The value of `sb_circuit_transitions_total` for billing's Charge into `to`.
fn transitions_to(to: &str) -> f64 {
    let metrics = switchboard::telemetry::metrics_handle()
        .map(|handle| handle.render())
        .unwrap_or_default();
    let series = format!(
        "sb_circuit_transitions_total{{subject=\"{}\",to=\"{to}\"}}",
        billing_rpc::CHARGE.subject
    );
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_overloaded_billing_opens_the_breaker_bookings_cancel_and_it_closes_after_recovery() {
    let world = spawn_world().await;
    let show = world.create_show(10, 250).await;
    world
        .set_faults(Faults {
            overloaded: true,
            ..Faults::default()
        })
        .await;

    let mut bookings = Vec::new();
    for _ in 0..3 {
        bookings.push(world.book(&show.id, 1).await);
    }
    for booking in &bookings {
        let cancelled = world.settled(&booking.id).await;
        assert_eq!(cancelled.status(), BookingStatus::Cancelled);
        assert!(
            cancelled
                .reason
                .starts_with("charge did not succeed in time"),
            "{cancelled:?}"
        );
        // Billing refused every charge before handling it: nothing to refund.
        let charge = world.charge(&booking.id).await;
        assert!(charge.is_none());
    }
    let held = world.show(&show.id).await;
    assert_eq!((held.sold, held.reserved), (0, 0), "every seat is released");
    assert!(transitions_to("open") >= 1.0, "the breaker opened");
    // The saga's own metrics tell the same story: charges retried while the circuit was
    // open, then given up, undone and cancelled.
    let metrics = switchboard::telemetry::metrics_handle()
        .map(|handle| handle.render())
        .unwrap_or_default();
    let has = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .any(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l)))
    };
    assert!(
        has(
            "sb_saga_retries_total{",
            &["step=\"charge\"", "error=\"circuit_open\""]
        ),
        "{metrics}"
    );
    for outcome in ["timed_out", "compensated", "cancelled"] {
        let label = format!("outcome=\"{outcome}\"");
        assert!(
            has("sb_saga_transitions_total{", &[&label]),
            "{outcome}: {metrics}"
        );
    }

    world.set_faults(Faults::default()).await;
    let booking = world.book(&show.id, 1).await;
    let confirmed = world.settled(&booking.id).await;
    assert_eq!(
        confirmed.status(),
        BookingStatus::Confirmed,
        "{confirmed:?}"
    );
    eventually(PATIENCE, || async {
        (transitions_to("closed") >= 1.0).then_some(())
    })
    .await
    .expect("the breaker closed after a successful probe");
}
