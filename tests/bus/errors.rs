//! Failures come back as typed errors, quickly, and never take the service down.

use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use switchboard::{BusError, CallOptions, wire};

use crate::helpers::{
    EchoRequest, PATIENCE, World, answered, echo, echoed, held, probe_rpc, within,
};

#[tokio::test]
async fn no_service_gives_no_responders_long_before_the_deadline() {
    let world = World::new().await;
    let started = Instant::now();

    let result = world
        .probe_client()
        .record_with(echo("anyone?"), CallOptions::default().timeout(PATIENCE))
        .await;

    match result {
        Err(BusError::NoResponders { subject }) => {
            assert_eq!(subject, probe_rpc::RECORD.subject)
        }
        other => panic!("expected no responders, got {other:?}"),
    }
    // Told by the server at once, not after waiting out the deadline.
    assert!(
        started.elapsed() < PATIENCE / 2,
        "took {:?} of a {PATIENCE:?} deadline",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_reply_times_out_and_the_late_reply_is_ignored() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();

    // The handler holds this request until released, so its reply is certainly late.
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .record_with(
                    held("slow"),
                    CallOptions::default().timeout(Duration::from_secs(3)),
                )
                .await
        }
    });
    probe
        .until_calls(1, "the slow request reaches the handler")
        .await;
    let result = within("the slow call", slow).await.expect("the call task");
    assert!(
        matches!(result, Err(BusError::Timeout { .. })),
        "{result:?}"
    );

    // The next call gets its own reply.
    let next = client
        .record(echo("next"))
        .await
        .expect("the next call succeeds");
    assert_eq!(echoed(next).text, "next");
    // Now the late reply is sent: `$SRV.STATS` counts a request after its reply left.
    probe.release();
    switchboard::testing::eventually(PATIENCE, || async {
        (answered(&world.bus, &probe, "Record").await == 2).then_some(())
    })
    .await
    .expect("the late reply is sent");
    // The late reply, already sent, reached this connection before the next reply does;
    // it must not be taken for it.
    let after = client
        .record(echo("after"))
        .await
        .expect("a later call succeeds");
    assert_eq!(echoed(after).text, "after");
    assert_eq!(probe.calls(), 3, "the timed-out call was not retried");
}

#[tokio::test]
async fn work_whose_deadline_has_passed_is_dropped_unexecuted() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let mut headers = HeaderMap::new();
    let past = SystemTime::now() - Duration::from_secs(1);
    headers.insert(wire::DEADLINE, wire::unix_millis(past).to_string().as_str());
    let payload = prost::Message::encode_to_vec(&echo("too late"));

    let reply = within(
        "the reply",
        world
            .bus
            .nats()
            .request_with_headers(probe_rpc::RECORD.subject, headers, payload.into()),
    )
    .await
    .expect("the service answers");

    let headers = reply.headers.expect("error headers");
    assert_eq!(
        headers.get(wire::SERVICE_ERROR_CODE).map(|v| v.as_str()),
        Some("504")
    );
    assert_eq!(probe.calls(), 0, "the handler must not run");
}

#[tokio::test]
async fn an_expired_deadline_fails_before_sending() {
    let world = World::new().await;
    let probe = world.start_probe().await;

    let past = SystemTime::now() - Duration::from_millis(1);
    let result = world
        .probe_client()
        .echo_with(echo("late"), CallOptions::default().deadline(past))
        .await;

    assert!(
        matches!(result, Err(BusError::DeadlineExpired { .. })),
        "{result:?}"
    );
    assert_eq!(probe.calls(), 0);
}

#[tokio::test]
async fn a_malformed_payload_gets_400_and_the_service_keeps_serving() {
    let world = World::new().await;
    let _probe = world.start_probe().await;

    // Field 1 declared as a length-delimited string running past the end of the buffer.
    let garbage = vec![0x0a, 0xff, 0x01, 0x02];
    let reply = within(
        "the reply",
        world
            .bus
            .nats()
            .request(probe_rpc::ECHO.subject, garbage.into()),
    )
    .await
    .expect("the service answers");

    let headers = reply.headers.clone().expect("error headers");
    assert_eq!(
        headers.get(wire::SERVICE_ERROR_CODE).map(|v| v.as_str()),
        Some("400")
    );
    let status: switchboard::proto::switchboard::v1::Status =
        prost::Message::decode(reply.payload).expect("a Status body");
    assert_eq!(status.code, 400);
    assert!(status.message.contains("malformed"), "{}", status.message);

    let still = world.probe_client().echo(echo("still here")).await;
    assert_eq!(
        echoed(still.expect("the service still serves")).text,
        "still here"
    );
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_service_keeps_serving() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();

    let result = client
        .record(EchoRequest {
            panic: Some(true),
            ..Default::default()
        })
        .await;

    match result {
        Err(BusError::Service {
            code: 500, message, ..
        }) => {
            assert_eq!(message, "internal error", "internals must not leak");
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    let still = client.record(echo("still here")).await;
    assert_eq!(
        echoed(still.expect("the service still serves")).text,
        "still here"
    );
    assert_eq!(probe.calls(), 2);
}
