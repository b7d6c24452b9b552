//! `events`: events through the framework — committed with a record into the producer's
//! outbox, published by its relay to JetStream, handled by a durable consumer that commits
//! its inbox record — against raw async-nats JetStream publish + pull consume of the same
//! payload, in the same run.
//!
//! Each pairing is measured twice per round:
//! - **throughput**: `events` events produced as fast as `concurrency` producers go, timed
//!   from the first production to the last consumption;
//! - **lag**: events produced at half the rate the pairing just reached, for `seconds`;
//!   each event's lag is from just before its production (its transaction's commit, or the
//!   raw publish) to its handler, which reads the production instant from the payload.
//!
//! The producer side of the framework is the `ledger` test service's runtime (its relay,
//! its file store); its transactions are committed directly, as a handler's would be (a
//! record and `switchboard::service::announcement` of `ledger.v1.Appended`). The consumer
//! is the `tally` test service's runtime on its own file store, whose handler only records
//! the lag (the runtime commits the inbox record). The raw side publishes with
//! `jetstream::Context::publish` (awaiting each acknowledgement, like the relay) and
//! consumes with a durable pull consumer acknowledging each message.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use prost::Message as _;
use serde_json::json;
use switchboard::bus::BusSettings;
use switchboard::service::{RunningService, RuntimeSettings, announcement};
use switchboard::store::{Store, Transaction};
use switchboard::testing::NatsServer;
use switchboard::testing::proto::ledger::v1::{
    AppendReply, AppendRequest, Appended, LedgerHandler, ledger_service,
};
use switchboard::testing::proto::tally::v1::{
    CountReply, CountRequest, TallyConsumer, TallyHandler, tally_service,
};
use switchboard::{Bus, Context, EventContext, ServiceError, ServiceRuntime};
use tokio::sync::Notify;

use crate::cpu::{Clocks, Snapshot};
use crate::stats::{Summary, micros};

/// The framework's throughput must reach this fraction of raw JetStream's.
const TARGET_RATIO: f64 = 0.5;
/// Lag p99 at half the maximum rate must stay under this.
const TARGET_LAG_P99: Duration = Duration::from_millis(50);
/// Bytes of text in every event (the raw side sends the same encoded `Appended`).
const TEXT_BYTES: usize = 64;
/// The raw side's stream and subject.
const RAW_STREAM: &str = "RAW_EVENTS";
const RAW_SUBJECT: &str = "raw.events.appended";

/// What the command line chose.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events per throughput measurement.
    pub events: usize,
    /// Concurrent producers in the throughput phase.
    pub concurrency: usize,
    /// Length of the lag phase.
    pub duration: Duration,
    /// Times every pairing is measured.
    pub rounds: usize,
}

/// Reads the options that follow `events` on the command line.
pub fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options {
        events: 20_000,
        concurrency: 64,
        duration: Duration::from_secs(5),
        rounds: 2,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number: usize = value
            .parse()
            .with_context(|| format!("{flag} {value:?}: not a whole number"))?;
        ensure!(number > 0, "{flag} must be at least 1");
        match flag.as_str() {
            "--events" => options.events = number,
            "--concurrency" => options.concurrency = number,
            "--seconds" => options.duration = Duration::from_secs(number as u64),
            "--rounds" => options.rounds = number,
            other => bail!("unknown option {other:?} (try --help)"),
        }
    }
    Ok(options)
}

/// What consumers saw: how many events, and each one's lag.
#[derive(Default)]
struct Sink {
    consumed: AtomicUsize,
    lags: Mutex<Vec<Duration>>,
    progress: Notify,
}

impl Sink {
    /// Records one consumed event produced `produced_nanos` after `epoch`.
    fn record(&self, epoch: Instant, produced_nanos: u64) {
        let lag = epoch
            .elapsed()
            .saturating_sub(Duration::from_nanos(produced_nanos));
        if let Ok(mut lags) = self.lags.lock() {
            lags.push(lag);
        }
        self.consumed.fetch_add(1, Ordering::Release);
        self.progress.notify_waiters();
    }

    fn reset(&self) {
        self.consumed.store(0, Ordering::Release);
        if let Ok(mut lags) = self.lags.lock() {
            lags.clear();
        }
    }

