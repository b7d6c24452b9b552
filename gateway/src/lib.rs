//! The GraphQL gateway: one HTTP endpoint for web clients, resolved by typed requests over
//! the bus. It holds generic machinery only — the schema comes from the proto files.
//!
//! - [`schema`]: the GraphQL schema built from the descriptors (root fields, types,
//!   relations batched with DataLoader, value conversion);
//! - [`dispatch`]: sending a field's rpc for a request, and failures as GraphQL errors;
//! - [`http`]: the axum router — GraphQL over HTTP and WebSocket, health, metrics;
//! - [`limits`]: depth, complexity, alias and root-field limits;
//! - [`readiness`]: whether every subject the schema needs is served;
//! - [`settings`]: `GATEWAY_*` configuration.

pub mod dispatch;
pub mod document_cache;
pub mod http;
pub mod limits;
pub mod operation;
pub mod readiness;
pub mod schema;
pub mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use switchboard::{Bus, BusError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::http::AppState;
use crate::readiness::Readiness;
use crate::schema::{GatewaySchema, SchemaBuildError, SchemaOptions};
use crate::settings::GatewaySettings;

/// The name the gateway uses on the bus (`Sb-Sender`).
pub const SENDER: &str = "gateway";

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS could not be reached.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The schema could not be built from the contracts.
    #[error(transparent)]
    Schema(#[from] SchemaBuildError),
    /// The token verification keys could not be loaded.
    #[error(transparent)]
    Auth(#[from] switchboard::auth::AuthError),
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// A gateway bound to its address, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
    websockets: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
    settings: Arc<GatewaySettings>,
}

impl Application {
    /// Connects to NATS and builds the schema of every contract in `switchboard::proto`.
    pub async fn build(settings: GatewaySettings) -> Result<Self, StartError> {
        let bus = Bus::connect(&settings.bus, SENDER).await?;
        Self::build_with(settings, bus, switchboard::proto::DESCRIPTOR_SET).await
    }

    /// Builds on an existing bus from an encoded descriptor set (tests pass one with
    /// test-only contracts). Binds `settings.addr` (port 0 picks a free port).
    pub async fn build_with(
        settings: GatewaySettings,
        bus: Bus,
        descriptors: &[u8],
    ) -> Result<Self, StartError> {
        let schema = GatewaySchema::from_descriptor_set(
            descriptors,
            &SchemaOptions {
                limits: settings.limits,
                introspection: settings.introspection,
            },
        )?;
        let verifier = settings.auth.verifier().await?;
        let readiness = Readiness::new(schema.required_subjects());
        let report = readiness.check(bus.nats()).await;
        if !report.missing.is_empty() {
            tracing::warn!(missing = ?report.missing, "subjects the schema needs are not served yet");
        }
        switchboard::telemetry::metrics_handle();
        let listener = TcpListener::bind(settings.addr).await?;
        let local_addr = listener.local_addr()?;
        tracing::info!(%local_addr, fields = schema.routes.len(), "gateway listening");
        let websockets = Arc::new(Semaphore::new(settings.max_websockets));
        let (shutdown, stopping) = watch::channel(false);
        let settings = Arc::new(settings);
        let state = AppState {
            schema: Arc::new(schema),
            bus,
            verifier,
            settings: settings.clone(),
            readiness: Arc::new(readiness),
            websockets: websockets.clone(),
            shutdown: stopping,
        };
        Ok(Self {
            listener,
            router: http::router(state),
            local_addr,
            websockets,
            shutdown,
            settings,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the requests being
    /// handled finish and answers them, closes idle connections and WebSockets, and returns.
    /// Whatever is still open when the grace period (`GATEWAY_SHUTDOWN_GRACE_MS`) ends —
    /// a client holding a half-sent request, a request that outlives it — is closed then,
    /// so the process always exits in time.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            websockets,
            shutdown: stopping,
            settings,
            ..
        } = self;
        let header_read_timeout = settings.header_read_timeout;
        let mut connections = JoinSet::new();
        futures::pin_mut!(shutdown);
        let spawn = |connections: &mut JoinSet<()>, stream: TcpStream| {
            connections.spawn(serve_connection(
                stream,
                router.clone(),
                stopping.subscribe(),
                header_read_timeout,
            ));
        };
        loop {
            tokio::select! {
                // Shutdown first when both are ready: connections already waiting are
                // taken below either way, and a signal must not wait behind a flood.
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => spawn(&mut connections, stream),
                    Err(error) => {
                        // Out of file descriptors, most likely: accepting again at once
                        // would spin, and the connections in flight are what frees them.
                        tracing::error!(%error, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                // Reaps finished connections so the set holds only open ones.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Connections the kernel already completed are requests clients consider sent:
        // they are taken and answered rather than reset with the listener. Accepted
        // with the socket's own non-blocking `accept`, because tokio's accept trusts
        // readiness its reactor may not have seen yet.
        for stream in backlog(listener) {
            spawn(&mut connections, stream);
        }
        tracing::info!(
            connections = connections.len(),
            "shutting down: no new connections; finishing requests in flight"
        );
        stopping.send_replace(true);
        let drained = async {
            while connections.join_next().await.is_some() {}
            // Every WebSocket holds a permit until its task ends; all of them back means
            // every socket is closed.
            let all = u32::try_from(settings.max_websockets).unwrap_or(u32::MAX);
            let _ = websockets.acquire_many(all).await;
        };
        if tokio::time::timeout(settings.shutdown_grace, drained)
            .await
            .is_err()
        {
            tracing::warn!(
                connections = connections.len(),
                "the grace period is over; closing the connections still open"
            );
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        tracing::info!("gateway stopped");
        // The spans of the last requests leave with the process, not after it.
        switchboard::telemetry::shutdown().await;
        Ok(())
    }
}

/// Every connection waiting in `listener`'s backlog, then closes the listener.
fn backlog(listener: TcpListener) -> Vec<TcpStream> {
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "cannot take the connections waiting to be accepted");
            return Vec::new();
        }
    };
    let mut waiting = Vec::new();
    // The listener is non-blocking (tokio made it so): `accept` fails with `WouldBlock`
    // once the backlog is empty.
    while let Ok((stream, _)) = listener.accept() {
        let stream = stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream));
        match stream {
            Ok(stream) => waiting.push(stream),
            Err(error) => tracing::warn!(%error, "cannot serve a waiting connection"),
        }
    }
    waiting
}

/// The pause after a failed `accept`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves HTTP/1.1 on one connection (upgrades to WebSocket included) until the client
/// closes it or shutdown begins. A client gets `header_read_timeout` to send each request's
/// headers, so a half-sent request cannot hold the connection open. At shutdown a
/// connection between requests is closed at once and a busy one after its response.
///
/// hyper closes a connection at shutdown if it has read nothing from it yet, which would
/// drop a request that arrived just before shutdown but is not read yet. So a connection
/// that has received nothing is told to shut down only once its first bytes arrive (or
/// the header-read timeout or the grace period ends it).
async fn serve_connection(
    stream: TcpStream,
    router: axum::Router,
    mut stopping: watch::Receiver<bool>,
    header_read_timeout: Duration,
) {
    let (received, mut first_bytes) = watch::channel(false);
    let stream = Watched {
        stream,
        received,
        seen: false,
    };
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    futures::pin_mut!(connection);
    let mut stop_requested = false;
    let mut stopped = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            // An error means the application is gone: drain as at shutdown.
            _ = stopping.wait_for(|stopping| *stopping), if !stop_requested => {
                stop_requested = true;
            }
            // Resolves at once when bytes have already arrived.
            _ = first_bytes.wait_for(|received| *received), if stop_requested && !stopped => {
                stopped = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A connection's stream that tells, once, when its first bytes have been read.
struct Watched {
    stream: TcpStream,
    received: watch::Sender<bool>,
    /// Whether `received` has been told, so later reads skip the channel.
    seen: bool,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if !self.seen && buf.filled().len() > before {
            self.seen = true;
            self.received.send_replace(true);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
