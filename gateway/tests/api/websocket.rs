//! GraphQL over WebSocket (`graphql-transport-ws`) with the token in `connection_init`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::helpers::{Options, PATIENCE, TestSystem, admin, spawn_system, spawn_system_with};
use gateway::limits::Limits;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Upgrades to `graphql-transport-ws` without initialising.
async fn open(system: &TestSystem) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = system.url("/graphql/ws").replace("http://", "ws://");
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("a header value"),
    );
    let (socket, response) =
        tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the upgrade is answered in time")?;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(b"graphql-transport-ws".as_slice())
    );
    Ok(socket)
}

/// Opens a `graphql-transport-ws` connection acting as the holder of `token`.
pub async fn connect(system: &TestSystem, token: &str) -> Socket {
    connect_as(system, Some(token)).await
}

/// Opens a `graphql-transport-ws` connection, anonymous without a token.
pub async fn connect_as(system: &TestSystem, token: Option<&str>) -> Socket {
    let mut socket = open(system).await.expect("upgrades");
    let payload = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    socket
        .send(text(
            json!({ "type": "connection_init", "payload": payload }),
        ))
        .await
        .expect("sends init");
    let ack = next_message(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

/// The next text message, within [`PATIENCE`].
pub async fn next_message(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).expect("JSON"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("the connection ended: {other:?}"),
            Err(_) => panic!("no message within {PATIENCE:?}"),
        }
    }
}

/// The close frame that ends the connection, within [`PATIENCE`]; text messages before it
/// fail the test.
async fn close_frame(socket: &mut Socket) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame,
            Ok(Some(Ok(Message::Text(text)))) => {
                panic!("expected the connection to close, got {text}")
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("the connection stayed open for {PATIENCE:?}"),
        }
    }
}

/// Runs `query` as operation `id` and returns the payload of its `next` message, checking
/// that `complete` follows.
async fn run(socket: &mut Socket, id: &str, query: &str) -> Value {
    socket
        .send(text(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
        ))
        .await
        .expect("sends subscribe");
    let next = next_message(socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["id"], id, "{next}");
    let complete = next_message(socket).await;
    assert_eq!(complete["type"], "complete", "{complete}");
    next["payload"].clone()
}

