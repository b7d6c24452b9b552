//! The admin listener: liveness, readiness that drops when shutdown begins, metrics.
//!
//! The request in flight during the drain is held in the handler ([`held`]) until the test
//! releases it, so "readiness dropped while work was in flight" holds however slow the
//! machine is.

use std::time::Duration;

use switchboard::CallOptions;
use switchboard::service::RuntimeSettings;
use switchboard::testing::eventually;

use crate::helpers::{PATIENCE, World, echo, held, memory_store, within};

/// The metrics line a successful `Echo` leaves.
const ECHO_OK: &str = "sb_requests_total{subject=\"probe.v1.echo\",outcome=\"ok\"}";

/// The in-flight gauge of the probe's `record` endpoint.
const IN_FLIGHT: &str = "sb_requests_in_flight{subject=\"probe.v1.record\"}";

/// The value of the sample `series` (name and labels) in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// `GET url`: the status and body, or status 0 when nothing answers (connection refused).
async fn get(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(PATIENCE))
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
        // Far longer than the test waits for anything: the drain never gives up on the
        // held request before the test releases it.
        shutdown_grace: 3 * PATIENCE,
        ..Default::default()
    };
    let probe = world
        .start_probe_with(settings, memory_store().await, None)
        .await;
    let base = format!(
        "http://{}",
        probe.running.admin_addr().expect("an admin listener")
    );
    within("an echo", world.probe_client().echo(echo("counted")))
        .await
        .expect("echo");

    assert_eq!(get(format!("{base}/healthz")).await.0, 200);
    assert_eq!(get(format!("{base}/readyz")).await.0, 200);
    // The counter moves just after the reply leaves, so the test waits for it.
    let metrics = eventually(PATIENCE, || async {
        let (status, body) = get(format!("{base}/metrics")).await;
        (status == 200 && body.contains(ECHO_OK)).then_some(body)
    })
    .await;
    assert!(
        metrics.is_some(),
        "/metrics counts the echo ({ECHO_OK}) within {PATIENCE:?}"
    );

    // A request held in the handler: in flight until released.
    let client = world.probe_client();
    let in_flight = tokio::spawn(async move {
        client
            .record_with(held("in flight"), CallOptions::default().timeout(PATIENCE))
            .await
    });
    probe
        .until_calls(2, "the held request reached the handler")
        .await;
    let (_, metrics) = get(format!("{base}/metrics")).await;
    let in_flight_now = sample(&metrics, IN_FLIGHT).unwrap_or(0.0);
    assert!(
        in_flight_now >= 1.0,
        "{IN_FLIGHT} counts the held request: {in_flight_now}"
    );
    let release = probe.releaser();
    let stopping = tokio::spawn(probe.running.stop());

    let not_ready = eventually(PATIENCE, || {
        let url = format!("{base}/readyz");
        async move { (get(url).await.0 == 503).then_some(()) }
    })
    .await;
    assert!(
        not_ready.is_some(),
        "readiness dropped to 503 within {PATIENCE:?} of the stop"
    );
    assert!(
        !in_flight.is_finished() && !stopping.is_finished(),
        "readiness dropped while the request was still in flight and the stop waited for it"
    );
    assert_eq!(
        get(format!("{base}/healthz")).await.0,
        200,
        "the process stays live while it drains"
    );

    release();
    within("the held request's reply", in_flight)
        .await
        .expect("task")
        .expect("the in-flight request still got its reply");
    within("the stop", stopping)
        .await
        .expect("task")
        .expect("stops cleanly");
    assert_eq!(
        get(format!("{base}/healthz")).await.0,
        0,
        "the listener is closed after stop"
    );
}

/// Readiness asks the store: with the service's MongoDB down, `/readyz` is 503 and a keyed
/// command (which must write its idempotency record) is refused with 503, nothing written;
/// once MongoDB is back, both recover without restarting the service.
#[tokio::test]
async fn readiness_and_commands_follow_the_database() {
    let world = World::new().await;
    // Durable commits: a killed SecantusDB otherwise loses its last ones (MongoDB on a
    // replica set, journaled by default, does not).
    let mut mongo = switchboard::testing::mongo::MongoServer::start_with(&["--sync-on-commit"]);
    let url = format!(
        "{}&serverSelectionTimeoutMS=500",
        mongo.database_url("probe")
    );
    let store = switchboard::store::open(&url).await.expect("open MongoDB");
    let settings = RuntimeSettings {
        admin_addr: Some("127.0.0.1:0".parse().expect("an address")),
        ..Default::default()
    };
    let probe = world.start_probe_with(settings, store, None).await;
    let readyz = format!(
        "http://{}/readyz",
        probe.running.admin_addr().expect("an admin listener")
    );
    assert_eq!(get(readyz.clone()).await.0, 200, "ready with MongoDB up");
    let client = world.probe_client();
    let keyed = |key: &str| {
        client.record_with(
            echo("kept"),
            CallOptions::default()
                .idempotency_key(key)
                .timeout(Duration::from_secs(5)),
        )
    };
    keyed("before")
        .await
        .expect("a command while MongoDB is up");

    mongo.kill();
    let not_ready = eventually(PATIENCE, || async {
        (get(readyz.clone()).await.0 == 503).then_some(())
    })
    .await;
    assert!(
        not_ready.is_some(),
        "/readyz must turn 503 while MongoDB is down"
    );
    let refused = keyed("during").await.expect_err("MongoDB is down");
    assert_eq!(
        refused.code(),
        switchboard::wire::ErrorCode::Overloaded,
        "a command that cannot be stored is a 503: {refused:?}"
    );

    mongo.start_again();
    let ready = eventually(PATIENCE, || async {
        (get(readyz.clone()).await.0 == 200).then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "/readyz must turn 200 once MongoDB is back"
    );
    let served = eventually(PATIENCE, || async { keyed("after").await.ok() }).await;
    assert!(
        served.is_some(),
        "commands must be served again without a restart"
    );
}
