//! Announcing: an event committed with its transaction reaches the service's stream once,
//! with the wire convention's headers, and a rolled-back transaction announces nothing.

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use serde_json::json;

use switchboard::service::announcement;
use switchboard::store::{Document, Transaction};
use switchboard::wire::{
    AGGREGATE, EVENT_TYPE, MESSAGE_ID, NATS_MSG_ID, SCHEMA_VERSION, SENDER, TIMESTAMP, TRACEPARENT,
};
use switchboard::{CallOptions, ErrorCode};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_events_reach_the_stream_once_with_their_headers() {
    let world = World::new().await;
    let store = memory_store().await;
    let _ledger = world.start_ledger(store.clone()).await;
    let ledger = world.ledger();

    let traceparent = |n: u64| format!("00-{:032x}-{:016x}-01", 0xfeed_0000 + n, 0xbeef + n);
    let calls = [
        ("e-1", Some(traceparent(1))),
        ("e-2", None),
        ("e-3", Some(traceparent(3))),
    ];
    for (id, trace) in &calls {
        let mut options = CallOptions::default();
        if let Some(trace) = trace {
            options = options.trace_context(trace.clone(), None);
        }
        let reply = within(
            "the append",
            ledger.append_with(append(id, &format!("text of {id}")), options),
        )
        .await
        .unwrap_or_else(|e| panic!("appending {id}: {e}"));
        assert_eq!(reply.id, *id);
    }

    // Once the outbox is drained nothing more will be published: the stream is final.
    until_outbox_drained(store.as_ref()).await;
    let messages = read_stream(&world.js, "LEDGER_EVENTS")
        .await
        .expect("the ledger's stream reads");
    assert_eq!(
        messages.len(),
        calls.len(),
        "one message per announced event: {messages:?}"
    );
    let mut ids = std::collections::HashSet::new();
    for (message, (id, trace)) in messages.iter().zip(&calls) {
        let event = appended(message);
        assert_eq!(event.id, *id, "the events are in commit order");
        assert_eq!(event.text, format!("text of {id}"));
        assert_eq!(message.subject.as_str(), "events.ledger.appended");
        let msg_id = header(message, NATS_MSG_ID).expect("a Nats-Msg-Id");
        assert!(ids.insert(msg_id.clone()), "{msg_id} used twice");
        assert_eq!(
            header(message, MESSAGE_ID).as_deref(),
            Some(msg_id.as_str()),
            "Sb-Message-Id is the event id, as Nats-Msg-Id"
        );
        assert_eq!(
            header(message, EVENT_TYPE).as_deref(),
            Some("ledger.v1.Appended")
        );
        assert_eq!(header(message, SCHEMA_VERSION).as_deref(), Some("v1"));
        assert_eq!(header(message, SENDER).as_deref(), Some("ledger"));
        assert_eq!(header(message, AGGREGATE).as_deref(), Some(*id));
        let sent: u64 = header(message, TIMESTAMP)
            .expect("an Sb-Timestamp")
            .parse()
            .expect("milliseconds");
        assert!(
            sent > 1_600_000_000_000,
            "Sb-Timestamp is milliseconds since the epoch: {sent}"
        );
        assert_eq!(
            header(message, TRACEPARENT),
            trace.clone(),
            "the event carries the traceparent of the call that caused it, and only then"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_publishes_nothing() {
    let world = World::new().await;
    let store = memory_store().await;
    let _ledger = world.start_ledger(store.clone()).await;
    let ledger = world.ledger();

    let refused = within(
        "the conflicting append",
        ledger.append(AppendRequest {
            conflict: true,
            ..append("x-1", "rolled back")
        }),
    )
    .await
    .expect_err("the conflicting append fails");
    assert_eq!(refused.code(), ErrorCode::Conflict, "{refused}");
    append_ok(&ledger, "x-2", "kept").await;

    until_outbox_drained(store.as_ref()).await;
    let messages = read_stream(&world.js, ledger_events::STREAM)
        .await
        .expect("the ledger's stream reads");
    let published: Vec<String> = messages.iter().map(|m| appended(m).id).collect();
    assert_eq!(
        published,
        ["x-2"],
        "only the committed transaction's event is published"
    );
    assert!(
        store
            .get(ENTRIES, "x-1")
            .await
            .expect("the ledger's store reads")
            .is_none(),
        "the rolled-back entry was not stored either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_entry_is_dropped_by_the_duplicate_window() {
    let world = World::new().await;
    // The ledger's first run creates its stream.
    let first = world.start_ledger(world.file_store("ledger").await).await;
    first.stop().await.expect("the ledger stops");

    // An entry committed, then published by a relay that crashed before marking it.
    let store = world.file_store("ledger").await;
    let event = Appended {
        id: "d-1".into(),
        text: "published before the crash".into(),
    };
    let entry = announcement(ledger_rpc::SERVICE, &event, None).expect("the ledger's event");
    let mut doc = Document::new();
    doc.insert("text".into(), json!(event.text));
    store
        .commit(
            Transaction::new()
                .insert(ENTRIES, "d-1", doc)
                .publish(entry),
        )
        .await
        .expect("the entry commits");
    let pending = store.outbox_pending(10).await.expect("the outbox reads");
    assert_eq!(pending.len(), 1, "the entry waits in the outbox");
    let entry = &pending[0];
    let mut headers = HeaderMap::new();
    for (name, value) in &entry.headers {
        headers.append(name.as_str(), value.as_str());
    }
    let ack = world
        .js
        .send_publish(
            entry.subject.clone(),
            PublishMessage::build()
                .headers(headers)
                .message_id(&entry.id)
                .payload(entry.payload.clone().into()),
        )
        .await
        .expect("the crashed relay's publication is sent")
        .await
        .expect("and stored");
    assert!(!ack.duplicate, "the first publication is stored");

    // The restarted ledger's relay finds the entry pending and publishes it again.
    let _ledger = world.start_ledger(world.file_store("ledger").await).await;
    until_outbox_drained(store.as_ref()).await;
    let messages = read_stream(&world.js, ledger_events::STREAM)
        .await
        .expect("the ledger's stream reads");
    assert_eq!(
        messages.len(),
        1,
        "JetStream dropped the second publication: {messages:?}"
    );
    assert_eq!(
        header(&messages[0], NATS_MSG_ID).as_deref(),
        Some(entry.id.as_str())
    );
    assert_eq!(appended(&messages[0]), event);
}
