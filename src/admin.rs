//! The admin listener every service binary can open (`ADMIN_ADDR`): `/healthz` (the
//! process is alive), `/readyz` (connected to NATS, its database answering, and taking
//! requests — false from the moment shutdown begins) and `/metrics` (Prometheus text).
//! Orchestrators probe these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Something else a service needs to serve, asked at every readiness probe: true when it
/// answers (the service's database).
pub type Dependency = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// How long a readiness probe waits for a dependency to answer.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a service should receive traffic.
#[derive(Clone)]
pub struct Health {
    /// True while the service takes requests; cleared when shutdown begins.
    serving: Arc<AtomicBool>,
    /// The service's connection, whose state is part of readiness.
    client: async_nats::Client,
    /// What else must answer for the service to be ready.
    dependencies: Vec<Dependency>,
}

impl Health {
    /// Health for a service on `client`, not serving yet.
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            serving: Arc::new(AtomicBool::new(false)),
            client,
            dependencies: Vec::new(),
        }
    }

    /// Adds a dependency readiness asks (with a timeout) once the rest is ready.
    #[must_use]
    pub fn depends_on(mut self, dependency: Dependency) -> Self {
        self.dependencies.push(dependency);
        self
    }

    /// Ready, and every dependency answering within its timeout.
    pub async fn is_ready_now(&self) -> bool {
        if !self.is_ready() {
            return false;
        }
        for dependency in &self.dependencies {
            match tokio::time::timeout(DEPENDENCY_TIMEOUT, dependency()).await {
                Ok(true) => {}
                Ok(false) | Err(_) => return false,
            }
        }
        true
    }

    /// Marks the service as taking requests, or not.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// Serving and connected.
    pub fn is_ready(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
            && self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// A running admin listener; dropping it does not stop it, [`AdminServer::stop`] does.
pub struct AdminServer {
    /// The bound address (useful when the port was 0).
    pub local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Binds `addr` and serves the admin endpoints for `health`.
    pub async fn start(addr: SocketAddr, health: Health) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(health);
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender also means stop.
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "the admin listener failed");
            }
        });
        tracing::info!(%local_addr, "admin listener");
        Ok(Self {
            local_addr,
            stop,
            task,
        })
    }

    /// Stops the listener and waits for it.
    pub async fn stop(self) {
        // An error means the listener has already ended.
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn readyz(State(health): State<Health>) -> Response {
    if health.is_ready_now().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// `GET /metrics`: Prometheus text of this process's metrics; 503 when no recorder is
/// installed. The gateway serves the same handler, so every binary renders them alike.
pub async fn metrics() -> Response {
    match crate::telemetry::metrics_handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
