//! The outbox of the real `users` binary: `kill -9` during a burst of deletions, then a
//! restart. Every deletion that committed is announced on `USERS_EVENTS` exactly once, and
//! nothing that did not commit is announced.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::proto::users::v1::{DeleteUserRequest, users_events};
use switchboard::testing::eventually;
use switchboard::wire;
use switchboard::{CallOptions, store};

use crate::helpers::{PATIENCE, spawn_app};

/// Users created before the burst.
const USERS: usize = 80;
/// Concurrent deleters.
const DELETERS: usize = 8;
/// Deletions stored before the kill: enough that events are certainly flowing.
const DELETED_BEFORE_KILL: usize = 20;

#[tokio::test]
async fn kill_9_during_deletions_then_each_committed_deletion_is_announced_once() {
    if !switchboard::testing::store::survives_killed_clients() {
        eprintln!(
            "skipped on SecantusDB, which stops answering after a client is killed mid-transaction"
        );
        return;
    }
    let mut app = spawn_app().await;
    for n in 0..USERS {
        app.create_user(&format!("outbox{n}@example.org")).await;
    }
    let all = app.stored_ids().await;
    assert_eq!(all.len(), USERS);
    // Only the binary must serve, so the kill stops every deletion in flight.
    app.stop().await;
    let mut binary = app.start_binary().await;

    let queue = Arc::new(Mutex::new(all.iter().cloned().collect::<Vec<_>>()));
    let killed = Arc::new(AtomicBool::new(false));
    let deleters: Vec<_> = (0..DELETERS)
        .map(|_| {
            let (client, queue, killed) = (app.users.clone(), queue.clone(), killed.clone());
            tokio::spawn(async move {
                while !killed.load(Ordering::SeqCst) {
                    let Some(id) = queue.lock().expect("lock").pop() else {
                        return;
                    };
                    // The answer does not matter: the store says what committed.
                    let _ = client
                        .delete_with(
                            DeleteUserRequest { id },
                            CallOptions::default().timeout(Duration::from_secs(5)),
                        )
                        .await;
                }
            })
        })
        .collect();
    eventually(PATIENCE, || async {
        (app.stored_ids().await.len() <= USERS - DELETED_BEFORE_KILL).then_some(())
    })
    .await
    .expect("deletions are being committed");
    binary.start_kill().expect("SIGKILL is sent");
    killed.store(true, Ordering::SeqCst);
    binary.wait().await.expect("the killed process is reaped");
    for deleter in deleters {
        deleter.await.expect("a deleter task");
    }

    let left = app.stored_ids().await;
    let deleted: BTreeSet<String> = all.difference(&left).cloned().collect();
    let pending_at_kill = store::open(&app.store_url())
        .await
        .expect("opens the store")
        .outbox_pending(store::MAX_PAGE_SIZE)
        .await
        .expect("reads the outbox")
        .len();
    eprintln!(
        "kill -9 with {} of {USERS} users deleted, {pending_at_kill} of their events not yet published",
        deleted.len()
    );

    let _restarted = app.start_binary().await;
    let js = async_nats::jetstream::new(app.bus.nats().clone());
    let stream = js
        .get_stream(users_events::STREAM)
        .await
        .expect("the users event stream exists");
    let expected = deleted.len() as u64;
    let published = eventually(PATIENCE, || {
        let js = js.clone();
        async move {
            let count = js
                .get_stream(users_events::STREAM)
                .await
                .ok()?
                .cached_info()
                .state
                .messages;
            (count >= expected).then_some(count)
        }
    })
    .await
    .unwrap_or_else(|| panic!("fewer than {expected} deletions reached the stream"));
    assert_eq!(
        published, expected,
        "one event per committed deletion, no more"
    );

    let mut announced = Vec::new();
    for sequence in 1..=published {
        let message = stream
            .get_raw_message(sequence)
            .await
            .unwrap_or_else(|e| panic!("message {sequence}: {e}"));
        assert_eq!(message.subject.as_str(), users_events::USER_DELETED.subject);
        let aggregate = message
            .headers
            .get(wire::AGGREGATE)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| panic!("message {sequence} names no user"));
        announced.push(aggregate);
    }
    let announced_set: BTreeSet<String> = announced.iter().cloned().collect();
    assert_eq!(
        announced_set.len(),
        announced.len(),
        "no deletion may be announced twice"
    );
    assert_eq!(
        announced_set, deleted,
        "exactly the committed deletions are announced"
    );
    let outbox = store::open(&app.store_url())
        .await
        .expect("opens the store");
    eventually(PATIENCE, || async {
        outbox
            .outbox_pending(10)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await
    .expect("the restarted relay marks every entry published");
}
