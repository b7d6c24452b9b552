//! A command with an idempotency key executes once per (caller, key), also across restarts.

use switchboard::service::RuntimeSettings;
use switchboard::{BusError, CallOptions, store};

use crate::helpers::{World, echo, echoed};

#[tokio::test]
async fn the_same_key_twice_executes_once_and_returns_the_first_reply() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();
    let keyed = || CallOptions::default().idempotency_key("order-1");

    let first = echoed(
        client
            .record_with(echo("pay"), keyed())
            .await
            .expect("first"),
    );
    let again = echoed(
        client
            .record_with(echo("pay"), keyed())
            .await
            .expect("repeat"),
    );

    assert_eq!(first, again);
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn a_key_reused_for_a_different_request_is_refused() {
    let world = World::new().await;
    let _probe = world.start_probe().await;
    let client = world.probe_client();
    let keyed = || CallOptions::default().idempotency_key("order-2");
    client
        .record_with(echo("pay 10"), keyed())
        .await
        .expect("first");

    let result = client.record_with(echo("pay 99"), keyed()).await;

    assert!(
        matches!(result, Err(BusError::Service { code: 409, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn concurrent_repeats_execute_once() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let calls = (0..8).map(|_| {
        let client = world.probe_client();
        tokio::spawn(async move {
            let slow = crate::helpers::EchoRequest {
                text: "once".into(),
                sleep_ms: 100,
                ..Default::default()
            };
            client
                .record_with(slow, CallOptions::default().idempotency_key("order-3"))
                .await
        })
    });

    let replies: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| echoed(r.expect("task").expect("call")))
        .collect();

    assert!(
        replies.windows(2).all(|w| w[0] == w[1]),
        "every caller got the first reply"
    );
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn the_first_reply_survives_a_restart() {
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("probe.db").display());
    let keyed = || CallOptions::default().idempotency_key("order-4");

    let before = world
        .start_probe_with(
            RuntimeSettings::default(),
            store::open(&url).await.expect("store"),
            None,
        )
        .await;
    let first = echoed(
        world
            .probe_client()
            .record_with(echo("pay"), keyed())
            .await
            .expect("first"),
    );
    before.running.stop().await.expect("stops");

    let after = world
        .start_probe_with(
            RuntimeSettings::default(),
            store::open(&url).await.expect("store"),
            None,
        )
        .await;
    let again = echoed(
        world
            .probe_client()
            .record_with(echo("pay"), keyed())
            .await
            .expect("repeat"),
    );

    assert_eq!(first, again, "the stored reply names the first instance");
    assert_ne!(after.instance, first.instance);
    assert_eq!(
        after.calls(),
        0,
        "the restarted service did not execute it again"
    );
}
