//! A real OTLP trace receiver for tests: the OpenTelemetry collector's gRPC trace service
//! (from `opentelemetry-proto`) and its HTTP/protobuf endpoint (`POST /v1/traces`), on free
//! local ports. Processes under test export to it exactly as they would to a collector or
//! Jaeger; tests wait on what arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;
use tokio::sync::Notify;

/// One span as the receiver got it, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the process that exported it.
    pub service: String,
    /// Every string attribute of the exporting process's resource.
    pub resource: HashMap<String, String>,
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
    /// The parent's span id; empty for a root span.
    pub parent_span_id: String,
    /// The span name.
    pub name: String,
    /// `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER` or `INTERNAL`.
    pub kind: &'static str,
    /// String, integer and boolean attributes, as text.
    pub attributes: HashMap<String, String>,
    /// Whether the span's status is ERROR.
    pub failed: bool,
    /// The status description.
    pub status_message: String,
    /// The spans it links to, as (trace id, span id).
    pub links: Vec<(String, String)>,
    /// The W3C `tracestate` it carried.
    pub trace_state: String,
}

impl ReceivedSpan {
    /// The attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// What arrived, shared by both endpoints.
#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ReceivedSpan>>,
    arrived: Notify,
}

impl Received {
    fn take(&self, request: ExportTraceServiceRequest) {
        let mut spans = Vec::new();
        for resource_spans in request.resource_spans {
            let resource: HashMap<String, String> = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .filter_map(|kv| {
                    let value = text(kv.value.as_ref().and_then(|v| v.value.as_ref()))?;
                    Some((kv.key.clone(), value))
                })
                .collect();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                let attributes = span
                    .attributes
                    .iter()
                    .filter_map(|kv| {
                        let value = text(kv.value.as_ref().and_then(|v| v.value.as_ref()))?;
                        Some((kv.key.clone(), value))
                    })
                    .collect();
                let status = span.status.unwrap_or_default();
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    resource: resource.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: match span.kind {
                        1 => "INTERNAL",
                        2 => "SERVER",
                        3 => "CLIENT",
                        4 => "PRODUCER",
                        5 => "CONSUMER",
                        _ => "UNSPECIFIED",
                    },
                    attributes,
                    // STATUS_CODE_ERROR
                    failed: status.code == 2,
                    status_message: status.message,
                    links: span
                        .links
                        .iter()
                        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                        .collect(),
                    trace_state: span.trace_state,
                });
            }
        }
        self.spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(spans);
        self.arrived.notify_waiters();
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The gRPC trace service.
struct Grpc(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A running receiver; both endpoints stop when it is dropped.
pub struct OtlpReceiver {
    grpc: SocketAddr,
    http: SocketAddr,
    received: Arc<Received>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl OtlpReceiver {
    /// Starts both endpoints on free ports of 127.0.0.1.
    pub async fn start() -> Self {
        let received = Arc::new(Received::default());
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the gRPC receiver");
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the HTTP receiver");
        let grpc = grpc_listener.local_addr().expect("the gRPC address");
        let http = http_listener.local_addr().expect("the HTTP address");
        let service = TraceServiceServer::new(Grpc(received.clone()));
        let grpc_task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc_listener))
                .await;
            if let Err(error) = served {
                eprintln!("the OTLP gRPC receiver stopped: {error}");
            }
        });
        let shared = received.clone();
        let router = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let shared = shared.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            shared.take(request);
                            let reply = ExportTraceServiceResponse::default().encode_to_vec();
                            (
                                axum::http::StatusCode::OK,
                                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                                reply,
                            )
                        }
                        Err(_) => (
                            axum::http::StatusCode::BAD_REQUEST,
                            [(axum::http::header::CONTENT_TYPE, "text/plain")],
                            b"not an ExportTraceServiceRequest".to_vec(),
                        ),
                    }
                }
            }),
        );
        let http_task = tokio::spawn(async move {
            if let Err(error) = axum::serve(http_listener, router).await {
                eprintln!("the OTLP HTTP receiver stopped: {error}");
            }
        });
        Self {
            grpc,
            http,
            received,
            tasks: vec![grpc_task, http_task],
        }
    }

    /// The endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT` with the `grpc` protocol.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// The endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT` with `http/protobuf`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `found` returns something for the spans received so far, and returns
    /// it; panics with `what` and every span received once `patience` is over.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        patience: Duration,
        found: impl Fn(&[ReceivedSpan]) -> Option<T>,
    ) -> T {
        let waited = tokio::time::timeout(patience, async {
            loop {
                let arrived = self.received.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(result) = found(&self.spans()) {
                    return result;
                }
                arrived.await;
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => {
                let spans: Vec<String> = self
                    .spans()
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {} trace={} span={} parent={}",
                            s.service, s.kind, s.name, s.trace_id, s.span_id, s.parent_span_id
                        )
                    })
                    .collect();
                panic!(
                    "no {what} within {patience:?}; received:\n{}",
                    spans.join("\n")
                )
            }
        }
    }
}
