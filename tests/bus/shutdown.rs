//! Graceful stop: every accepted request gets its reply.

use switchboard::{BusError, CallOptions};

use crate::helpers::{HELD, PATIENCE, World, echo, echoed, held, within};

/// Requests in flight when the stop begins.
const IN_FLIGHT: usize = 20;

#[tokio::test]
async fn stopping_lets_in_flight_requests_finish() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let instance = probe.instance.clone();
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|n| {
            let client = world.probe_client();
            tokio::spawn(async move {
                client
                    .record_with(
                        held(&n.to_string()),
                        CallOptions::default().timeout(PATIENCE),
                    )
                    .await
            })
        })
        .collect();
    // Every handler has started and waits at the gate: these requests are in flight.
    probe
        .until_calls(IN_FLIGHT, "all requests reach the handler")
        .await;
    let release = probe.releaser();

    let stopping = tokio::spawn(probe.running.stop());
    // The stop has taken effect (the subscription is drained: new requests find no
    // responder) while every held request is still unanswered.
    let client = world.probe_client();
    switchboard::testing::eventually(PATIENCE, || {
        let client = client.clone();
        async move {
            let late = client
                .record_with(echo("late"), CallOptions::default().timeout(PATIENCE))
                .await;
            matches!(late, Err(BusError::NoResponders { .. })).then_some(())
        }
    })
    .await
    .expect("the draining instance stops taking new requests");
    assert!(
        calls.iter().all(|call| !call.is_finished()),
        "no held request was answered before the release"
    );
    assert!(
        !stopping.is_finished(),
        "the stop waits for the held requests"
    );

    release();
    within("the stop", stopping)
        .await
        .expect("the stop task")
        .expect("stops cleanly");

    for (n, call) in calls.into_iter().enumerate() {
        let reply = within("a held reply", call)
            .await
            .expect("the call task")
            .unwrap_or_else(|e| panic!("request {n} in flight at the stop lost its reply: {e:?}"));
        let reply = echoed(reply);
        assert_eq!(
            reply.text,
            format!("{HELD}{n}"),
            "each caller gets its own reply"
        );
        assert_eq!(reply.instance, instance);
    }
    let after = world.probe_client().record(echo("after")).await;
    assert!(
        matches!(after, Err(BusError::NoResponders { .. })),
        "{after:?}"
    );
}
