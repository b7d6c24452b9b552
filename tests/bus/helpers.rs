//! The world each test owns: a real nats-server on a free port and probe services.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use switchboard::testing::{connect, connect_patient, memory_store};

use futures::StreamExt;
use tokio::sync::watch;

use switchboard::auth::Caller;
use switchboard::service::{RunningService, RuntimeSettings};
use switchboard::store::Store;
use switchboard::testing::NatsServer;
use switchboard::{Bus, Context, ServiceError, ServiceRuntime};

pub use switchboard::testing::proto::probe::v1::{
    EchoRequest, Echoed, ProbeClient, ProbeHandler, echo_reply::Outcome, probe_rpc, probe_service,
};

/// Requests whose text starts with this wait, in the handler, until the probe's gate opens
/// ([`Probe::release`]): work that is certainly in flight for as long as a test needs.
pub const HELD: &str = "held:";

/// How long a test waits for a condition or a read before failing: generous, so a loaded
/// machine is slow but not wrong.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A nats-server of the test's own and a bus connected to it.
pub struct World {
    pub server: NatsServer,
    pub bus: Bus,
}

impl World {
    pub async fn new() -> Self {
        let server = NatsServer::start();
        let bus = connect(&server).await;
        Self { server, bus }
    }

    pub fn probe_client(&self) -> ProbeClient {
        ProbeClient::new(self.bus.clone())
    }

    /// Starts a probe instance with default settings and an in-memory store.
    pub async fn start_probe(&self) -> Probe {
        self.start_probe_with(RuntimeSettings::default(), memory_store().await, None)
            .await
    }

    /// Starts a probe instance on its own connection.
    pub async fn start_probe_with(
        &self,
        settings: RuntimeSettings,
        store: Arc<dyn Store>,
        verifier: Option<Arc<dyn switchboard::auth::TokenVerifier>>,
    ) -> Probe {
        let bus = connect(&self.server).await;
        start_probe_on(bus, settings, store, verifier).await
    }
}

/// Starts a probe instance on `bus` (e.g. a connection with TLS or credentials).
pub async fn start_probe_on(
    bus: Bus,
    settings: RuntimeSettings,
    store: Arc<dyn Store>,
    verifier: Option<Arc<dyn switchboard::auth::TokenVerifier>>,
) -> Probe {
    let calls = Arc::new(AtomicUsize::new(0));
    let (gate, opened) = watch::channel(false);
    let handler = ProbeImpl {
        instance: uuid::Uuid::new_v4().to_string(),
        calls: calls.clone(),
        opened,
    };
    let instance = handler.instance.clone();
    let running = ServiceRuntime::new(probe_service(handler), bus, store, settings)
        .verifier(verifier)
        .start()
        .await
        .expect("the probe starts");
    Probe {
        running,
        instance,
        calls,
        gate,
    }
}

/// A running probe instance and what it observed.
pub struct Probe {
    pub running: RunningService,
    pub instance: String,
    calls: Arc<AtomicUsize>,
    gate: watch::Sender<bool>,
}

impl Probe {
    /// How many times a handler of this instance started.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets held requests ([`HELD`]) go on, now and from now on.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }

