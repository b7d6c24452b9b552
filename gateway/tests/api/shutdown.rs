//! Shutdown: the gateway answers every request it was handling, closes idle and half-sent
//! connections, and returns from `run_until_stopped` within its grace period.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Options, PATIENCE, TestSystem, spawn_system_with};

async fn raw_connection(system: &TestSystem) -> TcpStream {
    let addr = system.base.trim_start_matches("http://").to_string();
    TcpStream::connect(addr).await.expect("connects")
}

/// Reads until the server closes the connection (or resets it), within [`PATIENCE`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("the connection stayed open for {PATIENCE:?}"),
        }
    }
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_do_not_keep_the_gateway_alive() {
    let mut system = spawn_system_with(Options {
        shutdown_grace: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    // Half a request head, never finished.
    let mut half_head = raw_connection(&system).await;
    half_head
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n")
        .await
        .expect("writes");
    // A whole head and part of the body it announces.
    let mut half_body = raw_connection(&system).await;
    half_body
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
        .await
        .expect("writes");
    // An idle keep-alive connection that has had its answer.
    let mut idle = raw_connection(&system).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("writes");
    let mut answer = [0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, idle.read(&mut answer))
        .await
        .expect("answered in time")
        .expect("reads");
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );

    let stopped = system.shut_down_gateway();

    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("run_until_stopped returns within the grace period, not never")
        .expect("the task")
        .expect("serving ends cleanly");
    for connection in [&mut half_head, &mut half_body, &mut idle] {
        read_until_closed(connection).await;
    }
}

#[tokio::test]
async fn requests_in_flight_at_shutdown_are_all_answered() {
    let mut system = spawn_system_with(Options {
        shutdown_grace: PATIENCE,
        ..Options::default()
    })
    .await;
    let query = "{ probeEcho(text: \"block\") { ... on Echoed { text } } }";
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let url = system.url("/graphql");
            tokio::spawn(async move {
                crate::helpers::http(
                    "POST",
                    &url,
                    vec![("Content-Type".into(), "application/json".into())],
                    json!({ "query": query }).to_string().into_bytes(),
                )
                .await
            })
        })
        .collect();
    // All 20 are in the probe, so the gateway is provably handling each of them.
    system.probe.wait_for_entered(20).await;

    let stopped = system.shut_down_gateway();
    // The listener closes when shutdown begins: only then may the requests finish.
    let addr = system.base.trim_start_matches("http://").to_string();
    let refused = switchboard::testing::eventually(PATIENCE, || {
        let addr = addr.clone();
        async move { TcpStream::connect(addr).await.err() }
    })
    .await;
    assert!(
        refused.is_some(),
        "the gateway stopped accepting connections"
    );
    system.probe.open_gate();

    for request in requests {
        let reply = request.await.expect("the request task");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.json()["data"]["probeEcho"]["text"],
            "block",
            "{}",
            reply.body
        );
    }
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("the gateway stops")
        .expect("the task")
        .expect("serving ends cleanly");
}

#[tokio::test]
async fn a_connection_waiting_to_be_accepted_at_shutdown_is_answered() {
    let mut system = spawn_system_with(Options {
        shutdown_grace: PATIENCE,
        ..Options::default()
    })
    .await;
    let addr = system.base.trim_start_matches("http://").to_string();
    // Blocking calls on the test's single-threaded runtime: the gateway, on the same
    // thread, cannot accept this connection before the shutdown signal is given.
    let mut waiting = std::net::TcpStream::connect(&addr).expect("connects");
    std::io::Write::write_all(
        &mut waiting,
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n",
    )
    .expect("writes");
    waiting.set_read_timeout(Some(PATIENCE)).expect("a timeout");

    let stopped = system.shut_down_gateway();
    let answer = tokio::task::spawn_blocking(move || {
        let mut answer = Vec::new();
        // The gateway closes the connection after answering, as it is shutting down.
        let _ = std::io::Read::read_to_end(&mut waiting, &mut answer);
        answer
    })
    .await
    .expect("the reading thread");

    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("the gateway stops")
        .expect("the task")
        .expect("serving ends cleanly");
}
