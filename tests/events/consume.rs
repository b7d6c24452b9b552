//! Consuming: each event has one effect however often it arrives, a failing event is
//! retried then dead-lettered without holding up the others, replicas share a consumer,
//! and a consumer that was down catches up.

use std::collections::HashSet;

use switchboard::wire::{
    DLQ_CONSUMER, DLQ_DELIVERIES, DLQ_REASON, EVENT_TYPE, MESSAGE_ID, NATS_MSG_ID,
};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_has_one_effect_across_duplicates() {
    let world = World::new().await;
    let _ledger = world.start_ledger(memory_store().await).await;
    let tally_store = memory_store().await;
    let seen = Seen::new();
    let _tally = world.start_tally(tally_store.clone(), &seen, "tally").await;

    append_ok(&world.ledger(), "dup-1", "dup").await;
    let original = until_stream_holds(&world.js, ledger_events::STREAM, 1)
        .await
        .remove(0);
    until_counted(tally_store.as_ref(), &["dup".to_string()]).await;
    until_consumer_idle(&world.js, original.sequence).await;

    // A copy of the event under another Nats-Msg-Id (a relay beyond the duplicate window,
    // a producer replaying its events): the stream keeps it, the inbox must absorb it.
    let mut headers = original.headers.clone();
    headers.insert(NATS_MSG_ID, uuid::Uuid::new_v4().to_string().as_str());
    let ack = world
        .js
        .publish_with_headers(
            original.subject.to_string(),
            headers,
            original.payload.clone(),
        )
        .await
        .expect("the copy is sent")
        .await
        .expect("and stored");
    assert!(!ack.duplicate, "the stream keeps the copy");
    assert!(ack.sequence > original.sequence);
    until_consumer_idle(&world.js, ack.sequence).await;

    assert_eq!(
        count(tally_store.as_ref(), "dup").await,
        1,
        "the copy was counted again"
    );
    let counted: Vec<Counted> = seen
        .counted()
        .into_iter()
        .filter(|c| c.text == "dup")
        .collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(
        Some(counted[0].event_id.as_str()),
        header(&original, MESSAGE_ID).as_deref(),
        "the handler sees the event's Sb-Message-Id as its id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_retried_then_dead_lettered_and_later_events_go_on() {
    let world = World::new().await;
    let _ledger = world.start_ledger(memory_store().await).await;
    let tally_store = memory_store().await;
    let seen = Seen::new();
    let _tally = world.start_tally(tally_store.clone(), &seen, "tally").await;
    let ledger = world.ledger();

    append_ok(&ledger, "p-1", "poison-1").await;
    append_ok(&ledger, "o-1", "ok-after").await;
    append_ok(&ledger, "b-1", "bad-1").await;
    append_ok(&ledger, "f-1", "flaky:2").await;

    until_counted(
        tally_store.as_ref(),
        &["ok-after".to_string(), "flaky:2".to_string()],
    )
    .await;
    until("two dead letters", || async {
        (stream_len(&world.js, "TALLY_DLQ").await? >= 2).then_some(())
    })
    .await;
    until_consumer_idle(&world.js, 4).await;

    let letters = read_stream(&world.js, tally_rpc::COUNT_APPENDED.dead_letter_stream)
        .await
        .expect("the tally's dead letters read");
    let texts: Vec<String> = letters.iter().map(|l| appended(l).text).collect();
    assert_eq!(letters.len(), 2, "dead letters of {texts:?}");
    for (text, deliveries, reason) in [
        ("poison-1", MAX_DELIVERIES, "poison-1 is poisoned"),
        ("bad-1", 1, "bad-1 is malformed"),
    ] {
        let letter = letters
            .iter()
            .find(|l| appended(l).text == text)
            .unwrap_or_else(|| panic!("no dead letter of {text}: {texts:?}"));
        assert_eq!(letter.subject.as_str(), "dlq.tally.count_appended");
        assert_eq!(
            header(letter, DLQ_DELIVERIES),
            Some(deliveries.to_string()),
            "{text}"
        );
        assert_eq!(
            header(letter, DLQ_CONSUMER).as_deref(),
            Some("tally_count_appended")
        );
        let why = header(letter, DLQ_REASON).expect("a reason");
        assert!(why.contains(reason), "{text}: reason {why:?}");
        // The letter keeps the event's own headers.
        assert_eq!(
            header(letter, EVENT_TYPE).as_deref(),
            Some("ledger.v1.Appended")
        );
        assert!(header(letter, MESSAGE_ID).is_some(), "{text}");
        let expected: Vec<u64> = (1..=u64::from(deliveries)).collect();
        assert_eq!(seen.deliveries_of(text), expected, "{text}'s deliveries");
        assert_eq!(count(tally_store.as_ref(), text).await, 0, "{text}");
    }

    assert_eq!(
        seen.deliveries_of("flaky:2"),
        [1, 2, 3],
        "retried until it worked"
    );
    assert_eq!(count(tally_store.as_ref(), "flaky:2").await, 1);
    assert_eq!(seen.deliveries_of("ok-after"), [1]);
    assert_eq!(count(tally_store.as_ref(), "ok-after").await, 1);

    // The metrics count them (at least: other tests of this process share the recorder).
    let page = switchboard::telemetry::metrics_handle()
        .expect("the metrics recorder")
        .render();
    let sample = |series: &str| {
        page.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let dead = sample(
        "sb_events_consumed_total{consumer=\"tally_count_appended\",outcome=\"dead_lettered\"}",
    );
    assert!(dead >= 2.0, "two dead letters counted: {dead}\n{page}");
    let redelivered = sample("sb_events_redelivered_total{consumer=\"tally_count_appended\"}");
    assert!(
        redelivered >= 3.0,
        "poison-1 (2) and flaky:2 (2) redelivered: {redelivered}"
    );
    assert!(
        page.contains("sb_events_consumer_pending{consumer=\"tally_count_appended\"}"),
        "the consumer's pending count is reported"
    );
    assert!(
        page.contains("sb_events_relay_lag_seconds_bucket{service=\"ledger\""),
        "the relay's lag is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_consumer() {
    let world = World::new().await;
    let ledger_store = memory_store().await;
    let _ledger = world.start_ledger(ledger_store.clone()).await;
    // Two instances, each with its own handle on the same database, as two processes.
    let seen = Seen::new();
    let _a = world
        .start_tally(world.file_store("tally").await, &seen, "a")
        .await;
    let _b = world
        .start_tally(world.file_store("tally").await, &seen, "b")
        .await;
    let tally_store = world.file_store("tally").await;

    let ledger = world.ledger();
    let texts: Vec<String> = (0..40).map(|i| format!("r-{i}")).collect();
    futures::future::join_all(texts.iter().map(|text| append_ok(&ledger, text, text))).await;

    until_counted(tally_store.as_ref(), &texts).await;
    until_outbox_drained(ledger_store.as_ref()).await;
    let messages = read_stream(&world.js, ledger_events::STREAM)
        .await
        .expect("the ledger's stream reads");
    assert_eq!(messages.len(), texts.len());
    let last = messages.last().map(|m| m.sequence).unwrap_or_default();
    until_consumer_idle(&world.js, last).await;

    let mut stream = world
        .js
        .get_stream(ledger_events::STREAM)
        .await
        .expect("the ledger's stream");
    let consumers = stream
        .info()
        .await
        .expect("the stream's info")
        .state
        .consumer_count;
    assert_eq!(consumers, 1, "the replicas share one durable consumer");
    for text in &texts {
        assert_eq!(count(tally_store.as_ref(), text).await, 1, "{text}");
    }
    let counted = seen.counted();
    let handled_by = |instance: &str| counted.iter().filter(|c| c.instance == instance).count();
    assert_eq!(
        handled_by("a") + handled_by("b"),
        texts.len(),
        "each event is handled by one replica, once: {counted:?}"
    );
    let events: HashSet<&str> = counted.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(events.len(), texts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_was_down_catches_up() {
    let world = World::new().await;
    let ledger_store = memory_store().await;
    let _ledger = world.start_ledger(ledger_store.clone()).await;
    let ledger = world.ledger();
    let seen = Seen::new();
    let tally = world
        .start_tally(world.file_store("tally").await, &seen, "first")
        .await;
    let tally_store = world.file_store("tally").await;

    append_ok(&ledger, "c-0", "before").await;
    until_counted(tally_store.as_ref(), &["before".to_string()]).await;
    tally.stop().await.expect("the tally stops");

    let texts: Vec<String> = (1..=5).map(|i| format!("while-down-{i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        append_ok(&ledger, &format!("c-{}", i + 1), text).await;
    }
    until_outbox_drained(ledger_store.as_ref()).await;
    until_stream_holds(&world.js, ledger_events::STREAM, 1 + texts.len()).await;
    assert_eq!(
        seen.attempts().len(),
        1,
        "nothing is handled while the tally is down"
    );

    let _tally = world
        .start_tally(world.file_store("tally").await, &seen, "second")
        .await;
    until_counted(tally_store.as_ref(), &texts).await;
    until_consumer_idle(&world.js, 1 + texts.len() as u64).await;
    let tally_client = TallyClient::new(world.bus.clone());
    for text in texts.iter().chain([&"before".to_string()]) {
        let reply = within(
            "the count",
            tally_client.count(CountRequest { text: text.clone() }),
        )
        .await
        .unwrap_or_else(|e| panic!("counting {text}: {e}"));
        assert_eq!(reply.count, 1, "{text}");
    }
    let attempts = seen.attempts();
    assert!(
        attempts[1..].iter().all(|a| a.instance == "second"),
        "{attempts:?}"
    );
    let counted = seen.counted();
    assert_eq!(counted.len(), 1 + texts.len(), "{counted:?}");
    assert!(
        counted
            .iter()
            .filter(|c| c.text != "before")
            .all(|c| c.instance == "second"),
        "{counted:?}"
    );
}
