//! Retries: only for retryable rpcs and calls with an idempotency key, bounded by the deadline.
//!
//! Whether a call was retried is read on both ends: the client connection's message
//! counters (requests sent, no-responders statuses received) and the probe's own count of
//! handler executions.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use switchboard::{Bus, BusError, CallOptions};

use crate::helpers::{PATIENCE, ProbeClient, World, connect_patient, echo, echoed, held, within};

/// Messages this connection has sent and received so far.
fn counters(bus: &Bus) -> (u64, u64) {
    let stats = bus.nats().statistics();
    (
        stats.out_messages.load(Ordering::SeqCst),
        stats.in_messages.load(Ordering::SeqCst),
    )
}

/// Waits until `bus` has received `replies` more messages than `from` (each failed attempt
/// of a call to a subject nobody serves is answered by a no-responders status).
async fn until_failed_attempts(bus: &Bus, from: (u64, u64), replies: u64) {
    switchboard::testing::eventually(PATIENCE, || async {
        (counters(bus).1 >= from.1 + replies).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{replies} failed attempts within {PATIENCE:?}"));
}

#[tokio::test]
async fn a_retryable_call_succeeds_when_a_replica_starts_during_its_retries() {
    let world = World::new().await;
    let bus = connect_patient(&world.server).await;
    let before = counters(&bus);
    let client = ProbeClient::new(bus.clone());
    let call = tokio::spawn(async move { client.echo(echo("patience")).await });

    // Two attempts already failed for want of a responder: the call is retrying.
    until_failed_attempts(&bus, before, 2).await;
    let probe = world.start_probe().await;

    let reply = within("the retried call", call)
        .await
        .expect("the call task")
        .expect("the call succeeds");
    assert_eq!(echoed(reply).text, "patience");
    assert_eq!(probe.calls(), 1, "the handler ran exactly once");
    assert!(
        counters(&bus).0 - before.0 >= 3,
        "at least three attempts were sent"
    );
}

#[tokio::test]
async fn a_non_retryable_call_is_not_retried() {
    let world = World::new().await;
    let bus = connect_patient(&world.server).await;
    let before = counters(&bus);

    let result = within(
        "the call",
        ProbeClient::new(bus.clone()).record(echo("once")),
    )
    .await;

    assert!(
        matches!(result, Err(BusError::NoResponders { .. })),
        "{result:?}"
    );
    assert_eq!(
        counters(&bus).0 - before.0,
        1,
        "exactly one request was sent"
    );
}

#[tokio::test]
async fn an_idempotency_key_makes_a_command_retryable() {
    let world = World::new().await;
    let bus = connect_patient(&world.server).await;
    let before = counters(&bus);
    let client = ProbeClient::new(bus.clone());
    let call = tokio::spawn(async move {
        client
            .record_with(echo("keyed"), CallOptions::default().idempotency_key("k-1"))
            .await
    });

    until_failed_attempts(&bus, before, 2).await;
    let probe = world.start_probe().await;

    let reply = within("the retried call", call)
        .await
        .expect("the call task")
        .expect("the call succeeds");
    let reply = echoed(reply);
    assert_eq!(reply.text, "keyed");
    assert_eq!(reply.idempotency_key, "k-1");
    assert_eq!(probe.calls(), 1, "the command ran exactly once");
}

#[tokio::test]
async fn timeouts_are_retried_for_retryable_rpcs_only() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();

    // A non-retryable call that times out (the handler holds it) is sent once: its single
    // attempt waits for the whole deadline.
    let before = counters(&world.bus);
    let once = client
        .record_with(
            held("once"),
            CallOptions::default().timeout(Duration::from_secs(3)),
        )
        .await;
    assert!(matches!(once, Err(BusError::Timeout { .. })), "{once:?}");
    assert_eq!(
        counters(&world.bus).0 - before.0,
        1,
        "a non-retryable call is sent once"
    );
    // Requests from one connection reach a subscriber in order, so once a later request
    // on the same endpoint is answered, the probe has seen everything sent before it.
    let barrier = within("the barrier", client.record(echo("barrier"))).await;
    assert_eq!(
        echoed(barrier.expect("the barrier is answered")).text,
        "barrier"
    );
    let seen = probe.calls();
    assert!(
        (1..=2).contains(&seen),
        "the handler saw the timed-out request at most once ({seen} calls with the barrier)"
    );

    // A retryable call whose attempts time out is sent again; once the handler lets go,
    // a reply ends the call.
    let retryable = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo_with(
                    held("slow"),
                    CallOptions::default()
                        .timeout(PATIENCE)
                        .attempt_timeout(Duration::from_millis(100)),
                )
                .await
        }
    });
    probe
        .until_calls(
            seen + 2,
            "a timed-out attempt of a retryable call is sent again",
        )
        .await;
    probe.release();
    let reply = within("the retryable call", retryable)
        .await
        .expect("the call task")
        .expect("a later attempt gets a reply");
    assert_eq!(echoed(reply).text, "held:slow");
}

#[tokio::test]
async fn retries_give_up_at_the_deadline() {
    let world = World::new().await;
    let bus = connect_patient(&world.server).await;
    let before = counters(&bus);
    let started = Instant::now();
    let deadline = Duration::from_secs(3);

    let result = within(
        "the call",
        ProbeClient::new(bus.clone())
            .echo_with(echo("nobody"), CallOptions::default().timeout(deadline)),
    )
    .await;

    assert!(
        matches!(result, Err(BusError::NoResponders { .. })),
        "{result:?}"
    );
    // The attempt bound (`u32::MAX`) did not end the call, the deadline did: it retried
    // until the next pause (at most 1 s) would pass the deadline, and not past it. (Five
    // attempts, the default bound, would have ended it within half a second.)
    assert!(
        counters(&bus).0 - before.0 >= 2,
        "the call was retried before giving up"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= deadline - Duration::from_secs(1) && elapsed < deadline + PATIENCE,
        "gave up after {elapsed:?} for a {deadline:?} deadline"
    );
}