    /// Waits until `count` events were consumed, failing after `patience`.
    async fn until(&self, count: usize, patience: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let notified = self.progress.notified();
            if self.consumed.load(Ordering::Acquire) >= count {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!(
                    "{} of {count} events consumed after {patience:?}",
                    self.consumed.load(Ordering::Acquire)
                );
            }
        }
    }

    fn lag_summary(&self) -> Option<Summary> {
        let mut lags = self.lags.lock().ok()?.clone();
        Summary::of(&mut lags)
    }
}

/// The `ledger` service: the bench commits its transactions directly; its rpc is unused.
struct Ledger;

impl LedgerHandler for Ledger {
    async fn append(
        &self,
        _: Context,
        request: AppendRequest,
    ) -> Result<AppendReply, ServiceError> {
        Ok(AppendReply { id: request.id })
    }
}

/// The `tally` service: its consumer records each event's lag.
struct Tally {
    sink: Arc<Sink>,
    epoch: Instant,
}

impl TallyHandler for Tally {
    async fn count(&self, _: Context, _: CountRequest) -> Result<CountReply, ServiceError> {
        Ok(CountReply::default())
    }
}

impl TallyConsumer for Tally {
    async fn count_appended(&self, _: EventContext, event: Appended) -> Result<(), ServiceError> {
        self.sink.record(self.epoch, produced_at(&event.text));
        Ok(())
    }
}

/// An event text: the production instant (nanoseconds after the epoch) padded to size.
fn text(epoch: Instant) -> String {
    let mut text = epoch.elapsed().as_nanos().to_string();
    text.push(' ');
    while text.len() < TEXT_BYTES {
        text.push('x');
    }
    text
}

fn produced_at(text: &str) -> u64 {
    text.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// How one pairing produces an event.
#[derive(Clone)]
enum Producer {
    /// A transaction with a record and the event, into the ledger's store.
    Framework(Arc<dyn Store>),
    /// A raw JetStream publish, acknowledged.
    Raw(Box<jetstream::Context>),
}

impl Producer {
    async fn produce(&self, epoch: Instant, n: usize) -> Result<()> {
        let event = Appended {
            id: format!("e{n}"),
            text: text(epoch),
        };
        match self {
            Producer::Framework(store) => {
                let mut doc = switchboard::store::Document::new();
                doc.insert("text".into(), json!(event.text));
                let entry = announcement("ledger", &event, None)
                    .map_err(|e| anyhow::anyhow!("announcing: {e}"))?;
                let tx = Transaction::new()
                    .insert("entries", &event.id, doc)
                    .publish(entry);
                store.commit(tx).await.context("committing")?;
            }
            Producer::Raw(js) => {
                js.publish(RAW_SUBJECT, event.encode_to_vec().into())
                    .await
                    .context("publishing")?
                    .await
                    .context("the publish acknowledgement")?;
            }
        }
        Ok(())
    }
}

/// Everything one run uses.
struct Fixture {
    _server: NatsServer,
    _dir: tempfile::TempDir,
    ledger: RunningService,
    tally: RunningService,
    raw_consumer: tokio::task::JoinHandle<()>,
    framework: Producer,
    raw: Producer,
    framework_sink: Arc<Sink>,
    raw_sink: Arc<Sink>,
    epoch: Instant,
    clocks: Clocks,
}

impl Fixture {
    async fn start() -> Result<Self> {
        let server = NatsServer::try_start().context(
            "cannot start nats-server: set NATS_SERVER_BIN (`cargo xtask nats` prints one)",
        )?;
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let epoch = Instant::now();
        let open = |name: &str| {
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            );
            async move {
                switchboard::store::open(&url)
                    .await
                    .context("opening a store")
            }
        };
        let connect = |name: &'static str| {
            let settings = BusSettings::new(server.url());
            async move { Bus::connect(&settings, name).await.context("connecting") }
        };
        let mut settings = RuntimeSettings::default();
        settings.events.consumer.max_in_flight = 256;
        settings.events.outbox.sweep = Duration::from_secs(1);

        let ledger_store = open("ledger").await?;
        let ledger = ServiceRuntime::new(
            ledger_service(Ledger),
            connect("ledger").await?,
            ledger_store.clone(),
            settings.clone(),
        )
        .start()
        .await
        .context("starting ledger")?;
        let framework_sink = Arc::new(Sink::default());
        let tally = ServiceRuntime::new(
            tally_service(Tally {
                sink: framework_sink.clone(),
                epoch,
            }),
            connect("tally").await?,
            open("tally").await?,
            settings,
        )
        .start()
        .await
        .context("starting tally")?;

        let raw_client = async_nats::connect(server.url()).await?;
        let js = jetstream::new(raw_client);
        let raw_stream = js
            .create_or_update_stream(stream::Config {
                name: RAW_STREAM.into(),
                subjects: vec![RAW_SUBJECT.into()],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .context("creating the raw stream")?;
        let _ = raw_stream;
        let raw_sink = Arc::new(Sink::default());
        let raw_consumer = raw_consume(
            async_nats::connect(server.url()).await?,
            raw_sink.clone(),
            epoch,
        )
        .await?;
        Ok(Self {
            _server: server,
            _dir: dir,
            ledger,
            tally,
            raw_consumer,
            framework: Producer::Framework(ledger_store),
            raw: Producer::Raw(Box::new(js)),
            framework_sink,
            raw_sink,
            epoch,
            clocks: Clocks::find(),
        })
    }
}

/// A durable pull consumer of the raw stream on its own connection, acknowledging each
/// message after recording it.
async fn raw_consume(
    client: async_nats::Client,
    sink: Arc<Sink>,
    epoch: Instant,
) -> Result<tokio::task::JoinHandle<()>> {
    let js = jetstream::new(client);
    let stream = js.get_stream(RAW_STREAM).await?;
    let pull = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("raw".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: 256,
            ..Default::default()
        })
        .await?;
    let mut messages = pull.stream().max_messages_per_batch(256).messages().await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            if let Ok(event) = Appended::decode(message.payload.clone()) {
                sink.record(epoch, produced_at(&event.text));
            }
            // A lost acknowledgement only causes a redelivery, counted again: none happen
            // within the acknowledgement wait of a run.
            let _ = message.ack().await;
        }
    }))
}

