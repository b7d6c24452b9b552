//! `bus`: typed request/reply through Switchboard against raw `async-nats` request/reply,
//! on the same nats-server, in the same run.
//!
//! Each *pairing* is a requester and a responder:
//! - `raw`: `Client::request("raw.echo", …)` answered by a raw queue subscriber that
//!   publishes the request's payload back inline, in its receive loop;
//! - `framework`: the generated `ProbeClient::record` answered by the `probe` service under
//!   `ServiceRuntime` (the runtime spawns one task per request);
//! - with `--breakdown`, the pairings that tell the costs apart: a raw responder that
//!   spawns a task per request like the runtime does, raw requests and replies carrying
//!   prebuilt headers shaped like the framework's, the framework client against the raw
//!   responder, and a raw requester (no headers) against the framework service.
//!
//! Each round has three phases: a warm-up of every pairing; sequential latency, one request
//! at a time, the pairings taking turns request by request so drifting machine load hits
//! them alike; and throughput, `concurrency` requesters looping for a fixed time over one
//! shared connection, one pairing after the other.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use prost::Message as _;
use switchboard::bus::BusSettings;
use switchboard::service::{RunningService, RuntimeSettings};
use switchboard::testing::NatsServer;
use switchboard::testing::proto::probe::v1::{
    EchoRequest, Echoed, ProbeClient, ProbeHandler, echo_reply::Outcome, probe_service,
};
use switchboard::{Bus, CallOptions, Context, Rpc, ServiceError, ServiceRuntime, wire};
use tokio::task::{JoinHandle, JoinSet};

use crate::cpu::Clocks;
use crate::report::{self, Call, Measurement, Subject, find, verdict};
use crate::stats::{Load, micros};

/// Throughput the framework must reach, as a fraction of raw throughput.
const TARGET_THROUGHPUT_RATIO: f64 = 0.85;
/// Latency the framework may add at p50 of the sequential phase, in microseconds.
const TARGET_P50_OVERHEAD_US: f64 = 25.0;
/// Length of the echoed text; the encoded `EchoRequest` is 18 bytes.
const TEXT_LEN: usize = 16;
/// Subject of the raw responder that replies inline.
const RAW_SUBJECT: &str = "raw.echo";
/// Subject of the raw responder that spawns a task per request.
const RAW_SPAWN_SUBJECT: &str = "raw.echo-spawn";
/// Subject of the raw responder that replies inline with headers shaped like the runtime's.
const RAW_HEADERS_SUBJECT: &str = "raw.echo-headers";
/// A UUIDv7 as text, standing in for message ids in the raw pairing with headers.
const SAMPLE_MESSAGE_ID: &str = "019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
/// Queue group of the raw responders.
const RAW_QUEUE: &str = "raw";
/// Width of the pairing column in tables and progress lines.
const LABEL_WIDTH: usize = 26;

/// What the command line chose (see [`crate::options::Options`]).
pub type Options = crate::options::Options<Pairing>;

/// Reads the options that follow `bus` on the command line.
pub fn parse_options(args: impl Iterator<Item = String>) -> Result<Options> {
    Options::with_defaults(2_000, 20_000).parse(args, Pairing::named)
}

/// A requester and a responder measured together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairing {
    /// Raw requester, raw responder replying inline.
    Raw,
    /// Raw requester, raw responder spawning a task per request.
    RawSpawn,
    /// Raw requester and inline raw responder, both sending prebuilt headers shaped like
    /// the framework's (same names, same value lengths).
    RawHeaders,
    /// Framework client (`Bus::call`), raw responder replying inline.
    FrameworkClient,
    /// Raw requester (no headers), framework service.
    FrameworkServer,
    /// Generated framework client, framework service.
    Framework,
}

