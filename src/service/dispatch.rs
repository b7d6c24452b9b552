//! One request, from the message on the endpoint's subject to the reply on its inbox.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::FutureExt;
use prost::Message as _;
use tokio::sync::Semaphore;

use super::idempotency::Idempotency;
use super::{BoxedHandler, Context, ServiceError};
use crate::auth::{self, Caller, TokenVerifier};
use crate::bus::{Bus, Inherited, TraceContext};
use crate::wire::{self, ErrorCode, Rpc};

/// What every request of a running service shares.
pub(crate) struct Shared {
    /// The service name, sent as `Sb-Sender` on replies.
    pub name: &'static str,
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
    /// One permit per request in flight; shutdown waits until it can take them all.
    pub permits: Arc<Semaphore>,
    /// What `$SRV.STATS` reports.
    pub stats: Mutex<EndpointStats>,
}

/// Counters of one endpoint, as the NATS Services API reports them.
#[derive(Debug, Default, Clone)]
pub(crate) struct EndpointStats {
    pub requests: u64,
    pub errors: u64,
    pub processing_time: Duration,
    pub last_error: Option<String>,
}

/// A successful reply body, and whether it is the stored reply of an earlier execution.
pub(crate) struct Reply {
    pub body: Bytes,
    pub replay: bool,
}

/// Takes a request off the endpoint's subscription: works on it in its own task when a
/// permit is free, else refuses it at once with 503.
pub(crate) async fn accept(
    message: async_nats::Message,
    endpoint: &Arc<EndpointState>,
    shared: &Arc<Shared>,
) {
    let started = Instant::now();
    let Some(reply_to) = message.reply.clone() else {
        tracing::warn!(
            subject = endpoint.rpc.subject,
            "dropping a request without a reply subject"
        );
        return;
    };
    match endpoint.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let endpoint = endpoint.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let result = process(&message, &endpoint, &shared).await;
                respond(&shared, &endpoint, reply_to, &message, result, started).await;
                drop(permit);
            });
        }
        Err(_) => {
            let refused = ServiceError::new(
                ErrorCode::Overloaded,
                format!(
                    "{} is at its bound of {} requests in flight; try again later",
                    endpoint.rpc.subject, shared.max_in_flight
                ),
            );
            respond(shared, endpoint, reply_to, &message, Err(refused), started).await;
        }
    }
}

/// Checks the deadline and the token, builds the context and runs the handler (once per
/// idempotency key when the request carries one).
async fn process(
    message: &async_nats::Message,
    endpoint: &EndpointState,
    shared: &Shared,
) -> Result<Reply, ServiceError> {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let deadline = match header(wire::DEADLINE) {
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
    let authorization = header(wire::AUTHORIZATION);
    let caller = authenticate(authorization.as_deref(), shared.verifier.as_deref()).await?;
    if caller == Caller::Anonymous && !endpoint.rpc.public {
        return Err(ServiceError::unauthorized(format!(
            "{} requires a bearer token",
            endpoint.rpc.name
        )));
    }
    let trace = header(wire::TRACEPARENT).map(|traceparent| TraceContext {
        traceparent,
        tracestate: header(wire::TRACESTATE),
    });
    let ctx = Context {
        subject: endpoint.rpc.subject,
        message_id: header(wire::MESSAGE_ID).unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        sender: header(wire::SENDER),
        caller,
        deadline,
        idempotency_key: header(wire::IDEMPOTENCY_KEY),
        trace: trace.clone(),
        bus: shared.bus.inheriting(Inherited {
            deadline: Some(deadline),
            authorization: authorization.map(Arc::from),
            trace,
        }),
    };
    let run = || run_handler(&endpoint.handler, ctx.clone(), message.payload.clone());
    match ctx.idempotency_key() {
        Some(key) => {
            shared
                .idempotency
                .once(&ctx, key, &message.payload, run)
                .await
        }
        None => run().await.map(|body| Reply {
            body,
            replay: false,
        }),
    }
}

/// The caller a request's `Authorization` header proves; no header means anonymous.
async fn authenticate(
    authorization: Option<&str>,
    verifier: Option<&dyn TokenVerifier>,
) -> Result<Caller, ServiceError> {
    let Some(authorization) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let token =
        auth::bearer_token(authorization).map_err(|e| ServiceError::unauthorized(e.to_string()))?;
    let verifier = verifier
        .ok_or_else(|| ServiceError::unauthorized(auth::AuthError::NotConfigured.to_string()))?;
    verifier
        .verify(token)
        .await
        .map(Caller::Authenticated)
        .map_err(|e| ServiceError::unauthorized(e.to_string()))
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
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".into());
            Err(ServiceError::internal(format!(
                "handler panicked: {reason}"
            )))
        }
    }
}

/// Publishes the reply (or the error headers and `Status` body) and counts it.
async fn respond(
    shared: &Shared,
    endpoint: &EndpointState,
    reply_to: async_nats::Subject,
    request: &async_nats::Message,
    result: Result<Reply, ServiceError>,
    started: Instant,
) {
    let mut headers = HeaderMap::new();
    headers.insert(wire::MESSAGE_ID, uuid::Uuid::now_v7().to_string().as_str());
    headers.insert(wire::SENDER, shared.name);
    headers.insert(
        wire::TIMESTAMP,
        wire::unix_millis(SystemTime::now()).to_string().as_str(),
    );
    if let Some(request_headers) = &request.headers {
        for name in [wire::MESSAGE_ID, wire::TRACEPARENT] {
            if let Some(value) = request_headers.get(name) {
                let target = if name == wire::MESSAGE_ID {
                    wire::RESPONSE_TO
                } else {
                    name
                };
                headers.insert(target, value.as_str());
            }
        }
    }
    let failure = result
        .as_ref()
        .err()
        .map(|e| (e.code(), e.message().to_string()));
    let body = match result {
        Ok(reply) => {
            if reply.replay {
                headers.insert(wire::IDEMPOTENT_REPLAY, "true");
            }
            reply.body
        }
        Err(error) => {
            log_error(endpoint.rpc.subject, &error);
            // Header values cannot carry line breaks.
            let text = error.message().replace(['\r', '\n'], " ");
            headers.insert(wire::SERVICE_ERROR, text.as_str());
            headers.insert(
                wire::SERVICE_ERROR_CODE,
                error.code().as_u16().to_string().as_str(),
            );
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
    let outcome = failure
        .as_ref()
        .map(|(code, _)| code.as_u16().to_string())
        .unwrap_or_else(|| "ok".into());
    metrics::counter!(
        "sb_requests_total",
        "subject" => endpoint.rpc.subject,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("sb_request_duration_seconds", "subject" => endpoint.rpc.subject)
        .record(started.elapsed().as_secs_f64());
    let mut stats = endpoint
        .stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    stats.requests += 1;
    stats.processing_time += started.elapsed();
    if let Some((code, message)) = failure {
        stats.errors += 1;
        stats.last_error = Some(format!("{}:{message}", code.as_u16()));
    }
}

/// Logs a failed request once, with its cause chain; only internal failures are errors.
fn log_error(subject: &str, error: &ServiceError) {
    if error.code() == ErrorCode::Internal {
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(subject, error = %chain, "request failed");
    } else {
        tracing::debug!(
            subject,
            code = error.code().as_u16(),
            message = error.message(),
            "request refused"
        );
    }
}
