//! The world each test owns: a real nats-server on a free port and probe services.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard::auth::Caller;
use switchboard::bus::BusSettings;
use switchboard::service::{RunningService, RuntimeSettings};
use switchboard::store::{self, Store};
use switchboard::testing::NatsServer;
use switchboard::{Bus, Context, ServiceError, ServiceRuntime};

pub use switchboard::testing::proto::probe::v1::{
    EchoRequest, Echoed, ProbeClient, ProbeHandler, echo_reply::Outcome, probe_rpc, probe_service,
};

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
        let calls = Arc::new(AtomicUsize::new(0));
        let handler = ProbeImpl {
            instance: uuid::Uuid::new_v4().to_string(),
            calls: calls.clone(),
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
        }
    }
}

pub async fn connect(server: &NatsServer) -> Bus {
    Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects to the test's nats-server")
}

pub async fn memory_store() -> Arc<dyn Store> {
    store::open("sqlite::memory:")
        .await
        .expect("an in-memory store")
}

/// A running probe instance and what it observed.
pub struct Probe {
    pub running: RunningService,
    pub instance: String,
    calls: Arc<AtomicUsize>,
}

impl Probe {
    /// How many times a handler of this instance started.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A handler whose behaviour each request controls.
struct ProbeImpl {
    instance: String,
    calls: Arc<AtomicUsize>,
}

impl ProbeImpl {
    async fn observe(&self, ctx: Context, request: EchoRequest) -> Result<Outcome, ServiceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if request.panic {
            panic!("the probe was asked to panic");
        }
        if request.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(request.sleep_ms))).await;
        }
        if request.forward {
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