impl Subject for Pairing {
    const DEFAULT: &'static [Self] = &[Pairing::Raw, Pairing::Framework];
    const NAMES: &'static [(Self, &'static str)] = &[
        (Pairing::Raw, "raw"),
        (Pairing::RawSpawn, "raw-spawn"),
        (Pairing::RawHeaders, "raw-headers"),
        (Pairing::FrameworkClient, "framework-client"),
        (Pairing::FrameworkServer, "framework-server"),
        (Pairing::Framework, "framework"),
    ];

    fn label(self) -> &'static str {
        match self {
            Pairing::Raw => "raw",
            Pairing::RawSpawn => "raw, spawning responder",
            Pairing::RawHeaders => "raw with headers",
            Pairing::FrameworkClient => "framework client -> raw",
            Pairing::FrameworkServer => "raw -> framework service",
            Pairing::Framework => "framework",
        }
    }
}

/// Everything a run serves and calls from: the server, the responders and both clients.
struct Fixture {
    /// The nats-server; killed when the fixture is dropped.
    _server: NatsServer,
    /// The `probe` service on its own connection.
    service: RunningService,
    /// The raw responders' receive loops.
    responders: Vec<JoinHandle<()>>,
    /// The framework's client-side bus: one connection shared by every framework requester.
    bus: Bus,
    /// The raw requesters' one shared connection.
    raw: async_nats::Client,
    /// CPU clocks of this process and of the nats-server.
    clocks: Clocks,
}

impl Fixture {
    /// Starts a nats-server, the `probe` service and the raw responders, and connects the
    /// two clients.
    async fn start() -> Result<Self> {
        let server = NatsServer::try_start().context(
            "cannot start nats-server: set NATS_SERVER_BIN (`cargo xtask nats` prints one)",
        )?;
        let url = server.url().to_string();
        let settings = BusSettings::new(url.clone());

        let store = switchboard::store::open("sqlite::memory:")
            .await
            .context("opening the in-memory store")?;
        let service_bus = Bus::connect(&settings, "bench-server")
            .await
            .context("connecting the service")?;
        let service = ServiceRuntime::new(
            probe_service(Echo),
            service_bus,
            store,
            RuntimeSettings::default(),
        )
        .start()
        .await
        .context("starting the probe service")?;

        let responder = async_nats::connect(&url)
            .await
            .context("connecting the raw responder")?;
        let responders = vec![
            start_raw_responder(&responder, RAW_SUBJECT, Reply::Inline).await?,
            start_raw_responder(&responder, RAW_SPAWN_SUBJECT, Reply::Spawned).await?,
            start_raw_responder(
                &responder,
                RAW_HEADERS_SUBJECT,
                Reply::InlineWithHeaders(reply_headers()),
            )
            .await?,
        ];

        let bus = Bus::connect(&settings, "bench-client")
            .await
            .context("connecting the framework client")?;
        let raw = async_nats::connect(&url)
            .await
            .context("connecting the raw client")?;
        Ok(Self {
            _server: server,
            service,
            responders,
            bus,
            raw,
            clocks: Clocks::find(),
        })
    }

    /// A requester for `pairing`.
    fn requester(&self, pairing: Pairing) -> Requester {
        let request = EchoRequest {
            text: "x".repeat(TEXT_LEN),
            ..Default::default()
        };
        let payload = Bytes::from(request.encode_to_vec());
        let raw = |subject, headers| Requester::Raw {
            client: self.raw.clone(),
            subject,
            headers,
            payload: payload.clone(),
        };
        match pairing {
            Pairing::Raw => raw(RAW_SUBJECT, None),
            Pairing::RawSpawn => raw(RAW_SPAWN_SUBJECT, None),
            Pairing::RawHeaders => raw(RAW_HEADERS_SUBJECT, Some(request_headers())),
            Pairing::FrameworkServer => raw(PROBE_RECORD.subject, None),
            Pairing::FrameworkClient => Requester::Bus {
                bus: self.bus.clone(),
                rpc: RAW_RPC,
                request: Arc::new(request),
            },
            Pairing::Framework => Requester::Probe {
                client: ProbeClient::new(self.bus.clone()),
                text: request.text,
            },
        }
    }

