//! One request, from the message on the endpoint's subject to the reply on its inbox.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_nats::{HeaderMap, HeaderName};
use bytes::Bytes;
use futures::FutureExt;
use prost::Message as _;
use tracing::Instrument as _;

use super::idempotency::Idempotency;
use super::stream::StreamTarget;
use super::{BoxedHandler, Context, ServiceError};
use crate::auth::{self, Caller, TokenVerifier};
use crate::bus::{Bus, Inherited, TraceContext};
use crate::telemetry::{propagation, spans};
use crate::wire::{self, ErrorCode, Rpc, names};

/// What every request of a running service shares.
pub(crate) struct Shared {
    /// The bus replies go out on and downstream calls are made through.
    pub bus: Bus,
    /// Verifies bearer tokens; `None` refuses every token.
    pub verifier: Option<Arc<dyn TokenVerifier>>,
    /// Records of commands executed under an idempotency key.
    pub idempotency: Idempotency,
    /// Requests one endpoint works on at once.
    pub max_in_flight: usize,
}

/// One endpoint of a running service.
pub(crate) struct EndpointState {
    /// The rpc it serves.
    pub rpc: Rpc,
    /// The decoded, typed handler behind it.
    pub handler: BoxedHandler,
    /// Whether it answers with a stream of replies.
    pub streaming: bool,
    /// Requests accepted and not yet answered.
    pub in_flight: AtomicUsize,
    /// What `$SRV.STATS` reports.
    pub stats: EndpointStats,
    /// `sb_requests_total{subject, outcome="ok"}`, registered once.
    pub ok_counter: metrics::Counter,
    /// `sb_request_duration_seconds{subject}`, registered once.
    pub duration: metrics::Histogram,
    /// `sb_requests_in_flight{subject}`, registered once.
    pub in_flight_gauge: metrics::Gauge,
}

impl EndpointState {
    /// The state of an endpoint serving `rpc` with `handler`.
    pub fn new(rpc: Rpc, handler: BoxedHandler, streaming: bool) -> Self {
        Self {
            rpc,
            handler,
            streaming,
            in_flight: AtomicUsize::new(0),
            stats: EndpointStats::default(),
            ok_counter: metrics::counter!(
                "sb_requests_total",
                "subject" => rpc.subject,
                "outcome" => "ok"
            ),
            duration: metrics::histogram!("sb_request_duration_seconds", "subject" => rpc.subject),
            in_flight_gauge: metrics::gauge!("sb_requests_in_flight", "subject" => rpc.subject),
        }
    }
}

/// Counters of one endpoint, as the NATS Services API reports them. Atomics, because every
/// request updates them.
#[derive(Debug, Default)]
pub(crate) struct EndpointStats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub processing_nanos: AtomicU64,
    pub last_error: Mutex<Option<async_nats::service::error::Error>>,
}

/// A snapshot of [`EndpointStats`].
pub(crate) struct StatsSnapshot {
    pub requests: u64,
    pub errors: u64,
    pub processing_time: Duration,
    pub last_error: Option<async_nats::service::error::Error>,
}

impl EndpointStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            processing_time: Duration::from_nanos(self.processing_nanos.load(Ordering::Relaxed)),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }
}

/// A successful reply body, and whether it is the stored reply of an earlier execution.
pub(crate) struct Reply {
    pub body: Bytes,
    pub replay: bool,
}

