//! OTLP trace export: the standard `OTEL_*` variables, a parent-based sampler, a bounded
//! queue whose drops are counted, and a flush at shutdown.
//!
//! Spans are `tracing` spans; the `tracing-opentelemetry` layer turns them into
//! OpenTelemetry spans. The layer is installed whether or not spans are exported, so
//! trace context is propagated and log lines carry trace ids either way; with export off
//! nothing is sampled, so no span is recorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter, SpanProcessor,
};

use crate::settings::{Env, SettingsError};

/// The wire format spans are exported in (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (`grpc`, the default; port 4317 by convention).
    Grpc,
    /// OTLP protobuf over HTTP (`http/protobuf`; port 4318, path `/v1/traces`).
    HttpProtobuf,
}

/// Which traces are recorded and exported (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerSetting {
    /// Follow the caller's sampling decision when a request carries one.
    pub parent_based: bool,
    /// The share of new traces recorded, 0 to 1.
    pub ratio: f64,
}

/// What [`tracer`] builds: where spans go and which are recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `None`: no
    /// export.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: OtlpProtocol,
    /// `OTEL_SERVICE_NAME`, defaulting to the binary's service name.
    pub service_name: String,
    /// The sampler.
    pub sampler: SamplerSetting,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting for export; more are dropped and counted.
    pub max_queue: usize,
}

/// The default bound on spans waiting for export (the SDK's default).
pub const DEFAULT_MAX_QUEUE: usize = 2048;

impl TraceSettings {
    /// Reads the standard variables; `service` names the process when `OTEL_SERVICE_NAME`
    /// is unset. `OTEL_RESOURCE_ATTRIBUTES` is read by the SDK's resource detector.
    pub fn from_env(env: &Env, service: &str) -> Result<Self, SettingsError> {
        let endpoint = env
            .string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| env.string("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .filter(|value| !value.trim().is_empty());
        if let Some(endpoint) = &endpoint
            && !endpoint.starts_with("http://")
        {
            return Err(SettingsError::Invalid {
                var: "OTEL_EXPORTER_OTLP_ENDPOINT",
                value: endpoint.clone(),
                reason: "expected an http:// URL of a collector or agent (TLS export is not \
                         built in: run a collector next to the process)"
                    .into(),
            });
        }
        let protocol = match env
            .string("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| env.string("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("grpc") => OtlpProtocol::Grpc,
            Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    value: other.to_string(),
                    reason: "expected `grpc` or `http/protobuf`".into(),
                });
            }
        };
        Ok(Self {
            endpoint,
            protocol,
            service_name: env
                .string("OTEL_SERVICE_NAME")
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| service.to_string()),
            sampler: sampler_from_env(env)?,
            max_queue: env.parse("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE)?,
        })
    }
}

/// `OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and its ratio argument.
fn sampler_from_env(env: &Env) -> Result<SamplerSetting, SettingsError> {
    let name = env
        .string("OTEL_TRACES_SAMPLER")
        .unwrap_or_else(|| "parentbased_always_on".into());
    let (parent_based, root) = match name.strip_prefix("parentbased_") {
        Some(root) => (true, root.to_string()),
        None => (false, name.clone()),
    };
    let ratio = match root.as_str() {
        "always_on" => 1.0,
        "always_off" => 0.0,
        "traceidratio" => {
            let ratio: f64 = env.parse("OTEL_TRACES_SAMPLER_ARG", 1.0)?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err(SettingsError::Invalid {
                    var: "OTEL_TRACES_SAMPLER_ARG",
                    value: ratio.to_string(),
                    reason: "expected a ratio from 0 to 1".into(),
                });
            }
            ratio
        }
        _ => {
            return Err(SettingsError::Invalid {
                var: "OTEL_TRACES_SAMPLER",
                value: name,
                reason: "expected always_on, always_off, traceidratio or one of them \
                         prefixed with parentbased_"
                    .into(),
            });
        }
    };
    Ok(SamplerSetting {
        parent_based,
        ratio,
    })
}