    /// Stops the service gracefully and the raw responders.
    async fn stop(self) -> Result<()> {
        for responder in &self.responders {
            responder.abort();
        }
        self.service
            .stop()
            .await
            .context("stopping the probe service")
    }
}

/// The non-retryable `probe` rpc the framework pairings call.
const PROBE_RECORD: Rpc = switchboard::testing::proto::probe::v1::probe_rpc::RECORD;

/// The raw echo subject as an rpc, so the framework client can call it: not retryable,
/// like `Record`.
const RAW_RPC: Rpc = Rpc {
    service: "raw",
    name: "Echo",
    subject: RAW_SUBJECT,
    retryable: false,
    public: false,
};

/// The probe handler of the benchmark: every rpc echoes the text and does nothing else.
struct Echo;

impl ProbeHandler for Echo {
    async fn echo(&self, _ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        Ok(echoed(request))
    }

    async fn record(&self, _ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        Ok(echoed(request))
    }

    async fn whoami(&self, _ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        Ok(echoed(request))
    }
}

/// The reply of every probe rpc.
fn echoed(request: EchoRequest) -> Outcome {
    Outcome::Echoed(Echoed {
        text: request.text,
        ..Default::default()
    })
}

/// Headers shaped like those `Bus::call` sends (same names, same value lengths), built
/// once.
fn request_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(wire::MESSAGE_ID, SAMPLE_MESSAGE_ID);
    headers.insert(wire::SENDER, "bench-client");
    headers.insert(wire::DEADLINE, "1795000000000");
    headers.insert(wire::TIMESTAMP, "1795000000000");
    headers
}

/// Headers shaped like those the runtime replies with (a success carries only
/// `Sb-Response-To`), built once.
fn reply_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(wire::RESPONSE_TO, SAMPLE_MESSAGE_ID);
    headers
}

/// How a raw responder publishes its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// In its receive loop: the leanest possible responder.
    Inline,
    /// From a task spawned per request (how `ServiceRuntime` worked before it polled an
    /// endpoint's requests on the endpoint's own task).
    Spawned,
    /// In its receive loop, with a clone of these headers.
    InlineWithHeaders(HeaderMap),
}

/// Subscribes a raw echo responder to `subject` on `client` and returns its receive loop
/// once the server has registered the subscription.
async fn start_raw_responder(
    client: &async_nats::Client,
    subject: &'static str,
    reply: Reply,
) -> Result<JoinHandle<()>> {
    let mut subscriber = client
        .queue_subscribe(subject, RAW_QUEUE.to_string())
        .await
        .with_context(|| format!("subscribing the raw responder to {subject}"))?;
    let publisher = client.clone();
    let receive = tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            let Some(reply_to) = message.reply else {
                continue;
            };
            match &reply {
                Reply::Inline => publish(&publisher, reply_to, None, message.payload).await,
                Reply::Spawned => {
                    let publisher = publisher.clone();
                    tokio::spawn(async move {
                        publish(&publisher, reply_to, None, message.payload).await;
                    });
                }
                Reply::InlineWithHeaders(headers) => {
                    let headers = Some(headers.clone());
                    publish(&publisher, reply_to, headers, message.payload).await;
                }
            }
        }
    });
    // The server handles one connection's commands in order: an answer to a request sent
    // on the same connection proves the subscription is live.
    client
        .request(subject, Bytes::from_static(b"ready?"))
        .await
        .with_context(|| format!("the raw responder on {subject} did not answer"))?;
    Ok(receive)
}

/// Publishes a raw reply, reporting (not propagating) a failure: the requester's timeout
/// will fail the benchmark.
async fn publish(
    client: &async_nats::Client,
    reply_to: async_nats::Subject,
    headers: Option<HeaderMap>,
    payload: Bytes,
) {
    let sent = match headers {
        Some(headers) => {
            client
                .publish_with_headers(reply_to, headers, payload)
                .await
        }
        None => client.publish(reply_to, payload).await,
    };
    if let Err(error) = sent {
        eprintln!("raw responder: cannot publish a reply: {error}");
    }
}

