//! Load: replicas share it; beyond the in-flight bound requests are refused, not queued.
//!
//! No test here depends on how fast anything runs: work is held in the handler
//! ([`held`]) until the test releases it, so "in flight" is a fact, not a timing window.

use std::collections::HashMap;

use switchboard::bus::BusSettings;
use switchboard::service::RuntimeSettings;
use switchboard::{Bus, BusError, CallOptions};

use crate::helpers::{PATIENCE, World, echo, echoed, held, memory_store, within};

#[tokio::test]
async fn two_replicas_share_the_load() {
    let world = World::new().await;
    let first = world.start_probe().await;
    let second = world.start_probe().await;
    let client = world.probe_client();

    let mut served: HashMap<String, usize> = HashMap::new();
    for n in 0..60 {
        let reply = client
            .echo(echo(&n.to_string()))
            .await
            .expect("echo succeeds");
        *served.entry(echoed(reply).instance).or_default() += 1;
    }

    assert_eq!(served.len(), 2, "both replicas served: {served:?}");
    assert_eq!(first.calls() + second.calls(), 60);
}

#[tokio::test]
async fn a_burst_beyond_the_bound_is_refused_and_the_requests_in_flight_succeed() {
    const BOUND: usize = 4;
    const BURST: usize = 36;
    let world = World::new().await;
    let settings = RuntimeSettings {
        max_in_flight: BOUND,
        ..Default::default()
    };
    let probe = world
        .start_probe_with(settings, memory_store().await, None)
        .await;
    // The refusals would open a circuit breaker, whose own test is `breaker.rs`: this
    // caller has none, so every request reaches the service's bound.
    let mut bus_settings = BusSettings::new(world.server.url());
    bus_settings.breaker.failures = 0;
    let bus = Bus::connect(&bus_settings, "limits-tests")
        .await
        .expect("connects");
    let world = World {
        server: world.server,
        bus,
    };
    // `Record` is not retryable, so a refusal comes back as it is, not retried.
    let patient = CallOptions::default().timeout(PATIENCE);

    // The bound's worth of requests, held in the handler: in flight until released.
    let in_flight: Vec<_> = (0..BOUND)
        .map(|n| {
            let (client, options) = (world.probe_client(), patient.clone());
            tokio::spawn(async move { client.record_with(held(&n.to_string()), options).await })
        })
        .collect();
    probe
        .until_calls(BOUND, "the bound's worth of requests in flight")
        .await;

    // A concurrent burst while the bound is reached: every request is refused at once
    // with 503, none is queued behind the held ones.
    let burst = (0..BURST).map(|n| {
        let (client, options) = (world.probe_client(), patient.clone());
        tokio::spawn(async move {
            client
                .record_with(echo(&format!("burst-{n}")), options)
                .await
        })
    });
    let refused = within("the burst's answers", futures::future::join_all(burst)).await;
    for result in refused {
        let result = result.expect("the call task");
        assert!(
            matches!(result, Err(BusError::Overloaded { .. })),
            "a request beyond the bound: {result:?}"
        );
    }
    assert_eq!(
        probe.calls(),
        BOUND,
        "refused requests never reached the handler"
    );

    // The requests in flight were not disturbed by the refusals.
    probe.release();
    for task in in_flight {
        within("a held request's reply", task)
            .await
            .expect("the call task")
            .expect("a request within the bound succeeds");
    }
    // And the capacity is back.
    client_after(&world, &patient).await;
    assert_eq!(probe.calls(), BOUND + 1);
}

/// One more request, answered now that nothing is in flight.
async fn client_after(world: &World, options: &CallOptions) {
    let reply = within(
        "a request after the held ones finished",
        world
            .probe_client()
            .record_with(echo("after"), options.clone()),
    )
    .await
    .expect("a request is served again once the held ones finished");
    assert_eq!(echoed(reply).text, "after");
}
