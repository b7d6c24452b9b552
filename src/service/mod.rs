//! The server side of the bus: a service is a [`ServiceDefinition`] (generated from its
//! proto, one endpoint per rpc) run by a [`ServiceRuntime`].
//!
//! The runtime answers the NATS Services API (`$SRV.PING|INFO|STATS`), joins the queue
//! group named after the service so replicas share load, bounds in-flight work per
//! endpoint, drops work whose deadline has passed, turns malformed payloads and panics
//! into error replies, executes commands once per idempotency key, and shuts down
//! gracefully.
//!
//! An endpoint's requests run concurrently on that endpoint's own task (which lets their
//! replies leave in batches): handlers must await, never block. CPU-heavy or blocking work
//! belongs in `tokio::task::spawn_blocking` (the SQLite store writes on a thread of its own).

mod application;
mod context;
mod discovery;
mod dispatch;
mod error;
mod events;
mod idempotency;
mod runtime;
mod settings;
mod stream;
mod worker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use crate::wire::{Event, EventConsumer, EventType, Rpc};

pub use application::Application;
pub use context::Context;
pub use error::ServiceError;
pub use events::streams::StreamError;
pub use events::{EventContext, announcement};
pub use runtime::{RunningService, RuntimeError, ServiceRuntime};
pub use settings::{
    ConsumerSettings, DEFAULT_IDEMPOTENCY_TTL, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SHUTDOWN_GRACE,
    EventSettings, OutboxSettings, RuntimeSettings, ServiceSettings, StreamSettings,
};
pub use stream::{ReplySink, StreamClosed};
pub use worker::WorkerContext;

/// A handler's reply as the bytes its caller receives, so [`Context::commit`] can record
/// it with the command's effect. Every prost message is one; code generation adds the
/// outcome enum of each reply that is only a `oneof outcome`.
pub trait EncodeReply {
    /// The encoded reply message.
    fn encode_reply(&self) -> Vec<u8>;
}

impl<M: Message> EncodeReply for M {
    fn encode_reply(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

/// A handler with its request and reply types erased: bytes in, bytes out.
type BoxedHandler = Arc<
    dyn Fn(Context, Bytes) -> Pin<Box<dyn Future<Output = Result<Bytes, ServiceError>> + Send>>
        + Send
        + Sync,
>;

/// One rpc and the function that serves it.
pub(crate) struct EndpointDefinition {
    pub(crate) rpc: Rpc,
    pub(crate) handler: BoxedHandler,
    /// Whether it answers with a stream of replies (the handler sends them itself).
    pub(crate) streaming: bool,
}

/// A service as generated code describes it: a name, one endpoint per rpc, the events it
/// announces and the events it consumes.
pub struct ServiceDefinition {
    pub(crate) name: &'static str,
    pub(crate) description: String,
    pub(crate) version: String,
    pub(crate) endpoints: Vec<EndpointDefinition>,
    pub(crate) events: &'static [EventType],
    pub(crate) consumers: Vec<events::ConsumerDefinition>,
    pub(crate) workers: Vec<worker::WorkerDefinition>,
}

impl ServiceDefinition {
    /// An empty service called `name`.
    pub fn new(name: &'static str, description: &str) -> Self {
        Self {
            name,
            description: description.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            endpoints: Vec::new(),
            events: &[],
            consumers: Vec::new(),
            workers: Vec::new(),
        }
    }

    /// Declares the events the service announces: the runtime then keeps the service's
    /// stream and runs the outbox relay.
    pub fn events(mut self, events: &'static [EventType]) -> Self {
        self.events = events;
        self
    }

    /// Handles `E` through the durable consumer `consumer` with `handler`: the payload is
    /// decoded as `E` (a malformed one is dead-lettered without running the handler).
    pub fn consumer<E, F, Fut>(mut self, consumer: EventConsumer, handler: F) -> Self
    where
        E: Event,
        F: Fn(EventContext, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ServiceError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: events::BoxedEventHandler =
            Arc::new(move |ctx: EventContext, payload: Bytes| {
                let handler = handler.clone();
                Box::pin(async move {
                    let event = E::decode(payload).map_err(|e| {
                        ServiceError::bad_request(format!("malformed {} event: {e}", E::TYPE.name))
                    })?;
                    handler(ctx, event).await
                })
            });
        self.consumers.push(events::ConsumerDefinition {
            consumer,
            handler: boxed,
        });
        self
    }

    /// Runs `run` in the background from start to stop (a saga runner, a sweeper of
    /// expired records): it gets the bus, the store and the service's own credentials, and
    /// should return soon after [`WorkerContext::stopping`] completes. Workers are awaited
    /// with the in-flight requests during the shutdown grace period, before the outbox
    /// relay's last pass, so what they commit while stopping is still announced.
    pub fn worker<F, Fut>(mut self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(WorkerContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers.push(worker::WorkerDefinition {
            name,
            run: Box::new(move |ctx| Box::pin(run(ctx))),
        });
        self
    }

    /// The version `$SRV.INFO` reports (semver; the service crate's version is a good choice).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Serves `rpc` with `handler`: the payload is decoded as `Req` (a malformed one is
    /// answered with 400 before the handler runs) and the reply encoded from `Rep`.
    pub fn endpoint<Req, Rep, F, Fut>(mut self, rpc: Rpc, handler: F) -> Self
    where
        Req: Message + Default + 'static,
        Rep: Message + 'static,
        F: Fn(Context, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rep, ServiceError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: BoxedHandler = Arc::new(move |ctx: Context, payload: Bytes| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = Req::decode(payload).map_err(|e| {
                    ServiceError::bad_request(format!("malformed {} request: {e}", ctx.subject()))
                })?;
                let reply = handler(ctx, request).await?;
                Ok(Bytes::from(reply.encode_to_vec()))
            })
        });
        self.endpoints.push(EndpointDefinition {
            rpc,
            handler: boxed,
            streaming: false,
        });
        self
    }

    /// Serves the streaming rpc `rpc` (`returns (stream Item)`) with `handler`, which sends
    /// items through its [`ReplySink`]; its return ends the stream (an error ends it with
    /// the error). Idempotency keys do not apply to streams.
    pub fn stream_endpoint<Req, Item, F, Fut>(mut self, rpc: Rpc, handler: F) -> Self
    where
        Req: Message + Default + 'static,
        Item: Message + 'static,
        F: Fn(Context, Req, ReplySink<Item>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ServiceError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: BoxedHandler = Arc::new(move |ctx: Context, payload: Bytes| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = Req::decode(payload).map_err(|e| {
                    ServiceError::bad_request(format!("malformed {} request: {e}", ctx.subject()))
                })?;
                let target = ctx.stream.clone().ok_or_else(|| {
                    ServiceError::internal("a streaming handler ran without a stream")
                })?;
                handler(ctx, request, ReplySink::new(target)).await?;
                Ok(Bytes::new())
            })
        });
        self.endpoints.push(EndpointDefinition {
            rpc,
            handler: boxed,
            streaming: true,
        });
        self
    }
}

/// Why a service binary could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS could not be reached.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The store could not be opened or prepared.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The runtime refused the definition or could not subscribe.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The token verification keys could not be loaded.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl From<StreamError> for StartError {
    fn from(error: StreamError) -> Self {
        StartError::Runtime(RuntimeError::Stream(error))
    }
}
