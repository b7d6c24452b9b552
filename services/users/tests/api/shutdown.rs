//! SIGTERM to the real `users` binary while requests are in flight.

use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard::proto::users::v1::create_user_reply::Outcome;
use switchboard::{BusError, CallOptions};

use crate::helpers::{create_request, spawn_app};

/// Requests fired at the service around the SIGTERM.
const BURST: usize = 300;

#[tokio::test]
async fn sigterm_answers_every_accepted_request_then_exits_zero() {
    let mut app = spawn_app().await;
    // The in-process instance would share the load; only the binary must serve here.
    app.stop().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_users"))
        .env("NATS_URL", app.server.url())
        .env("STORE_URL", app.store_url())
        .env("JWT_HS256_SECRET", crate::helpers::SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the users binary starts");
    let pid = child.id().expect("a pid").to_string();
    let client = app.users.clone();
    let probe = app.users.clone();
    switchboard::testing::eventually(Duration::from_secs(10), || {
        let probe = probe.clone();
        async move { probe.list(Default::default()).await.ok().map(|_| ()) }
    })
    .await
    .expect("the binary serves");

    let (first_reply, first_seen) = tokio::sync::oneshot::channel::<()>();
    let first_reply = std::sync::Mutex::new(Some(first_reply));
    let first_reply = std::sync::Arc::new(first_reply);
    let calls: Vec<_> = (0..BURST)
        .map(|n| {
            let client = client.clone();
            let first_reply = first_reply.clone();
            tokio::spawn(async move {
                let result = client
                    .create_with(
                        create_request(&format!("user{n}@example.org")),
                        CallOptions::default().timeout(Duration::from_secs(10)),
                    )
                    .await;
                if let Some(tx) = first_reply.lock().expect("lock").take() {
                    let _ = tx.send(());
                }
                result
            })
        })
        .collect();
    first_seen.await.expect("a first reply");
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());

    let (mut created, mut refused) = (0, 0);
    for call in calls {
        match call.await.expect("the call task") {
            Ok(Outcome::Created(_)) => created += 1,
            // Sent after the subscription was drained, or beyond the in-flight bound: not
            // accepted, and told so at once.
            Err(BusError::NoResponders { .. } | BusError::Overloaded { .. }) => refused += 1,
            other => panic!("an accepted request lost its reply: {other:?}"),
        }
    }
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the process exits within the grace period")
        .expect("wait");
    eprintln!("SIGTERM during a burst of {BURST}: {created} created, {refused} refused");
    assert!(exit.success(), "exit status {exit}");
    assert_eq!(created + refused, BURST);
    assert!(created > 0);
    assert_eq!(
        app.stored_users().await,
        created,
        "every created reply matches a stored user"
    );
}
