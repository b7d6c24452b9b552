//! A command with an idempotency key executes once per (caller, key), also across restarts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard::service::{RunningService, RuntimeSettings};
use switchboard::store::{Document, Query, Store, Transaction};
use switchboard::testing::NatsServer;
use switchboard::{BusError, CallOptions, Context, ServiceError, ServiceRuntime, store};

use crate::helpers::{
    EchoRequest, Echoed, Outcome, PATIENCE, ProbeHandler, World, connect, echo, echoed, held,
    memory_store, probe_service,
};

#[tokio::test]
async fn the_same_key_twice_executes_once_and_returns_the_first_reply() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    let client = world.probe_client();
    let keyed = || CallOptions::default().idempotency_key("order-1");

    let first = echoed(
        client
            .record_with(echo("pay"), keyed())
            .await
            .expect("first"),
    );
    let again = echoed(
        client
            .record_with(echo("pay"), keyed())
            .await
            .expect("repeat"),
    );

    assert_eq!(first, again);
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn a_key_reused_for_a_different_request_is_refused() {
    let world = World::new().await;
    let _probe = world.start_probe().await;
    let client = world.probe_client();
    let keyed = || CallOptions::default().idempotency_key("order-2");
    client
        .record_with(echo("pay 10"), keyed())
        .await
        .expect("first");

    let result = client.record_with(echo("pay 99"), keyed()).await;

    assert!(
        matches!(result, Err(BusError::Service { code: 409, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn concurrent_repeats_execute_once() {
    let world = World::new().await;
    let probe = world.start_probe().await;
    // The first execution is held at the probe's gate, so the others arrive while it runs.
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = world.probe_client();
            tokio::spawn(async move {
                client
                    .record_with(
                        held("once"),
                        CallOptions::default().idempotency_key("order-3"),
                    )
                    .await
            })
        })
        .collect();
    probe.until_calls(1, "the first execution").await;
    probe.release();

    let replies: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| echoed(r.expect("task").expect("call")))
        .collect();

    assert!(
        replies.windows(2).all(|w| w[0] == w[1]),
        "every caller got the first reply"
    );
    assert_eq!(probe.calls(), 1);
}

#[tokio::test]
async fn the_first_reply_survives_a_restart() {
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("probe.db").display());
    let keyed = || CallOptions::default().idempotency_key("order-4");

    let before = world
        .start_probe_with(
            RuntimeSettings::default(),
            store::open(&url).await.expect("store"),
            None,
        )
        .await;
    let first = echoed(
        world
            .probe_client()
            .record_with(echo("pay"), keyed())
            .await
            .expect("first"),
    );
    before.running.stop().await.expect("stops");

    let after = world
        .start_probe_with(
            RuntimeSettings::default(),
            store::open(&url).await.expect("store"),
            None,
        )
        .await;
    let again = echoed(
        world
            .probe_client()
            .record_with(echo("pay"), keyed())
            .await
            .expect("repeat"),
    );

    assert_eq!(first, again, "the stored reply names the first instance");
    assert_ne!(after.instance, first.instance);
    assert_eq!(
        after.calls(),
        0,
        "the restarted service did not execute it again"
    );
}

/// A probe whose `record` writes one entry per execution through `ctx.commit`, so the
/// effect and the command's idempotency record share a transaction. Requests with
/// `panic` set die after the commit (the reply is lost, as when a process is killed
/// between its commit and its answer); with a barrier, executions wait for each other
/// just before committing (replicas racing on one key).
struct Ledger {
    instance: String,
    runs: Arc<AtomicUsize>,
    barrier: Option<Arc<tokio::sync::Barrier>>,
}

impl Ledger {
    async fn write(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        let entry = format!("{}-{run}", self.instance);
        let tx = Transaction::new().insert(LEDGER, &entry, Document::new());
        let outcome = Outcome::Echoed(Echoed {
            text: request.text.clone(),
            instance: self.instance.clone(),
            ..Default::default()
        });
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        ctx.commit(tx, &outcome).await?;
        if request.panic() {
            panic!("dying after the commit, before the reply");
        }
        Ok(outcome)
    }
}

impl ProbeHandler for Ledger {
    async fn echo(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.write(ctx, request).await
    }

    async fn record(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.write(ctx, request).await
    }

    async fn whoami(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.write(ctx, request).await
    }
}

/// The collection `Ledger` writes its effects to.
const LEDGER: &str = "ledger";

async fn start_ledger(
    server: &NatsServer,
    store: Arc<dyn Store>,
    barrier: Option<Arc<tokio::sync::Barrier>>,
) -> (RunningService, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = Ledger {
        instance: uuid::Uuid::new_v4().to_string(),
        runs: runs.clone(),
        barrier,
    };
    let running = ServiceRuntime::new(
        probe_service(handler),
        connect(server).await,
        store,
        RuntimeSettings::default(),
    )
    .start()
    .await
    .expect("the ledger starts");
    (running, runs)
}

async fn ledger_entries(store: &Arc<dyn Store>) -> usize {
    store
        .find(Query::all(LEDGER).limit(1000))
        .await
        .expect("reads the ledger")
        .records
        .len()
}

#[tokio::test]
async fn a_reply_lost_after_the_commit_is_replayed_without_running_again() {
    let world = World::new().await;
    let store = memory_store().await;
    let (_running, runs) = start_ledger(&world.server, store.clone(), None).await;
    let client = world.probe_client();
    let dying = EchoRequest {
        text: "pay".into(),
        panic: Some(true),
        ..Default::default()
    };
    let keyed = || CallOptions::default().idempotency_key("order-5");

    let lost = client.record_with(dying.clone(), keyed()).await;
    let retried = client.record_with(dying, keyed()).await;

    assert!(
        matches!(lost, Err(BusError::Service { code: 500, .. })),
        "the first answer was lost: {lost:?}"
    );
    assert_eq!(echoed(retried.expect("the retry is answered")).text, "pay");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(ledger_entries(&store).await, 1, "one effect");
}

#[tokio::test]
async fn replicas_racing_on_one_key_commit_one_effect_and_give_one_reply() {
    // Two replicas share one store but listen on different servers, so each of the two
    // concurrent calls certainly reaches a different replica.
    let first_server = World::new().await;
    let second_server = World::new().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = store::open(&url).await.expect("store");
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (_a, runs_a) =
        start_ledger(&first_server.server, store.clone(), Some(barrier.clone())).await;
    let (_b, runs_b) = start_ledger(&second_server.server, store.clone(), Some(barrier)).await;
    let keyed = || CallOptions::default().idempotency_key("order-6");

    let (client_a, client_b) = (first_server.probe_client(), second_server.probe_client());
    let (one, two) = tokio::join!(
        client_a.record_with(echo("pay"), keyed()),
        client_b.record_with(echo("pay"), keyed()),
    );

    let (one, two) = (echoed(one.expect("first")), echoed(two.expect("second")));
    assert_eq!(one, two, "both callers get the winner's reply");
    assert_eq!(
        runs_a.load(Ordering::SeqCst) + runs_b.load(Ordering::SeqCst),
        2
    );
    assert_eq!(
        ledger_entries(&store).await,
        1,
        "the loser's effect rolled back"
    );
}

#[tokio::test]
async fn expired_records_are_deleted_by_the_runtime() {
    let world = World::new().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("probe.db").display());
    let store = store::open(&url).await.expect("store");
    // A TTL far longer than the test: the first instance's own sweeps keep the record.
    let settings = RuntimeSettings::default();
    let first = world
        .start_probe_with(settings.clone(), store.clone(), None)
        .await;
    world
        .probe_client()
        .record_with(
            echo("expiring"),
            CallOptions::default().idempotency_key("old"),
        )
        .await
        .expect("the command");
    let records = || async {
        store
            .find(store::Query::all("_idempotency"))
            .await
            .expect("reads the records")
            .records
    };
    let left = records().await;
    assert_eq!(left.len(), 1, "the command left its record");
    first.running.stop().await.expect("stops");
    // Time passes: the record's expiry is moved into the past.
    let mut expired = left[0].doc.clone();
    expired.insert("expires_at".into(), serde_json::json!(1));
    store
        .commit(store::Transaction::new().replace(
            "_idempotency",
            left[0].id.clone(),
            left[0].version,
            expired,
        ))
        .await
        .expect("expire the record");

    // The sweep at start deletes the record its expiry has passed.
    let _second = world.start_probe_with(settings, store.clone(), None).await;
    switchboard::testing::eventually(PATIENCE, || async {
        records().await.is_empty().then_some(())
    })
    .await
    .expect("the expired record is deleted");
}
