//! Graceful stop: every accepted request gets its reply.

use std::time::Duration;

use switchboard::{BusError, CallOptions};

use crate::helpers::{EchoRequest, World, echoed};

#[tokio::test]
async fn stopping_lets_in_flight_requests_finish() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let calls: Vec<_> = (0..20)
        .map(|n| {
            let client = world.probe_client();
            tokio::spawn(async move {
                let slow = EchoRequest {
                    text: n.to_string(),
                    sleep_ms: 300,
                    ..Default::default()
                };
                client
                    .record_with(slow, CallOptions::default().timeout(Duration::from_secs(5)))
                    .await
            })
        })
        .collect();
    let probe_calls = || probe.calls();
    switchboard::testing::eventually(Duration::from_secs(5), || async {
        (probe_calls() == 20).then_some(())
    })
    .await
    .expect("all 20 requests are in flight");

    probe.running.stop().await.expect("stops cleanly");

    for call in calls {
        let reply = call
            .await
            .expect("task")
            .expect("every in-flight request got its reply");
        assert!(!echoed(reply).text.is_empty());
    }
    let after = world
        .probe_client()
        .record(crate::helpers::echo("late"))
        .await;
    assert!(
        matches!(after, Err(BusError::NoResponders { .. })),
        "{after:?}"
    );
}