/// One side of a pairing: sends a request and checks its reply.
#[derive(Clone)]
enum Requester {
    /// `async_nats::Client::request` with a prepared payload (and prepared headers).
    Raw {
        /// The shared raw connection.
        client: async_nats::Client,
        /// Where to send.
        subject: &'static str,
        /// Headers sent (cloned) with every request.
        headers: Option<HeaderMap>,
        /// The encoded `EchoRequest`.
        payload: Bytes,
    },
    /// `Bus::call` to a raw responder, its echo decoded as an `EchoRequest`.
    Bus {
        /// The shared framework connection.
        bus: Bus,
        /// The raw subject as an rpc.
        rpc: Rpc,
        /// What to send.
        request: Arc<EchoRequest>,
    },
    /// The generated client's `record` (non-retryable, so no retry bookkeeping differs
    /// from the raw side).
    Probe {
        /// The generated client over the shared framework connection.
        client: ProbeClient,
        /// The text to echo.
        text: String,
    },
}

impl Call for Requester {
    async fn call(&mut self) -> Result<()> {
        self.send().await
    }
}

impl Requester {
    /// One request and its reply, checked (shared by the concurrent requesters' clones).
    async fn send(&self) -> Result<()> {
        match self {
            Requester::Raw {
                client,
                subject,
                headers,
                payload,
            } => {
                let sent = match headers {
                    Some(headers) => {
                        client
                            .request_with_headers(*subject, headers.clone(), payload.clone())
                            .await
                    }
                    None => client.request(*subject, payload.clone()).await,
                };
                let reply = sent.with_context(|| format!("raw request to {subject}"))?;
                let code = reply
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(wire::SERVICE_ERROR_CODE));
                ensure!(code.is_none(), "{subject} answered with error {code:?}");
                ensure!(
                    !reply.payload.is_empty(),
                    "{subject} answered an empty reply"
                );
            }
            Requester::Bus { bus, rpc, request } => {
                let echo: EchoRequest = bus
                    .call(rpc, request.as_ref(), CallOptions::default())
                    .await
                    .with_context(|| format!("framework call to {}", rpc.subject))?;
                ensure!(
                    echo.text == request.text,
                    "{} echoed the wrong text",
                    rpc.subject
                );
            }
            Requester::Probe { client, text } => {
                let request = EchoRequest {
                    text: text.clone(),
                    ..Default::default()
                };
                let Outcome::Echoed(echoed) = client
                    .record(request)
                    .await
                    .context("framework call to probe.v1.record")?;
                ensure!(
                    echoed.text == *text,
                    "probe.v1.record echoed the wrong text"
                );
            }
        }
        Ok(())
    }
}

/// Runs `concurrency` requesters for `duration` and measures what they achieve.
async fn under_load(requester: &Requester, clocks: &Clocks, options: &Options) -> Result<Load> {
    let cpu_before = clocks.now();
    let started = Instant::now();
    let end = started + options.duration;
    let mut requesters = JoinSet::new();
    for _ in 0..options.concurrency {
        let mut requester = requester.clone();
        requesters.spawn(async move { report::until(&mut requester, end).await });
    }
    report::collect(requesters, started, clocks, &cpu_before).await
}

/// One round: a warm-up of every pairing, sequential latency of all pairings taking turns,
/// then the throughput of each pairing, one after another.
async fn round(
    fixture: &Fixture,
    pairings: &[Pairing],
    options: &Options,
) -> Result<Vec<Measurement<Pairing>>> {
    let mut requesters: Vec<Requester> = pairings.iter().map(|&p| fixture.requester(p)).collect();
    let latencies = report::warm_up_then_sequential(&mut requesters, pairings, options).await?;
    report::throughput_phase(pairings, latencies, async |index, _| {
        under_load(&requesters[index], &fixture.clocks, options).await
    })
    .await
}

