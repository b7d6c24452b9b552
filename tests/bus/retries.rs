//! Retries: only for retryable rpcs and calls with an idempotency key, bounded by the deadline.

use std::time::Duration;

use switchboard::{BusError, CallOptions};

use crate::helpers::{EchoRequest, World, echo, echoed};

#[tokio::test]
async fn a_retryable_call_succeeds_when_a_replica_starts_during_its_retries() {
    let world = World::new().await;
    let client = world.probe_client();
    let call = tokio::spawn(async move { client.echo(echo("patience")).await });

    tokio::time::sleep(Duration::from_millis(150)).await;
    let probe = world.start_probe().await;

    let reply = call
        .await
        .expect("the call task")
        .expect("the call succeeds");
    assert_eq!(echoed(reply).text, "patience");
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn a_non_retryable_call_is_not_retried() {
    let world = World::new().await;
    let client = world.probe_client();
    let call = tokio::spawn(async move { client.record(echo("once")).await });

    tokio::time::sleep(Duration::from_millis(150)).await;
    let probe = world.start_probe().await;

    let result = call.await.expect("the call task");
    assert!(
        matches!(result, Err(BusError::NoResponders { .. })),
        "{result:?}"
    );
    assert_eq!(probe.calls(), 0);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_command_retryable() {
    let world = World::new().await;
    let client = world.probe_client();
    let call = tokio::spawn(async move {
        client
            .record_with(echo("keyed"), CallOptions::default().idempotency_key("k-1"))
            .await
    });

    tokio::time::sleep(Duration::from_millis(150)).await;
    let _probe = world.start_probe().await;

    let reply = call
        .await
        .expect("the call task")
        .expect("the call succeeds");
    assert_eq!(echoed(reply).text, "keyed");
}

#[tokio::test]
async fn timeouts_are_retried_for_retryable_rpcs_only() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let slow = EchoRequest {
        text: "slow".into(),
        sleep_ms: 300,
        ..Default::default()
    };
    let options = CallOptions::default()
        .timeout(Duration::from_millis(800))
        .attempt_timeout(Duration::from_millis(100));

    let retryable = world
        .probe_client()
        .echo_with(slow.clone(), options.clone())
        .await;
    assert!(
        matches!(retryable, Err(BusError::Timeout { .. })),
        "{retryable:?}"
    );
    let retried = probe.calls();
    assert!(
        retried > 1,
        "a retryable call is retried after a timeout ({retried} attempts)"
    );

    // A single attempt waits for the whole deadline, so make that shorter than the work.
    let once = world
        .probe_client()
        .record_with(
            slow,
            CallOptions::default().timeout(Duration::from_millis(200)),
        )
        .await;
    assert!(matches!(once, Err(BusError::Timeout { .. })), "{once:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        probe.calls(),
        retried + 1,
        "a non-retryable call is sent once"
    );
}

#[tokio::test]
async fn retries_give_up_at_the_deadline() {
    let world = World::new().await;
    let started = std::time::Instant::now();

    let result = world
        .probe_client()
        .echo_with(
            echo("nobody"),
            CallOptions::default().timeout(Duration::from_millis(300)),
        )
        .await;

    assert!(
        matches!(result, Err(BusError::NoResponders { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