/// One measurement of one pairing.
struct Measurement {
    label: &'static str,
    per_second: f64,
    cpu: (Option<Duration>, Option<Duration>),
    lag: Option<Summary>,
    lag_rate: f64,
}

/// Produces `events` events from `concurrency` producers as fast as they go and waits
/// until all are consumed; returns events per second and CPU per event.
async fn throughput(
    fixture: &Fixture,
    producer: &Producer,
    sink: &Sink,
    options: &Options,
    first: usize,
) -> Result<(f64, (Option<Duration>, Option<Duration>))> {
    sink.reset();
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + options.events;
    let cpu_before: Snapshot = fixture.clocks.now();
    let started = Instant::now();
    let mut producers = FuturesUnordered::new();
    for _ in 0..options.concurrency {
        let (producer, next) = (producer.clone(), next.clone());
        let epoch = fixture.epoch;
        producers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return anyhow::Ok(());
                }
                producer.produce(epoch, n).await?;
            }
        }));
    }
    while let Some(done) = producers.next().await {
        done??;
    }
    sink.until(options.events, Duration::from_secs(120)).await?;
    let elapsed = started.elapsed();
    let cpu = fixture
        .clocks
        .now()
        .per_request(&cpu_before, options.events);
    Ok((options.events as f64 / elapsed.as_secs_f64(), cpu))
}

/// Produces at `rate` events per second for `duration`, then waits for all of them and
/// returns their lags.
async fn lag(
    fixture: &Fixture,
    producer: &Producer,
    sink: &Sink,
    rate: f64,
    duration: Duration,
    first: usize,
) -> Result<(Option<Summary>, usize)> {
    sink.reset();
    let total = (rate * duration.as_secs_f64()) as usize;
    let tick = Duration::from_millis(1);
    let per_tick = rate / 1000.0;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = FuturesUnordered::new();
    let mut produced = 0usize;
    let mut owed = 0.0;
    while produced < total {
        tokio::select! {
            _ = ticker.tick() => {
                owed += per_tick;
                while owed >= 1.0 && produced < total {
                    owed -= 1.0;
                    let producer = producer.clone();
                    let (epoch, n) = (fixture.epoch, first + produced);
                    in_flight.push(async move { producer.produce(epoch, n).await });
                    produced += 1;
                }
            }
            Some(done) = in_flight.next(), if !in_flight.is_empty() => done?,
        }
    }
    while let Some(done) = in_flight.next().await {
        done?;
    }
    sink.until(total, Duration::from_secs(120)).await?;
    Ok((sink.lag_summary(), total))
}

