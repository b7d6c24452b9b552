//! GraphQL over WebSocket (`graphql-transport-ws`) with the token in `connection_init`.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{admin, spawn_system};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Opens a `graphql-transport-ws` connection acting as the holder of `token`.
async fn connect(system: &crate::helpers::TestSystem, token: &str) -> Socket {
    let url = system.url("/graphql/ws").replace("http://", "ws://");
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("a header value"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrades");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(b"graphql-transport-ws".as_slice())
    );

    socket
        .send(text(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })))
        .await
        .expect("sends init");
    let ack = next_message(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

async fn next_message(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(_)) => continue,
            other => panic!("the connection ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_query_runs_over_graphql_transport_ws() {
    let system = spawn_system().await;
    system.create_user("ada@example.org").await;
    let mut socket = connect(&system, &admin()).await;

    socket
        .send(text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ users { users { email } } }" } })))
        .await
        .expect("sends subscribe");

    let next = next_message(&mut socket).await;
    let complete = next_message(&mut socket).await;

    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["users"]["users"][0]["email"],
        "ada@example.org"
    );
    assert_eq!(complete["type"], "complete");
}

#[tokio::test]
async fn administrators_can_follow_the_readiness_feed() {
    let system = spawn_system().await;
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
    let url = system.url("/graphql/ws").replace("http://", "ws://");
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("a header value"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrades");

    socket
        .send(text(
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged" } }),
        ))
        .await
        .expect("sends init");

    let closed = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(Message::Text(text))) => panic!("expected the connection to close, got {text}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    let frame = closed.expect("a close frame");
    assert!(frame.reason.contains("not valid"), "{frame:?}");
}