    /// A handle that releases the held requests, usable after `running` moved away.
    pub fn releaser(&self) -> impl Fn() + Send + 'static {
        let gate = self.gate.clone();
        move || {
            gate.send_replace(true);
        }
    }

    /// Waits until `calls()` reaches `count`, failing the test after [`PATIENCE`].
    pub async fn until_calls(&self, count: usize, what: &str) {
        switchboard::testing::eventually(PATIENCE, || async {
            (self.calls() >= count).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{what}: {} handler calls, expected {count}", self.calls()));
    }
}

/// A handler whose behaviour each request controls.
struct ProbeImpl {
    instance: String,
    calls: Arc<AtomicUsize>,
    opened: watch::Receiver<bool>,
}

impl ProbeImpl {
    async fn observe(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if request.text.starts_with(HELD) {
            let mut opened = self.opened.clone();
            // The sender lives as long as the `Probe`; if it is gone, nobody waits any more.
            let _ = opened.wait_for(|open| *open).await;
        }
        if request.panic() {
            panic!("the probe was asked to panic");
        }
        if request.forward() {
            let downstream = EchoRequest {
                text: request.text,
                ..Default::default()
            };
            return Ok(ProbeClient::new(ctx.bus()).echo(downstream).await?);
        }
        Ok(Outcome::Echoed(Echoed {
            text: request.text,
            instance: self.instance.clone(),
            remaining_ms: i64::try_from(ctx.remaining().as_millis()).unwrap_or(i64::MAX),
            caller: match ctx.caller() {
                Caller::Anonymous => String::new(),
                Caller::Authenticated(identity) => identity.subject.clone(),
            },
            idempotency_key: ctx.idempotency_key().unwrap_or_default().to_string(),
            traceparent: ctx
                .trace()
                .map(|t| t.traceparent.clone())
                .unwrap_or_default(),
        }))
    }
}

impl ProbeHandler for ProbeImpl {
    async fn echo(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.observe(ctx, request).await
    }

    async fn record(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.observe(ctx, request).await
    }

    async fn whoami(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.observe(ctx, request).await
    }
}

pub fn echo(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_string(),
        ..Default::default()
    }
}

pub fn echoed(outcome: Outcome) -> Echoed {
    match outcome {
        Outcome::Echoed(echoed) => echoed,
    }
}

/// A request the probe holds until released (see [`HELD`]).
pub fn held(text: &str) -> EchoRequest {
    echo(&format!("{HELD}{text}"))
}

/// Sends `subject` with a reply inbox and collects replies until `expected` arrived (a
/// plain request returns only the first answer), failing the test if they do not within
/// [`PATIENCE`].
pub async fn gather(bus: &Bus, subject: &str, expected: usize) -> Vec<serde_json::Value> {
    let client = bus.nats();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribes");
    client
        .publish_with_reply(subject.to_string(), inbox, "".into())
        .await
        .expect("publishes");
    let mut found = Vec::new();
    let collect = async {
        while found.len() < expected {
            let message = replies.next().await.expect("the inbox stays open");
            found.push(
                serde_json::from_slice(&message.payload)
                    .unwrap_or_else(|e| panic!("{subject}: {e}: {message:?}")),
            );
        }
    };
    if tokio::time::timeout(PATIENCE, collect).await.is_err() {
        panic!(
            "{subject}: {} of {expected} replies within {PATIENCE:?}",
            found.len()
        );
    }
    found
}

/// The `$SRV.STATS` reply of one probe instance, read with the NATS client's own type.
pub async fn stats(bus: &Bus, probe: &Probe) -> async_nats::service::Stats {
    let subject = format!("$SRV.STATS.probe.{}", probe.running.id());
    let reply = gather(bus, &subject, 1).await.remove(0);
    serde_json::from_value(reply).expect("the NATS client's own Stats type reads it")
}

/// How many requests `endpoint` (e.g. `"Record"`) of `probe` has answered.
pub async fn answered(bus: &Bus, probe: &Probe, endpoint: &str) -> usize {
    let stats = stats(bus, probe).await;
    let found = stats
        .endpoints
        .iter()
        .find(|e| e.name == endpoint)
        .unwrap_or_else(|| panic!("no endpoint {endpoint} in the stats"));
    found.requests
}

/// Runs `future` for at most [`PATIENCE`], failing the test with `what` if it takes longer.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

/// A probe served over `service` answers one request sent over `caller`: both connections
/// work end to end (TLS, credentials).
pub async fn round_trip(service: Bus, caller: Bus, text: &str) {
    let _probe = start_probe_on(
        service,
        RuntimeSettings::default(),
        memory_store().await,
        None,
    )
    .await;
    let reply = within("the reply", ProbeClient::new(caller).echo(echo(text)))
        .await
        .expect("the request is answered");
    assert_eq!(echoed(reply).text, text);
}
