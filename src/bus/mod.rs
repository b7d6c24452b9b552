//! The client side of the bus: one shared NATS connection, typed calls with deadlines,
//! headers, retries and typed errors.
//!
//! Generated clients (`UsersClient`, …) are thin wrappers over [`Bus::call`]; nobody
//! writes a subject, an encode or a decode by hand.

mod breaker;
mod error;
mod options;
mod retry;
mod settings;
mod stream;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::{HeaderMap, RequestErrorKind};
use bytes::Bytes;
use prost::Message;

use crate::proto::switchboard::v1::Status;
use crate::telemetry::{propagation, spans};
use crate::wire::{self, Rpc, names};

pub use breaker::{BreakerSettings, CircuitState};
pub use error::BusError;
pub(crate) use options::Inherited;
pub use options::{CallOptions, TraceContext};
pub use settings::{
    BusSettings, DEFAULT_DEADLINE, DEFAULT_MAX_ATTEMPTS, NatsAuth, NatsSettings, TlsSettings,
};
pub use stream::ReplyStream;

/// A handle on the bus: cheap to clone, shared by every client in the process.
///
/// A `Bus` taken from a handler's context (`ctx.bus()`) also carries what downstream calls
/// inherit from the request being handled: its deadline, bearer token and trace context.
#[derive(Clone)]
pub struct Bus {
    /// The connection and the call defaults, shared by every clone.
    shared: Arc<Shared>,
    /// What calls through this handle inherit; empty outside a handler.
    inherited: Arc<Inherited>,
}

/// The part of a [`Bus`] every clone shares.
struct Shared {
    /// The one NATS connection of the process (one connection outperforms several).
    client: async_nats::Client,
    /// `Sb-Sender` of every message sent through this bus.
    sender: Arc<str>,
    /// Deadline of calls that set none and inherit none.
    default_deadline: Duration,
    /// Bound on attempts of a retryable call.
    max_attempts: u32,
    /// The circuit breaker of each subject called.
    breakers: breaker::Breakers,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("sender", &self.shared.sender)
            .field("default_deadline", &self.shared.default_deadline)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Connects to NATS; `sender` names this process in `Sb-Sender` and in the server's
    /// connection list.
    pub async fn connect(settings: &BusSettings, sender: &str) -> Result<Self, BusError> {
        let urls = settings.nats.urls.join(",");
        let connect_error = |reason: String| BusError::Connect {
            urls: urls.clone(),
            reason,
        };
        let options = settings
            .nats
            .connect_options(sender)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let client = options
            .connect(settings.nats.urls.clone())
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        Ok(Self::from_client(client, sender, settings))
    }