/// The process's tracer provider, kept for [`shutdown`].
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// Builds the tracer the `tracing-opentelemetry` layer records into. With an endpoint,
/// spans go through a bounded batch queue to the OTLP exporter; without one, nothing is
/// sampled. Must run inside the Tokio runtime: the exporters' connections live on it.
pub(crate) fn tracer(settings: &TraceSettings) -> Result<SdkTracer, String> {
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    match &settings.endpoint {
        Some(endpoint) => {
            let exporter = exporter(settings.protocol, endpoint)?;
            builder = builder
                .with_sampler(sampler(settings.sampler))
                .with_span_processor(BoundedQueue::new(exporter, settings.max_queue));
        }
        None => builder = builder.with_sampler(Sampler::AlwaysOff),
    }
    let provider = builder.build();
    let tracer = provider.tracer("switchboard");
    *PROVIDER.lock().unwrap_or_else(|p| p.into_inner()) = Some(provider);
    Ok(tracer)
}

fn sampler(setting: SamplerSetting) -> Sampler {
    let root = Sampler::TraceIdRatioBased(setting.ratio);
    if setting.parent_based {
        Sampler::ParentBased(Box::new(root))
    } else {
        root
    }
}

/// The OTLP exporter for `protocol`; it reads the other `OTEL_EXPORTER_OTLP_*` variables
/// (headers, timeout, compression) itself.
fn exporter(
    protocol: OtlpProtocol,
    endpoint: &str,
) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let built = match protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(http::OnRuntime::new()?)
            .with_endpoint(http_traces_url(endpoint))
            .build(),
    };
    built.map_err(|error| format!("the OTLP exporter for {endpoint}: {error}"))
}

/// The HTTP traces URL for a base endpoint, as the OTLP spec builds it: the base with
/// `/v1/traces` appended, unless the variable named the traces path already.
fn http_traces_url(endpoint: &str) -> String {
    if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    }
}

/// Flushes and stops the exporter: spans still queued are sent, within a few seconds. Runs
/// the blocking flush off the runtime's workers. A no-op when nothing was installed.
pub async fn shutdown() {
    let provider = PROVIDER.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(provider) = provider else {
        return;
    };
    let flushed =
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(5)))
            .await;
    match flushed {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "the trace exporter did not flush"),
        Err(error) => tracing::warn!(%error, "the trace exporter's flush panicked"),
    }
}

/// A batch processor whose queue bound is counted here, so every span that is not
/// exported is counted in `sb_trace_spans_dropped_total{reason}`: `queue_full` when the
/// exporter falls behind (a request never waits for it), `export_failed` when the
/// collector refuses or cannot be reached.
#[derive(Debug)]
struct BoundedQueue {
    batch: BatchSpanProcessor,
    /// Spans handed to `batch` and not yet through the exporter.
    queued: Arc<AtomicUsize>,
    max_queue: usize,
}

impl BoundedQueue {
    fn new<E: SpanExporter + 'static>(exporter: E, max_queue: usize) -> Self {
        let queued = Arc::new(AtomicUsize::new(0));
        let counting = CountingExporter {
            inner: exporter,
            queued: queued.clone(),
        };
        // The inner queue is as large as ours, and ours counts spans until their export
        // ends, so the inner queue never fills: every drop happens (and is counted) here.
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(max_queue.max(1))
            .build();
        Self {
            batch: BatchSpanProcessor::builder(counting)
                .with_batch_config(config)
                .build(),
            queued,
            max_queue: max_queue.max(1),
        }
    }
}

impl SpanProcessor for BoundedQueue {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.batch.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < self.max_queue).then_some(queued + 1)
            })
            .is_ok();
        if admitted {
            self.batch.on_end(span);
        } else {
            metrics::counter!("sb_trace_spans_dropped_total", "reason" => "queue_full")
                .increment(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batch.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.batch.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.batch.set_resource(resource);
    }
}