/// Runs the benchmark and prints its table and verdict.
pub async fn run(options: Options) -> Result<()> {
    let fixture = Fixture::start().await?;
    println!(
        "events: {} events per throughput measurement from {} producers, then {:.0} s at \
         half the reached rate for the lag; {} round(s); {TEXT_BYTES}-byte text per event",
        options.events,
        options.concurrency,
        options.duration.as_secs_f64(),
        options.rounds
    );
    let mut next_id = 0;
    let mut rounds = Vec::new();
    for round in 1..=options.rounds {
        let mut measurements = Vec::new();
        for (label, producer, sink) in [
            ("raw JetStream", &fixture.raw, &fixture.raw_sink),
            (
                "framework (outbox+inbox)",
                &fixture.framework,
                &fixture.framework_sink,
            ),
        ] {
            let (per_second, cpu) = throughput(&fixture, producer, sink, &options, next_id).await?;
            next_id += options.events;
            let lag_rate = per_second / 2.0;
            let (lag, produced) = lag(
                &fixture,
                producer,
                sink,
                lag_rate,
                options.duration,
                next_id,
            )
            .await?;
            next_id += produced;
            eprintln!("  round {round}: {label:<26} {per_second:>8.0} events/s");
            measurements.push(Measurement {
                label,
                per_second,
                cpu,
                lag,
                lag_rate,
            });
        }
        rounds.push(measurements);
    }
    print_results(&rounds);
    fixture.ledger.stop().await.context("stopping ledger")?;
    fixture.tally.stop().await.context("stopping tally")?;
    fixture.raw_consumer.abort();
    Ok(())
}

fn print_results(rounds: &[Vec<Measurement>]) {
    println!();
    println!(
        "| round | pairing                  | events/s | CPU µs/event bench | CPU µs/event nats | lag rate/s | lag p50 ms | lag p99 ms |"
    );
    println!(
        "|------:|--------------------------|---------:|-------------------:|------------------:|-----------:|-----------:|-----------:|"
    );
    let ms = |d: Duration| micros(d) / 1000.0;
    let opt = |d: Option<Duration>| d.map_or_else(|| "-".into(), |d| format!("{:.1}", micros(d)));
    for (index, measurements) in rounds.iter().enumerate() {
        for m in measurements {
            println!(
                "| {:>5} | {:<24} | {:>8.0} | {:>18} | {:>17} | {:>10.0} | {:>10.2} | {:>10.2} |",
                index + 1,
                m.label,
                m.per_second,
                opt(m.cpu.0),
                opt(m.cpu.1),
                m.lag_rate,
                m.lag.map_or(f64::NAN, |l| ms(l.p50)),
                m.lag.map_or(f64::NAN, |l| ms(l.p99)),
            );
        }
    }
    println!();
    let (mut raw, mut framework, mut worst_p99) = (0.0, 0.0, Duration::ZERO);
    for measurements in rounds {
        for m in measurements {
            if m.label.starts_with("raw") {
                raw += m.per_second;
            } else {
                framework += m.per_second;
                if let Some(lag) = m.lag {
                    worst_p99 = worst_p99.max(lag.p99);
                }
            }
        }
    }
    let ratio = framework / raw;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "all rounds: framework/raw events/s = {ratio:.3} (target ≥ {TARGET_RATIO}: {}); \
         framework lag p99 at half its rate, worst round = {:.2} ms (target < {} ms: {})",
        verdict(ratio >= TARGET_RATIO),
        ms(worst_p99),
        TARGET_LAG_P99.as_millis(),
        verdict(worst_p99 < TARGET_LAG_P99),
    );
}
