//! The circuit breaker against a real server: a subject that keeps failing opens its
//! breaker, calls then fail at once without a message leaving the process, and the
//! breaker closes again once a probe call succeeds against a recovered service.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt as _;
use switchboard::bus::{BreakerSettings, BusSettings, CircuitState};
use switchboard::{Bus, BusError};

use crate::helpers::{PATIENCE, ProbeClient, World, echo, echoed, probe_rpc};

/// Messages this connection has sent so far.
fn sent(bus: &Bus) -> u64 {
    bus.nats().statistics().out_messages.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_failing_subject_opens_its_breaker_which_fails_fast_then_closes_after_recovery() {
    let world = World::new().await;
    // An overloaded echo service: every request is answered 503.
    let overloaded = world.bus.nats().clone();
    let mut requests = overloaded
        .subscribe(probe_rpc::ECHO.subject)
        .await
        .expect("subscribes");
    overloaded.flush().await.expect("flushed");
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    let responder = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let Some(reply) = request.reply else { continue };
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Service-Error-Code", "503");
            headers.insert("Nats-Service-Error", "overloaded");
            let _ = overloaded
                .publish_with_headers(reply, headers, Bytes::new())
                .await;
        }
    });

    let settings = BusSettings {
        breaker: BreakerSettings {
            failures: 3,
            window: Duration::from_secs(60),
            cooldown: Duration::from_millis(200),
            probes: 1,
        },
        ..BusSettings::new(world.server.url())
    };
    let bus = Bus::connect(&settings, "breaker-tests")
        .await
        .expect("connects");
    let client = ProbeClient::new(bus.clone());
    for attempt in 1..=3 {
        let error = client.echo(echo("busy?")).await.expect_err("overloaded");
        assert!(
            matches!(error, BusError::Overloaded { .. }),
            "{attempt}: {error}"
        );
    }
    assert_eq!(
        bus.circuit_state(probe_rpc::ECHO.subject),
        CircuitState::Open
    );

    // Open: the call fails at once, and nothing leaves the process.
    let before = sent(&bus);
    let error = client.echo(echo("now?")).await.expect_err("refused");
    assert!(matches!(error, BusError::CircuitOpen { .. }), "{error}");
    assert_eq!(error.code(), switchboard::wire::ErrorCode::Overloaded);
    assert_eq!(sent(&bus), before, "no message was sent");
    assert_eq!(received.load(Ordering::SeqCst), 3);

    // The service recovers: the overloaded responder goes, the real probe comes.
    responder.abort();
    let _ = responder.await;
    world.bus.nats().flush().await.expect("flushed");
    let _probe = world.start_probe().await;
    let reply = switchboard::testing::eventually(PATIENCE, || {
        let client = client.clone();
        async move { client.echo(echo("back")).await.ok() }
    })
    .await
    .expect("a probe call gets through once the cool-down is over, and succeeds");
    assert_eq!(echoed(reply).text, "back");
    assert_eq!(
        bus.circuit_state(probe_rpc::ECHO.subject),
        CircuitState::Closed
    );
    client
        .echo(echo("again"))
        .await
        .expect("closed: calls go through");
}