pub fn codes(payload: &Value) -> Vec<String> {
    payload["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_query_runs_over_graphql_transport_ws() {
    let system = spawn_system().await;
    system.create_user("ada@example.org").await;
    let mut socket = connect(&system, &admin()).await;

    let payload = run(&mut socket, "1", "{ users { nodes { email } } }").await;

    assert_eq!(
        payload["data"]["users"]["nodes"][0]["email"],
        "ada@example.org"
    );
}

#[tokio::test]
async fn administrators_can_follow_the_readiness_feed() {
    let mut system = spawn_system().await;
    // Ready means every service of a GraphQL field answers: the booking flow's too.
    system.start_booking_services().await;
    let mut socket = connect(&system, &admin()).await;

    socket
        .send(text(json!({ "id": "r", "type": "subscribe", "payload": { "query": "subscription { readiness(everyMs: 500) { ready natsConnected missing } }" } })))
        .await
        .expect("sends subscribe");
    let first = next_message(&mut socket).await;
    let second = next_message(&mut socket).await;
    socket
        .send(text(json!({ "id": "r", "type": "complete" })))
        .await
        .expect("stops the feed");

    for update in [first, second] {
        assert_eq!(update["type"], "next", "{update}");
        assert_eq!(
            update["payload"]["data"]["readiness"],
            json!({ "ready": true, "natsConnected": true, "missing": [] })
        );
    }
}

#[tokio::test]
async fn a_bad_token_in_connection_init_is_refused() {
    let system = spawn_system().await;
    let mut socket = open(&system).await.expect("upgrades");

    socket
        .send(text(
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged" } }),
        ))
        .await
        .expect("sends init");

    let frame = close_frame(&mut socket).await.expect("a close frame");
    assert!(frame.reason.contains("not valid"), "{frame:?}");
    // graphql-transport-ws's "Forbidden", so clients do not retry the same token.
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed_with_4408() {
    let system = spawn_system_with(Options {
        ws_init_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let mut silent = open(&system).await.expect("upgrades");

    let frame = close_frame(&mut silent).await.expect("a close frame");

    assert_eq!(u16::from(frame.code), 4408, "{frame:?}");
    let mut socket = connect(&system, &admin()).await;
    let payload = run(&mut socket, "1", "{ users { pageInfo { hasNextPage } } }").await;
    assert_eq!(
        payload["data"]["users"]["pageInfo"]["hasNextPage"], false,
        "{payload}"
    );
}

#[tokio::test]
async fn websockets_beyond_the_bound_are_refused_with_503() {
    let system = spawn_system_with(Options {
        max_websockets: 1,
        ..Options::default()
    })
    .await;
    let first = connect(&system, &admin()).await;

    let refused = open(&system).await;

    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON body");
            assert_eq!(body["errors"][0]["extensions"]["code"], "OVERLOADED");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // The first socket still works, and its place is free again once it closes.
    let mut first = first;
    let payload = run(&mut first, "1", "{ users { pageInfo { hasNextPage } } }").await;
    assert!(codes(&payload).is_empty(), "{payload}");
    first.close(None).await.expect("closes");
    let reopened =
        switchboard::testing::eventually(PATIENCE, || async { open(&system).await.ok() }).await;
    assert!(
        reopened.is_some(),
        "a socket opens once the first has closed"
    );
}

#[tokio::test]
async fn the_limits_of_http_apply_over_websocket() {
    let system = spawn_system_with(Options {
        limits: Limits {
            max_depth: 4,
            max_complexity: 12,
            max_aliases: 2,
            max_root_fields: 3,
            max_nesting: 16,
        },
        ..Options::default()
    })
    .await;
    let cases = crate::limits::over_the_limits(16);
    let mut socket = connect(&system, &admin()).await;

    for (n, (query, code)) in cases.iter().enumerate() {
        let over_websocket = run(&mut socket, &n.to_string(), query).await;
        let over_http = system.graphql(query, json!({}), Some(&admin())).await;

        assert_eq!(codes(&over_websocket), [*code], "{over_websocket}");
        assert_eq!(over_http.status, 400, "{code}: {}", over_http.body);
        assert_eq!(over_http.error_codes(), [*code], "{}", over_http.body);
    }
    let within = run(&mut socket, "ok", "{ users { nodes { id } } }").await;
    assert!(codes(&within).is_empty(), "{within}");
}

#[tokio::test]
async fn a_request_over_websocket_times_out_with_the_request_timeout() {
    let system = spawn_system_with(Options {
        request_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    // Anonymous: the probe's echo is public, and the probe verifies no tokens.
    let mut socket = connect_as(&system, None).await;

    // The probe holds `block` requests until the gate opens, which it never does here.
    let payload = run(
        &mut socket,
        "slow",
        "{ probeEcho(text: \"block\") { __typename } }",
    )
    .await;

    assert_eq!(codes(&payload), ["TIMEOUT"], "{payload}");
    assert_eq!(payload["data"]["probeEcho"], Value::Null);
    let after = run(
        &mut socket,
        "fast",
        "{ probeEcho(text: \"hi\") { __typename } }",
    )
    .await;
    assert!(codes(&after).is_empty(), "{after}");
}

#[tokio::test]
async fn open_websockets_are_closed_at_shutdown() {
    let mut system = spawn_system().await;
    let mut socket = connect(&system, &admin()).await;

    let stopped = system.shut_down_gateway();
    let frame = close_frame(&mut socket).await.expect("a close frame");

    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("the gateway stops in time")
        .expect("the task")
        .expect("serving ends cleanly");
}
