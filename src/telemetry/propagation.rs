//! W3C trace context (`traceparent`, `tracestate`) into and out of `tracing` spans: a
//! received request's span continues the caller's trace, and a message sent from inside a
//! span carries that span as the receiver's parent.

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::bus::TraceContext;

/// Makes `span` a child of the remote span `traceparent` names (with its `tracestate`),
/// when it is well formed; otherwise `span` starts a trace of its own. Returns whether it
/// continued a trace.
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) -> bool {
    let carrier = Carrier {
        traceparent,
        tracestate,
    };
    let context = TraceContextPropagator::new().extract(&carrier);
    if !context.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(context).is_ok()
}

/// [`continue_trace`] with a received [`TraceContext`].
pub fn continue_from(span: &tracing::Span, trace: &TraceContext) -> bool {
    continue_trace(span, &trace.traceparent, trace.tracestate.as_deref())
}

/// The `traceparent` that makes a receiver's span a child of `span`, when `span` is known
/// to the OpenTelemetry layer (it is in every binary; a library user may not install it).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    ids.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            ids.trace_id(),
            ids.span_id(),
            ids.trace_flags().to_u8()
        )
    })
}

/// The trace id of `span`, as trace backends show it (32 lowercase hex digits).
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    ids.is_valid().then(|| ids.trace_id().to_string())
}

/// The two W3C headers, for the propagator to read.
struct Carrier<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// Links `span` to `other` (a span it serves without being its child, such as a batch
/// serving many fields).
pub fn link(span: &tracing::Span, other: &tracing::Span) {
    let context = other.context();
    let ids = context.span().span_context().clone();
    if ids.is_valid() {
        span.add_link(ids);
    }
}
