//! Starting a service on the bus and stopping it gracefully.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::discovery;
use super::dispatch::{self, EndpointState, Shared};
use super::events::INBOX;
use super::events::consume::{Consumer, ConsumerMetrics};
use super::events::relay;
use super::events::streams::{self, StreamError};
use super::idempotency::COLLECTION as IDEMPOTENCY;
use super::idempotency::Idempotency;
use super::{RuntimeSettings, ServiceDefinition};
use crate::admin::{AdminServer, Health};
use crate::auth::{ServiceCredentials, TokenVerifier};
use crate::bus::Bus;
use crate::store::Store;

/// How long start-up waits for the server to confirm the subscriptions.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The definition cannot be served (bad name or version).
    #[error("invalid service definition: {0}")]
    InvalidDefinition(String),
    /// A subscription was refused.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What the client reported.
        reason: String,
    },
    /// The connection could not be flushed.
    #[error("cannot flush the NATS connection: {0}")]
    Flush(String),
    /// The admin listener could not bind its address.
    #[error("cannot open the admin listener: {0}")]
    Admin(#[from] std::io::Error),
    /// The service's event or dead-letter stream could not be created or updated.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// A service ready to start: its definition, the bus, its store and its settings.
pub struct ServiceRuntime {
    definition: ServiceDefinition,
    bus: Bus,
    store: Arc<dyn Store>,
    settings: RuntimeSettings,
    verifier: Option<Arc<dyn TokenVerifier>>,
    credentials: Arc<ServiceCredentials>,
}

impl ServiceRuntime {
    /// A runtime serving `definition` on `bus`, keeping idempotency records in `store`.
    pub fn new(
        definition: ServiceDefinition,
        bus: Bus,
        store: Arc<dyn Store>,
        settings: RuntimeSettings,
    ) -> Self {
        Self {
            definition,
            bus,
            store,
            settings,
            verifier: None,
            credentials: Arc::new(ServiceCredentials::none()),
        }
    }

    /// Calls the service makes on its own behalf (event handlers, workers) carry
    /// `credentials`' token; without, they are anonymous.
    pub fn credentials(mut self, credentials: Arc<ServiceCredentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// Verifies bearer tokens with `verifier`; without one, requests carrying a token are
    /// refused with 401 and requests without one are anonymous.
    pub fn verifier(mut self, verifier: Option<Arc<dyn TokenVerifier>>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Validates the definition, subscribes every endpoint (queue group = service name)
    /// and the Services API, and returns once the server has registered them all.
    pub async fn start(self) -> Result<RunningService, RuntimeError> {
        let definition = self.definition;
        validate(&definition)?;
        let client = self.bus.nats().clone();
        crate::telemetry::metrics_handle();
        let store = Arc::clone(&self.store);
        let health = Health::new(client.clone()).depends_on(Arc::new(move || {
            let store = Arc::clone(&store);
            Box::pin(async move {
                match store.check().await {
                    Ok(()) => true,
                    Err(error) => {
                        let error = crate::telemetry::error_chain(&error);
                        tracing::warn!(%error, "not ready: the store does not answer");
                        false
                    }
                }
            })
        }));
        let admin = match self.settings.admin_addr {
            Some(addr) => Some(AdminServer::start(addr, health.clone()).await?),
            None => None,
        };
        let js = async_nats::jetstream::new(client.clone());
        let events = &self.settings.events;
        if !definition.events.is_empty() {
            streams::ensure_events(&js, definition.name, &events.stream).await?;
        }
        if !definition.consumers.is_empty() {
            streams::ensure_dead_letters(&js, definition.name, &events.stream).await?;
        }
        let shared = Arc::new(Shared {
            bus: self.bus.clone(),
            verifier: self.verifier,
            idempotency: Idempotency::new(self.store.clone(), self.settings.idempotency_ttl),
            max_in_flight: self.settings.max_in_flight,
        });
        let (stop, stopped) = watch::channel(false);
        // The relay stops last, after the requests and events in hand have committed.
        let (stop_relay, relay_stopped) = watch::channel(false);
        let relay = (!definition.events.is_empty()).then(|| {
            tokio::spawn(relay::run(
                definition.name,
                self.store.clone(),
                relay::context(client.clone()),
                events.outbox.clone(),
                relay_stopped,
            ))
        });
        let housekeeping = tokio::spawn(housekeeping(
            self.store.clone(),
            (!definition.consumers.is_empty()).then_some(events.consumer.inbox_retention),
            stopped.clone(),
        ));
        let consumers: Vec<JoinHandle<()>> = definition
            .consumers
            .into_iter()
            .map(|consumer| {
                let consumer = Consumer {
                    metrics: ConsumerMetrics::new(consumer.consumer.durable),
                    definition: consumer,
                    js: js.clone(),
                    bus: self.bus.clone(),
                    store: self.store.clone(),
                    settings: events.consumer.clone(),
                    credentials: self.credentials.clone(),
                };
                tokio::spawn(consumer.run(stopped.clone()))
            })
            .collect();
        let mut endpoints = Vec::new();
        let mut loops = Vec::new();
        for endpoint in definition.endpoints {
            let subscriber = client
                .queue_subscribe(endpoint.rpc.subject, definition.name.to_string())
                .await
                .map_err(|e| RuntimeError::Subscribe {
                    subject: endpoint.rpc.subject.to_string(),
                    reason: e.to_string(),
                })?;
            let state = Arc::new(EndpointState::new(
                endpoint.rpc,
                endpoint.handler,
                endpoint.streaming,
            ));
            loops.push(tokio::spawn(serve(
                subscriber,
                state.clone(),
                shared.clone(),
                stopped.clone(),
            )));
            endpoints.push(state);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let discovery = discovery::start(
            client.clone(),
            discovery::Identity {
                name: definition.name,
                id: id.clone(),
                version: definition.version,
                description: definition.description,
                started: OffsetDateTime::now_utc(),
            },
            endpoints.clone(),
        )
        .await?;
        confirm_subscriptions(&client, definition.name, &id).await?;
        let worker_context = super::WorkerContext {
            service: definition.name,
            bus: self.bus.clone(),
            store: self.store.clone(),
            credentials: self.credentials.clone(),
            instance_id: Arc::from(self.settings.instance_id.as_str()),
            stopped: stopped.clone(),
        };
        let workers: Vec<JoinHandle<()>> = definition
            .workers
            .into_iter()
            .map(|worker| {
                tracing::debug!(service = definition.name, worker = worker.name, "starting");
                tokio::spawn((worker.run)(worker_context.clone()))
            })
            .collect();
        health.set_serving(true);
        tracing::info!(
            service = definition.name,
            id,
            endpoints = endpoints.len(),
            events = definition.events.len(),
            consumers = consumers.len(),
            "serving"
        );
        Ok(RunningService {
            name: definition.name,
            id,
            bus: self.bus,
            settings: self.settings,
            stop,
            loops,
            consumers,
            workers,
            housekeeping,
            stop_relay,
            relay,
            discovery,
            endpoints,
            health,
            admin,
        })
    }
}

/// A started service.
pub struct RunningService {
    /// The service name.
    name: &'static str,
    /// This instance's id in the Services API.
    id: String,
    /// Flushed last, so every reply has left before `stop` returns.
    bus: Bus,
    /// The grace period and in-flight bound.
    settings: RuntimeSettings,
    /// Set to true to make every endpoint loop drain its subscription.
    stop: watch::Sender<bool>,
    /// One loop per endpoint; each ends when its drained subscription is empty.
    loops: Vec<JoinHandle<()>>,
    /// One task per durable consumer; each ends once its events in hand are handled.
    consumers: Vec<JoinHandle<()>>,
    /// One task per background worker; each ends soon after the stop.
    workers: Vec<JoinHandle<()>>,
    /// Deletes expired idempotency and inbox records until the stop.
    housekeeping: JoinHandle<()>,
    /// Set to true, after the loops and consumers ended, to stop the relay.
    stop_relay: watch::Sender<bool>,
    /// The outbox relay, when the service announces events.
    relay: Option<JoinHandle<()>>,
    /// Answers the Services API until aborted.
    discovery: JoinHandle<()>,
    /// Their counters tell how much work is in flight.
    endpoints: Vec<Arc<EndpointState>>,
    /// What `/readyz` reports; cleared first thing on stop.
    health: Health,
    /// The admin listener, when `ADMIN_ADDR` is set; closed last.
    admin: Option<AdminServer>,
}

impl RunningService {
    /// This instance's id, as `$SRV.PING` reports it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the admin listener is bound, when there is one.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(|a| a.local_addr)
    }

    /// Serves until `shutdown` completes, then stops gracefully (see [`Self::stop`]).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        shutdown.await;
        self.stop().await
    }

    /// Stops taking requests (the subscriptions are drained, so every request the server
    /// already delivered is still handled), waits up to the grace period for in-flight
    /// requests to finish, and flushes their replies.
    pub async fn stop(mut self) -> Result<(), RuntimeError> {
        // Readiness drops before anything else, so orchestrators stop routing here.
        self.health.set_serving(false);
        tracing::info!(service = self.name, id = self.id, "draining");
        let grace = tokio::time::Instant::now() + self.settings.shutdown_grace;
        // Receivers live as long as the loops; an error only means they have all ended.
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout_at(grace, async {
            let tasks = self.loops.iter_mut().chain(&mut self.consumers);
            for handle in tasks.chain(&mut self.workers) {
                if let Err(error) = handle.await {
                    tracing::error!(%error, "an endpoint loop, consumer or worker failed");
                }
            }
        })
        .await;
        if finished.is_err() {
            let busy: usize = self
                .endpoints
                .iter()
                .map(|e| e.in_flight.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            tracing::warn!(
                service = self.name,
                busy,
                "grace period over with requests still in flight"
            );
            for handle in self
                .loops
                .iter()
                .chain(&self.consumers)
                .chain(&self.workers)
            {
                handle.abort();
            }
        }
        // One last pass publishes what the requests just committed; what it cannot publish
        // within the grace period waits in the outbox for the next start.
        let _ = self.stop_relay.send(true);
        if let Some(relay) = self.relay.take() {
            let abort = relay.abort_handle();
            if tokio::time::timeout_at(grace, relay).await.is_err() {
                abort.abort();
            }
        }
        self.discovery.abort();
        self.housekeeping.abort();
        self.bus
            .nats()
            .flush()
            .await
            .map_err(|e| RuntimeError::Flush(e.to_string()))?;
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        tracing::info!(service = self.name, id = self.id, "stopped");
        // The spans of the last requests leave with the process, not after it.
        crate::telemetry::shutdown().await;
        Ok(())
    }
}

/// Takes requests off one endpoint's subscription and works on up to `max_in_flight` of them
/// at once, all on this task (so their replies leave in batches); beyond the bound a
/// request is refused at once. When told to stop, drains the subscription — every request
/// the server already delivered is still handled — and returns once all are answered.
async fn serve(
    mut subscriber: async_nats::Subscriber,
    endpoint: Arc<EndpointState>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut draining = false;
    loop {
        tokio::select! {
            biased;
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            // The only change ever sent is "stop"; a dropped sender means the same.
            _ = stopped.changed(), if !draining => {
                draining = true;
                if let Err(error) = subscriber.drain().await {
                    tracing::error!(subject = endpoint.rpc.subject, %error, "could not drain");
                    break;
                }
            }
            message = subscriber.next() => match message {
                Some(message) if in_flight.len() >= shared.max_in_flight => {
                    dispatch::refuse(message, &endpoint, &shared).await;
                }
                Some(message) => {
                    in_flight.push(dispatch::handle(message, endpoint.clone(), shared.clone()));
                }
                None => break,
            },
        }
    }
    while in_flight.next().await.is_some() {}
}

/// How often expired bookkeeping records are deleted.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Deletes, at start and then every [`SWEEP_EVERY`], the idempotency records past their
/// expiry and (when the service consumes events) the inbox records older than
/// `inbox_retention`, through indexes created here.
async fn housekeeping(
    store: Arc<dyn Store>,
    inbox_retention: Option<std::time::Duration>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut sweeps = vec![(IDEMPOTENCY, "expires_at", None)];
    if let Some(retention) = inbox_retention {
        sweeps.push((INBOX, "at", Some(retention)));
    }
    for (collection, field, _) in &sweeps {
        if let Err(error) = store.ensure_index(collection, field, false).await {
            tracing::warn!(collection, %error, "cannot index bookkeeping records");
        }
    }
    loop {
        let now = std::time::SystemTime::now();
        for (collection, field, retention) in &sweeps {
            let until = retention.map_or(Some(now), |kept| now.checked_sub(kept));
            let Some(until) = until else { continue };
            let before = i64::try_from(crate::wire::unix_millis(until)).unwrap_or(i64::MAX);
            match store.delete_below(collection, field, before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(collection, deleted, "expired records deleted"),
                Err(error) => tracing::warn!(collection, %error, "cannot delete expired records"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Waits until the server has registered every subscription: the server handles one
/// connection's commands in order, so once it routes a request sent after them to this
/// instance's own `$SRV.PING.<name>.<id>`, the endpoint subscriptions are live too.
/// (`flush` alone only proves the commands left this process.)
async fn confirm_subscriptions(
    client: &async_nats::Client,
    name: &str,
    id: &str,
) -> Result<(), RuntimeError> {
    let own = format!("$SRV.PING.{name}.{id}");
    match tokio::time::timeout(CONFIRM_TIMEOUT, client.request(own, Default::default())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(RuntimeError::Flush(error.to_string())),
        Err(_) => Err(RuntimeError::Flush(format!(
            "the server did not confirm the subscriptions within {CONFIRM_TIMEOUT:?}"
        ))),
    }
}

/// Checks what the Services API requires of names and versions.
fn validate(definition: &ServiceDefinition) -> Result<(), RuntimeError> {
    let name_ok = !definition.name.is_empty()
        && definition
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(RuntimeError::InvalidDefinition(format!(
            "service name {:?} must match [A-Za-z0-9_-]+",
            definition.name
        )));
    }
    let core = definition
        .version
        .split(['-', '+'])
        .next()
        .unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
        return Err(RuntimeError::InvalidDefinition(format!(
            "version {:?} must be semver (x.y.z)",
            definition.version
        )));
    }
    if definition.endpoints.is_empty() {
        return Err(RuntimeError::InvalidDefinition(
            "a service needs at least one endpoint".into(),
        ));
    }
    Ok(())
}