/// Runs the benchmark and prints its tables.
pub async fn run(options: Options) -> Result<()> {
    let fixture = Fixture::start().await?;
    let pairings = options.chosen();
    println!(
        "bus: per round, {} warm-up requests per pairing; {} sequential requests per pairing, \
         the pairings taking turns request by request; then {} requesters for {:.1} s per \
         pairing, one pairing after another; {} round(s); {}-byte EchoRequest payload",
        options.warmup,
        options.requests,
        options.concurrency,
        options.duration.as_secs_f64(),
        options.rounds,
        payload_len(),
    );
    let rounds = report::rounds(&options, LABEL_WIDTH, async || {
        round(&fixture, &pairings, &options).await
    })
    .await?;
    fixture.stop().await?;
    print_table(&rounds, &options);
    print_verdict(&rounds);
    Ok(())
}

/// Bytes of the encoded `EchoRequest` every requester sends.
fn payload_len() -> usize {
    EchoRequest {
        text: "x".repeat(TEXT_LEN),
        ..Default::default()
    }
    .encoded_len()
}

/// Prints every measurement, with its difference from `raw` in the same round.
fn print_table(rounds: &[Vec<Measurement<Pairing>>], options: &Options) {
    report::print_header(
        "pairing",
        LABEL_WIDTH,
        &format!(
            "seq p50 µs | seq p90 µs | seq p99 µs | seq mean µs | Δp50 vs raw µs | {}× req/s | × raw",
            options.concurrency
        ),
        "-----------:|-----------:|-----------:|------------:|---------------:|----------:|------:",
    );
    for (index, measurements) in rounds.iter().enumerate() {
        let raw = find(measurements, Pairing::Raw);
        for m in measurements {
            let (delta, ratio) = match raw {
                Some(raw) => (
                    format!(
                        "{:+.1}",
                        micros(m.sequential.p50) - micros(raw.sequential.p50)
                    ),
                    format!("{:.2}", m.throughput() / raw.throughput()),
                ),
                None => ("-".into(), "-".into()),
            };
            let middle = format!(
                "{:>10.1} | {:>10.1} | {:>10.1} | {:>11.1} | {:>14} | {:>9.0} | {:>5}",
                micros(m.sequential.p50),
                micros(m.sequential.p90),
                micros(m.sequential.p99),
                micros(m.sequential.mean),
                delta,
                m.throughput(),
                ratio,
            );
            report::print_row(index + 1, LABEL_WIDTH, m, &middle);
        }
    }
}

/// Prints framework against raw per round and over all rounds, with PASS/MISS.
fn print_verdict(rounds: &[Vec<Measurement<Pairing>>]) {
    println!();
    let mut raw_total = 0.0;
    let mut framework_total = 0.0;
    let mut deltas = Vec::new();
    for (index, measurements) in rounds.iter().enumerate() {
        let (Some(raw), Some(framework)) = (
            find(measurements, Pairing::Raw),
            find(measurements, Pairing::Framework),
        ) else {
            continue;
        };
        let ratio = framework.throughput() / raw.throughput();
        let delta = micros(framework.sequential.p50) - micros(raw.sequential.p50);
        println!(
            "round {}: throughput framework/raw = {ratio:.3} ({}), p50 framework − raw = {delta:+.1} µs ({})",
            index + 1,
            verdict(ratio >= TARGET_THROUGHPUT_RATIO),
            verdict(delta <= TARGET_P50_OVERHEAD_US),
        );
        raw_total += raw.throughput();
        framework_total += framework.throughput();
        deltas.push(delta);
    }
    if deltas.is_empty() {
        return;
    }
    let ratio = framework_total / raw_total;
    let delta = deltas.iter().sum::<f64>() / deltas.len() as f64;
    println!(
        "all rounds: throughput framework/raw = {ratio:.3} (target ≥ {TARGET_THROUGHPUT_RATIO}: {}), \
         p50 framework − raw = {delta:+.1} µs (target ≤ {TARGET_P50_OVERHEAD_US} µs: {})",
        verdict(ratio >= TARGET_THROUGHPUT_RATIO),
        verdict(delta <= TARGET_P50_OVERHEAD_US),
    );
}