/// Works on one accepted request and answers it. The endpoint loop polls many of these
/// at once; they run on its task, so replies leave in batches.
pub(crate) async fn handle(
    message: async_nats::Message,
    endpoint: Arc<EndpointState>,
    shared: Arc<Shared>,
) {
    let started = Instant::now();
    let Some(reply_to) = message.reply.clone() else {
        tracing::warn!(
            subject = endpoint.rpc.subject,
            "dropping a request without a reply subject"
        );
        return;
    };
    endpoint.in_flight.fetch_add(1, Ordering::Relaxed);
    endpoint.in_flight_gauge.increment(1.0);
    let trace = message
        .headers
        .as_ref()
        .and_then(TraceContext::from_headers);
    let span = server_span(&message, &endpoint.rpc, trace.as_ref());
    let stream = endpoint.streaming.then(|| {
        Arc::new(StreamTarget {
            client: shared.bus.nats().clone(),
            reply_to: reply_to.clone(),
            response_to: header(&message, names::MESSAGE_ID).map(str::to_owned),
            deadline: header(&message, names::DEADLINE)
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or_else(
                    || SystemTime::now() + shared.bus.default_deadline(),
                    wire::from_unix_millis,
                ),
            sent: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    });
    async {
        let result = process(&message, &endpoint, &shared, trace, stream.as_ref()).await;
        if let Err(error) = &result {
            spans::failed(&span, error.code().name());
        }
        match &stream {
            // The caller is gone: nobody reads the final reply.
            Some(stream) if stream.closed.load(Ordering::Relaxed) => {
                record(&endpoint, None, started.elapsed());
            }
            _ => {
                let end = stream.as_deref();
                respond(&shared, &endpoint, reply_to, &message, result, started, end).await;
            }
        }
    }
    .instrument(span.clone())
    .await;
    endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
    endpoint.in_flight_gauge.decrement(1.0);
}

/// The value of header `name` of `message`.
fn header(message: &async_nats::Message, name: HeaderName) -> Option<&str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// The SERVER span of a request, continuing the caller's trace when it sent one.
fn server_span(
    message: &async_nats::Message,
    rpc: &Rpc,
    trace: Option<&TraceContext>,
) -> tracing::Span {
    let span = spans::rpc_server(
        rpc.subject,
        header(message, names::MESSAGE_ID),
        header(message, names::SENDER),
    );
    if let Some(trace) = trace {
        propagation::continue_from(&span, trace);
    }
    span
}

/// Refuses a request at once with 503: the endpoint is at its in-flight bound.
pub(crate) async fn refuse(
    message: async_nats::Message,
    endpoint: &EndpointState,
    shared: &Shared,
) {
    let started = Instant::now();
    let Some(reply_to) = message.reply.clone() else {
        return;
    };
    let refused = ServiceError::new(
        ErrorCode::Overloaded,
        format!(
            "{} is at its bound of {} requests in flight; try again later",
            endpoint.rpc.subject, shared.max_in_flight
        ),
    );
    respond(
        shared,
        endpoint,
        reply_to,
        &message,
        Err(refused),
        started,
        None,
    )
    .await;
}

/// Checks the deadline and the token, builds the context and runs the handler (once per
/// idempotency key when the request carries one).
async fn process(
    message: &async_nats::Message,
    endpoint: &EndpointState,
    shared: &Shared,
    trace: Option<TraceContext>,
    stream: Option<&Arc<StreamTarget>>,
) -> Result<Reply, ServiceError> {
    let header = |name| header(message, name);
    let deadline = match header(names::DEADLINE) {
        Some(value) => value
            .trim()
            .parse::<u64>()
            .map(wire::from_unix_millis)
            .map_err(|_| {
                ServiceError::bad_request(format!(
                    "{} must be milliseconds since the Unix epoch",
                    wire::DEADLINE
                ))
            })?,
        None => SystemTime::now() + shared.bus.default_deadline(),
    };
    if SystemTime::now() >= deadline {
        return Err(ServiceError::new(
            ErrorCode::DeadlineExceeded,
            "the deadline passed before the request was handled",
        ));
    }
    let authorization = header(names::AUTHORIZATION);
    let caller = auth::authenticate(authorization, shared.verifier.as_deref())
        .await
        .map_err(|e| ServiceError::unauthorized(e.to_string()))?;
    if caller == Caller::Anonymous && !endpoint.rpc.public {
        return Err(ServiceError::unauthorized(format!(
            "{} requires a bearer token",
            endpoint.rpc.name
        )));
    }
    // A stream is not a command: its key, if it has one, means nothing.
    let idempotency_key = header(names::IDEMPOTENCY_KEY)
        .filter(|_| !endpoint.streaming)
        .map(str::to_string);
    let keyed = idempotency_key.as_deref().map(|key| {
        Arc::new(shared.idempotency.keyed(
            caller.subject().unwrap_or(""),
            key,
            endpoint.rpc.subject,
            &message.payload,
        ))
    });
    let ctx = Context {
        service: endpoint.rpc.service,
        subject: endpoint.rpc.subject,
        message_id: header(names::MESSAGE_ID)
            .map(str::to_string)
            .unwrap_or_else(wire::new_message_id),
        sender: header(names::SENDER).map(str::to_string),
        caller,
        deadline,
        idempotency_key,
        trace: trace.clone(),
        bus: shared.bus.inheriting(Inherited {
            deadline: Some(deadline),
            authorization: authorization.map(Arc::from),
            trace,
        }),
        store: shared.idempotency.store().clone(),
        keyed: keyed.clone(),
        stream: stream.cloned(),
    };
    let patience = ctx.remaining();
    let run = || run_handler(&endpoint.handler, ctx, message.payload.clone());
    match keyed {
        Some(keyed) => shared.idempotency.once(&keyed, patience, run).await,
        None => run().await.map(|body| Reply {
            body,
            replay: false,
        }),
    }
}

/// What a panic said, when it said it with a string.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into())
}

/// Runs the handler, turning a panic into a 500 for this request alone.
async fn run_handler(
    handler: &BoxedHandler,
    ctx: Context,
    payload: Bytes,
) -> Result<Bytes, ServiceError> {
    match AssertUnwindSafe(handler(ctx, payload)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic_text(panic.as_ref());
            Err(ServiceError::internal(format!(
                "handler panicked: {reason}"
            )))
        }
    }
}

