//! `kill -9` of the real `users` binary while keyed commands are in flight: every caller's
//! retry with its key gets its own first outcome, and each command has one effect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::proto::users::v1::UsersClient;
use switchboard::proto::users::v1::create_user_reply::Outcome;
use switchboard::testing::eventually;
use switchboard::{BusError, CallOptions};

use crate::helpers::{PATIENCE, TestApp, create_request, spawn_app, token};
use switchboard::auth::ADMIN_ROLE;

/// Callers sending keyed commands at once, each one after the other.
const CALLERS: usize = 16;
/// Users stored before the kill: enough that commands are certainly flowing.
const STORED_BEFORE_KILL: usize = 40;

#[tokio::test]
async fn kill_9_mid_command_then_retries_with_the_same_keys_get_their_first_outcome_once() {
    if !switchboard::testing::store::survives_killed_clients() {
        eprintln!(
            "skipped on SecantusDB, which stops answering after a client is killed mid-transaction"
        );
        return;
    }
    let mut app = spawn_app().await;
    // Only the binary must serve: the in-process instance would take part of the load.
    app.stop().await;
    let mut first_binary = app.start_binary().await;

    let next = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let firsts: Arc<Mutex<HashMap<usize, Result<Outcome, BusError>>>> = Arc::default();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (client, next, killed, firsts) = (
                app.users.clone(),
                next.clone(),
                killed.clone(),
                firsts.clone(),
            );
            tokio::spawn(async move {
                while !killed.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let result = create(&client, n, Duration::from_secs(5)).await;
                    firsts.lock().expect("lock").insert(n, result);
                }
            })
        })
        .collect();
    eventually(PATIENCE, || async {
        (app.stored_users().await >= STORED_BEFORE_KILL).then_some(())
    })
    .await
    .expect("commands are being stored");
    first_binary.start_kill().expect("SIGKILL is sent");
    killed.store(true, Ordering::SeqCst);
    first_binary
        .wait()
        .await
        .expect("the killed process is reaped");
    for caller in callers {
        caller.await.expect("the caller task");
    }
    let stored_at_kill = app.stored_users().await;

    let _second_binary = app.start_binary().await;
    let firsts = Arc::try_unwrap(firsts)
        .expect("the callers are done")
        .into_inner()
        .expect("lock");
    let mut unanswered = 0;
    for (n, first) in &firsts {
        let retried = match create_until_free(&app, *n).await {
            Ok(Outcome::Created(user)) => user,
            other => panic!("command {n}: the retry must create or replay, got {other:?}"),
        };
        assert_eq!(retried.email, email(*n));
        match first {
            Ok(Outcome::Created(user)) => {
                assert_eq!(
                    &retried, user,
                    "command {n}: the retry replays the first reply"
                );
            }
            Ok(other) => panic!("command {n}: unexpected first outcome {other:?}"),
            Err(_) => unanswered += 1,
        }
    }

    // Users stored at the kill whose command got no answer: the effect committed and the
    // reply died with the process, the window this test is about.
    let committed_unanswered = stored_at_kill - (firsts.len() - unanswered);
    eprintln!(
        "kill -9 after {stored_at_kill} users stored: {} commands, {unanswered} without a \
         first answer, {committed_unanswered} of those committed",
        firsts.len()
    );
    assert!(unanswered > 0, "some commands were in flight at the kill");
    assert_eq!(
        app.stored_users().await,
        firsts.len(),
        "one user per command, however often it was sent"
    );
}

/// How long a retry may meet "try again": on MongoDB, a command whose transaction was open
/// at the kill holds its records until the server aborts that transaction
/// (`transactionLifetimeLimitSeconds`, 60 s by default), and until then the service answers
/// 409, as for an earlier attempt still running. SQLite has no such window.
const ORPHANED_TRANSACTION_PATIENCE: Duration = Duration::from_secs(120);

/// [`create`], sent again with its key while the service answers 409 "try again" or does
/// not answer in time; each time with a fresh token, as the wait may outlast one.
async fn create_until_free(app: &TestApp, n: usize) -> Result<Outcome, BusError> {
    let started = std::time::Instant::now();
    loop {
        let client = UsersClient::new(app.bus.with_bearer_token(&token("root", &[ADMIN_ROLE])));
        match create(&client, n, PATIENCE).await {
            Err(BusError::Service { code: 409, .. } | BusError::Timeout { .. })
                if started.elapsed() < ORPHANED_TRANSACTION_PATIENCE =>
            {
                continue;
            }
            other => return other,
        }
    }
}

/// Sends the keyed command number `n`: one email, one key, per command.
async fn create(client: &UsersClient, n: usize, timeout: Duration) -> Result<Outcome, BusError> {
    let options = CallOptions::default()
        .idempotency_key(format!("crash-{n}"))
        .timeout(timeout);
    client.create_with(create_request(&email(n)), options).await
}

fn email(n: usize) -> String {
    format!("crash{n}@example.org")
}
