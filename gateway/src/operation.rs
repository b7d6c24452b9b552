//! The span of one GraphQL operation, over HTTP (opened by the handler, a child of the
//! request's span) and over WebSocket (opened by the schema extension, a trace of its own).

use async_graphql::parser::types::{ExecutableDocument, OperationType};

/// The span of one operation, named by the semantic conventions: `{type} {name}`.
pub fn span(operation_type: &'static str, operation: &str) -> tracing::Span {
    switchboard::failable_span!(
        "graphql",
        "otel.name" = format!("{operation_type} {operation}"),
        "otel.kind" = "internal",
        "graphql.operation.type" = operation_type,
        "graphql.operation.name" = operation,
    )
}

/// The span of an operation whose type and name are not known yet (one over WebSocket,
/// opened before its document is parsed); [`name_from`] names it.
pub fn unnamed_span() -> tracing::Span {
    switchboard::failable_span!(
        "graphql",
        "otel.name" = "GraphQL Operation",
        "otel.kind" = "internal",
        "graphql.operation.type" = tracing::field::Empty,
        "graphql.operation.name" = tracing::field::Empty,
    )
}

/// Names `span` after the operation `request` selects (its document parsed): `{type}
/// {name}`.
pub fn name_from(span: &tracing::Span, request: &mut async_graphql::Request) {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return;
    };
    let Some(operation) = crate::limits::selected_operation(document, wanted.as_deref()) else {
        return;
    };
    let named = name(document, wanted.as_deref());
    record_name(
        span,
        type_name(operation.ty),
        named.as_deref().unwrap_or("anonymous"),
    );
}

fn record_name(span: &tracing::Span, operation_type: &'static str, operation: &str) {
    span.record("otel.name", format!("{operation_type} {operation}"));
    span.record("graphql.operation.type", operation_type);
    span.record("graphql.operation.name", operation);
}

/// The operation's name: the one the request asks for (`operationName`), or the one the
/// document gives its only operation.
pub fn name(document: &ExecutableDocument, wanted: Option<&str>) -> Option<String> {
    if let Some(wanted) = wanted {
        return Some(wanted.to_string());
    }
    let mut operations = document.operations.iter();
    match (operations.next(), operations.next()) {
        (Some((name, _)), None) => name.map(|n| n.to_string()),
        _ => None,
    }
}

/// The conventions' name of an operation type.
pub fn type_name(operation_type: OperationType) -> &'static str {
    match operation_type {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

/// Marks `span` failed with the first error's `extensions.code`, when the operation had
/// errors.
pub fn record_outcome(span: &tracing::Span, response: &async_graphql::Response) {
    let Some(error) = response.errors.first() else {
        return;
    };
    let code = error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"));
    let code = match code {
        Some(async_graphql::Value::String(code)) => code.as_str(),
        _ => "ERROR",
    };
    switchboard::telemetry::spans::failed(span, code);
}