/// Publishes the reply (or the error headers and `Status` body) and counts it. Replies
/// carry only what a caller needs: `Sb-Response-To`, the caller's `traceparent`, and on
/// failure the Services API error headers — every header costs on both ends.
async fn respond(
    shared: &Shared,
    endpoint: &EndpointState,
    reply_to: async_nats::Subject,
    request: &async_nats::Message,
    result: Result<Reply, ServiceError>,
    started: Instant,
    stream: Option<&StreamTarget>,
) {
    // A stream's final reply (or its error) comes after its items, and says so.
    let mut headers = match stream {
        Some(stream) => {
            let mut headers = stream.next_headers();
            headers.insert(names::STREAM_END, "true");
            headers
        }
        None => HeaderMap::new(),
    };
    if let Some(request_headers) = &request.headers {
        if let Some(id) = request_headers.get(names::MESSAGE_ID)
            && stream.is_none()
        {
            headers.insert(names::RESPONSE_TO, id.as_str());
        }
        if let Some(trace) = request_headers.get(names::TRACEPARENT) {
            headers.insert(names::TRACEPARENT, trace.as_str());
        }
    }
    let mut failure = None;
    let body = match result {
        Ok(reply) => {
            if reply.replay {
                headers.insert(names::IDEMPOTENT_REPLAY, "true");
            }
            reply.body
        }
        Err(error) => {
            log_error(endpoint.rpc.subject, &error);
            // Header values cannot carry line breaks.
            let text = error.message().replace(['\r', '\n'], " ");
            headers.insert(names::SERVICE_ERROR, text.as_str());
            headers.insert(names::SERVICE_ERROR_CODE, error.code().as_u16().to_string());
            failure = Some((error.code(), text));
            Bytes::from(error.to_status().encode_to_vec())
        }
    };
    if let Err(error) = shared
        .bus
        .nats()
        .publish_with_headers(reply_to, headers, body)
        .await
    {
        tracing::error!(subject = endpoint.rpc.subject, %error, "could not publish a reply");
    }
    record(endpoint, failure, started.elapsed());
}

/// Counts a request in `$SRV.STATS` and in the Prometheus metrics.
fn record(endpoint: &EndpointState, failure: Option<(ErrorCode, String)>, elapsed: Duration) {
    let stats = &endpoint.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.processing_nanos.fetch_add(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    endpoint.duration.record(elapsed.as_secs_f64());
    match failure {
        None => endpoint.ok_counter.increment(1),
        Some((code, message)) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            *stats
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                Some(async_nats::service::error::Error {
                    code: usize::from(code.as_u16()),
                    status: message,
                });
            metrics::counter!(
                "sb_requests_total",
                "subject" => endpoint.rpc.subject,
                "outcome" => code.as_u16().to_string()
            )
            .increment(1);
        }
    }
}

/// Logs a failed request once, with its cause chain: internal failures as errors, failures
/// with a cause (a downstream call's) as warnings, plain refusals at debug.
fn log_error(subject: &str, error: &ServiceError) {
    let Some(source) = std::error::Error::source(error) else {
        tracing::debug!(
            subject,
            code = error.code().as_u16(),
            reason = error.message(),
            "request refused"
        );
        return;
    };
    let chain = crate::telemetry::error_chain(source);
    let code = error.code().as_u16();
    if error.code() == ErrorCode::Internal {
        tracing::error!(subject, code, cause = %chain, "request failed");
    } else {
        tracing::warn!(subject, code, cause = %chain, "request failed downstream");
    }
}
