//! What a handler sees: caller, deadline, idempotency key, trace; and what it passes on.

use std::sync::Arc;
use std::time::Duration;

use switchboard::auth::{AuthSettings, JwtVerifier, sign_hs256};
use switchboard::service::RuntimeSettings;
use switchboard::settings::Secret;
use switchboard::{BusError, CallOptions};

use crate::helpers::{EchoRequest, PATIENCE, World, echo, echoed, memory_store, within};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The secret verifying probes check tokens with.
const SECRET: &str = "test-secret-of-enough-length-0123456789";

/// A probe that verifies HS256 tokens signed with [`SECRET`].
async fn start_verifying_probe(world: &World, auth: &AuthSettings) -> crate::helpers::Probe {
    let verifier = Arc::new(JwtVerifier::new(auth).await.expect("a verifier"));
    world
        .start_probe_with(
            RuntimeSettings::default(),
            memory_store().await,
            Some(verifier),
        )
        .await
}

#[tokio::test]
async fn the_handler_sees_the_deadline_key_and_trace() {
    let world = World::new().await;
    let _probe = world.start_probe().await;

    let reply = world
        .probe_client()
        .echo_with(
            echo("look"),
            CallOptions::default()
                .timeout(PATIENCE)
                .idempotency_key("key-7")
                .trace_context(TRACEPARENT.into(), None),
        )
        .await
        .expect("the call succeeds");

    let seen = echoed(reply);
    let limit = i64::try_from(PATIENCE.as_millis()).expect("millis");
    assert!(
        seen.remaining_ms > 0 && seen.remaining_ms <= limit,
        "{}",
        seen.remaining_ms
    );
    assert_eq!(seen.idempotency_key, "key-7");
    assert_eq!(seen.traceparent, TRACEPARENT);
    assert_eq!(seen.caller, "", "no token means anonymous");
}

#[tokio::test]
async fn downstream_calls_inherit_the_deadline_and_trace() {
    let world = World::new().await;
    let _probe = world.start_probe().await;

    let reply = world
        .probe_client()
        .echo_with(
            EchoRequest {
                text: "relay".into(),
                forward: Some(true),
                ..Default::default()
            },
            CallOptions::default()
                .timeout(Duration::from_secs(4))
                .trace_context(TRACEPARENT.into(), None),
        )
        .await
        .expect("the call succeeds");

    let downstream = echoed(reply);
    assert_eq!(downstream.text, "relay");
    assert!(
        downstream.remaining_ms > 0 && downstream.remaining_ms <= 4000,
        "the downstream call kept the caller's deadline ({} ms left), not the 5 s default",
        downstream.remaining_ms
    );
    assert_eq!(downstream.traceparent, TRACEPARENT);
}

#[tokio::test]
async fn a_verified_token_names_the_caller_and_is_forwarded() {
    let world = World::new().await;
    let auth = switchboard::testing::hs256_auth(SECRET);
    let _probe = start_verifying_probe(&world, &auth).await;
    let token = switchboard::testing::token(SECRET, "user-42", &[]);

    let direct = world
        .probe_client()
        .echo_with(echo("me"), CallOptions::default().bearer_token(&token))
        .await
        .expect("a valid token is accepted");
    assert_eq!(echoed(direct).caller, "user-42");

    let forwarded = world
        .probe_client()
        .echo_with(
            EchoRequest {
                forward: Some(true),
                ..Default::default()
            },
            CallOptions::default().bearer_token(&token),
        )
        .await
        .expect("the forwarded call succeeds");
    assert_eq!(
        echoed(forwarded).caller,
        "user-42",
        "the token travels downstream"
    );
}

/// An HS256 token for `subject` signed with `secret` whose `exp` is `ago` before a minute
/// from now (so `Duration::ZERO` gives a valid token).
fn token_expiring(secret: &str, subject: &str, ago: Duration) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let exp = (now + Duration::from_secs(60))
        .saturating_sub(ago)
        .as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": subject, "exp": exp, "iat": exp.saturating_sub(60) }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs")
}

#[tokio::test]
async fn bad_or_unverifiable_tokens_are_refused_with_401() {
    let world = World::new().await;
    let auth = switchboard::testing::hs256_auth(SECRET);
    let probe = start_verifying_probe(&world, &auth).await;
    let other = Secret::new("some-other-secret-of-enough-length-987654");
    let forged = sign_hs256(&other, &auth, "mallory", &[], Duration::from_secs(60)).expect("signs");
    // Expired nine minutes ago: far beyond the default 30 s leeway.
    let expired = token_expiring(SECRET, "late", Duration::from_secs(600));
    // The same key and subject, expiring in a minute: accepted, so only `exp` refuses the
    // expired one.
    let fresh = token_expiring(SECRET, "late", Duration::ZERO);

    for (what, token) in [
        ("forged", forged.as_str()),
        ("not a JWT", "not-a-jwt"),
        ("expired", expired.as_str()),
    ] {
        let result = world
            .probe_client()
            .echo_with(echo("x"), CallOptions::default().bearer_token(token))
            .await;
        assert!(
            matches!(result, Err(BusError::Unauthorized { .. })),
            "{what}: {result:?}"
        );
    }
    assert_eq!(probe.calls(), 0, "no refused request reaches the handler");
    let accepted = world
        .probe_client()
        .echo_with(echo("x"), CallOptions::default().bearer_token(&fresh))
        .await
        .expect("a valid token is accepted");
    assert_eq!(echoed(accepted).caller, "late");
}

