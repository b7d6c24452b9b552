//! Following a booking: the stream of its states ends with CONFIRMED or CANCELLED, at the
//! caller's deadline, or — when the caller drops it — on the service's side as well.

use std::time::Duration;

use futures::StreamExt as _;
use switchboard::proto::billing::v1::Faults;
use switchboard::proto::bookings::v1::{BookingProgressRequest, BookingStatus, bookings_rpc};
use switchboard::testing::eventually;
use switchboard::{BusError, CallOptions};

use crate::helpers::{PATIENCE, spawn_world};

/// The statuses a stream delivered, until it ended.
async fn statuses(
    stream: switchboard::bus::ReplyStream<switchboard::proto::bookings::v1::Booking>,
) -> (Vec<BookingStatus>, Option<BusError>) {
    let mut seen = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(booking) => seen.push(booking.status()),
            Err(error) => return (seen, Some(error)),
        }
    }
    (seen, None)
}

#[tokio::test]
async fn a_follower_sees_every_state_up_to_confirmed_then_the_stream_ends() {
    let world = spawn_world().await;
    // Slow enough that the follower is there before the saga ends.
    world
        .set_faults(Faults {
            latency_ms: 200,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(10, 100).await;
    let booking = world.book(&show.id, 1).await;
    let stream = world
        .ada
        .progress_with(
            BookingProgressRequest {
                id: booking.id.clone(),
            },
            CallOptions::default().timeout(PATIENCE),
        )
        .await
        .expect("the stream opens");
    let (seen, error) = statuses(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(seen.last(), Some(&BookingStatus::Confirmed), "{seen:?}");
    // Every state after the first is a later one, in saga order.
    let order = |s: &BookingStatus| *s as i32;
    assert!(
        seen.windows(2).all(|w| order(&w[0]) < order(&w[1])),
        "{seen:?}"
    );
    assert!(seen.contains(&BookingStatus::Charged), "{seen:?}");
}

#[tokio::test]
async fn a_follower_of_a_declined_booking_sees_it_cancelled() {
    let world = spawn_world().await;
    world
        .set_faults(Faults {
            decline_rate: 1.0,
            latency_ms: 200,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(10, 100).await;
    let booking = world.book(&show.id, 2).await;
    let stream = world
        .ada
        .progress_with(
            BookingProgressRequest {
                id: booking.id.clone(),
            },
            CallOptions::default().timeout(PATIENCE),
        )
        .await
        .expect("the stream opens");
    let mut stream = std::pin::pin!(stream);
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item.expect("no error"));
    }
    let last = last.expect("at least one state");
    assert_eq!(last.status(), BookingStatus::Cancelled);
    assert!(last.reason.starts_with("payment declined"), "{last:?}");
}

#[tokio::test]
async fn a_stream_ends_at_the_callers_deadline() {
    let world = spawn_world().await;
    world
        .set_faults(Faults {
            latency_ms: 5000,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(10, 100).await;
    let booking = world.book(&show.id, 1).await;
    let stream = world
        .ada
        .progress_with(
            BookingProgressRequest {
                id: booking.id.clone(),
            },
            CallOptions::default().timeout(Duration::from_millis(300)),
        )
        .await
        .expect("the stream opens");
    let (seen, error) = statuses(stream).await;
    assert!(!seen.is_empty(), "the current state comes first");
    assert!(
        matches!(
            error,
            Some(BusError::DeadlineExpired { .. } | BusError::Timeout { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_the_service_side_and_strangers_are_refused() {
    let world = spawn_world().await;
    world
        .set_faults(Faults {
            latency_ms: 300,
            ..Faults::default()
        })
        .await;
    let show = world.create_show(10, 100).await;
    let booking = world.book(&show.id, 1).await;
    let mut stream = world
        .ada
        .progress_with(
            BookingProgressRequest {
                id: booking.id.clone(),
            },
            CallOptions::default().timeout(Duration::from_secs(60)),
        )
        .await
        .expect("the stream opens");
    let first = stream.next().await.expect("an item").expect("the state");
    assert_eq!(first.id, booking.id);
    drop(stream);
    // The next change finds nobody listening: the handler ends long before its deadline,
    // and the endpoint counts one request, not an error.
    let stats = eventually(PATIENCE, || async {
        let reply = world
            .bus
            .nats()
            .request("$SRV.STATS.bookings", Default::default())
            .await
            .ok()?;
        let stats: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
        let endpoint = stats["endpoints"]
            .as_array()?
            .iter()
            .find(|e| e["subject"] == bookings_rpc::PROGRESS.subject)?
            .clone();
        (endpoint["num_requests"] == 1).then_some(endpoint)
    })
    .await
    .expect("the progress handler ended");
    assert_eq!(stats["num_errors"], 0, "{stats}");

    let stranger = switchboard::proto::bookings::v1::BookingsClient::new(
        world
            .bus
            .with_bearer_token(&crate::helpers::token("mallory", &[])),
    );
    let refused = stranger
        .progress(BookingProgressRequest {
            id: booking.id.clone(),
        })
        .await
        .map(|_| ())
        .expect_err("another user's booking cannot be followed");
    assert!(
        matches!(refused, BusError::Service { code: 403, .. }),
        "{refused:?}"
    );
}
