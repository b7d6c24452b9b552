//! The world each event test owns: a real nats-server with JetStream, the `ledger` service
//! (announces `Appended` with every entry) and the `tally` service (counts them by text).

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use switchboard::testing::{connect, connect_patient, memory_store};

use async_nats::jetstream::{self, message::StreamMessage};
use serde_json::json;

use switchboard::service::{
    ConsumerSettings, EventSettings, OutboxSettings, RunningService, RuntimeSettings,
};
use switchboard::store::{self, Document, Store, Transaction};
use switchboard::testing::NatsServer;
use switchboard::{Bus, Context, EventContext, ServiceError, ServiceRuntime};

pub use switchboard::testing::proto::ledger::v1::{
    AppendReply, AppendRequest, Appended, LedgerClient, LedgerHandler, ledger_events, ledger_rpc,
    ledger_service,
};
pub use switchboard::testing::proto::tally::v1::{
    CountReply, CountRequest, TallyClient, TallyConsumer, TallyHandler, tally_rpc, tally_service,
};

/// How long a test waits for a condition before failing: generous, so a loaded machine is
/// slow but not wrong.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Where the ledger keeps its entries.
pub const ENTRIES: &str = "entries";
/// Where the tally keeps its counts, one record per text with the field `n`.
pub const COUNTS: &str = "counts";
/// How many deliveries an event gets before it is dead-lettered, in these tests.
pub const MAX_DELIVERIES: u32 = 3;

