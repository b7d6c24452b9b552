//! The admin listener: liveness, readiness that drops when shutdown begins, metrics.

use std::time::Duration;

use switchboard::CallOptions;
use switchboard::service::RuntimeSettings;

use crate::helpers::{EchoRequest, World, echo, memory_store};

async fn get(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        match agent.get(&url).call() {
            Ok(mut response) => (
                response.status().as_u16(),
                response.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    })
    .await
    .expect("the HTTP thread")
}

#[tokio::test]
async fn health_readiness_and_metrics_then_readiness_drops_during_the_drain() {
    let world = World::new().await;
    let settings = RuntimeSettings {
        admin_addr: Some("127.0.0.1:0".parse().expect("an address")),
        ..Default::default()
    };
    let probe = world
        .start_probe_with(settings, memory_store().await, None)
        .await;
    let base = format!(
        "http://{}",
        probe.running.admin_addr().expect("an admin listener")
    );
    world
        .probe_client()
        .echo(echo("counted"))
        .await
        .expect("echo");

    assert_eq!(get(format!("{base}/healthz")).await.0, 200);
    assert_eq!(get(format!("{base}/readyz")).await.0, 200);
    let (status, metrics) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sb_requests_total{subject=\"probe.v1.echo\",outcome=\"ok\"}"),
        "{metrics}"
    );

    let client = world.probe_client();
    let slow = tokio::spawn(async move {
        let request = EchoRequest {
            text: "slow".into(),
            sleep_ms: 800,
            ..Default::default()
        };
        client.record_with(request, CallOptions::default()).await
    });
    let calls = || probe.calls();
    switchboard::testing::eventually(Duration::from_secs(5), || async {
        (calls() == 2).then_some(())
    })
    .await
    .expect("the slow request is in flight");
    let stopping = tokio::spawn(probe.running.stop());
    let not_ready = switchboard::testing::eventually(Duration::from_secs(2), || {
        let url = format!("{base}/readyz");
        async move { (get(url).await.0 == 503).then_some(()) }
    })
    .await;

    assert!(
        not_ready.is_some(),
        "readiness dropped while the request was still in flight"
    );
    assert!(
        slow.await.expect("task").is_ok(),
        "the in-flight request still got its reply"
    );
    stopping.await.expect("task").expect("stops cleanly");
    assert_eq!(
        get(format!("{base}/healthz")).await.0,
        0,
        "the listener is closed after stop"
    );
}
