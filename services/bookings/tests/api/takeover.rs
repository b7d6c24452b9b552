//! A bookings replica killed with SIGKILL mid-saga: another replica takes its sagas over
//! once their leases run out and finishes them, each step having its effect once.

use std::time::Duration;

use switchboard::proto::billing::v1::{ChargeState, Faults, ListChargesRequest};
use switchboard::proto::bookings::v1::{
    Booking, BookingStatus, CreateBookingRequest, create_booking_reply,
};
use switchboard::saga::SagaSettings;
use switchboard::testing::eventually;

use crate::helpers::{PATIENCE, SECRET, World, spawn_world_with};

/// Leases of 5 s and step attempts of up to 2 s: a charge answering after 1.2 s keeps a
/// saga in its charge step long enough to kill its replica there.
fn slow_saga() -> SagaSettings {
    SagaSettings {
        deadline: Duration::from_secs(30),
        lease: Duration::from_secs(5),
        step_timeout: Duration::from_secs(2),
        sweep: Duration::from_millis(100),
        ..SagaSettings::default()
    }
}

/// The bookings binary as replica `instance` of the world's bookings service.
fn start_binary(world: &World, instance: &str) -> tokio::process::Child {
    let saga = &world.saga;
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bookings"))
        .env("NATS_URL", world.server.url())
        .env("STORE_URL", world.store_url("bookings"))
        .env("JWT_HS256_SECRET", SECRET)
        .env("SB_INSTANCE_ID", instance)
        .env("SB_SAGA_DEADLINE_MS", saga.deadline.as_millis().to_string())
        .env("SB_SAGA_LEASE_MS", saga.lease.as_millis().to_string())
        .env(
            "SB_SAGA_STEP_TIMEOUT_MS",
            saga.step_timeout.as_millis().to_string(),
        )
        .env("SB_SAGA_SWEEP_MS", saga.sweep.as_millis().to_string())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the bookings binary starts")
}

/// Leaves sagas to the bookings binary as `replica-a`, books `seats` through it with
/// billing answering slowly, and kills it with SIGKILL while the saga waits on billing
/// (its seats reserved). The booking as created.
async fn book_then_kill_mid_charge(world: &mut World, seats: u32) -> Booking {
    // Only the binary may drive sagas until it is killed.
    if let Some(app) = world.bookings.take() {
        app.run_until_stopped(async {}).await.expect("stops");
    }
    let mut replica = start_binary(world, "replica-a");
    let show = world.create_show(20, 400).await;
    world
        .set_faults(Faults {
            latency_ms: 1200,
            ..Faults::default()
        })
        .await;
    let created = eventually(PATIENCE, || async {
        // Until the binary serves, create fails with no responders.
        let request = CreateBookingRequest {
            show_id: show.id.clone(),
            seats,
        };
        world.ada.create(request).await.ok()
    })
    .await
    .expect("the binary serves");
    let create_booking_reply::Outcome::Created(booking) = created;
    eventually(PATIENCE, || async {
        (world.booking(&booking.id).await.status() == BookingStatus::SeatsReserved).then_some(())
    })
    .await
    .expect("the saga reaches its charge step");
    replica.start_kill().expect("SIGKILL is sent");
    replica.wait().await.expect("the killed process is reaped");
    booking
}

#[tokio::test]
async fn sagas_of_a_replica_killed_mid_charge_are_taken_over_and_finished_once() {
    let mut world = spawn_world_with(slow_saga()).await;
    let booking = book_then_kill_mid_charge(&mut world, 3).await;
    let orphaned = world.stored(&booking.id).await;
    assert_eq!(orphaned.lease_owner, "replica-a");

    world.bookings = Some(world.start_bookings("replica-b").await);
    let confirmed = world.settled(&booking.id).await;
    assert_eq!(
        confirmed.status(),
        BookingStatus::Confirmed,
        "{confirmed:?}"
    );
    assert_eq!(world.stored(&booking.id).await.lease_owner, "replica-b");

    let held = world.show(&booking.show_id).await;
    assert_eq!(
        (held.sold, held.reserved),
        (3, 0),
        "the seats are sold once"
    );
    let charge = world.charge(&booking.id).await.expect("a charge");
    assert_eq!(charge.state(), ChargeState::Charged);
    assert_eq!(charge.amount_cents, 1200);
    let charges = world
        .billing_admin
        .list_charges(ListChargesRequest::default())
        .await
        .expect("lists");
    assert_eq!(
        charges.charges.len(),
        1,
        "one charge, however often it was sent"
    );
}

#[tokio::test]
async fn a_replica_restarted_under_its_name_resumes_its_sagas() {
    let mut world = spawn_world_with(SagaSettings {
        // Far longer than the test waits: only the replica's own name can resume it.
        lease: Duration::from_secs(600),
        ..slow_saga()
    })
    .await;
    let booking = book_then_kill_mid_charge(&mut world, 1).await;

    let _restarted = start_binary(&world, "replica-a");
    let confirmed = world.settled(&booking.id).await;
    assert_eq!(
        confirmed.status(),
        BookingStatus::Confirmed,
        "{confirmed:?}"
    );
}