#[tokio::test]
async fn a_service_without_a_key_refuses_tokens() {
    let world = World::new().await;
    let _probe = world.start_probe().await;
    let token = switchboard::testing::token(SECRET, "u", &[]);

    let result = world
        .probe_client()
        .echo_with(echo("x"), CallOptions::default().bearer_token(&token))
        .await;

    match result {
        Err(BusError::Unauthorized { message, .. }) => {
            assert!(message.contains("no verification key"), "{message}")
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn replies_carry_the_response_to_and_trace_headers() {
    use switchboard::wire;
    let world = World::new().await;
    let _probe = world.start_probe().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(wire::MESSAGE_ID, "0193c1c2-0000-7000-8000-000000000001");
    headers.insert(wire::TRACEPARENT, TRACEPARENT);
    let payload = prost::Message::encode_to_vec(&echo("raw"));

    let reply = within(
        "the reply",
        world.bus.nats().request_with_headers(
            crate::helpers::probe_rpc::ECHO.subject,
            headers,
            payload.into(),
        ),
    )
    .await
    .expect("the service answers a plain NATS request");

    let headers = reply.headers.expect("reply headers");
    let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(
        get(wire::RESPONSE_TO).as_deref(),
        Some("0193c1c2-0000-7000-8000-000000000001")
    );
    assert_eq!(get(wire::TRACEPARENT).as_deref(), Some(TRACEPARENT));
    assert_eq!(
        get(wire::SERVICE_ERROR_CODE),
        None,
        "a success carries no error headers"
    );
}

#[tokio::test]
async fn requests_carry_the_switchboard_headers() {
    use futures::StreamExt;
    use switchboard::wire;
    let world = World::new().await;
    // A plain subscriber in the probe's place sees exactly what the client sends.
    let mut spy = world
        .bus
        .nats()
        .subscribe(crate::helpers::probe_rpc::RECORD.subject)
        .await
        .expect("subscribes");
    world.bus.nats().flush().await.expect("flushes");
    let client = world.probe_client();
    let before = std::time::SystemTime::now();
    let call = tokio::spawn(async move {
        client
            .record_with(
                echo("x"),
                CallOptions::default()
                    .timeout(Duration::from_millis(300))
                    .idempotency_key("key-9")
                    .bearer_token("tok")
                    .trace_context(TRACEPARENT.into(), Some("vendor=1".into())),
            )
            .await
    });

    let request = within("the request", spy.next())
        .await
        .expect("the request arrives");
    let after = std::time::SystemTime::now();
    // Nobody answers the spied request: the call ends at its deadline.
    let unanswered = within("the call", call).await.expect("the call task");
    assert!(
        matches!(unanswered, Err(BusError::Timeout { .. })),
        "{unanswered:?}"
    );
    let headers = request.headers.expect("request headers");
    let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    let id = get(wire::MESSAGE_ID).expect("a message id");
    assert_eq!(
        uuid::Uuid::parse_str(&id)
            .expect("a UUID")
            .get_version_num(),
        7
    );
    assert_eq!(get(wire::SENDER).as_deref(), Some("tests"));
    let sent = get(wire::TIMESTAMP)
        .and_then(|t| t.parse::<u64>().ok())
        .expect("a timestamp");
    let deadline = get(wire::DEADLINE)
        .and_then(|t| t.parse::<u64>().ok())
        .expect("a deadline");
    // Both were taken while the call was being sent, the deadline 300 ms after.
    let (before, after) = (
        switchboard::wire::unix_millis(before),
        switchboard::wire::unix_millis(after),
    );
    assert!(
        (before..=after).contains(&sent),
        "sent {sent} outside [{before}, {after}]"
    );
    assert!(
        (before + 300..=after + 300).contains(&deadline) && deadline >= sent,
        "deadline {deadline} vs sent {sent}"
    );
    assert_eq!(get(wire::IDEMPOTENCY_KEY).as_deref(), Some("key-9"));
    assert_eq!(get(wire::AUTHORIZATION).as_deref(), Some("Bearer tok"));
    assert_eq!(get(wire::TRACEPARENT).as_deref(), Some(TRACEPARENT));
    assert_eq!(get(wire::TRACESTATE).as_deref(), Some("vendor=1"));
}

#[tokio::test]
async fn an_rpc_that_is_not_public_refuses_anonymous_callers() {
    let world = World::new().await;
    let auth = switchboard::testing::hs256_auth(SECRET);
    let probe = start_verifying_probe(&world, &auth).await;
    let token = switchboard::testing::token(SECRET, "user-7", &[]);

    let anonymous = world.probe_client().whoami(echo("who")).await;
    let known = world
        .probe_client()
        .whoami_with(echo("who"), CallOptions::default().bearer_token(&token))
        .await;

    match anonymous {
        Err(BusError::Unauthorized { message, .. }) => {
            assert!(message.contains("requires a bearer token"))
        }
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(echoed(known.expect("with a token")).caller, "user-7");
    assert_eq!(
        probe.calls(),
        1,
        "the anonymous call never reached the handler"
    );
}