    /// A bus over an existing connection.
    pub fn from_client(client: async_nats::Client, sender: &str, settings: &BusSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                sender: Arc::from(sender),
                default_deadline: settings.default_deadline,
                max_attempts: settings.max_attempts.max(1),
                breakers: breaker::Breakers::new(settings.breaker),
            }),
            inherited: Arc::new(Inherited::default()),
        }
    }

    /// The underlying NATS client, for what the bus does not wrap (JetStream, raw subjects).
    pub fn nats(&self) -> &async_nats::Client {
        &self.shared.client
    }

    /// The name this bus puts in `Sb-Sender`.
    pub fn sender(&self) -> &str {
        &self.shared.sender
    }

    /// The state of `subject`'s circuit breaker in this process.
    pub fn circuit_state(&self, subject: &str) -> CircuitState {
        self.shared.breakers.state(subject)
    }

    /// The deadline calls get when they set none and inherit none.
    pub fn default_deadline(&self) -> Duration {
        self.shared.default_deadline
    }

    /// This bus, acting for the holder of `token`: every call sends it as
    /// `Authorization: Bearer <token>` unless its own options carry another.
    pub fn with_bearer_token(&self, token: &str) -> Self {
        let inherited = Inherited {
            authorization: Some(Arc::from(format!("Bearer {token}"))),
            ..(*self.inherited).clone()
        };
        self.inheriting(inherited)
    }

    /// This bus, with downstream calls inheriting from a request being handled.
    pub(crate) fn inheriting(&self, inherited: Inherited) -> Self {
        Self {
            shared: self.shared.clone(),
            inherited: Arc::new(inherited),
        }
    }

    /// Sends `request` to `rpc` and decodes its reply, retrying transient failures when
    /// the rpc is retryable or the call carries an idempotency key.
    pub async fn call<Req, Rep>(
        &self,
        rpc: &Rpc,
        request: &Req,
        options: CallOptions,
    ) -> Result<Rep, BusError>
    where
        Req: Message,
        Rep: Message + Default,
    {
        let payload = Bytes::from(request.encode_to_vec());
        let reply = self.call_bytes(rpc, payload, options).await?;
        Rep::decode(reply).map_err(|e| BusError::Decode {
            subject: rpc.subject,
            reason: e.to_string(),
        })
    }

    /// [`Self::call`] with the request already encoded and the reply left encoded, for
    /// callers that reflect over descriptors instead of using generated types (the gateway).
    pub async fn call_bytes(
        &self,
        rpc: &Rpc,
        payload: Bytes,
        options: CallOptions,
    ) -> Result<Bytes, BusError> {
        let deadline = self.deadline(&options);
        let retry_allowed =
            !options.single_attempt && (rpc.retryable || options.idempotency_key.is_some());
        let mut headers = self.headers(&options, deadline);
        let mut attempt = 1;
        loop {
            let Ok(remaining) = deadline.duration_since(SystemTime::now()) else {
                return Err(BusError::DeadlineExpired {
                    subject: rpc.subject,
                });
            };
            let last = !retry_allowed || attempt >= self.shared.max_attempts;
            let wait = if last {
                remaining
            } else {
                retry::attempt_timeout(remaining, options.attempt_timeout)
            };
            if attempt > 1 {
                headers.insert(
                    names::TIMESTAMP,
                    wire::unix_millis(SystemTime::now()).to_string(),
                );
            }
            // Only a call that may be retried needs to keep its headers for the next attempt.
            let sent = if last {
                std::mem::take(&mut headers)
            } else {
                headers.clone()
            };
            let span = spans::rpc_client(rpc.subject, attempt);
            let sent = with_traceparent(sent, &span);
            let attempted = async {
                let permit = self.shared.breakers.admit(rpc.subject)?;
                let result = self
                    .send(rpc, sent, payload.clone(), wait)
                    .await
                    .and_then(|reply| reply_body(rpc.subject, reply));
                permit.record(&result);
                result
            };
            let error = match spans::run(span, attempted, BusError::error_type).await {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            if last || !error.is_transient() {
                return Err(error);
            }
            let pause = retry::backoff(attempt);
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            if pause >= left {
                return Err(error);
            }
            tracing::debug!(subject = rpc.subject, attempt, %error, "retrying");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// The call's deadline: the earliest of its own deadline, its timeout from now and the
    /// deadline it inherits; the default timeout when it has none of them.
    fn deadline(&self, options: &CallOptions) -> SystemTime {
        let now = SystemTime::now();
        [
            options.deadline,
            options.timeout.map(|timeout| now + timeout),
            self.inherited.deadline,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + self.shared.default_deadline)
    }

    fn headers(&self, options: &CallOptions, deadline: SystemTime) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(names::MESSAGE_ID, wire::new_message_id());
        headers.insert(names::SENDER, &*self.shared.sender);
        headers.insert(
            names::TIMESTAMP,
            wire::unix_millis(SystemTime::now()).to_string(),
        );
        headers.insert(names::DEADLINE, wire::unix_millis(deadline).to_string());
        if let Some(key) = &options.idempotency_key {
            headers.insert(names::IDEMPOTENCY_KEY, key.as_str());
        }
        let authorization = options
            .authorization
            .as_deref()
            .or(self.inherited.authorization.as_deref());
        if let Some(authorization) = authorization {
            headers.insert(names::AUTHORIZATION, authorization);
        }
        // The caller's trace context, passed through: its `traceparent` is replaced by the
        // attempt's own span when the process records spans (`with_traceparent`), its
        // `tracestate` and `baggage` travel unchanged.
        if let Some(trace) = options.trace.as_ref().or(self.inherited.trace.as_ref()) {
            headers.insert(names::TRACEPARENT, trace.traceparent.as_str());
            if let Some(state) = &trace.tracestate {
                headers.insert(names::TRACESTATE, state.as_str());
            }
            if let Some(baggage) = &trace.baggage {
                headers.insert(names::BAGGAGE, baggage.as_str());
            }
        }
        headers
    }

    /// One attempt: publish and wait up to `wait` for the reply.
    async fn send(
        &self,
        rpc: &Rpc,
        headers: HeaderMap,
        payload: Bytes,
        wait: Duration,
    ) -> Result<async_nats::Message, BusError> {
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(payload)
            .timeout(Some(wait));
        self.shared
            .client
            .send_request(rpc.subject, request)
            .await
            .map_err(|error| match error.kind() {
                RequestErrorKind::NoResponders => BusError::NoResponders {
                    subject: rpc.subject,
                },
                RequestErrorKind::TimedOut => BusError::Timeout {
                    subject: rpc.subject,
                    waited: wait,
                },
                _ => BusError::Transport {
                    subject: rpc.subject,
                    reason: error.to_string(),
                },
            })
    }
}

/// `headers` naming `span` as the receiver's parent, when `span` is recorded.
fn with_traceparent(mut headers: HeaderMap, span: &tracing::Span) -> HeaderMap {
    if let Some(traceparent) = propagation::traceparent(span) {
        headers.insert(names::TRACEPARENT, traceparent);
    }
    headers
}

/// The body of a successful reply, or the [`BusError`] its error headers (and `Status`
/// body) describe.
fn reply_body(subject: &'static str, reply: async_nats::Message) -> Result<Bytes, BusError> {
    let code = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(names::SERVICE_ERROR_CODE))
        .map(|v| v.as_str().trim().parse::<u16>().unwrap_or(500));
    let Some(code) = code else {
        return Ok(reply.payload);
    };
    let header_message = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(names::SERVICE_ERROR))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    // The body is a Status when the service is a Switchboard service; other NATS
    // services send an empty body, so the headers alone must be enough.
    let status = Status::decode(reply.payload).unwrap_or_default();
    let message = if status.message.is_empty() {
        header_message
    } else {
        status.message
    };
    Err(match code {
        401 => BusError::Unauthorized { subject, message },
        503 => BusError::Overloaded { subject, message },
        504 => BusError::DeadlineExpired { subject },
        code => BusError::Service {
            subject,
            code,
            message,
            details: status.details,
        },
    })
}
