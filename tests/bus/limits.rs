//! Load: replicas share it; beyond the in-flight bound requests are refused, not queued.

use std::collections::HashMap;
use std::time::Duration;

use switchboard::service::RuntimeSettings;
use switchboard::{BusError, CallOptions};

use crate::helpers::{EchoRequest, World, echo, echoed, memory_store};

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
async fn a_burst_beyond_the_bound_is_partly_refused_and_the_rest_succeeds() {
    let world = World::new().await;
    let settings = RuntimeSettings {
        max_in_flight: 4,
        ..Default::default()
    };
    let probe = world
        .start_probe_with(settings, memory_store().await, None)
        .await;

    let burst = (0..40).map(|n| {
        let client = world.probe_client();
        tokio::spawn(async move {
            let slow = EchoRequest {
                text: n.to_string(),
                sleep_ms: 100,
                ..Default::default()
            };
            client
                .record_with(slow, CallOptions::default().timeout(Duration::from_secs(5)))
                .await
        })
    });
    let results = futures::future::join_all(burst).await;

    let (mut ok, mut overloaded) = (0, 0);
    for result in results {
        match result.expect("the call task") {
            Ok(_) => ok += 1,
            Err(BusError::Overloaded { .. }) => overloaded += 1,
            Err(other) => panic!("unexpected failure: {other:?}"),
        }
    }
    assert!(overloaded > 0, "some requests were refused");
    assert!(ok >= 4, "at least the bound succeeded ({ok})");
    assert_eq!(ok + overloaded, 40);
    assert_eq!(
        probe.calls(),
        ok,
        "refused requests never reached the handler"
    );
}