/// The exporter, counting what leaves the queue.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        let count = u64::try_from(spans).unwrap_or(u64::MAX);
        match &result {
            Ok(()) => metrics::counter!("sb_trace_spans_exported_total").increment(count),
            Err(_) => {
                metrics::counter!("sb_trace_spans_dropped_total", "reason" => "export_failed")
                    .increment(count)
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The HTTP client of the `http/protobuf` exporter. The SDK exports from a thread of its
/// own, outside any runtime, while hyper's client needs Tokio: each request is run on the
/// runtime the process started the exporter in, and the export thread waits for it.
mod http {
    use bytes::Bytes;
    use opentelemetry_http::{HttpClient, HttpError, Request, Response};

    #[derive(Debug)]
    pub(super) struct OnRuntime {
        runtime: tokio::runtime::Handle,
        client: opentelemetry_http::hyper::HyperClient,
    }

    impl OnRuntime {
        pub(super) fn new() -> Result<Self, String> {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| "the OTLP HTTP exporter must start inside the runtime".to_string())?;
            Ok(Self {
                runtime,
                client: opentelemetry_http::hyper::HyperClient::with_default_connector(
                    std::time::Duration::from_secs(10),
                    None,
                ),
            })
        }
    }

    #[async_trait::async_trait]
    impl HttpClient for OnRuntime {
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            let client = self.client.clone();
            self.runtime
                .spawn(async move { client.send_bytes(request).await })
                .await
                .map_err(|error| Box::new(error) as HttpError)?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::Tracer as _;
    use opentelemetry_sdk::error::OTelSdkError;

    /// An exporter that fails every export, after waiting for `release` once.
    #[derive(Debug)]
    struct Refusing {
        release: Mutex<std::sync::mpsc::Receiver<()>>,
        exports: Arc<AtomicUsize>,
    }

    impl SpanExporter for Refusing {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            // The first export holds the queue full until the test releases it.
            if self.exports.fetch_add(1, Ordering::SeqCst) == 0 {
                let release = self.release.lock().unwrap_or_else(|p| p.into_inner());
                let _ = release.recv();
            }
            Err(OTelSdkError::InternalFailure(
                "the collector is down".into(),
            ))
        }
    }

    fn dropped(reason: &str) -> u64 {
        let text = crate::telemetry::metrics_handle()
            .expect("a recorder")
            .render();
        text.lines()
            .find(|line| {
                line.starts_with("sb_trace_spans_dropped_total")
                    && line.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn spans_beyond_the_queue_and_failed_exports_are_counted_as_dropped() {
        let (release, wait) = std::sync::mpsc::channel();
        let exporter = Refusing {
            release: Mutex::new(wait),
            exports: Arc::new(AtomicUsize::new(0)),
        };
        let (full_before, failed_before) = (dropped("queue_full"), dropped("export_failed"));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BoundedQueue::new(exporter, 4))
            .build();
        let tracer = provider.tracer("test");
        // Ten spans against a queue of four whose exporter is stuck: six never get in.
        for _ in 0..10 {
            tracer.in_span("work", |_| {});
        }
        assert_eq!(dropped("queue_full") - full_before, 6);
        release.send(()).expect("the exporter waits");
        provider.shutdown().expect("flushed");
        assert_eq!(dropped("export_failed") - failed_before, 4);
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<TraceSettings, SettingsError> {
        TraceSettings::from_env(&Env::from_pairs(pairs.iter().copied()), "users")
    }

    #[test]
    fn export_is_off_without_an_endpoint_and_the_name_defaults_to_the_service() {
        let traces = settings(&[]).expect("defaults");
        assert_eq!(traces.endpoint, None);
        assert_eq!(traces.service_name, "users");
        assert_eq!(traces.protocol, OtlpProtocol::Grpc);
        assert_eq!(
            traces.sampler,
            SamplerSetting {
                parent_based: true,
                ratio: 1.0
            }
        );
    }

    #[test]
    fn the_standard_variables_are_read() {
        let traces = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "users-eu"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ])
        .expect("valid");
        assert_eq!(traces.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(traces.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(traces.service_name, "users-eu");
        assert_eq!(traces.sampler.ratio, 0.1);
        assert!(traces.sampler.parent_based);
        assert_eq!(
            http_traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ] {
            let error = settings(&[(var, value)]).expect_err(value);
            assert!(error.to_string().contains(var), "{error}");
        }
        let error = settings(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ])
        .expect_err("ratio above 1");
        assert!(error.to_string().contains("OTEL_TRACES_SAMPLER_ARG"));
    }
}