/// Settings that keep the tests fast: short backoffs, few deliveries, a quick sweep.
pub fn settings() -> RuntimeSettings {
    RuntimeSettings {
        shutdown_grace: Duration::from_secs(5),
        events: EventSettings {
            consumer: ConsumerSettings {
                backoff: vec![Duration::from_millis(20)],
                max_deliveries: MAX_DELIVERIES,
                ack_wait: Duration::from_secs(5),
                ..Default::default()
            },
            outbox: OutboxSettings {
                sweep: Duration::from_millis(200),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A nats-server of the test's own, a bus connected to it, JetStream through that bus and
/// a directory for store files.
pub struct World {
    pub server: NatsServer,
    pub bus: Bus,
    pub js: jetstream::Context,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> Self {
        let server = NatsServer::start();
        let bus = connect(&server).await;
        let js = jetstream::new(bus.nats().clone());
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self {
            server,
            bus,
            js,
            dir,
        }
    }

    /// A store in a file of the test's directory: opening the same name twice gives two
    /// handles on the same data, as two processes would have.
    pub async fn file_store(&self, name: &str) -> Arc<dyn Store> {
        let path = self.dir.path().join(format!("{name}.db"));
        store::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("a file store")
    }

    pub fn ledger(&self) -> LedgerClient {
        LedgerClient::new(self.bus.clone())
    }

    /// Starts a ledger instance on its own connection.
    pub async fn start_ledger(&self, store: Arc<dyn Store>) -> RunningService {
        let bus = connect(&self.server).await;
        ServiceRuntime::new(ledger_service(LedgerImpl), bus, store, settings())
            .start()
            .await
            .expect("the ledger starts")
    }

    /// Starts a tally instance called `instance` on its own connection, recording what it
    /// does in `seen`.
    pub async fn start_tally(
        &self,
        store: Arc<dyn Store>,
        seen: &Arc<Seen>,
        instance: &str,
    ) -> RunningService {
        let bus = connect(&self.server).await;
        let handler = TallyImpl {
            instance: instance.to_string(),
            store: store.clone(),
            seen: seen.clone(),
        };
        ServiceRuntime::new(tally_service(handler), bus, store, settings())
            .start()
            .await
            .expect("the tally starts")
    }
}

pub fn append(id: &str, text: &str) -> AppendRequest {
    AppendRequest {
        id: id.to_string(),
        text: text.to_string(),
        conflict: false,
    }
}

/// Appends `id` with `text`, failing the test if the ledger refuses.
pub async fn append_ok(ledger: &LedgerClient, id: &str, text: &str) {
    let reply = within("the append", ledger.append(append(id, text)))
        .await
        .unwrap_or_else(|e| panic!("appending {id}: {e}"));
    assert_eq!(reply.id, id);
}

/// Runs `future` for at most [`PATIENCE`], failing the test with `what` if it takes longer.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

/// Polls `check` until it says `Some`, failing the test with `what` after [`PATIENCE`].
pub async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    switchboard::testing::eventually(PATIENCE, check)
        .await
        .unwrap_or_else(|| panic!("{what}: not within {PATIENCE:?}"))
}

/// Every message `stream` holds, in stream order.
pub async fn read_stream(
    js: &jetstream::Context,
    stream: &str,
) -> Result<Vec<StreamMessage>, String> {
    let mut handle = js
        .get_stream(stream)
        .await
        .map_err(|e| format!("{stream}: {e}"))?;
    let state = handle
        .info()
        .await
        .map_err(|e| format!("{stream}: {e}"))?
        .state
        .clone();
    let mut messages = Vec::new();
    if state.messages == 0 {
        return Ok(messages);
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let message = handle
            .get_raw_message(sequence)
            .await
            .map_err(|e| format!("{stream} #{sequence}: {e}"))?;
        messages.push(message);
    }
    Ok(messages)
}

/// How many messages `stream` holds, or `None` when it cannot be read (yet).
pub async fn stream_len(js: &jetstream::Context, stream: &str) -> Option<u64> {
    let mut handle = js.get_stream(stream).await.ok()?;
    Some(handle.info().await.ok()?.state.messages)
}

/// Waits until `stream` holds at least `count` messages, then reads them all.
pub async fn until_stream_holds(
    js: &jetstream::Context,
    stream: &str,
    count: usize,
) -> Vec<StreamMessage> {
    until(&format!("{count} messages in {stream}"), || async {
        read_stream(js, stream)
            .await
            .ok()
            .filter(|messages| messages.len() >= count)
    })
    .await
}

/// Waits until the relay has published every entry of `store`'s outbox.
pub async fn until_outbox_drained(store: &dyn Store) {
    until("the outbox drained", || async {
        store
            .outbox_pending(10)
            .await
            .ok()
            .filter(|pending| pending.is_empty())
            .map(drop)
    })
    .await;
}

/// Waits until the tally's consumer has handled the ledger's stream up to `sequence`:
/// delivered it, nothing more to deliver and nothing unacknowledged.
pub async fn until_consumer_idle(js: &jetstream::Context, sequence: u64) {
    let durable = tally_rpc::COUNT_APPENDED.durable;
    until(
        &format!("{durable} idle past stream sequence {sequence}"),
        || async {
            let stream = js.get_stream(ledger_events::STREAM).await.ok()?;
            let info = stream.consumer_info(durable).await.ok()?;
            (info.delivered.stream_sequence >= sequence
                && info.num_pending == 0
                && info.num_ack_pending == 0)
                .then_some(())
        },
    )
    .await;
}

/// A header of a stream message.
pub fn header(message: &StreamMessage, name: &str) -> Option<String> {
    message.headers.get(name).map(|v| v.as_str().to_string())
}

/// The `Appended` event a stream message carries.
pub fn appended(message: &StreamMessage) -> Appended {
    prost::Message::decode(message.payload.clone()).expect("an Appended event")
}

/// How many times the tally counted `text`, read from its store.
pub async fn count(store: &dyn Store, text: &str) -> u64 {
    store
        .get(COUNTS, text)
        .await
        .expect("the tally's store reads")
        .and_then(|record| record.doc.get("n").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// Waits until the tally counted every one of `texts` at least once.
pub async fn until_counted(store: &dyn Store, texts: &[String]) {
    for text in texts {
        until(&format!("{text} counted"), || async {
            (count(store, text).await > 0).then_some(())
        })
        .await;
    }
}

/// What tally instances did: every delivery their handler saw and every event they
/// counted (their commit succeeded).
#[derive(Default)]
pub struct Seen {
    attempts: Mutex<Vec<Attempt>>,
    counted: Mutex<Vec<Counted>>,
}

/// One run of the tally's handler.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub instance: String,
    pub text: String,
    pub delivery: u64,
}

/// One event whose count a tally instance committed.
#[derive(Debug, Clone)]
pub struct Counted {
    pub instance: String,
    pub text: String,
    pub event_id: String,
}

impl Seen {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().expect("the attempts' lock").clone()
    }

    pub fn counted(&self) -> Vec<Counted> {
        self.counted.lock().expect("the counts' lock").clone()
    }

    /// The deliveries of `text` the handler saw, in order.
    pub fn deliveries_of(&self, text: &str) -> Vec<u64> {
        self.attempts()
            .into_iter()
            .filter(|a| a.text == text)
            .map(|a| a.delivery)
            .collect()
    }
}

/// The ledger: stores an entry and announces it in the same transaction.
struct LedgerImpl;

impl LedgerHandler for LedgerImpl {
    async fn append(
        &self,
        ctx: Context,
        request: AppendRequest,
    ) -> Result<AppendReply, ServiceError> {
        let mut doc = Document::new();
        doc.insert("text".into(), json!(request.text));
        let tx = Transaction::new().insert(ENTRIES, &request.id, doc.clone());
        let event = Appended {
            id: request.id.clone(),
            text: request.text.clone(),
        };
        let mut tx = ctx.announce(tx, &event)?;
        if request.conflict {
            // The entry was just inserted at version 1: this replace fails, and with it
            // the whole transaction, announcement included.
            tx = tx.replace(ENTRIES, &request.id, 7, doc);
        }
        let reply = AppendReply { id: request.id };
        ctx.commit(tx, &reply).await?;
        Ok(reply)
    }
}

/// The tally: counts `Appended` events by text, with a read and an optimistic write, so
/// only the inbox keeps a second delivery from counting twice. The text says how the
/// handler behaves: `poison…` always fails, `bad…` is refused as malformed, `flaky:<n>`
/// fails on the first `n` deliveries.
struct TallyImpl {
    instance: String,
    store: Arc<dyn Store>,
    seen: Arc<Seen>,
}

impl TallyHandler for TallyImpl {
    async fn count(
        &self,
        _ctx: Context,
        request: CountRequest,
    ) -> Result<CountReply, ServiceError> {
        Ok(CountReply {
            count: count(self.store.as_ref(), &request.text).await,
        })
    }
}

impl TallyConsumer for TallyImpl {
    async fn count_appended(&self, ctx: EventContext, event: Appended) -> Result<(), ServiceError> {
        self.seen
            .attempts
            .lock()
            .expect("the attempts' lock")
            .push(Attempt {
                instance: self.instance.clone(),
                text: event.text.clone(),
                delivery: ctx.delivery(),
            });
        if event.text.starts_with("poison") {
            return Err(ServiceError::internal(format!(
                "{} is poisoned",
                event.text
            )));
        }
        if event.text.starts_with("bad") {
            return Err(ServiceError::bad_request(format!(
                "{} is malformed",
                event.text
            )));
        }
        if let Some(failures) = event.text.strip_prefix("flaky:") {
            let failures: u64 = failures.parse().expect("flaky:<number>");
            if ctx.delivery() <= failures {
                return Err(ServiceError::internal(format!(
                    "{} failed on delivery {}",
                    event.text,
                    ctx.delivery()
                )));
            }
        }
        let current = self.store.get(COUNTS, &event.text).await?;
        let tx = match current {
            Some(record) => {
                let n = record
                    .doc
                    .get("n")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                let mut doc = Document::new();
                doc.insert("n".into(), json!(n + 1));
                Transaction::new().replace(COUNTS, &event.text, record.version, doc)
            }
            None => {
                let mut doc = Document::new();
                doc.insert("n".into(), json!(1));
                Transaction::new().insert(COUNTS, &event.text, doc)
            }
        };
        match ctx.commit(tx).await {
            Ok(()) => {
                self.seen
                    .counted
                    .lock()
                    .expect("the counts' lock")
                    .push(Counted {
                        instance: self.instance.clone(),
                        text: event.text,
                        event_id: ctx.event_id().to_string(),
                    });
                Ok(())
            }
            // Among them the inbox's `AlreadyExists` when the event was counted meanwhile.
            Err(error) => Err(error.into()),
        }
    }
}
