//! A restart of the server while events flow: entries committed meanwhile wait in the
//! outbox, and every event reaches the stream and its consumer once.

use std::collections::BTreeSet;
use std::time::Duration;

use switchboard::CallOptions;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_while_events_flow_loses_nothing() {
    const TOTAL: usize = 30;
    let mut world = World::new().await;
    let ledger_store = memory_store().await;
    let _ledger = world.start_ledger(ledger_store.clone()).await;
    let tally_store = memory_store().await;
    let seen = Seen::new();
    let _tally = world.start_tally(tally_store.clone(), &seen, "tally").await;

    // Appends one after the other, each with an idempotency key so the caller may retry it
    // safely while the server is away.
    let ledger = LedgerClient::new(connect_patient(&world.server).await);
    let (progress, mut appended_so_far) = tokio::sync::mpsc::unbounded_channel();
    let appender = tokio::spawn(async move {
        for i in 0..TOTAL {
            let id = format!("n-{i}");
            // An attempt lost with the old server is sent again after a second, not after
            // half the deadline.
            let options = CallOptions::default()
                .idempotency_key(id.clone())
                .attempt_timeout(Duration::from_secs(1));
            ledger
                .append_with(append(&id, &id), options)
                .await
                .unwrap_or_else(|e| panic!("appending {id}: {e}"));
            // The test stops listening once it has seen enough.
            let _ = progress.send(i + 1);
        }
    });
    within("a third of the appends", async {
        while let Some(done) = appended_so_far.recv().await {
            if done >= TOTAL / 3 {
                break;
            }
        }
    })
    .await;
    tokio::task::block_in_place(|| world.server.restart());
    within("every append", appender)
        .await
        .expect("the appender finished");

    let texts: Vec<String> = (0..TOTAL).map(|i| format!("n-{i}")).collect();
    until_outbox_drained(ledger_store.as_ref()).await;
    let messages = until_stream_holds(&world.js, ledger_events::STREAM, TOTAL).await;
    let ids: Vec<String> = messages.iter().map(|m| appended(m).id).collect();
    assert_eq!(ids.len(), TOTAL, "every event once on the stream: {ids:?}");
    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        texts.iter().cloned().collect::<BTreeSet<_>>()
    );

    until_counted(tally_store.as_ref(), &texts).await;
    let last = messages.last().map(|m| m.sequence).unwrap_or_default();
    until_consumer_idle(&world.js, last).await;
    for text in &texts {
        assert_eq!(count(tally_store.as_ref(), text).await, 1, "{text}");
    }
    assert_eq!(seen.counted().len(), TOTAL, "{:?}", seen.counted());
}
